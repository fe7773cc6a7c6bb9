#include "backend/cluster_topology.h"

#include <spdlog/spdlog.h>

#include "backend/cluster_routing.h"
#include "backend/command_table.h"
#include "backend/sync_connection.h"
#include "resp/request_parser.h"

namespace tfproxy::backend {

namespace {

// The soonest a refresh follows the previous one: redirects come in bursts.
constexpr std::chrono::milliseconds kMinRefreshGap{100};

}  // namespace

std::optional<SlotMap> ClusterTopology::read(const io::Target& seed, const Identity& identity,
                                             std::chrono::milliseconds timeout,
                                             std::string* error) {
  auto conn = SyncConnection::connect(seed, timeout, error);
  if (!conn) return std::nullopt;
  auto hello = helloAs(*conn, identity);
  if (!hello) {
    *error = conn->error();
    return std::nullopt;
  }
  if (hello->isError()) {
    *error = hello->str;
    return std::nullopt;
  }
  auto shards = conn->call({"CLUSTER", "SHARDS"});
  if (!shards) {
    *error = conn->error();
    return std::nullopt;
  }
  if (!shards->isError()) {
    return SlotMap::fromShards(*shards, seed.endpoint, seed.tls != nullptr, error);
  }
  // Before Redis 7 (and where CLUSTER SHARDS is refused): CLUSTER SLOTS.
  auto slots = conn->call({"CLUSTER", "SLOTS"});
  if (!slots) {
    *error = conn->error();
    return std::nullopt;
  }
  return SlotMap::fromSlots(*slots, seed.endpoint, error);
}

ClusterTopology::ClusterTopology(Settings settings, SlotMap first)
    : settings_(std::move(settings)), map_(std::make_shared<const SlotMap>(std::move(first))) {}

ClusterTopology::~ClusterTopology() { stop(); }

void ClusterTopology::start() {
  addLinks(*map());
  refresher_ = std::thread([this] { refreshLoop(); });
}

void ClusterTopology::stop() {
  {
    std::lock_guard lock(mutex_);
    stopped_ = true;
  }
  wake_.notify_all();
  if (refresher_.joinable()) refresher_.join();
  std::lock_guard lock(mutex_);
  for (auto& [address, link] : links_) link->stop();
}

std::shared_ptr<const SlotMap> ClusterTopology::map() const {
  std::lock_guard lock(mutex_);
  return map_;
}

BackendLink* ClusterTopology::link(const std::string& address) const {
  std::lock_guard lock(mutex_);
  auto it = links_.find(address);
  return it == links_.end() ? nullptr : it->second.get();
}

std::string ClusterTopology::stickyNode(std::string_view input) const {
  auto current = map();
  resp::RequestParser parser;
  std::vector<std::string_view> argv;
  for (bool first = true; !input.empty(); first = false) {
    auto r = parser.parse(input);
    if (r.status != resp::RequestParser::Status::kComplete) break;
    input.remove_prefix(r.consumed);
    argv.clear();
    for (size_t i = 0; i < parser.argc(); ++i) argv.push_back(parser.arg(i));
    if (argv.empty()) continue;
    const Route route = routeCommand(argv);
    if (route.kind == RouteKind::kSlot) {
      return current->primaryAddress(current->ownerOf(static_cast<uint16_t>(route.slot)));
    }
    // Only a transaction looks ahead, up to its end: its first command with keys decides.
    if (first ? !equalsLower(argv[0], "multi")
              : equalsLower(argv[0], "exec") || equalsLower(argv[0], "discard")) {
      break;
    }
  }
  return current->primaryAddress(0);
}

void ClusterTopology::refreshSoon() {
  {
    std::lock_guard lock(mutex_);
    if (wanted_) return;
    wanted_ = true;
  }
  wake_.notify_one();
}

void ClusterTopology::addLinks(const SlotMap& map) {
  for (const ClusterNode& node : map.nodes()) {
    const std::string address = nodeKey(node.endpoint);
    {
      std::lock_guard lock(mutex_);
      if (links_.count(address) != 0) continue;
    }
    // The seed's TLS context serves every node (one CA, one client certificate).
    auto link = std::make_unique<BackendLink>(
        io::Target{node.endpoint, settings_.seeds.front().tls}, settings_.connect_timeout);
    link->start();
    std::lock_guard lock(mutex_);
    links_.emplace(address, std::move(link));
  }
}

bool ClusterTopology::refreshOnce() {
  // Every node the current map names, then the seeds: any of them may answer.
  std::vector<io::Target> candidates;
  for (const ClusterNode& node : map()->nodes()) {
    candidates.push_back({node.endpoint, settings_.seeds.front().tls});
  }
  candidates.insert(candidates.end(), settings_.seeds.begin(), settings_.seeds.end());
  std::string error;
  for (const io::Target& target : candidates) {
    auto next = read(target, settings_.identity, settings_.connect_timeout, &error);
    if (!next) continue;
    addLinks(*next);
    std::lock_guard lock(mutex_);
    if (!map_->sameAs(*next)) {
      spdlog::info("cluster: slot map changed ({} primaries{})", next->primaries().size(),
                   next->complete() ? "" : ", some slots unserved");
      map_ = std::make_shared<const SlotMap>(std::move(*next));
      version_.fetch_add(1, std::memory_order_acq_rel);
    }
    return true;
  }
  spdlog::warn("cluster: no node answered for the slot map (last: {})", error);
  return false;
}

void ClusterTopology::refreshLoop() {
  auto last = std::chrono::steady_clock::now();
  std::unique_lock lock(mutex_);
  while (!stopped_) {
    wake_.wait_until(lock, last + settings_.interval, [&] { return stopped_ || wanted_; });
    if (stopped_) break;
    const auto earliest = last + kMinRefreshGap;
    if (std::chrono::steady_clock::now() < earliest) {
      wake_.wait_until(lock, earliest, [&] { return stopped_; });
      if (stopped_) break;
    }
    wanted_ = false;
    lock.unlock();
    refreshOnce();
    last = std::chrono::steady_clock::now();
    lock.lock();
  }
}

}  // namespace tfproxy::backend
