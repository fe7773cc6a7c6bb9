#include "resp/request_parser.h"

#include <climits>

#include "resp/errors.h"
#include "resp/inline.h"
#include "resp/number.h"

namespace tfproxy::resp {

std::string_view RequestParser::arg(size_t i) const {
  if (is_inline_) return inline_args_[i];
  return buf_.substr(spans_[i].offset, spans_[i].length);
}

void RequestParser::resetCommand() {
  pos_ = 0;
  remaining_args_ = -1;
  bulk_len_ = -1;
}

RequestParser::Result RequestParser::fail(std::string message) {
  error_ = std::move(message);
  resetCommand();
  return {Status::kError, 0};
}

RequestParser::Result RequestParser::parse(std::string_view buf) {
  buf_ = buf;
  if (buf.empty()) return {Status::kNeedMore, 0};
  if (pos_ == 0 && remaining_args_ < 0) {
    is_inline_ = buf[0] != '*';
    spans_.clear();
  }
  return is_inline_ ? parseInline(buf) : parseMultibulk(buf);
}

namespace {

// Where Redis finds the end of a line: it searches the NUL-terminated query buffer with strchr,
// so a NUL byte before `c` hides it -- Redis keeps waiting for a line end that never comes
// (until the length limit closes the connection). npos when Redis would not see it. One pass:
// header lines are a few bytes, and inline commands are rare.
size_t findAsRedis(std::string_view buf, size_t from, char c) {
  for (size_t i = from; i < buf.size(); ++i) {
    if (buf[i] == c) return i;
    if (buf[i] == '\0') break;
  }
  return std::string_view::npos;
}

}  // namespace

RequestParser::Result RequestParser::parseInline(std::string_view buf) {
  size_t newline = findAsRedis(buf, 0, '\n');
  // Redis checks the limit after each read while no line end is in sight. It reads in pieces,
  // so a longer line is refused whenever its end arrives in a later read; tfproxy refuses it
  // always, so that no line Redis might refuse reaches a connection other clients share.
  if (newline == std::string_view::npos) {
    if (buf.size() > limits_.max_inline_len) return fail(errors::kTooBigInline);
    return {Status::kNeedMore, 0};
  }
  if (newline > limits_.max_inline_len) return fail(errors::kTooBigInline);
  size_t line_end = newline;
  if (line_end > 0 && buf[line_end - 1] == '\r') --line_end;
  auto args = splitInlineArgs(buf.substr(0, line_end));
  if (!args) return fail(errors::kUnbalancedQuotes);
  inline_args_ = std::move(*args);
  return {Status::kComplete, newline + 1};
}

RequestParser::Result RequestParser::parseMultibulk(std::string_view buf) {
  // Finds the '\r' ending a header line that starts at `from`. Like Redis, the byte after '\r'
  // must be present but is not checked.
  auto find_line_end = [&](size_t from, size_t* cr) -> bool {
    *cr = findAsRedis(buf, from, '\r');
    return *cr != std::string_view::npos && *cr + 1 < buf.size();
  };

  if (remaining_args_ < 0) {
    size_t cr = 0;
    if (!find_line_end(0, &cr)) {
      if (buf.size() > limits_.max_inline_len) return fail(errors::kTooBigMbulkCount);
      return {Status::kNeedMore, 0};
    }
    auto count = parseInt64(buf.substr(1, cr - 1));
    if (!count || *count > INT_MAX) return fail(errors::kInvalidMultibulkLength);
    pos_ = cr + 2;
    if (*count <= 0) {  // `*0` and `*-1` are skipped silently
      size_t consumed = pos_;
      resetCommand();
      spans_.clear();
      return {Status::kComplete, consumed};
    }
    remaining_args_ = *count;
    spans_.reserve(static_cast<size_t>(std::min<int64_t>(*count, 1024)));
  }

  while (remaining_args_ > 0) {
    if (bulk_len_ < 0) {
      size_t cr = 0;
      if (!find_line_end(pos_, &cr)) {
        if (buf.size() - pos_ > limits_.max_inline_len) return fail(errors::kTooBigBulkCount);
        return {Status::kNeedMore, 0};
      }
      if (buf[pos_] != '$') {
        char got = buf[pos_];
        if (got == '\r' || got == '\n') got = ' ';
        return fail(std::string(errors::kExpectedDollarPrefix) + got + "'");
      }
      auto len = parseInt64(buf.substr(pos_ + 1, cr - pos_ - 1));
      if (!len || *len < 0 || static_cast<uint64_t>(*len) > limits_.max_bulk_len) {
        return fail(errors::kInvalidBulkLength);
      }
      pos_ = cr + 2;
      bulk_len_ = *len;
    }
    // The payload and its two-byte terminator (not checked, as in Redis).
    if (buf.size() - pos_ < static_cast<uint64_t>(bulk_len_) + 2) return {Status::kNeedMore, 0};
    spans_.push_back({pos_, static_cast<size_t>(bulk_len_)});
    pos_ += static_cast<size_t>(bulk_len_) + 2;
    bulk_len_ = -1;
    --remaining_args_;
  }
  size_t consumed = pos_;
  resetCommand();
  return {Status::kComplete, consumed};
}

}  // namespace tfproxy::resp
