// Counters and latency histograms that the layers keep about their own work, read by the
// operations surfaces (INFO's tfproxy section, /metrics, the admin page: server/stats.h).
// Recording is a relaxed atomic add -- or, for a counter only one thread writes, a plain load
// and store -- so that counting costs the forwarding path nothing it would notice.
#pragma once

#include <array>
#include <atomic>
#include <chrono>
#include <cstddef>
#include <cstdint>

namespace tfproxy::metrics {

// A count that only grows, added to from any thread.
class Counter {
 public:
  void add(uint64_t n = 1) { value_.fetch_add(n, std::memory_order_relaxed); }
  uint64_t value() const { return value_.load(std::memory_order_relaxed); }

 private:
  std::atomic<uint64_t> value_{0};
};

// A count written by one thread only (an I/O worker's) and read by any: no locked instruction
// on the writer's side.
class OwnedCounter {
 public:
  void add(uint64_t n = 1) {
    value_.store(value_.load(std::memory_order_relaxed) + n, std::memory_order_relaxed);
  }
  uint64_t value() const { return value_.load(std::memory_order_relaxed); }

 private:
  std::atomic<uint64_t> value_{0};
};

// A level that goes up and down (clients on a connection of their own), from any thread.
class Gauge {
 public:
  void add(int64_t n = 1) { value_.fetch_add(n, std::memory_order_relaxed); }
  void sub(int64_t n = 1) { value_.fetch_sub(n, std::memory_order_relaxed); }
  int64_t value() const { return value_.load(std::memory_order_relaxed); }

 private:
  std::atomic<int64_t> value_{0};
};

// How long something took, counted in fixed buckets (upper bounds in seconds, as Prometheus'
// histograms), with the sum and the count. Any thread.
class Histogram {
 public:
  static constexpr std::array<double, 16> kBounds = {
      0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01,
      0.025,   0.05,   0.1,     0.25,   0.5,   1,      2.5,   10};

  void observe(std::chrono::nanoseconds took) {
    const double seconds = std::chrono::duration<double>(took).count();
    size_t i = 0;
    while (i < kBounds.size() && seconds > kBounds[i]) ++i;
    buckets_[i].fetch_add(1, std::memory_order_relaxed);
    sum_ns_.fetch_add(static_cast<uint64_t>(took.count() > 0 ? took.count() : 0),
                      std::memory_order_relaxed);
    count_.fetch_add(1, std::memory_order_relaxed);
  }

  // Observations at or under kBounds[i] alone (i == kBounds.size(): above the last bound).
  uint64_t bucket(size_t i) const { return buckets_[i].load(std::memory_order_relaxed); }
  uint64_t count() const { return count_.load(std::memory_order_relaxed); }
  uint64_t sumMicros() const { return sum_ns_.load(std::memory_order_relaxed) / 1000; }
  double sumSeconds() const {
    return static_cast<double>(sum_ns_.load(std::memory_order_relaxed)) / 1e9;
  }
  // The bound under which a fraction `q` of the observations fall (the bucket's upper bound;
  // the last bound for observations above it); 0 without observations.
  double quantile(double q) const {
    uint64_t counts[kBounds.size() + 1];
    uint64_t total = 0;
    for (size_t i = 0; i <= kBounds.size(); ++i) total += counts[i] = bucket(i);
    if (total == 0) return 0;
    const double wanted = q * static_cast<double>(total);
    uint64_t seen = 0;
    for (size_t i = 0; i < kBounds.size(); ++i) {
      seen += counts[i];
      if (static_cast<double>(seen) >= wanted) return kBounds[i];
    }
    return kBounds.back();
  }

 private:
  std::array<std::atomic<uint64_t>, kBounds.size() + 1> buckets_{};
  std::atomic<uint64_t> sum_ns_{0};
  std::atomic<uint64_t> count_{0};
};

}  // namespace tfproxy::metrics
