// The proxy's view of its backend: where it is, whether it is reachable, and how to open a
// forwarding connection to it. While the backend is unreachable, a probe retries with backoff
// (100 ms doubling to 5 s, on a thread of its own) and logs the outage once and the recovery
// once; sessions meanwhile answer errors at once instead of waiting on connects that will fail.
// With TLS a backend whose certificate does not verify counts as down, with that reason.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "base/metrics.h"
#include "config/options.h"
#include "io/socket_address.h"
#include "io/stream.h"

namespace tfproxy::backend {

class BackendLink {
 public:
  BackendLink(io::Target target, std::chrono::milliseconds connect_timeout);
  ~BackendLink();
  BackendLink(const BackendLink&) = delete;
  BackendLink& operator=(const BackendLink&) = delete;

  // Resolves the backend's name and checks reachability -- a connection, and its TLS handshake
  // when TLS is on (blocking, before serving) -- then keeps probing in the background while it
  // is down. Returns false if it is unreachable now.
  bool start();
  void stop();

  // Where to connect and how (the TLS context when TLS is on).
  const io::Target& target() const { return target_; }
  bool up() const { return up_.load(std::memory_order_relaxed); }
  // Times the backend became reachable again after being down (INFO backend_reconnects).
  uint64_t reconnects() const { return reconnects_.value(); }
  // Reason of the last failure, for error replies ("Connection refused").
  std::string lastError() const;

  // Where to connect (resolved by the probe, so connecting never waits for DNS) and how long a
  // connect may take.
  std::vector<io::SocketAddress> addresses() const;
  std::chrono::milliseconds connectTimeout() const { return connect_timeout_; }

  // Outcome of a connect made elsewhere: a failure marks the backend down (logged once, probed
  // with backoff); a success after an outage marks it up.
  void markDown(const std::string& reason);
  void markUp();

 private:
  // Resolves the endpoint into resolved_ (blocking); false, marked down, if it does not.
  bool resolveNow();
  // One connection (and handshake) attempt; false, marked down, on failure.
  bool probeOnce();
  // The probe thread: after each markDown() that found it idle, probes with backoff until a
  // probe succeeds.
  void probeLoop();

  const io::Target target_;
  const std::chrono::milliseconds connect_timeout_;
  std::atomic<bool> up_{true};
  metrics::Counter reconnects_;
  mutable std::mutex mutex_;
  std::string last_error_;                   // mutex_
  std::vector<io::SocketAddress> resolved_;  // mutex_
  bool probing_ = false;                     // mutex_: the probe thread is at work
  bool stopped_ = false;                     // mutex_
  std::condition_variable wake_;
  std::thread prober_;
};

}  // namespace tfproxy::backend
