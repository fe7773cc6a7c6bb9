// Finds where one RESP2/RESP3 reply ends, without copying or decoding it: the forwarding path
// uses it to count backend replies. Incremental: a frame may arrive in any number of pieces.
// discard() would let a caller stream a large payload instead of holding it whole; today's
// callers (sessions, the shared connection, the callAsync runner) hold each frame until it is
// complete.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string_view>
#include <vector>

namespace tfproxy::resp {

class ReplyFramer {
 public:
  enum class Status { kComplete, kNeedMore, kError };
  struct Result {
    Status status;
    size_t consumed;  // with kComplete: length of the frame
  };

  // Scans the frame that starts at buf[0]. After kNeedMore call again with a buffer that starts
  // at the same frame (or at the first byte not yet discarded) and holds at least the same bytes.
  Result scan(std::string_view buf);

  // Bytes of the current, incomplete frame scanned so far: the scan stops before an unfinished
  // header line, so all of them may be dropped with discard().
  size_t scanned() const { return pos_; }
  size_t safeToDiscard() const { return pos_; }
  // The caller has moved the first n scanned bytes away; the next scan() buffer starts after
  // them. Used to stream large values.
  void discard(size_t n) { pos_ -= n; }

  // Type byte of the frame being scanned (valid once scan() has seen its first byte).
  char frameType() const { return frame_type_; }
  const char* error() const { return error_; }
  void reset();

 private:
  struct Level {
    int64_t remaining;
    bool attribute;  // an attribute map does not count as a value of its parent
  };
  Result fail(const char* message);
  // A value ended at the current depth; returns true when that completes the whole frame.
  bool valueDone();

  size_t pos_ = 0;
  uint64_t payload_remaining_ = 0;  // bytes of a blob payload (with its CRLF) still to skip
  std::vector<Level> stack_;
  char frame_type_ = 0;
  bool started_ = false;
  const char* error_ = nullptr;
};

}  // namespace tfproxy::resp
