// Client-visible protocol error texts, exactly as Redis words them.
#pragma once

#include <string>
#include <string_view>

namespace tfproxy::resp::errors {

inline constexpr char kTooBigInline[] = "ERR Protocol error: too big inline request";
inline constexpr char kUnbalancedQuotes[] = "ERR Protocol error: unbalanced quotes in request";
inline constexpr char kTooBigMbulkCount[] = "ERR Protocol error: too big mbulk count string";
inline constexpr char kInvalidMultibulkLength[] = "ERR Protocol error: invalid multibulk length";
inline constexpr char kTooBigBulkCount[] = "ERR Protocol error: too big bulk count string";
inline constexpr char kInvalidBulkLength[] = "ERR Protocol error: invalid bulk length";
// "expected '$', got '<c>'" is built by the parser around this prefix.
inline constexpr char kExpectedDollarPrefix[] = "ERR Protocol error: expected '$', got '";

// Command errors, as Redis words them. `args` is Redis' quoted list of the first arguments.
inline std::string unknownCommand(std::string_view name, std::string_view args) {
  return "ERR unknown command '" + std::string(name) +
         "', with args beginning with: " + std::string(args);
}
inline std::string wrongArity(std::string_view name) {
  return "ERR wrong number of arguments for '" + std::string(name) + "' command";
}

// Transactions, as Redis words them.
inline constexpr char kExecAbort[] = "EXECABORT Transaction discarded because of previous errors.";
inline constexpr char kNestedMulti[] = "ERR MULTI calls can not be nested";
inline constexpr char kWatchInMulti[] = "ERR WATCH inside MULTI is not allowed";
inline constexpr char kNotInteger[] = "ERR value is not an integer or out of range";

// Reply framing errors (a backend that sends something that is not RESP).
inline constexpr char kBadReplyType[] = "invalid RESP type byte";
inline constexpr char kBadReplyLength[] = "invalid RESP length";
inline constexpr char kReplyLineTooLong[] = "RESP line too long";
inline constexpr char kReplyTooDeep[] = "RESP nesting too deep";

}  // namespace tfproxy::resp::errors
