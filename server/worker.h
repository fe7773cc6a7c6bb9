// An I/O thread: one io_context, the sessions that live on it, and the sessions waiting for the
// gate. A session never leaves its worker, so session state needs no locks.
#pragma once

#include <memory>
#include <thread>
#include <unordered_map>
#include <vector>

#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>

namespace tfproxy::server {

class Session;
class SharedConnection;

class Worker {
 public:
  explicit Worker(size_t index);
  ~Worker();

  size_t index() const { return index_; }
  boost::asio::io_context& context() { return context_; }

  void start();
  // Lets run() return once no work is left (after sessions closed); join() waits for it.
  void releaseWork();
  void stopNow();
  void join();

  // Runs on this worker's thread. The worker owns its sessions until they close.
  void add(const std::shared_ptr<Session>& session) { owned_.emplace(session.get(), session); }
  void remove(Session* session) { owned_.erase(session); }
  void waitForGate(const std::shared_ptr<Session>& session);
  size_t sessionCount() const { return owned_.size(); }
  // The pipelined connection shared by this worker's sessions that have no state of their own.
  SharedConnection& shared() { return *shared_; }
  void setShared(std::shared_ptr<SharedConnection> shared) { shared_ = std::move(shared); }
  void closeAll();

  // Called from any thread; the work happens on this worker's thread.
  void postGateOpened();
  void postGateClosing();
  void postShutdown();

 private:
  size_t index_;
  boost::asio::io_context context_{1};
  boost::asio::executor_work_guard<boost::asio::io_context::executor_type> work_;
  std::thread thread_;
  std::unordered_map<Session*, std::shared_ptr<Session>> owned_;
  std::shared_ptr<SharedConnection> shared_;
  std::vector<std::weak_ptr<Session>> gate_waiters_;
};

}  // namespace tfproxy::server
