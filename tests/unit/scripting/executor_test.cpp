// Library job queues: order, runHere on an idle queue, and a queue lent to an I/O thread for the
// calls it received while the library was busy.
#include "scripting/v8/executor.h"

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <future>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "io/event_loop.h"

namespace tfproxy::scripting {
namespace {

using namespace std::chrono_literals;

// An event loop on a thread of its own (an I/O thread).
class LoopThread {
 public:
  LoopThread() : thread_([this] { loop_.run(); }) {
    std::promise<std::thread::id> id;
    loop_.post([&id] { id.set_value(std::this_thread::get_id()); });
    id_ = id.get_future().get();
  }
  ~LoopThread() {
    loop_.stop();
    thread_.join();
  }
  io::EventLoop& loop() { return loop_; }
  std::thread::id id() const { return id_; }
  // Runs `task` on the loop thread and waits for it.
  template <typename F>
  auto call(F task) {
    std::packaged_task<decltype(task())()> run(std::move(task));
    auto result = run.get_future();
    loop_.post([&run] { run(); });
    return result.get();
  }

 private:
  io::EventLoop loop_;
  std::thread thread_;
  std::thread::id id_;
};

// What ran, in order, and where.
class Log {
 public:
  void add(std::string what) {
    std::lock_guard lock(mutex_);
    entries_.push_back(std::move(what));
    threads_.push_back(std::this_thread::get_id());
  }
  std::vector<std::string> entries() {
    std::lock_guard lock(mutex_);
    return entries_;
  }
  std::thread::id threadOf(const std::string& what) {
    std::lock_guard lock(mutex_);
    for (size_t i = 0; i < entries_.size(); ++i) {
      if (entries_[i] == what) return threads_[i];
    }
    return {};
  }
  // Waits until `n` entries are in.
  bool waitFor(size_t n) {
    for (int i = 0; i < 500; ++i) {
      if (entries().size() >= n) return true;
      std::this_thread::sleep_for(10ms);
    }
    return false;
  }

 private:
  std::mutex mutex_;
  std::vector<std::string> entries_;
  std::vector<std::thread::id> threads_;
};

// A job that holds the queue until released.
struct Blocker {
  std::promise<void> started;
  std::promise<void> release;
  std::function<void()> job() {
    return [this] {
      started.set_value();
      release.get_future().wait();
    };
  }
};

// A queue of a library held busy by a job on the one script thread, and an I/O thread.
class LentQueueTest : public ::testing::Test {
 protected:
  void SetUp() override {
    queue_->post(holder_.job());
    holder_.started.get_future().wait();
  }
  void TearDown() override {
    if (!released_) release();
  }
  void release() {
    released_ = true;
    holder_.release.set_value();
  }
  // Appends a lent job logging `name` on its thread (or declining), `name later` if it falls
  // back.
  void postLent(const std::string& name, bool declines = false) {
    queue_->postLent(
        &io_.loop(), [this, name, declines] { return !declines && (log_.add(name), true); },
        [this, name] { log_.add(name + " later"); });
  }

