// Inline commands: a line of space-separated, optionally quoted arguments ("PING" typed in
// telnet). Splitting follows Redis' sdssplitargs, quirks included.
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace tfproxy::resp {

// Splits one inline line (without its line ending) into arguments. Double quotes accept the
// escapes \n \r \t \b \a \\ \" and \xHH; single quotes accept \'. A closing quote must be followed
// by a space or the end of the line. Returns nullopt for unbalanced quotes.
std::optional<std::vector<std::string>> splitInlineArgs(std::string_view line);

}  // namespace tfproxy::resp
