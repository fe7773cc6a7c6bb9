// The atomic gate (design §4). Forwarding is a shared holder; an atomic section (a
// sync function's body from its first Redis call, one block() callback, a sync trigger) is an
// exclusive holder. To enter exclusively the gate closes -- sessions stop sending new commands
// and queue them -- and waits until every command already sent has been answered, except those
// that may block forever (BLPOP, WAIT, ...). Then nothing else passing through this proxy runs
// on the backend until the section releases the gate.
//
// The forwarding side costs one atomic add and one load per batch: each I/O thread has its own
// in-flight counter, incremented before the `closed` flag is checked; the exclusive side sets
// the flag before summing the counters (a Dekker handshake, both sides sequentially consistent).
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <memory>
#include <mutex>
#include <vector>

namespace tfproxy::backend {

// Told when forwarding must react to the gate; called on the thread that changed it.
class GateListener {
 public:
  virtual ~GateListener() = default;
  // The gate started closing: sessions holding back backend reads must read again, or the
  // drain would never finish.
  virtual void onGateClosing() = 0;
  // The gate opened: paused sessions may send again.
  virtual void onGateOpened() = 0;
};

class Gate {
 public:
  // `forwarders`: number of I/O threads; each gets its own counter.
  explicit Gate(size_t forwarders);

  void setListener(GateListener* listener) { listener_ = listener; }

  // Forwarding side, on I/O thread `thread`. tryAdmit() counts `counted` commands as in flight
  // and returns true if they may be sent now; false means the gate is closed and nothing was
  // counted. release() uncounts answered (or abandoned) commands.
  bool tryAdmit(size_t thread, uint32_t counted);
  void release(size_t thread, uint32_t counted);
  // True while an exclusive holder waits for the drain or holds the gate.
  bool closed() const { return closed_.load(std::memory_order_seq_cst); }

  // Fairness: forwarders the gate held back register here, and unregister once they had their
  // turn (admitted what they held). A new exclusive holder lets them go first -- waiting at
  // most a few milliseconds -- and, after a section that held any back, keeps the gate open at
  // least as long as that section held it (capped), so back-to-back sections cannot starve
  // forwarded traffic.
  void addWaiter() { waiters_.fetch_add(1, std::memory_order_seq_cst); }
  void removeWaiters(int n);

  // Exclusive side; blocks the calling thread, which must not be an I/O thread. Exclusive
  // holders are served one at a time.
  void lockExclusive();
  void unlockExclusive();

  // Counters for INFO.
  uint64_t exclusiveEntries() const { return entries_.load(std::memory_order_relaxed); }
  uint64_t drainWaitMicros() const { return drain_wait_us_.load(std::memory_order_relaxed); }
  uint64_t holdMicros() const { return hold_us_.load(std::memory_order_relaxed); }

 private:
  struct alignas(64) Counter {
    std::atomic<int64_t> in_flight{0};
  };
  int64_t inFlight() const;
  void wakeDrainer();

  std::unique_ptr<Counter[]> counters_;
  size_t forwarders_;
  std::atomic<bool> closed_{false};
  GateListener* listener_ = nullptr;

  std::mutex exclusive_;    // held by the exclusive holder for its whole section
  std::mutex drain_mutex_;  // guards the drain wait
  std::condition_variable drained_;
  std::atomic<bool> draining_{false};
  std::atomic<int> waiters_{0};

  // Written by the exclusive holder only (under exclusive_).
  static constexpr std::chrono::microseconds kMaxOpenWait{2000};
  std::chrono::steady_clock::time_point held_since_;
  std::chrono::steady_clock::time_point opened_at_;
  std::chrono::steady_clock::duration last_hold_{};
  bool held_back_ = false;  // forwarders waited during the last section
  std::atomic<uint64_t> entries_{0};
  std::atomic<uint64_t> drain_wait_us_{0};
  std::atomic<uint64_t> hold_us_{0};
};

}  // namespace tfproxy::backend
