// Script threads (`execution-threads`) and per-library job queues. Jobs of one library run one
// at a time, in order; different libraries run in parallel (spec §6.8), at most as many at once as
// there are script threads: a caller that runs a library's job on its own thread (runHere, an I/O
// thread running a short function) takes one of those places while it runs. A queue may also be
// lent to an I/O thread, for the calls that thread received while the library was busy
// (postLent).
#pragma once

#include <condition_variable>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <thread>
#include <vector>

namespace tfproxy::io {
class EventLoop;
}

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

  // Runs `job` on the calling thread now, as if it were this queue's next job, when that needs no
  // waiting: nothing queued or running for this library (or the queue lent to `thread`, the
  // caller's own loop), and a place free among the script threads. False when it could not, or
  // `job` declined (returned false: it did nothing).
  bool runHere(const std::function<bool()>& job, const io::EventLoop* thread = nullptr);

  // Appends a job that would rather run on the I/O thread `thread` (which received a call while
  // the library was busy). On its turn the queue is lent to that thread: one task posted there
  // runs this job and the ones lent to the same thread right behind it (`run_lent`, in a script
  // thread's place), and gives the queue back. Until then, that thread's runHere calls run at
  // once. A job that declines (returns false) runs `fallback` on a script thread instead, before
  // anything else; the jobs after it are lent again after it. Without a script thread's place
  // for the batch, all of them run their fallback.
  void postLent(io::EventLoop* thread, std::function<bool()> run_lent,
                std::function<void()> fallback);

 private:
  friend class Executor;
  struct Job {
    std::function<void()> run;  // on a script thread (a lent job's fallback)
    io::EventLoop* lent_to = nullptr;
    std::function<bool()> run_lent;
  };
  void enqueue(Job job);
  // Runs queued jobs on the calling script thread; returns true if more remain (and the queue
  // was neither emptied nor lent). Lending sets `lend`, to be called once this thread has given
  // its place back.
  bool runSome(std::function<void()>* lend);
  // On the thread the queue was lent to: runs the batch, gives the queue back.
  void runLent(std::vector<Job> batch);
  // Takes the queue for the calling thread when it is idle (no job queued or running), or finds
  // it lent to `thread`; `*claimed`: taken here, to be given back with unclaim().
  bool claimIdle(const io::EventLoop* thread, bool* claimed);
  // Gives a claimed queue back; jobs posted meanwhile are scheduled.
  void unclaim();

  Executor& executor_;
  mutable std::mutex mutex_;
  std::deque<Job> jobs_;
  bool scheduled_ = false;  // in the executor's ready list, running, lent, or claimed by runHere
  const io::EventLoop* lent_to_ = nullptr;  // the I/O thread the queue is lent to
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
  // A place to run JavaScript for a thread that is not a script thread; false when every place
  // is taken or queues wait for one (they go first).
  bool tryTakePlace();
  void givePlaceBack();

  std::mutex mutex_;
  std::condition_variable ready_cv_;
  std::deque<std::shared_ptr<JobQueue>> ready_;
  size_t places_;       // threads_.size(): libraries that may run at once
  size_t running_ = 0;  // places taken: script threads running a queue, callers in runHere
  bool stopping_ = false;
  std::vector<std::thread> threads_;
};

}  // namespace tfproxy::scripting
