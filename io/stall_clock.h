// Tells when a connection that owes replies has read nothing for a given time (--backend-timeout).
// The owner counts its reads that brought bytes and asks a few times per limit; the clock starts
// at the first check that finds replies owed and no read since the check before.
#pragma once

#include <chrono>
#include <cstdint>

namespace tfproxy::io {

class StallClock {
 public:
  using Clock = std::chrono::steady_clock;

  // True once replies have been owed for `limit` with `reads` unchanged.
  bool expired(bool owed, uint64_t reads, Clock::time_point now, std::chrono::milliseconds limit) {
    if (!owed || reads != reads_seen_) {
      reads_seen_ = reads;
      since_ = {};
      return false;
    }
    if (since_ == Clock::time_point{}) since_ = now;
    return now - since_ >= limit;
  }

 private:
  uint64_t reads_seen_ = 0;
  Clock::time_point since_{};
};

}  // namespace tfproxy::io
