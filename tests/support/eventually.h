// Waiting for what another thread or process does, written once for every test: poll, with a
// bound, and hand back what was last seen so that a failing assertion shows it. The bound only
// matters when the test fails; it is generous so that a loaded machine (ctest -j) does not.
#pragma once

#include <chrono>
#include <thread>

namespace tfproxy::testing {

// Polls `condition` every `step` until it holds or `timeout` passes; whether it held.
template <class Condition>
bool eventually(Condition condition,
                std::chrono::milliseconds timeout = std::chrono::milliseconds(10000),
                std::chrono::milliseconds step = std::chrono::milliseconds(10)) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  while (!condition()) {
    if (std::chrono::steady_clock::now() >= deadline) return false;
    std::this_thread::sleep_for(step);
  }
  return true;
}

// Calls `produce` until it gives `expected` or `timeout` passes; the last value it gave.
template <class Produce, class T>
auto eventuallyEquals(Produce produce, const T& expected,
                      std::chrono::milliseconds timeout = std::chrono::milliseconds(10000),
                      std::chrono::milliseconds step = std::chrono::milliseconds(50)) {
  auto last = produce();
  eventually(
      [&] {
        if (last == expected) return true;
        last = produce();
        return last == expected;
      },
      timeout, step);
  return last;
}

}  // namespace tfproxy::testing
