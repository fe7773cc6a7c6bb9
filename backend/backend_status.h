// What the backend is right now: primary or replica, out of memory or not. Polled with INFO on
// the proxy's own connection (spec §11.5), so TFCALL can refuse writes on a replica and when
// out of memory without a round trip of its own.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <memory>
#include <mutex>
#include <string>
#include <thread>

#include "config/options.h"

namespace tfproxy::backend {

class SyncConnection;

class BackendStatus {
 public:
  // Polls every `interval` as `user`/`password` (empty: no AUTH).
  BackendStatus(config::Endpoint endpoint, std::string user, std::string password,
                std::chrono::milliseconds interval);
  ~BackendStatus();

  void start();
  void stop();
  // Polls now (blocking) and returns when done.
  void refresh();

  bool writablePrimary() const { return primary_.load(std::memory_order_relaxed); }
  // maxmemory is set and used memory is above it (spec §11.5 [not exact]).
  bool outOfMemory() const { return oom_.load(std::memory_order_relaxed); }
  // A new connection must authenticate before it may run commands (requirepass, or a default
  // user that is off or has a password). Probed with a fresh connection every second.
  bool authRequired() const { return auth_required_.load(std::memory_order_relaxed); }

 private:
  void poll();
  config::Endpoint endpoint_;
  std::string user_;
  std::string password_;
  std::chrono::milliseconds interval_;
  std::atomic<bool> primary_{true};
  std::atomic<bool> oom_{false};
  std::atomic<bool> auth_required_{false};
  std::chrono::steady_clock::time_point last_auth_probe_;
  std::mutex mutex_;
  std::condition_variable wake_;
  bool stopping_ = false;
  bool warned_ = false;
  std::thread thread_;
  std::mutex poll_mutex_;
  std::unique_ptr<SyncConnection> conn_;
};

}  // namespace tfproxy::backend
