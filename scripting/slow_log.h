// The slow log of functions and triggers (TFUNCTION SLOWLOG): Redis' own SLOWLOG never sees
// the time a call spends in tfproxy, so tfproxy keeps one of its own, with the same shape and
// the same limits as Redis' -- entries as SLOWLOG GET shows them, at most `max_len` kept, the
// newest first, arguments cut as Redis cuts them. Any thread.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <deque>
#include <mutex>
#include <string>
#include <vector>

namespace tfproxy::scripting {

class SlowLog {
 public:
  struct Entry {
    uint64_t id = 0;
    int64_t unix_time = 0;  // seconds
    int64_t micros = 0;
    std::vector<std::string> args;
    std::string client;  // ip:port of the caller; "" for a trigger
    std::string name;    // what ran: "lib.function", or the trigger as "lib.trigger"
  };

  // Runs that took at least `slower_than_us` microseconds are logged (0: every run; negative:
  // none), as Redis' slowlog-log-slower-than; at most `max_len` entries are kept
  // (slowlog-max-len). Redis' defaults until configured.
  void configure(int64_t slower_than_us, size_t max_len);

  // Cheap enough for every run: one relaxed load.
  bool logs(std::chrono::nanoseconds took) const {
    const int64_t threshold = slower_than_us_.load(std::memory_order_relaxed);
    return threshold >= 0 &&
           std::chrono::duration_cast<std::chrono::microseconds>(took).count() >= threshold;
  }
  void add(std::chrono::nanoseconds took, std::vector<std::string> args, std::string client,
           std::string name);

  // The newest `count` entries (all of them when negative), newest first.
  std::vector<Entry> get(int64_t count) const;
  size_t length() const;
  void reset();

 private:
  std::atomic<int64_t> slower_than_us_{10000};
  size_t max_len_ = 128;  // mutex_
  mutable std::mutex mutex_;
  std::deque<Entry> entries_;  // newest first
  uint64_t next_id_ = 0;
};

}  // namespace tfproxy::scripting
