#include "backend/slot_map.h"

#include <algorithm>
#include <map>

#include "resp/number.h"

namespace tfproxy::backend {

namespace {

constexpr std::array<uint16_t, 256> makeCrcTable() {
  std::array<uint16_t, 256> table{};
  for (int i = 0; i < 256; ++i) {
    uint16_t crc = static_cast<uint16_t>(i << 8);
    for (int bit = 0; bit < 8; ++bit) {
      crc = (crc & 0x8000) != 0 ? static_cast<uint16_t>((crc << 1) ^ 0x1021)
                                : static_cast<uint16_t>(crc << 1);
    }
    table[static_cast<size_t>(i)] = crc;
  }
  return table;
}
constexpr std::array<uint16_t, 256> kCrcTable = makeCrcTable();

uint16_t crc16(std::string_view bytes) {
  uint16_t crc = 0;
  for (unsigned char c : bytes) {
    crc = static_cast<uint16_t>((crc << 8) ^ kCrcTable[((crc >> 8) ^ c) & 0xff]);
  }
  return crc;
}

bool isText(const resp::Value& v) {
  return v.type == resp::Type::kBulkString || v.type == resp::Type::kSimpleString ||
         v.type == resp::Type::kVerbatim;
}

std::optional<int64_t> asInteger(const resp::Value& v) {
  if (v.type == resp::Type::kInteger) return v.integer;
  if (isText(v)) return resp::parseInt64(v.str);
  return std::nullopt;
}

// Key/value pairs of a RESP3 map or a RESP2 flat array.
const resp::Value* field(const resp::Value& map, std::string_view name) {
  for (size_t i = 0; i + 1 < map.elements.size(); i += 2) {
    if (isText(map.elements[i]) && map.elements[i].str == name) return &map.elements[i + 1];
  }
  return nullptr;
}

// An announced host that does not name the node: the asking side knows it better.
bool unknownHost(std::string_view host) { return host.empty() || host == "?"; }

std::optional<ClusterNode> nodeOf(std::string_view host, int64_t port, std::string id,
                                  const config::Endpoint& asked) {
  if (port <= 0 || port > 65535) return std::nullopt;
  ClusterNode node;
  node.id = std::move(id);
  node.endpoint.host = unknownHost(host) ? asked.host : std::string(host);
  node.endpoint.port = static_cast<uint16_t>(port);
  return node;
}

bool validRange(int64_t first, int64_t last) {
  return first >= 0 && last >= first && last < kClusterSlots;
}

}  // namespace

uint16_t keySlot(std::string_view key) {
  const size_t open = key.find('{');
  if (open != std::string_view::npos) {
    const size_t close = key.find('}', open + 1);
    if (close != std::string_view::npos && close > open + 1) {
      key = key.substr(open + 1, close - open - 1);
    }
  }
  return crc16(key) & (kClusterSlots - 1);
}

std::string nodeKey(const config::Endpoint& endpoint) {
  return endpoint.host + ":" + std::to_string(endpoint.port);
}

std::optional<config::Endpoint> parseNodeAddress(std::string_view text) {
  const size_t colon = text.rfind(':');
  if (colon == std::string_view::npos || colon == 0) return std::nullopt;
  std::string_view port_text = text.substr(colon + 1);
  // Redis 7 may add the cluster bus port: "host:port@bus".
  if (size_t at = port_text.find('@'); at != std::string_view::npos) {
    port_text = port_text.substr(0, at);
  }
  auto port = resp::parseInt64(port_text);
  if (!port || *port <= 0 || *port > 65535) return std::nullopt;
  config::Endpoint endpoint;
  endpoint.host = std::string(text.substr(0, colon));
  endpoint.port = static_cast<uint16_t>(*port);
  return endpoint;
}

std::optional<SlotMap> SlotMap::fromSlots(const resp::Value& reply, const config::Endpoint& asked,
                                          std::string* error) {
  if (reply.isError()) {
    *error = reply.str;
    return std::nullopt;
  }
  SlotMap map;
  map.owner_.fill(kNoSlot);
  std::map<std::string, int> by_address;
  for (const resp::Value& range : reply.elements) {
    if (range.elements.size() < 3) continue;
    auto first = asInteger(range.elements[0]);
    auto last = asInteger(range.elements[1]);
    if (!first || !last || !validRange(*first, *last)) continue;
    int primary = -1;
    for (size_t i = 2; i < range.elements.size(); ++i) {
      const resp::Value& n = range.elements[i];
      if (n.elements.size() < 2 || !isText(n.elements[0])) continue;
      auto port = asInteger(n.elements[1]);
      std::string id = n.elements.size() > 2 && isText(n.elements[2]) ? n.elements[2].str : "";
      auto node = nodeOf(n.elements[0].str, port.value_or(0), std::move(id), asked);
      if (!node) continue;
      node->primary = i == 2;
      const std::string address = nodeKey(node->endpoint);
      if (i == 2) {
        auto [it, added] = by_address.emplace(address, static_cast<int>(map.primaries_.size()));
        if (added) map.primaries_.push_back(*node);
        primary = it->second;
      }
      if (std::none_of(map.nodes_.begin(), map.nodes_.end(), [&](const ClusterNode& known) {
            return nodeKey(known.endpoint) == address;
          })) {
        map.nodes_.push_back(std::move(*node));
      }
    }
    if (primary >= 0) {
      map.assign(static_cast<uint16_t>(*first), static_cast<uint16_t>(*last), primary);
    }
  }
  if (map.primaries_.empty()) {
    *error = "CLUSTER SLOTS named no primary";
    return std::nullopt;
  }
  map.finish();
  return map;
}

std::optional<SlotMap> SlotMap::fromShards(const resp::Value& reply, const config::Endpoint& asked,
                                           bool tls, std::string* error) {
  if (reply.isError()) {
    *error = reply.str;
    return std::nullopt;
  }
  SlotMap map;
  map.owner_.fill(kNoSlot);
  for (const resp::Value& shard : reply.elements) {
    const resp::Value* slots = field(shard, "slots");
    const resp::Value* nodes = field(shard, "nodes");
    if (slots == nullptr || nodes == nullptr) continue;
    int primary = -1;
    for (const resp::Value& n : nodes->elements) {
      const resp::Value* role = field(n, "role");
      const resp::Value* health = field(n, "health");
      const resp::Value* port = field(n, tls ? "tls-port" : "port");
      if (role == nullptr || port == nullptr) continue;
      if (health != nullptr && health->str != "online") continue;
      const resp::Value* ip = field(n, "endpoint");
      if (ip == nullptr || unknownHost(ip->str)) ip = field(n, "ip");
      const resp::Value* id = field(n, "id");
      auto node = nodeOf(ip != nullptr ? std::string_view(ip->str) : std::string_view(),
                         asInteger(*port).value_or(0), id != nullptr ? id->str : "", asked);
      if (!node) continue;
      node->primary = role->str == "master" || role->str == "primary";
      if (node->primary && primary < 0) {
        primary = static_cast<int>(map.primaries_.size());
        map.primaries_.push_back(*node);
      }
      map.nodes_.push_back(std::move(*node));
    }
    if (primary < 0) continue;
    for (size_t i = 0; i + 1 < slots->elements.size(); i += 2) {
      auto first = asInteger(slots->elements[i]);
      auto last = asInteger(slots->elements[i + 1]);
      if (first && last && validRange(*first, *last)) {
        map.assign(static_cast<uint16_t>(*first), static_cast<uint16_t>(*last), primary);
      }
    }
  }
  // A primary that serves no slot (a shard being added) routes nothing.
  std::vector<bool> serves(map.primaries_.size(), false);
  for (int16_t owner : map.owner_) {
    if (owner >= 0) serves[static_cast<size_t>(owner)] = true;
  }
  if (std::find(serves.begin(), serves.end(), true) == serves.end()) {
    *error = "CLUSTER SHARDS named no primary serving slots";
    return std::nullopt;
  }
  map.finish();
  return map;
}

void SlotMap::assign(uint16_t first, uint16_t last, int primary) {
  for (uint32_t s = first; s <= last; ++s) owner_[s] = static_cast<int16_t>(primary);
}

void SlotMap::finish() {
  // Lowest slot of each primary; primaries without slots are dropped.
  std::vector<uint32_t> lowest(primaries_.size(), kClusterSlots);
  for (uint32_t s = 0; s < kClusterSlots; ++s) {
    if (owner_[s] >= 0) {
      auto& low = lowest[static_cast<size_t>(owner_[s])];
      low = std::min(low, s);
    }
  }
  std::vector<size_t> order;
  for (size_t i = 0; i < primaries_.size(); ++i) {
    if (lowest[i] < kClusterSlots) order.push_back(i);
  }
  std::sort(order.begin(), order.end(), [&](size_t a, size_t b) { return lowest[a] < lowest[b]; });
  std::vector<int16_t> renumber(primaries_.size(), kNoSlot);
  std::vector<ClusterNode> sorted;
  for (size_t i = 0; i < order.size(); ++i) {
    renumber[order[i]] = static_cast<int16_t>(i);
    sorted.push_back(primaries_[order[i]]);
  }
  for (int16_t& owner : owner_) {
    if (owner >= 0) owner = renumber[static_cast<size_t>(owner)];
  }
  primaries_ = std::move(sorted);
}

std::string SlotMap::primaryAddress(int primary) const {
  if (primary < 0 || static_cast<size_t>(primary) >= primaries_.size()) return {};
  return nodeKey(primaries_[static_cast<size_t>(primary)].endpoint);
}

bool SlotMap::complete() const {
  return std::none_of(owner_.begin(), owner_.end(), [](int16_t o) { return o < 0; });
}

bool SlotMap::sameAs(const SlotMap& other) const {
  if (owner_ != other.owner_ || primaries_.size() != other.primaries_.size()) return false;
  for (size_t i = 0; i < primaries_.size(); ++i) {
    if (nodeKey(primaries_[i].endpoint) != nodeKey(other.primaries_[i].endpoint)) return false;
  }
  return true;
}

}  // namespace tfproxy::backend
