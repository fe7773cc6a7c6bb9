// The atomic gate (design §4). Forwarding is a shared holder; an atomic section (a
// sync function's body from its first Redis call, one block() callback, a sync trigger) is an
// exclusive holder. To enter exclusively the gate closes -- sessions stop sending new commands
// and queue them -- and waits until every command already sent has been answered, except those
// that may block forever (BLPOP, WAIT, ...). Then nothing else passing through this proxy runs
// on the backend until the section releases the gate.
//
// The forwarding side costs one atomic add and two loads per batch (with a fleet, also a read of
// the coarse clock): each I/O thread has its own in-flight counter, incremented before the
// closers are checked; a closer counts itself before summing the counters (a Dekker handshake,
// both sides sequentially consistent).
//
// Several tfproxy instances in front of one Redis share one gate (design §4): a coordinator
// (backend/fleet.h) makes an exclusive holder wait until every other instance has closed and
// drained its gate, and closes this one -- with close()/open() -- while another instance's
// section runs or while this instance is out of step with the others.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <memory>
#include <mutex>
#include <vector>

#include "base/metrics.h"

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

// Coordinates exclusive sections with other instances (the fleet); called by the exclusive
// holder. lock() runs before this instance's gate closes (waiting for another instance's
// section closes nothing here), closeOthers() once it is closing (the others drain while this
// one does).
class GateCoordinator {
 public:
  virtual ~GateCoordinator() = default;
  // Returns once no other instance runs a section or may start one: true. With `may_fail`,
  // false when this instance cannot be in step with the others soon (nothing was taken).
  virtual bool lock(bool may_fail) = 0;
  // Returns once every other live instance's gate is closed and drained.
  virtual void closeOthers() = 0;
  // `more`: another section of this instance waits to enter (the coordinator may keep the
  // others closed for it, briefly).
  virtual void release(bool more) = 0;
  // lock() when it needs no waiting and closeOthers() would have nothing to wait for (this
  // instance alone, holding the fleet's lock already): true, and closeOthers() need not be
  // called. Never blocks.
  virtual bool tryLock() { return false; }
  // After a refused tryLock(): would one section entered with lock() leave the lock kept, so
  // that later tries succeed (this instance alone as far as it knows)?
  virtual bool wouldKeepLock() { return false; }
};

class Gate {
 public:
  // `forwarders`: number of I/O threads; each gets its own counter.
  explicit Gate(size_t forwarders);

  // The fleet's threads may close and open the gate while the server sets its listener.
  void setListener(GateListener* listener) { listener_.store(listener, std::memory_order_release); }
  // Set before any exclusive holder runs; null: this instance is alone by configuration.
  void setCoordinator(GateCoordinator* coordinator) { coordinator_ = coordinator; }

  // Forwarding side, on I/O thread `thread`. tryAdmit() counts `counted` commands as in flight
  // and returns true if they may be sent now; false means the gate is closed and nothing was
  // counted. release() uncounts answered (or abandoned) commands.
  bool tryAdmit(size_t thread, uint32_t counted);
  void release(size_t thread, uint32_t counted);
  // True while an exclusive holder waits for the drain or holds the gate, or another closer
  // keeps it closed.
  bool closed() const { return closers_.load(std::memory_order_seq_cst) > 0; }

  // Fairness: forwarders the gate held back register here, and unregister once they had their
  // turn (admitted what they held). A new exclusive holder lets them go first -- waiting at
  // most a few milliseconds -- and, after a section that held any back, keeps the gate open at
  // least as long as that section kept it closed, its drain included (capped), so back-to-back
  // sections cannot starve forwarded traffic.
  void addWaiter() { waiters_.fetch_add(1, std::memory_order_seq_cst); }
  void removeWaiters(int n);

