// Text helpers of the scripting module, without V8: UTF-8 validation, a JSON syntax check for
// library configurations, and the log escaping of redis.log().
#pragma once

#include <optional>
#include <string>
#include <string_view>

namespace tfproxy::scripting {

bool isValidUtf8(std::string_view s);

// Checks that `text` is one JSON value. Returns nullopt if valid, else a parser message such as
// "expected value at line 1 column 1". `is_object` tells whether the value is an object.
std::optional<std::string> checkJson(std::string_view text, bool* is_object);

// Escapes like Rust's str::escape_default: \t \r \n \' \" \\ escaped, printable ASCII kept,
// every other character as \u{hex}.
std::string escapeDefault(std::string_view utf8);

}  // namespace tfproxy::scripting
