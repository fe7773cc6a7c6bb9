#include "io/yield_policy.h"

#include <gtest/gtest.h>

namespace tfproxy::io {
namespace {

using std::chrono::microseconds;
using std::chrono::milliseconds;
using Clock = YieldPolicy::Clock;

constexpr auto kFast = microseconds(3);
constexpr auto kSlow = YieldPolicy::kSlow + microseconds(1);

TEST(YieldPolicy, FastYieldsNeverPause) {
  YieldPolicy policy;
  Clock::time_point now{};
  for (int i = 0; i < 10 * YieldPolicy::kWindow; ++i) {
    ASSERT_TRUE(policy.mayYield(now));
    policy.yielded(now, kFast);
    now += microseconds(100);
  }
}

TEST(YieldPolicy, AFewSlowYieldsPerWindowDoNotPause) {
  YieldPolicy policy;
  Clock::time_point now{};
  for (int i = 0; i < 10 * YieldPolicy::kWindow; ++i) {
    ASSERT_TRUE(policy.mayYield(now)) << i;
    // kSlowPerWindow - 1 slow yields at the start of every window.
    policy.yielded(now, i % YieldPolicy::kWindow < YieldPolicy::kSlowPerWindow - 1 ? kSlow : kFast);
    now += milliseconds(1);
  }
}

TEST(YieldPolicy, SlowYieldsPauseAtOnceAndThePauseDoubles) {
  YieldPolicy policy;
  Clock::time_point now{};
  auto pauseAfterSlowYields = [&] {
    for (int i = 0; i < YieldPolicy::kSlowPerWindow; ++i) {
      EXPECT_TRUE(policy.mayYield(now));
      policy.yielded(now, kSlow);
    }
    const Clock::time_point start = now;
    EXPECT_FALSE(policy.mayYield(now));
    while (!policy.mayYield(now)) now += milliseconds(1);
    return now - start;
  };
  EXPECT_EQ(pauseAfterSlowYields(), YieldPolicy::kPause);
  EXPECT_EQ(pauseAfterSlowYields(), 2 * YieldPolicy::kPause);
  EXPECT_EQ(pauseAfterSlowYields(), 4 * YieldPolicy::kPause);
  for (int i = 0; i < 10; ++i) pauseAfterSlowYields();
  EXPECT_EQ(pauseAfterSlowYields(), YieldPolicy::kMaxPause);

  // A whole window of fast yields brings the pause back to its start.
  for (int i = 0; i < YieldPolicy::kWindow; ++i) policy.yielded(now, kFast);
  EXPECT_EQ(pauseAfterSlowYields(), YieldPolicy::kPause);
}

}  // namespace
}  // namespace tfproxy::io
