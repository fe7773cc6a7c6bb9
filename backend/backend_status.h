// What the backend is right now: primary or replica, out of memory or not, whether a new
// connection must authenticate. Read from INFO on the proxy's own connection (spec §11.5) so
// that TFCALL decides without a round trip of its own: a cached "may run" is trusted, a refusal
// is confirmed with the backend first (confirm()), and the state is read again at once after
// anything that changes it passed through the proxy (refreshSoon()). Polled every
// `interval` otherwise -- one command, the proxy's only housekeeping besides the library store.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <thread>

#include "config/options.h"
#include "io/stream.h"

namespace tfproxy::backend {

class SyncConnection;

class BackendStatus {
 public:
  // Polls every `interval` as `user`/`password` (empty: no AUTH).
  BackendStatus(io::Target target, std::string user, std::string password,
                std::chrono::milliseconds interval);
  ~BackendStatus();

  void start();
  void stop();
  // In front of a Redis Cluster (design §9): each poll asks `source` which node to read (a
  // primary), rather than the node given at construction.
  void followTarget(std::function<io::Target()> source);
  // Reads the state now (blocking) and returns when done.
  void refresh();
  // Before refusing on the state: reads it again unless a read began after this call did
  // (blocking; callers are on the refusal path, or hold nothing a client waits for).
  void confirm();
  // Something that changes the state went through the proxy (CONFIG SET, REPLICAOF, FAILOVER,
  // an OOM/READONLY/UNBLOCKED reply): the poller reads it at once. Never blocks.
  void refreshSoon();
  // False from refreshSoon() until a read that began after it has ended: a decision on the
  // state then confirms first, even one that would allow.
  bool current() const { return read_requests_.load() == reads_served_.load(); }

  bool writablePrimary() const { return primary_.load(std::memory_order_relaxed); }
  // maxmemory is set and used memory is above it (spec §11.5 [not exact]).
  bool outOfMemory() const { return oom_.load(std::memory_order_relaxed); }
  // A new connection must authenticate before it may run commands (requirepass, or a default
  // user that is off or has a password). Probed with a fresh connection when asked and the last
  // probe is a second old (the answer of that probe is used meanwhile); never while idle.
  bool authRequired();
  // The last poll had an answer (any answer, an error included).
  bool reachable() const { return reachable_.load(std::memory_order_relaxed); }

 private:
  void poll();
  void probeAuth();
  io::Target target() const;
  mutable std::mutex target_mutex_;
  io::Target target_;                          // target_mutex_
  std::function<io::Target()> target_source_;  // set before start()
  std::string user_;
  std::string password_;
  std::chrono::milliseconds interval_;
  std::atomic<bool> primary_{true};
  std::atomic<bool> oom_{false};
  std::atomic<bool> reachable_{true};
  std::atomic<bool> auth_required_{false};
  std::atomic<int64_t> last_auth_probe_{0};  // steady clock, nanoseconds
  std::atomic<bool> auth_probe_wanted_{false};
  std::chrono::steady_clock::time_point last_poll_start_;  // guarded by poll_mutex_
  std::mutex mutex_;
  std::condition_variable wake_;
  bool stopping_ = false;
  bool poll_now_ = false;                   // guarded by mutex_
  std::atomic<uint64_t> read_requests_{0};  // refreshSoon() calls
  std::atomic<uint64_t> reads_served_{0};   // requests a finished read answered
  bool plain_info_ = false;  // the backend refuses INFO with several sections (before Redis 7)
  bool warned_ = false;
  std::thread thread_;
  std::mutex poll_mutex_;
  std::unique_ptr<SyncConnection> conn_;
};

}  // namespace tfproxy::backend
