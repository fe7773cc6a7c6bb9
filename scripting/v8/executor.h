// Script threads (`execution-threads`) and per-library job queues. Jobs of one library run one
// at a time, in order; different libraries run in parallel (spec §6.8).
#pragma once

#include <condition_variable>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <thread>
#include <vector>

namespace tfproxy::scripting {

class Executor;

// A library's job queue. Shared by the library and the executor while it has work.
class JobQueue : public std::enable_shared_from_this<JobQueue> {
 public:
  explicit JobQueue(Executor& executor) : executor_(executor) {}
  // Appends a job; it runs after the jobs posted before it, on some script thread.
  void post(std::function<void()> job);
  // Jobs waiting, not counting the running one (TFUNCTION LIST pending_jobs).
  size_t pending() const;

 private:
  friend class Executor;
  // Runs queued jobs on the calling script thread; returns true if more remain.
  bool runSome();

  Executor& executor_;
  mutable std::mutex mutex_;
  std::deque<std::function<void()>> jobs_;
  bool scheduled_ = false;  // in the executor's ready list or running
};

class Executor {
 public:
  explicit Executor(size_t threads);
  ~Executor();
  void stop();

 private:
  friend class JobQueue;
  void schedule(std::shared_ptr<JobQueue> queue);
  void loop();

  std::mutex mutex_;
  std::condition_variable ready_cv_;
  std::deque<std::shared_ptr<JobQueue>> ready_;
  bool stopping_ = false;
  std::vector<std::thread> threads_;
};

}  // namespace tfproxy::scripting
