#include "backend/cluster_script_connections.h"

#include <algorithm>
#include <thread>
#include <unordered_map>

#include "backend/cluster_routing.h"
#include "backend/cluster_topology.h"
#include "backend/command_table.h"
#include "backend/errors.h"
#include "backend/slot_map.h"
#include "resp/number.h"

namespace tfproxy::backend {

namespace {

resp::Value mergeReplies(Merge merge, std::vector<resp::Value> replies,
                         const std::vector<std::pair<uint32_t, uint32_t>>& key_order) {
  for (resp::Value& r : replies) {
    if (r.isError()) return std::move(r);
  }
  switch (merge) {
    case Merge::kFirst:
      break;
    case Merge::kOk:
      return resp::Value::simple("OK");
    case Merge::kSum: {
      int64_t sum = 0;
      for (const resp::Value& r : replies) sum += r.integer;
      return resp::Value::integerValue(sum);
    }
    case Merge::kConcat: {
      resp::Value out = resp::Value::array({});
      for (resp::Value& r : replies) {
        for (resp::Value& e : r.elements) out.elements.push_back(std::move(e));
      }
      return out;
    }
    case Merge::kNonNull:
      for (resp::Value& r : replies) {
        if (!r.isNull()) return std::move(r);
      }
      break;
    case Merge::kByKey: {
      resp::Value out = resp::Value::array({});
      for (auto [part, at] : key_order) {
        if (part >= replies.size() || at >= replies[part].elements.size()) {
          return resp::Value::error(errors::kLost);
        }
        out.elements.push_back(replies[part].elements[at]);
      }
      return out;
    }
  }
  return std::move(replies.front());
}

}  // namespace

// A lease's connection: routes each command to its node over that node's pooled connection
// (borrowed for the lease's life) and follows redirects.
class ClusterScriptConnection final : public ScriptConnection {
 public:
  ClusterScriptConnection(ClusterScriptConnections& source, Identity identity)
      : source_(source), identity_(std::move(identity)) {}

  std::optional<std::vector<resp::Value>> run(
      int64_t db, std::span<const std::vector<std::string_view>> commands) override {
    std::vector<resp::Value> replies;
    replies.reserve(commands.size());
    for (const auto& command : commands) {
      auto reply = runOne(db, command);
      if (!reply) return std::nullopt;
      replies.push_back(std::move(*reply));
    }
    return replies;
  }
  const std::string& error() const override { return error_; }
  // Each node's connection polls for its replies as long (set before each use: a node's lease
  // may be taken after the spin was set).
  void setReplySpin(std::chrono::microseconds spin) override { spin_ = spin; }

 private:
  std::optional<resp::Value> runOne(int64_t db, const std::vector<std::string_view>& argv) {
    if (argv.empty()) return resp::Value::error(errors::kEmptyCommand);
    const CommandInfo* info = routingInfo(CommandTable::builtin(), argv);
    const Route route = routeCommand(info, argv);
    auto map = source_.topology().map();
    const size_t primaries = map->primaries().size();
    switch (route.kind) {
      case RouteKind::kSlot:
        return routed(db, argv, route.slot, -1);
      case RouteKind::kAnyNode:
      case RouteKind::kLocal:
        return routed(db, argv, kNoSlot, 0);
      case RouteKind::kCrossSlot:
        return resp::Value::error(errors::kCrossSlot);
      case RouteKind::kEveryNode: {
        std::vector<resp::Value> replies;
        for (size_t i = 0; i < primaries; ++i) {
          auto r = routed(db, argv, kNoSlot, static_cast<int>(i));
          if (!r) return std::nullopt;
          replies.push_back(std::move(*r));
        }
        return mergeReplies(route.merge, std::move(replies), {});
      }
      case RouteKind::kSplit: {
        std::vector<std::pair<uint32_t, uint32_t>> key_order;
        std::vector<resp::Value> replies;
        for (const SlotPart& part : splitBySlot(*info, argv, route.key_group, &key_order)) {
          auto r = routed(db, part.args, part.slot, -1);
          if (!r) return std::nullopt;
          replies.push_back(std::move(*r));
        }
        return mergeReplies(route.merge, std::move(replies), key_order);
      }
      case RouteKind::kScan: {
        auto position = argv.size() > 1 ? decodeScanCursor(argv[1], primaries) : std::nullopt;
        if (!position) return routed(db, argv, kNoSlot, 0);  // the node says what is wrong
        std::vector<std::string_view> args = argv;
        const std::string node_cursor = std::to_string(position->node_cursor);
        args[1] = node_cursor;
        auto r = routed(db, args, kNoSlot, static_cast<int>(position->primary));
        if (!r || r->isError() || r->elements.size() != 2) return r;
        auto next = resp::parseUint64(r->elements[0].str);
        if (!next) return r;
        r->elements[0].str = std::to_string(nextScanCursor(*next, position->primary, primaries));
        return r;
      }
    }
    return resp::Value::error(errors::kLost);
  }

