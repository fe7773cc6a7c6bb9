// Client-visible protocol error texts, exactly as Redis words them.
#pragma once

namespace tfproxy::resp::errors {

inline constexpr char kTooBigInline[] = "ERR Protocol error: too big inline request";
inline constexpr char kUnbalancedQuotes[] = "ERR Protocol error: unbalanced quotes in request";
inline constexpr char kTooBigMbulkCount[] = "ERR Protocol error: too big mbulk count string";
inline constexpr char kInvalidMultibulkLength[] = "ERR Protocol error: invalid multibulk length";
inline constexpr char kTooBigBulkCount[] = "ERR Protocol error: too big bulk count string";
inline constexpr char kInvalidBulkLength[] = "ERR Protocol error: invalid bulk length";
// "expected '$', got '<c>'" is built by the parser around this prefix.
inline constexpr char kExpectedDollarPrefix[] = "ERR Protocol error: expected '$', got '";

// Reply framing errors (a backend that sends something that is not RESP).
inline constexpr char kBadReplyType[] = "invalid RESP type byte";
inline constexpr char kBadReplyLength[] = "invalid RESP length";
inline constexpr char kReplyLineTooLong[] = "RESP line too long";
inline constexpr char kReplyTooDeep[] = "RESP nesting too deep";

}  // namespace tfproxy::resp::errors
