// Whether an event loop with nothing ready gives its CPU away (sched_yield) once before it sleeps
// in epoll_wait.
//
// tfproxy usually shares cores with Redis and with its clients. A loop that sleeps is woken by
// each reply as it arrives and preempts the process that sent it halfway through that process'
// own round; a loop that yields instead lets it finish, and then finds several events at once.
// With Redis, tfproxy and redis-benchmark on two cores, this raised forwarding by up to a sixth
// (README, "Performance"; the machine's noise is as large). Where the core is shared with a busy
// process instead, one yield can cost a whole time slice. So when kSlowPerWindow of kWindow
// yields each took longer than kSlow, the loop stops yielding for a pause and sleeps at once, as
// it would without this; the pause doubles from kPause up to kMaxPause for as long as that keeps
// happening. Measured on two cores: beside Redis and redis-benchmark alone, 0.4% of yields took
// longer than 1 ms; with two busy processes added, 42% did.
#pragma once

#include <algorithm>
#include <chrono>

namespace tfproxy::io {

class YieldPolicy {
 public:
  using Clock = std::chrono::steady_clock;
  static constexpr std::chrono::microseconds kSlow{1000};
  static constexpr int kWindow = 32;
  static constexpr int kSlowPerWindow = 8;
  static constexpr std::chrono::milliseconds kPause{500};
  static constexpr std::chrono::milliseconds kMaxPause{8000};

  bool mayYield(Clock::time_point now) const { return now >= paused_until_; }

  // Tells how long the yield that started at `start` took.
  void yielded(Clock::time_point start, Clock::duration took) {
    if (took > kSlow && ++slow_ == kSlowPerWindow) {
      paused_until_ = start + pause_;
      pause_ = std::min<Clock::duration>(2 * pause_, kMaxPause);
      yields_ = slow_ = 0;
      return;
    }
    if (++yields_ < kWindow) return;
    pause_ = kPause;  // a whole window with few slow yields
    yields_ = slow_ = 0;
  }

 private:
  Clock::time_point paused_until_{};
  Clock::duration pause_ = kPause;
  int yields_ = 0;  // in the current window
  int slow_ = 0;    // of them, those that took longer than kSlow
};

}  // namespace tfproxy::io
