#include "resp/framer.h"

#include <cstring>

#include "resp/errors.h"
#include "resp/number.h"
#include "resp/types.h"

namespace tfproxy::resp {
namespace {

constexpr size_t kMaxLine = 64 * 1024;
constexpr size_t kMaxDepth = 4096;

}  // namespace

void ReplyFramer::reset() {
  pos_ = 0;
  payload_remaining_ = 0;
  stack_.clear();
  started_ = false;
  frame_type_ = 0;
}

ReplyFramer::Result ReplyFramer::fail(const char* message) {
  error_ = message;
  reset();
  return {Status::kError, 0};
}

bool ReplyFramer::valueDone() {
  while (!stack_.empty()) {
    Level& top = stack_.back();
    if (--top.remaining > 0) return false;
    bool attribute = top.attribute;
    stack_.pop_back();
    if (attribute) return false;  // the value the attribute annotates still follows
  }
  return true;
}

ReplyFramer::Result ReplyFramer::scan(std::string_view buf) {
  if (!started_) {
    if (buf.empty()) return {Status::kNeedMore, 0};
    started_ = true;
    frame_type_ = buf[0];
  }
  while (true) {
    if (payload_remaining_ > 0) {
      size_t avail = buf.size() - pos_;
      if (avail < payload_remaining_) {
        pos_ += avail;
        payload_remaining_ -= avail;
        return {Status::kNeedMore, 0};
      }
      pos_ += payload_remaining_;
      payload_remaining_ = 0;
      if (valueDone()) break;
      continue;
    }
    if (pos_ >= buf.size()) return {Status::kNeedMore, 0};
    const char* start = buf.data() + pos_;
    const size_t avail = buf.size() - pos_;
    const void* cr = avail > 1 ? std::memchr(start + 1, '\r', avail - 1) : nullptr;
    if (cr == nullptr || static_cast<const char*>(cr) + 1 >= buf.data() + buf.size()) {
      if (avail > kMaxLine) return fail(errors::kReplyLineTooLong);
      return {Status::kNeedMore, 0};
    }
    const size_t line_len = static_cast<const char*>(cr) - start;
    if (start[line_len + 1] != '\n') return fail(errors::kBadReplyType);
    const Type type = static_cast<Type>(start[0]);
    const std::string_view body(start + 1, line_len - 1);
    pos_ += line_len + 2;

    switch (type) {
      case Type::kSimpleString:
      case Type::kError:
      case Type::kInteger:
      case Type::kNull:
      case Type::kBoolean:
      case Type::kDouble:
      case Type::kBigNumber:
        if (valueDone()) goto complete;
        break;
      case Type::kBulkString:
      case Type::kBulkError:
      case Type::kVerbatim: {
        if (type == Type::kBulkString && body == "-1") {  // RESP2 null bulk string
          if (valueDone()) goto complete;
          break;
        }
        auto len = parseInt64(body);
        if (!len || *len < 0) return fail(errors::kBadReplyLength);
        payload_remaining_ = static_cast<uint64_t>(*len) + 2;
        break;
      }
      case Type::kArray:
      case Type::kSet:
      case Type::kPush:
      case Type::kMap:
      case Type::kAttribute: {
        if (type == Type::kArray && body == "-1") {  // RESP2 null array
          if (valueDone()) goto complete;
          break;
        }
        auto count = parseInt64(body);
        if (!count || *count < 0) return fail(errors::kBadReplyLength);
        int64_t elements = *count;
        if (type == Type::kMap || type == Type::kAttribute) elements *= 2;
        if (elements == 0) {
          if (type == Type::kAttribute) break;  // an empty attribute annotates the next value
          if (valueDone()) goto complete;
          break;
        }
        if (stack_.size() >= kMaxDepth) return fail(errors::kReplyTooDeep);
        stack_.push_back({elements, type == Type::kAttribute});
        break;
      }
      default:
        return fail(errors::kBadReplyType);
    }
  }
complete:
  size_t length = pos_;
  reset();
  return {Status::kComplete, length};
}

}  // namespace tfproxy::resp
