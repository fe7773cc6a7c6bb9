#include "scripting/v8/executor.h"

namespace tfproxy::scripting {

namespace {
// Jobs one queue runs before letting other libraries' queues have the thread.
constexpr int kJobsPerTurn = 16;
}  // namespace

void JobQueue::post(std::function<void()> job) {
  bool schedule = false;
  {
    std::lock_guard lock(mutex_);
    jobs_.push_back(std::move(job));
    if (!scheduled_) {
      scheduled_ = true;
      schedule = true;
    }
  }
  if (schedule) executor_.schedule(shared_from_this());
}

size_t JobQueue::pending() const {
  std::lock_guard lock(mutex_);
  return jobs_.size();
}

bool JobQueue::claimIdle() {
  std::lock_guard lock(mutex_);
  if (scheduled_ || !jobs_.empty()) return false;
  scheduled_ = true;
  return true;
}

void JobQueue::unclaim() {
  {
    std::lock_guard lock(mutex_);
    if (jobs_.empty()) {
      scheduled_ = false;
      return;
    }
  }
  executor_.schedule(shared_from_this());  // still marked scheduled: the jobs posted meanwhile
}

bool JobQueue::runHere(const std::function<bool()>& job) {
  if (!executor_.tryTakePlace()) return false;
  bool ran = false;
  if (claimIdle()) {
    ran = job();
    unclaim();
  }
  executor_.givePlaceBack();
  return ran;
}

bool JobQueue::runSome() {
  for (int i = 0; i < kJobsPerTurn; ++i) {
    std::function<void()> job;
    {
      std::lock_guard lock(mutex_);
      if (jobs_.empty()) {
        scheduled_ = false;
        return false;
      }
      job = std::move(jobs_.front());
      jobs_.pop_front();
    }
    job();
  }
  std::lock_guard lock(mutex_);
  if (jobs_.empty()) {
    scheduled_ = false;
    return false;
  }
  return true;
}

Executor::Executor(size_t threads) : places_(threads == 0 ? 1 : threads) {
  for (size_t i = 0; i < places_; ++i) {
    threads_.emplace_back([this] { loop(); });
  }
}

Executor::~Executor() { stop(); }

void Executor::stop() {
  {
    std::lock_guard lock(mutex_);
    stopping_ = true;
  }
  ready_cv_.notify_all();
  for (auto& t : threads_) {
    if (t.joinable()) t.join();
  }
  threads_.clear();
}

void Executor::schedule(std::shared_ptr<JobQueue> queue) {
  {
    std::lock_guard lock(mutex_);
    ready_.push_back(std::move(queue));
  }
  ready_cv_.notify_one();
}

bool Executor::tryTakePlace() {
  std::lock_guard lock(mutex_);
  if (stopping_ || running_ >= places_ || !ready_.empty()) return false;
  ++running_;
  return true;
}

void Executor::givePlaceBack() {
  bool wake = false;
  {
    std::lock_guard lock(mutex_);
    --running_;
    wake = !ready_.empty();
  }
  if (wake) ready_cv_.notify_one();
}

void Executor::loop() {
  while (true) {
    std::shared_ptr<JobQueue> queue;
    {
      std::unique_lock lock(mutex_);
      ready_cv_.wait(lock, [this] { return stopping_ || (!ready_.empty() && running_ < places_); });
      if (stopping_) return;
      queue = std::move(ready_.front());
      ready_.pop_front();
      ++running_;
    }
    const bool more = queue->runSome();
    bool waiting = false;
    {
      std::lock_guard lock(mutex_);
      --running_;
      if (more) ready_.push_back(std::move(queue));
      waiting = !ready_.empty();
    }
    // Another thread may have been waiting for this place.
    if (waiting) ready_cv_.notify_one();
  }
}

}  // namespace tfproxy::scripting
