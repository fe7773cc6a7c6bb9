// An I/O thread: one event loop, the sessions that live on it, the shared backend connection
// of its stateless sessions, and the sessions waiting for the gate. A session never leaves its
// worker, so session state needs no locks.
#pragma once

#include <atomic>
#include <chrono>
#include <memory>
#include <thread>
#include <unordered_map>
#include <vector>

#include "io/event_loop.h"
#include "server/pipeline.h"

namespace tfproxy::backend {
class Forwarder;
}

namespace tfproxy::server {

class Session;

class Worker {
 public:
  explicit Worker(size_t index);
  ~Worker();

  size_t index() const { return index_; }
  io::EventLoop& loop() { return loop_; }

  void start();
  void stop();
  void join();

  // Runs on this worker's thread. The worker owns its sessions until they close.
  void add(const std::shared_ptr<Session>& session) { owned_.emplace(session.get(), session); }
  // Forgets a closed session; it is destroyed at the end of the round (events of this round
  // may still name it).
  void remove(Session* session);
  void waitForGate(const std::shared_ptr<Session>& session);
  // A session holds back backend reads because its client is slow; the gate closing must make
  // it read again (its answers count for the drain).
  void holdingBackendReads(const std::shared_ptr<Session>& session);
  size_t sessionCount() const { return owned_.size(); }
  // What this worker's sessions forwarded (server/stats.h reads it from any thread).
  ForwardingCounters& counters() { return counters_; }
  const ForwardingCounters& counters() const { return counters_; }
  void closeAll();
  // The pipelined connection shared by this worker's sessions that have no state of their own.
  backend::Forwarder& shared() { return *shared_; }
  void setShared(std::shared_ptr<backend::Forwarder> shared) { shared_ = std::move(shared); }

  // Called from any thread; the work happens on this worker's thread. Nothing is posted when no
  // session of this worker needs to hear it (the common case: no wake-up per function call).
  void postGateOpened();
  void postGateClosing();
  void postShutdown();
  // --backend-timeout: checks the shared connection and every session against `limit`, a few
  // times per limit. Call before start().
  void setBackendTimeout(std::chrono::milliseconds limit) { backend_timeout_ = limit; }

 private:
  size_t index_;
  io::EventLoop loop_;
  std::thread thread_;
  std::unordered_map<Session*, std::shared_ptr<Session>> owned_;
  std::shared_ptr<backend::Forwarder> shared_;
  std::vector<std::weak_ptr<Session>> gate_waiters_;
  std::vector<std::weak_ptr<Session>> holding_reads_;
  std::atomic<int> gate_waiter_count_{0};
  std::atomic<int> holding_reads_count_{0};
  std::chrono::milliseconds backend_timeout_{0};
  ForwardingCounters counters_;
  void checkBackendTimeouts();
};

}  // namespace tfproxy::server
