// Number parsing and formatting with Redis' exact rules.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace tfproxy::resp {

// Parses a signed 64-bit decimal the way Redis' string2ll does: an optional '-', then digits, no
// leading zeros (except "0" itself), no '+', no spaces, no overflow. Returns nullopt otherwise.
std::optional<int64_t> parseInt64(std::string_view s);

// Parses an unsigned 64-bit decimal with the same strictness (no sign at all).
std::optional<uint64_t> parseUint64(std::string_view s);

// Shortest decimal text that reads back as the same double ("1.5", "3.141", "2147483648"),
// "inf", "-inf" or "nan" for the special values.
std::string formatDouble(double d);

}  // namespace tfproxy::resp
