#include "scripting/v8/executor.h"

#include "io/event_loop.h"

namespace tfproxy::scripting {

namespace {
// Jobs one queue runs before letting other libraries' queues have the thread.
constexpr int kJobsPerTurn = 16;
}  // namespace

void JobQueue::post(std::function<void()> job) {
  Job j;
  j.run = std::move(job);
  enqueue(std::move(j));
}

void JobQueue::postLent(io::EventLoop* thread, std::function<bool()> run_lent,
                        std::function<void()> fallback) {
  enqueue(Job{std::move(fallback), thread, std::move(run_lent)});
}

void JobQueue::enqueue(Job job) {
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

bool JobQueue::claimIdle(const io::EventLoop* thread, bool* claimed) {
  std::lock_guard lock(mutex_);
  *claimed = false;
  if (thread != nullptr && lent_to_ == thread) return true;
  if (scheduled_ || !jobs_.empty()) return false;
  scheduled_ = true;
  *claimed = true;
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

bool JobQueue::runHere(const std::function<bool()>& job, const io::EventLoop* thread) {
  if (!executor_.tryTakePlace()) return false;
  bool ran = false;
  bool claimed = false;
  if (claimIdle(thread, &claimed)) {
    ran = job();
    if (claimed) unclaim();
  }
  executor_.givePlaceBack();
  return ran;
}

bool JobQueue::runSome(std::function<void()>* lend) {
  for (int i = 0; i < kJobsPerTurn; ++i) {
    Job job;
    std::vector<Job> lent;
    {
      std::lock_guard lock(mutex_);
      if (jobs_.empty()) {
        scheduled_ = false;
        return false;
      }
      if (jobs_.front().lent_to != nullptr) {
        // Lent with the jobs for the same thread behind it; the queue stays scheduled (taken)
        // until that thread gives it back.
        lent_to_ = jobs_.front().lent_to;
        while (!jobs_.empty() && jobs_.front().lent_to == lent_to_) {
          lent.push_back(std::move(jobs_.front()));
          jobs_.pop_front();
        }
      } else {
        job = std::move(jobs_.front());
        jobs_.pop_front();
      }
    }
    if (!lent.empty()) {
      *lend = [self = shared_from_this(), lent = std::move(lent)]() mutable {
        io::EventLoop* thread = lent.front().lent_to;
        thread->post([self = std::move(self), lent = std::move(lent)]() mutable {
          self->runLent(std::move(lent));
        });
      };
      return false;
    }
    job.run();
  }
  std::lock_guard lock(mutex_);
  if (jobs_.empty()) {
    scheduled_ = false;
    return false;
  }
  return true;
}

void JobQueue::runLent(std::vector<Job> batch) {
  size_t ran = 0;
  bool placed = executor_.tryTakePlace();
  if (placed) {
    while (ran < batch.size() && batch[ran].run_lent()) ++ran;
    executor_.givePlaceBack();
  }
  {
    std::lock_guard lock(mutex_);
    lent_to_ = nullptr;
    // Before anything posted meanwhile: the jobs not run, in order. Without a place, all of
    // them on a script thread; otherwise the declined one there, and those after it lent again
    // once it ran (what declined it -- the fleet's lock not at hand -- may be gone by then).
    for (size_t i = batch.size(); i > ran; --i) {
      Job& job = batch[i - 1];
      if (!placed || i - 1 == ran) {
        job.lent_to = nullptr;
        job.run_lent = nullptr;
      }
      jobs_.push_front(std::move(job));
    }
  }
  unclaim();
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
    std::function<void()> lend;
    const bool more = queue->runSome(&lend);
    bool waiting = false;
    {
      std::lock_guard lock(mutex_);
      --running_;
      if (more) ready_.push_back(std::move(queue));
      waiting = !ready_.empty();
    }
    // Another thread may have been waiting for this place.
    if (waiting) ready_cv_.notify_one();
    // With the place given back: the borrower takes one to run the batch.
    if (lend) lend();
  }
}

}  // namespace tfproxy::scripting