  // The node serving `slot` (or the primary with index `primary`), or empty while none does.
  std::string addressOf(int slot, int primary) {
    auto map = source_.topology().map();
    return map->primaryAddress(slot >= 0 ? map->ownerOf(static_cast<uint16_t>(slot)) : primary);
  }

  std::optional<resp::Value> routed(int64_t db, const std::vector<std::string_view>& argv, int slot,
                                    int primary) {
    const auto started = std::chrono::steady_clock::now();
    std::string address = addressOf(slot, primary);
    bool asking = false;
    int redirects = 0;
    while (true) {
      std::optional<resp::Value> reply;
      bool sent = true;
      if (!address.empty()) reply = onNode(address, db, argv, asking, &sent);
      if (address.empty() || (!reply && !sent)) {
        // No node serves the slot yet, or its node cannot be reached: a failover may be under
        // way. Nothing was sent, so it is tried again with a newer map.
        source_.topology().refreshSoon();
        if (std::chrono::steady_clock::now() - started > kRetryBudget) {
          if (address.empty()) return resp::Value::error(errors::kSlotUnserved);
          return std::nullopt;
        }
        std::this_thread::sleep_for(kRetryPause);
        address = addressOf(slot, primary);
        asking = false;
        continue;
      }
      if (!reply) return std::nullopt;  // lost after it was sent: it may have run
      if (reply->isError()) {
        if (auto redirect = parseRedirect(reply->str); redirect && ++redirects <= kMaxRedirects) {
          if (!redirect->ask) source_.topology().refreshSoon();
          address = redirect->address;
          asking = redirect->ask;
          continue;
        }
        if (refusedBeforeRunning(reply->str) &&
            std::chrono::steady_clock::now() - started < kRetryBudget) {
          source_.topology().refreshSoon();
          std::this_thread::sleep_for(kRetryPause);
          address = addressOf(slot, primary);
          asking = false;
          continue;
        }
      }
      return reply;
    }
  }

  // Runs `argv` on the node at `address` (after ASKING if `asking`). `sent` false: the node could
  // not be reached, nothing was sent.
  std::optional<resp::Value> onNode(const std::string& address, int64_t db,
                                    const std::vector<std::string_view>& argv, bool asking,
                                    bool* sent) {
    auto it = leases_.find(address);
    if (it == leases_.end()) {
      ScriptConnections::Failure failure = ScriptConnections::Failure::kNone;
      ScriptConnections::Lease lease = source_.pool(address).acquire(identity_, &failure, &error_);
      if (!lease) {
        *sent = false;
        return std::nullopt;
      }
      it = leases_.emplace(address, std::move(lease)).first;
    }
    std::vector<std::vector<std::string_view>> commands;
    if (asking) commands.push_back({"ASKING"});
    commands.push_back(argv);
    it->second->setReplySpin(spin_);
    auto replies = it->second->run(db, commands);
    if (!replies) {
      error_ = it->second->error();
      leases_.erase(it);
      return std::nullopt;
    }
    return std::move(replies->back());
  }

  ClusterScriptConnections& source_;
  Identity identity_;
  std::map<std::string, ScriptConnections::Lease> leases_;
  std::string error_;
  std::chrono::microseconds spin_{0};
};

ClusterScriptConnections::ClusterScriptConnections(ClusterTopology& topology,
                                                   std::shared_ptr<io::TlsContext> tls,
                                                   std::chrono::milliseconds connect_timeout,
                                                   std::chrono::milliseconds command_timeout)
    : topology_(topology),
      tls_(std::move(tls)),
      connect_timeout_(connect_timeout),
      command_timeout_(command_timeout) {}

ClusterScriptConnections::~ClusterScriptConnections() = default;

ScriptConnectionPool& ClusterScriptConnections::pool(const std::string& address) {
  std::lock_guard lock(mutex_);
  auto it = pools_.find(address);
  if (it == pools_.end()) {
    auto endpoint = parseNodeAddress(address);
    it = pools_
             .emplace(address, std::make_unique<ScriptConnectionPool>(
                                   io::Target{endpoint.value_or(config::Endpoint{}), tls_},
                                   connect_timeout_, command_timeout_))
             .first;
  }
  return *it->second;
}

ScriptConnections::Lease ClusterScriptConnections::acquire(const Identity& identity,
                                                           Failure* failure, std::string* error) {
  // The identity is checked where the first command would most likely go; a wrong password
  // fails here, as with one backend.
  auto map = topology_.map();
  Lease probe = pool(map->primaryAddress(0)).acquire(identity, failure, error);
  if (!probe) return {};
  probe.reset();
  return Lease(this, std::make_unique<ClusterScriptConnection>(*this, identity));
}

void ClusterScriptConnections::giveBack(std::unique_ptr<ScriptConnection> conn) {
  conn.reset();  // its node connections go back to their pools
}

void ClusterScriptConnections::forgetUser(const std::string& user) {
  std::lock_guard lock(mutex_);
  for (auto& [address, pool] : pools_) pool->forgetUser(user);
}

}  // namespace tfproxy::backend
