// The slot map of a Redis Cluster backend and a link to each of its nodes (design §9). The map
// is read from any reachable node -- the seeds given with --backend, then every node the last
// map named -- at start, every few seconds, and soon after a redirect or a node's failure;
// readers take the current map without waiting (a version number says when it changed).
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "backend/link.h"
#include "backend/script_connection.h"
#include "backend/slot_map.h"
#include "io/stream.h"

namespace tfproxy::backend {

class ClusterTopology {
 public:
  struct Settings {
    std::vector<io::Target> seeds;
    Identity identity;  // the proxy's backend user
    std::chrono::milliseconds connect_timeout{2000};
    std::chrono::milliseconds interval{5000};  // between periodic refreshes
  };

  // Asks `seed` for its slot map: the map when it is a cluster node, nullopt when it is not (or
  // does not answer; `error` says which).
  static std::optional<SlotMap> read(const io::Target& seed, const Identity& identity,
                                     std::chrono::milliseconds timeout, std::string* error);

  ClusterTopology(Settings settings, SlotMap first);
  ~ClusterTopology();
  ClusterTopology(const ClusterTopology&) = delete;
  ClusterTopology& operator=(const ClusterTopology&) = delete;

  // Opens the links to the first map's nodes and starts refreshing.
  void start();
  void stop();

  // The current map; never null.
  std::shared_ptr<const SlotMap> map() const;
  // Changes each time the map does.
  uint64_t version() const { return version_.load(std::memory_order_acquire); }
  // The link to the node at `address` ("host:port"), or nullptr while no map named it.
  BackendLink* link(const std::string& address) const;
  // The node a session's own connection should go to for the commands at the start of `input`
  // (the first being the one that needs the connection): the primary of the first command's
  // slot -- after MULTI, of the first command with keys before EXEC -- or the first primary.
  std::string stickyNode(std::string_view input) const;
  // Reads the map again soon (a redirect, a lost node); cheap to call often.
  void refreshSoon();

 private:
  void refreshLoop();
  bool refreshOnce();
  // Opens links to nodes of `map` not known yet (blocking: resolves and probes).
  void addLinks(const SlotMap& map);

  const Settings settings_;
  mutable std::mutex mutex_;
  std::shared_ptr<const SlotMap> map_;                         // mutex_
  std::map<std::string, std::unique_ptr<BackendLink>> links_;  // mutex_; never shrinks
  std::atomic<uint64_t> version_{1};
  bool wanted_ = false;   // mutex_: refreshSoon() asked
  bool stopped_ = false;  // mutex_
  std::condition_variable wake_;
  std::thread refresher_;
};

}  // namespace tfproxy::backend