  // Exclusive side; blocks the calling thread, which must not be an I/O thread. Exclusive
  // holders are served one at a time. The fallible form gives up (false, nothing held) when
  // the fleet cannot be reached soon.
  void lockExclusive() { (void)lockExclusive(/*may_fail=*/false); }
  [[nodiscard]] bool lockExclusive(bool may_fail);
  // Enters exclusively only if that needs no waiting: no other exclusive holder and none waiting,
  // no forwarder held back, no fairness pause due, nothing in flight once closed, and the
  // coordinator's lock at hand. Never blocks, so an I/O thread may call it; anything but
  // kEntered holds nothing. kCoordinator: only the coordinator stood in the way (its lock is
  // not kept yet: one section entered by lockExclusive, alone in the fleet, keeps it).
  enum class TryResult { kEntered, kBusy, kCoordinator };
  [[nodiscard]] TryResult tryLockExclusive();
  void unlockExclusive();

  // Closing without holding (the coordinator: another instance's section, or this instance out
  // of step). Each close() is undone by one open(); the gate opens when no closer is left.
  void close();
  void open();
  // Forwarding is admitted only before `until` (coarseMs()); the fleet moves it on with each
  // answered heartbeat, so that an instance that was frozen (a stopped process, a suspended VM)
  // forwards nothing once it wakes until its fleet thread has seen where the others are.
  // Unset (the default), admission never looks at the clock.
  static constexpr int64_t kNoDeadline = INT64_MAX;
  void setAdmitUntil(int64_t until);
  // Monotonic milliseconds from the coarse clock (a few ns to read, a few ms of resolution).
  static int64_t coarseMs();

  // Wakes the forwarders held back to look again: while the gate stays closed for long (this
  // instance out of step), a backend that went away makes them answer errors instead of wait.
  void nudge() {
    if (GateListener* l = listener_.load(std::memory_order_acquire)) l->onGateOpened();
  }
  // Blocks until every counted command is answered; call with the gate closed. The bounded
  // form returns false if some were still in flight after `limit`.
  void waitDrained();
  bool waitDrainedFor(std::chrono::milliseconds limit);

  // What operators see of the gate (server/stats.h): sections entered, how long each waited for
  // the drain (its own instance's and, with a fleet, the others') and how long it held the
  // gate, and the sections waiting to enter now.
  uint64_t exclusiveEntries() const { return drain_wait_.count(); }
  const metrics::Histogram& drainWait() const { return drain_wait_; }
  const metrics::Histogram& holdTime() const { return hold_time_; }
  int sectionsWaiting() const { return exclusive_waiting_.load(std::memory_order_relaxed); }

 private:
  struct alignas(64) Counter {
    std::atomic<int64_t> in_flight{0};
  };
  int64_t inFlight() const;
  void wakeDrainer();
  // Until when the gate stays open after the last section (the fairness rule above); the
  // distant past when that section held nobody back. Under exclusive_.
  std::chrono::steady_clock::time_point openUntil() const;

  std::unique_ptr<Counter[]> counters_;
  size_t forwarders_;
  std::atomic<int> closers_{0};
  std::atomic<int64_t> admit_until_{kNoDeadline};
  std::atomic<bool> refused_late_{false};  // admission refused for the deadline
  std::atomic<GateListener*> listener_{nullptr};
  GateCoordinator* coordinator_ = nullptr;

  std::mutex exclusive_;                   // held by the exclusive holder for its whole section
  std::atomic<int> exclusive_waiting_{0};  // threads waiting for exclusive_
  std::mutex drain_mutex_;                 // guards the drain wait
  std::condition_variable drained_;
  std::atomic<int> draining_{0};  // threads waiting for the drain
  std::atomic<int> waiters_{0};

  // Written by the exclusive holder only (under exclusive_).
  static constexpr std::chrono::microseconds kMaxOpenWait{2000};
  std::chrono::steady_clock::time_point closed_at_;   // the section closed the gate
  std::chrono::steady_clock::time_point held_since_;  // ... and its drain ended
  std::chrono::steady_clock::time_point opened_at_;
  std::chrono::steady_clock::duration last_closed_{};  // closed_at_ to opened_at_
  bool held_back_ = false;                             // forwarders waited during the last section
  metrics::Histogram drain_wait_;
  metrics::Histogram hold_time_;
};

}  // namespace tfproxy::backend
