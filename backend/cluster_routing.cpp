#include "backend/cluster_routing.h"

#include <string>
#include <unordered_map>

#include "backend/slot_map.h"
#include "resp/number.h"

namespace tfproxy::backend {

namespace {

struct Rule {
  RouteKind kind;
  Merge merge;
  uint8_t key_group = 1;
};

// Commands routed otherwise than "to the slot of their keys, else to any node".
const std::unordered_map<std::string_view, Rule>& rules() {
  static const auto* table = new std::unordered_map<std::string_view, Rule>{
      // Split when their keys span slots.
      {"mget", {RouteKind::kSplit, Merge::kByKey}},
      {"mset", {RouteKind::kSplit, Merge::kOk, 2}},
      {"del", {RouteKind::kSplit, Merge::kSum}},
      {"unlink", {RouteKind::kSplit, Merge::kSum}},
      {"exists", {RouteKind::kSplit, Merge::kSum}},
      {"touch", {RouteKind::kSplit, Merge::kSum}},
      // The whole key space.
      {"dbsize", {RouteKind::kEveryNode, Merge::kSum}},
      {"keys", {RouteKind::kEveryNode, Merge::kConcat}},
      {"flushall", {RouteKind::kEveryNode, Merge::kOk}},
      {"flushdb", {RouteKind::kEveryNode, Merge::kOk}},
      {"randomkey", {RouteKind::kEveryNode, Merge::kNonNull}},
      {"scan", {RouteKind::kScan, Merge::kFirst}},
      // Scripts and functions exist on every primary, as cluster clients load them.
      {"script|load", {RouteKind::kEveryNode, Merge::kFirst}},
      {"script|flush", {RouteKind::kEveryNode, Merge::kOk}},
      {"function|load", {RouteKind::kEveryNode, Merge::kFirst}},
      {"function|delete", {RouteKind::kEveryNode, Merge::kOk}},
      {"function|flush", {RouteKind::kEveryNode, Merge::kOk}},
      {"function|restore", {RouteKind::kEveryNode, Merge::kOk}},
      // tfproxy is a one-node cluster to its clients.
      {"cluster", {RouteKind::kLocal, Merge::kFirst}},
      {"readonly", {RouteKind::kLocal, Merge::kFirst}},
      {"readwrite", {RouteKind::kLocal, Merge::kFirst}},
      {"asking", {RouteKind::kLocal, Merge::kFirst}},
  };
  return *table;
}

// numkeys at `at`, keys right after it.
void countedKeys(const std::vector<std::string_view>& argv, size_t at,
                 std::vector<size_t>* positions) {
  if (at >= argv.size()) return;
  auto n = resp::parseInt64(argv[at]);
  if (!n || *n < 0) return;
  for (size_t i = at + 1; i < argv.size() && i <= at + static_cast<size_t>(*n); ++i) {
    positions->push_back(i);
  }
}

// The argument after `word` (any case), searched from `from`.
void keyAfter(const std::vector<std::string_view>& argv, size_t from, std::string_view word,
              std::vector<size_t>* positions) {
  for (size_t i = from; i + 1 < argv.size(); ++i) {
    if (equalsLower(argv[i], word)) {
      positions->push_back(i + 1);
      return;
    }
  }
}

}  // namespace

const CommandInfo* routingInfo(const CommandTable& table,
                               const std::vector<std::string_view>& argv) {
  const CommandInfo* info = table.find(argv[0]);
  if (info != nullptr && info->first_key == 0 && !info->has(kFlag_movablekeys) &&
      argv.size() >= 2) {
    info = table.find(argv[0], argv[1]);
  }
  return info;
}

void clusterKeyPositions(const CommandInfo& info, const std::vector<std::string_view>& argv,
                         std::vector<size_t>* positions) {
  positions->clear();
  if (!info.has(kFlag_movablekeys)) {
    forEachKeyPosition(info, argv.size(), [&](size_t i) { positions->push_back(i); });
    return;
  }
  const std::string_view name = info.name;
  if (name == "eval" || name == "evalsha" || name == "eval_ro" || name == "evalsha_ro" ||
      name == "fcall" || name == "fcall_ro" || name == "blmpop" || name == "bzmpop") {
    countedKeys(argv, 2, positions);
  } else if (name == "zunion" || name == "zinter" || name == "zdiff" || name == "zintercard" ||
             name == "sintercard" || name == "lmpop" || name == "zmpop") {
    countedKeys(argv, 1, positions);
  } else if (name == "zunionstore" || name == "zinterstore" || name == "zdiffstore") {
    if (argv.size() > 1) positions->push_back(1);
    countedKeys(argv, 2, positions);
  } else if (name == "xread" || name == "xreadgroup") {
    for (size_t i = 1; i < argv.size(); ++i) {
      if (equalsLower(argv[i], "streams")) {
        const size_t rest = argv.size() - i - 1;
        for (size_t k = 0; k < rest / 2; ++k) positions->push_back(i + 1 + k);
        break;
      }
    }
  } else if (name == "sort" || name == "sort_ro") {
    if (argv.size() > 1) positions->push_back(1);
    if (name == "sort") keyAfter(argv, 2, "store", positions);
  } else if (name == "georadius" || name == "georadiusbymember") {
    if (argv.size() > 1) positions->push_back(1);
    keyAfter(argv, 2, "store", positions);
    keyAfter(argv, 2, "storedist", positions);
  } else if (name == "migrate") {
    if (argv.size() > 3 && !argv[3].empty()) positions->push_back(3);
    for (size_t i = 6; i < argv.size(); ++i) {
      if (equalsLower(argv[i], "keys")) {
        for (size_t k = i + 1; k < argv.size(); ++k) positions->push_back(k);
        break;
      }
    }
  } else if (info.first_key > 0 && static_cast<size_t>(info.first_key) < argv.size()) {
    positions->push_back(static_cast<size_t>(info.first_key));
  }
}

namespace {

// The rule of a command (CLUSTER's subcommands take CLUSTER's), or null.
const Rule* ruleOf(std::string_view name) {
  if (auto it = rules().find(name); it != rules().end()) return &it->second;
  if (size_t bar = name.find('|'); bar != std::string_view::npos) {
    if (auto parent = rules().find(name.substr(0, bar)); parent != rules().end()) {
      return &parent->second;
    }
  }
  return nullptr;
}

}  // namespace

Route routeCommand(const CommandInfo* info, const std::vector<std::string_view>& argv) {
  Route route;
  if (info == nullptr) return route;
  thread_local std::vector<size_t> positions;
  clusterKeyPositions(*info, argv, &positions);
  // The common case first: keys of one slot need no rule.
  if (positions.size() == 1) {
    route.kind = RouteKind::kSlot;
    route.slot = keySlot(argv[positions[0]]);
    return route;
  }
  const Rule* rule = ruleOf(info->name);
  if (positions.empty()) {
    if (rule != nullptr && rule->kind != RouteKind::kSplit) {
      route.kind = rule->kind;
      route.merge = rule->merge;
    }
    return route;
  }
  const int slot = keySlot(argv[positions[0]]);
  bool one_slot = true;
  for (size_t p : positions) one_slot = one_slot && keySlot(argv[p]) == slot;
  if (one_slot) {
    route.kind = RouteKind::kSlot;
    route.slot = slot;
  } else if (rule != nullptr && rule->kind == RouteKind::kSplit) {
    route.kind = RouteKind::kSplit;
    route.merge = rule->merge;
    route.key_group = rule->key_group;
  } else {
    route.kind = RouteKind::kCrossSlot;
  }
  return route;
}

Route routeCommand(const std::vector<std::string_view>& argv) {
  return routeCommand(routingInfo(CommandTable::builtin(), argv), argv);
}

std::vector<SlotPart> splitBySlot(const CommandInfo& info,
                                  const std::vector<std::string_view>& argv, uint8_t key_group,
                                  std::vector<std::pair<uint32_t, uint32_t>>* key_order) {
  std::vector<size_t> positions;
  clusterKeyPositions(info, argv, &positions);
  std::vector<SlotPart> parts;
  std::unordered_map<int, size_t> part_of_slot;
  for (size_t p : positions) {
    const int slot = keySlot(argv[p]);
    auto [it, added] = part_of_slot.emplace(slot, parts.size());
    if (added) parts.push_back({slot, {argv[0]}});
    auto& args = parts[it->second].args;
    key_order->emplace_back(static_cast<uint32_t>(it->second),
                            static_cast<uint32_t>(args.size() - 1));
    for (size_t k = 0; k < key_group && p + k < argv.size(); ++k) args.push_back(argv[p + k]);
  }
  return parts;
}

std::optional<Redirect> parseRedirect(std::string_view text) {
  Redirect redirect;
  if (text.substr(0, 6) == "MOVED ") {
    redirect.ask = false;
  } else if (text.substr(0, 4) == "ASK ") {
    redirect.ask = true;
  } else {
    return std::nullopt;
  }
  const size_t last_space = text.rfind(' ');
  auto endpoint = parseNodeAddress(text.substr(last_space + 1));
  if (!endpoint) return std::nullopt;
  redirect.address = nodeKey(*endpoint);
  return redirect;
}

bool refusedBeforeRunning(std::string_view text) {
  return text.substr(0, 8) == "TRYAGAIN" || text.substr(0, 11) == "CLUSTERDOWN";
}

std::optional<ScanPosition> decodeScanCursor(std::string_view cursor, size_t primaries) {
  auto value = resp::parseUint64(cursor);
  if (!value) return std::nullopt;
  ScanPosition position;
  position.primary = static_cast<uint32_t>(*value & ((1u << kScanNodeBits) - 1));
  position.node_cursor = *value >> kScanNodeBits;
  if (position.primary >= primaries) return std::nullopt;
  return position;
}

uint64_t nextScanCursor(uint64_t node_next, uint32_t primary, size_t primaries) {
  if (node_next != 0) return (node_next << kScanNodeBits) | primary;
  return primary + 1 < primaries ? primary + 1 : 0;
}

}  // namespace tfproxy::backend
