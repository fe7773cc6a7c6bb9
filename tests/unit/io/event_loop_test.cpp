#include "io/event_loop.h"

#include <gtest/gtest.h>

#include <atomic>
#include <thread>

namespace tfproxy::io {
namespace {

TEST(EventLoop, PostedTasksRunOnTheLoopThreadInOrder) {
  EventLoop loop;
  std::vector<int> seen;
  std::atomic<bool> on_loop{true};
  std::thread runner([&] { loop.run(); });
  for (int i = 0; i < 100; ++i) {
    loop.post([&, i] {
      on_loop = on_loop && loop.inLoopThread();
      seen.push_back(i);
      if (i == 99) loop.stop();
    });
  }
  runner.join();
  ASSERT_EQ(seen.size(), 100u);
  for (int i = 0; i < 100; ++i) EXPECT_EQ(seen[i], i);
  EXPECT_TRUE(on_loop);
}

TEST(EventLoop, TimersAndDeferredTasksRunAfterTheRound) {
  EventLoop loop;
  std::vector<std::string> order;
  loop.post([&] {
    loop.runAfter(std::chrono::milliseconds(20), [&] {
      order.push_back("timer");
      loop.stop();
    });
    loop.defer([&] { order.push_back("deferred"); });
    order.push_back("posted");
  });
  loop.run();
  EXPECT_EQ(order, (std::vector<std::string>{"posted", "deferred", "timer"}));
}

// Loop-thread-only calls from another thread are a bug: tfproxy stops at once, naming it.
TEST(EventLoopDeathTest, LoopThreadOnlyCallsFromElsewhereAbort) {
  ::testing::FLAGS_gtest_death_test_style = "threadsafe";
  EXPECT_DEATH(
      {
        EventLoop loop;
        std::thread runner([&] { loop.run(); });
        std::this_thread::sleep_for(std::chrono::milliseconds(50));
        loop.defer([] {});
      },
      "invariant violated.*inLoopThread");
}

}  // namespace
}  // namespace tfproxy::io
