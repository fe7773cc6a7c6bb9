// Incremental parser for client requests: multibulk (`*2\r\n$3\r\nGET\r\n$1\r\nk\r\n`) and inline
// (`GET k\r\n`). It cuts commands exactly where Redis does, quirks included, so the proxy and the
// backend always agree on command boundaries for bytes forwarded unchanged. No I/O, no copies
// of multibulk arguments (they are views into the caller's buffer).
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace tfproxy::resp {

struct ParserLimits {
  // Largest bulk argument accepted (Redis' proto-max-bulk-len).
  uint64_t max_bulk_len = 512ull * 1024 * 1024;
  // Longest inline line or length header without a line ending (Redis' PROTO_INLINE_MAX_SIZE).
  size_t max_inline_len = 64 * 1024;
};

class RequestParser {
 public:
  enum class Status {
    kComplete,  // a command ends at `consumed`; argc() may be 0 for an empty command
    kNeedMore,  // the buffer holds only part of a command
    kError,     // protocol error: error() is the reply text, the connection must close
  };
  struct Result {
    Status status;
    size_t consumed;  // bytes of the complete command (valid with kComplete)
  };

  explicit RequestParser(ParserLimits limits = {}) : limits_(limits) {}

  // Parses the command that starts at buf[0]. After kNeedMore, call again with a buffer that
  // starts at the same command and holds at least the same bytes: parsing resumes where it
  // stopped. After kComplete the next call starts a new command.
  Result parse(std::string_view buf);

  // Arguments of the last complete command. Multibulk arguments are views into the buffer passed
  // to parse(), valid while that memory is.
  size_t argc() const { return is_inline_ ? inline_args_.size() : spans_.size(); }
  std::string_view arg(size_t i) const;
  bool isInline() const { return is_inline_; }
  // Bytes of the current command parsed so far (also meaningful after kNeedMore).
  size_t parsedBytes() const { return pos_; }

  const std::string& error() const { return error_; }

  // Forgets a partly parsed command (the caller will present it again from its first byte).
  void reset() { resetCommand(); }

 private:
  Result parseMultibulk(std::string_view buf);
  Result parseInline(std::string_view buf);
  Result fail(std::string message);
  void resetCommand();

  ParserLimits limits_;
  // Multibulk resume state: position reached, arguments still to read, pending bulk length.
  size_t pos_ = 0;
  int64_t remaining_args_ = -1;  // -1: header not parsed yet
  int64_t bulk_len_ = -1;        // -1: expecting a `$<len>` header
  struct Span {
    size_t offset;
    size_t length;
  };
  std::vector<Span> spans_;
  std::string_view buf_;
  bool is_inline_ = false;
  std::vector<std::string> inline_args_;
  std::string error_;
};

}  // namespace tfproxy::resp