  Executor executor_{1};
  std::shared_ptr<JobQueue> queue_ = std::make_shared<JobQueue>(executor_);
  LoopThread io_;
  Log log_;
  Blocker holder_;
  bool released_ = false;
};

TEST(JobQueue, RunsJobsInOrderOnScriptThreads) {
  Executor executor(1);
  auto queue = std::make_shared<JobQueue>(executor);
  Log log;
  for (int i = 0; i < 20; ++i) queue->post([&log, i] { log.add(std::to_string(i)); });
  ASSERT_TRUE(log.waitFor(20));
  std::vector<std::string> expected;
  for (int i = 0; i < 20; ++i) expected.push_back(std::to_string(i));
  EXPECT_EQ(log.entries(), expected);
  EXPECT_NE(log.threadOf("0"), std::this_thread::get_id());
}

TEST(JobQueue, RunsHereOnlyWhenIdle) {
  Executor executor(1);
  auto queue = std::make_shared<JobQueue>(executor);
  bool ran = false;
  EXPECT_TRUE(queue->runHere([&] { return ran = true; }));
  EXPECT_TRUE(ran);

  Blocker blocker;
  queue->post(blocker.job());
  blocker.started.get_future().wait();
  ran = false;
  EXPECT_FALSE(queue->runHere([&] { return ran = true; }));
  EXPECT_FALSE(ran);
  blocker.release.set_value();
  // Idle again once the job is done.
  for (int i = 0; i < 500 && !queue->runHere([] { return true; }); ++i) {
    std::this_thread::sleep_for(10ms);
  }
  EXPECT_TRUE(queue->runHere([] { return true; }));
}

// Calls an I/O thread could not run because the library was busy run on that thread once their
// turn comes, all in one batch, in order; while the queue is lent, that thread (and only that
// thread) runs its new calls at once.
TEST_F(LentQueueTest, LentToTheIoThreadOnItsTurn) {
  LoopThread other;
  for (int i = 0; i < 3; ++i) postLent("lent" + std::to_string(i));
  queue_->post([this] { log_.add("after"); });
  // Busy: no one runs here, on any thread.
  EXPECT_FALSE(io_.call([&] { return queue_->runHere([] { return true; }, &io_.loop()); }));

  // Lent: while the batch is on its way (the loop thread busy meanwhile), the borrower runs its
  // calls at once; another thread cannot.
  std::promise<void> go;
  io_.loop().post([&, ready = std::shared_future<void>(go.get_future())] {
    ready.wait();
    const bool here = queue_->runHere([this] { return log_.add("at once"), true; }, &io_.loop());
    const bool elsewhere =
        other.call([&] { return queue_->runHere([] { return true; }, &other.loop()); });
    log_.add(here && !elsewhere ? "lent here only" : "not lent");
  });
  release();
  // Lent once only "after" waits in the queue.
  for (int i = 0; i < 500 && queue_->pending() != 1; ++i) std::this_thread::sleep_for(10ms);
  ASSERT_EQ(queue_->pending(), 1u);
  go.set_value();
  ASSERT_TRUE(log_.waitFor(6));
  EXPECT_EQ(log_.entries(), (std::vector<std::string>{"at once", "lent here only", "lent0", "lent1",
                                                      "lent2", "after"}));
  EXPECT_EQ(log_.threadOf("lent0"), io_.id());
  EXPECT_EQ(log_.threadOf("lent2"), io_.id());
  EXPECT_NE(log_.threadOf("after"), io_.id());
}

// A lent call its thread declines (the fleet's lock not at hand) runs on a script thread instead,
// and the ones after it are lent again after it, before what was posted after them.
TEST_F(LentQueueTest, DeclinedLentJobsRunOnAScriptThreadInOrder) {
  postLent("first");
  postLent("second", /*declines=*/true);
  postLent("third");
  queue_->post([this] { log_.add("after"); });
  release();
  ASSERT_TRUE(log_.waitFor(4));
  std::this_thread::sleep_for(50ms);  // nothing else may follow
  EXPECT_EQ(log_.entries(), (std::vector<std::string>{"first", "second later", "third", "after"}));
  EXPECT_EQ(log_.threadOf("first"), io_.id());
  EXPECT_NE(log_.threadOf("second later"), io_.id());
  EXPECT_EQ(log_.threadOf("third"), io_.id());
  EXPECT_NE(log_.threadOf("after"), io_.id());
}

// With every script thread's place taken by another library, the lent batch runs its
// fallbacks on a script thread rather than take a place it does not have.
TEST_F(LentQueueTest, LentBatchWithoutAPlaceFallsBack) {
  auto other_library = std::make_shared<JobQueue>(executor_);
  postLent("lent");
  // Hold the loop thread until the other library has the only place.
  std::promise<void> go;
  io_.loop().post([ready = std::shared_future<void>(go.get_future())] { ready.wait(); });
  Blocker other;
  other_library->post(other.job());
  release();
  other.started.get_future().wait();
  go.set_value();
  std::this_thread::sleep_for(100ms);
  EXPECT_TRUE(log_.entries().empty());
  other.release.set_value();
  ASSERT_TRUE(log_.waitFor(1));
  EXPECT_EQ(log_.entries(), std::vector<std::string>{"lent later"});
}

}  // namespace
}  // namespace tfproxy::scripting
