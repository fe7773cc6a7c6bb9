#include "backend/gate.h"

#include <time.h>

#include <algorithm>
#include <thread>

namespace tfproxy::backend {

using Clock = std::chrono::steady_clock;

Gate::Gate(size_t forwarders)
    : counters_(new Counter[forwarders == 0 ? 1 : forwarders]),
      forwarders_(forwarders == 0 ? 1 : forwarders) {}

int64_t Gate::coarseMs() {
  timespec ts{};
  ::clock_gettime(CLOCK_MONOTONIC_COARSE, &ts);
  return static_cast<int64_t>(ts.tv_sec) * 1000 + ts.tv_nsec / 1000000;
}

void Gate::setAdmitUntil(int64_t until) {
  admit_until_.store(until, std::memory_order_relaxed);
  if (refused_late_.exchange(false, std::memory_order_relaxed)) nudge();
}

bool Gate::tryAdmit(size_t thread, uint32_t counted) {
  std::atomic<int64_t>& c = counters_[thread].in_flight;
  if (counted > 0) c.fetch_add(counted, std::memory_order_seq_cst);
  if (closers_.load(std::memory_order_seq_cst) == 0) {
    const int64_t until = admit_until_.load(std::memory_order_relaxed);
    if (until == kNoDeadline || coarseMs() < until) return true;
    refused_late_.store(true, std::memory_order_relaxed);
  }
  if (counted > 0) {
    c.fetch_sub(counted, std::memory_order_seq_cst);
    wakeDrainer();
  }
  return false;
}

void Gate::release(size_t thread, uint32_t counted) {
  if (counted == 0) return;
  counters_[thread].in_flight.fetch_sub(counted, std::memory_order_seq_cst);
  if (draining_.load(std::memory_order_seq_cst) > 0) wakeDrainer();
}

int64_t Gate::inFlight() const {
  int64_t sum = 0;
  for (size_t i = 0; i < forwarders_; ++i) {
    sum += counters_[i].in_flight.load(std::memory_order_seq_cst);
  }
  return sum;
}

Clock::time_point Gate::openUntil() const {
  if (!held_back_) return Clock::time_point::min();
  return opened_at_ + std::min<Clock::duration>(last_closed_, kMaxOpenWait);
}

void Gate::wakeDrainer() {
  std::lock_guard lock(drain_mutex_);
  drained_.notify_all();
}

void Gate::removeWaiters(int n) {
  if (n <= 0) return;
  waiters_.fetch_sub(n, std::memory_order_seq_cst);
  wakeDrainer();
}

void Gate::close() {
  closers_.fetch_add(1, std::memory_order_seq_cst);
  if (GateListener* l = listener_.load(std::memory_order_acquire)) l->onGateClosing();
}

void Gate::open() {
  if (closers_.fetch_sub(1, std::memory_order_seq_cst) == 1) {
    if (GateListener* l = listener_.load(std::memory_order_acquire)) l->onGateOpened();
  }
}

void Gate::waitDrained() {
  while (!waitDrainedFor(std::chrono::hours(1))) {
  }
}

bool Gate::waitDrainedFor(std::chrono::milliseconds limit) {
  std::unique_lock lock(drain_mutex_);
  draining_.fetch_add(1, std::memory_order_seq_cst);
  const bool drained = drained_.wait_for(lock, limit, [this] { return inFlight() <= 0; });
  draining_.fetch_sub(1, std::memory_order_seq_cst);
  return drained;
}

bool Gate::lockExclusive(bool may_fail) {
  exclusive_waiting_.fetch_add(1, std::memory_order_relaxed);
  exclusive_.lock();
  exclusive_waiting_.fetch_sub(1, std::memory_order_relaxed);
  const auto start = Clock::now();
  // Back-to-back sections that held forwarders back -- a coroutine's block() steps -- keep the
  // gate closed at most about half of the time: it stays open at least as long as it was closed
  // for the previous section, drain included (capped), so forwarded traffic gets more than one
  // round trip between sections.
  if (const auto open_until = openUntil(); start < open_until) {
    std::this_thread::sleep_until(open_until);
  }
  {
    // Forwarders held back by the previous section go first (their commands then count for
    // this section's drain).
    std::unique_lock lock(drain_mutex_);
    if (waiters_.load(std::memory_order_seq_cst) > 0) {
      draining_.fetch_add(1, std::memory_order_seq_cst);
      drained_.wait_for(lock, std::chrono::milliseconds(5),
                        [this] { return waiters_.load(std::memory_order_seq_cst) <= 0; });
      draining_.fetch_sub(1, std::memory_order_seq_cst);
    }
  }
  if (coordinator_ != nullptr && !coordinator_->lock(may_fail)) {
    exclusive_.unlock();
    return false;
  }
  closed_at_ = Clock::now();
  close();
  // The other instances close and drain while this one drains.
  if (coordinator_ != nullptr) coordinator_->closeOthers();
  waitDrained();
  held_since_ = Clock::now();
  drain_wait_.observe(held_since_ - start);
  return true;
}

Gate::TryResult Gate::tryLockExclusive() {
  if (exclusive_waiting_.load(std::memory_order_relaxed) > 0) return TryResult::kBusy;
  if (!exclusive_.try_lock()) return TryResult::kBusy;
  const auto start = Clock::now();
  if (start < openUntil() || waiters_.load(std::memory_order_seq_cst) > 0) {
    exclusive_.unlock();
    return TryResult::kBusy;
  }
  // Counted as a closer before the in-flight counters are read (the forwarders' handshake):
  // a forwarder that counted itself is seen, a later one sees the gate closed.
  closers_.fetch_add(1, std::memory_order_seq_cst);
  TryResult result = TryResult::kEntered;
  if (inFlight() > 0) {
    result = TryResult::kBusy;
  } else if (coordinator_ != nullptr && !coordinator_->tryLock()) {
    result = coordinator_->wouldKeepLock() ? TryResult::kCoordinator : TryResult::kBusy;
  }
  if (result != TryResult::kEntered) {
    open();  // wakes a forwarder that found it closed meanwhile
    exclusive_.unlock();
    return result;
  }
  held_since_ = start;
  closed_at_ = start;
  drain_wait_.observe(Clock::duration::zero());
  return result;
}

void Gate::unlockExclusive() {
  opened_at_ = Clock::now();
  last_closed_ = opened_at_ - closed_at_;
  held_back_ = waiters_.load(std::memory_order_seq_cst) > 0;
  hold_time_.observe(opened_at_ - held_since_);
  if (coordinator_ != nullptr) {
    coordinator_->release(exclusive_waiting_.load(std::memory_order_relaxed) > 0);
  }
  open();
  exclusive_.unlock();
}

}  // namespace tfproxy::backend
