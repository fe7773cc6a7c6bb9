// Redis' glob-style pattern matching (stringmatchlen): * ? [abc] [^a] [a-z] and \ escapes.
#pragma once

#include <string_view>

namespace tfproxy::config {

bool globMatch(std::string_view pattern, std::string_view text, bool nocase);

}  // namespace tfproxy::config
