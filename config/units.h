// Redis-style memory sizes: "1024", "100kb", "512mb", "1gb" ("k"/"m"/"g" are powers of 1000,
// "kb"/"mb"/"gb" powers of 1024), case-insensitive.
#pragma once

#include <cstdint>
#include <optional>
#include <string_view>

namespace tfproxy::config {

std::optional<uint64_t> parseMemory(std::string_view text);

}  // namespace tfproxy::config
