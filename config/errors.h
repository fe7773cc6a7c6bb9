// Client- and operator-visible texts of the config module.
#pragma once

namespace tfproxy::config::errors {

inline constexpr char kBadEndpoint[] =
    "expects HOST:PORT with a port from 1 to 65535, or unix:PATH to a Unix socket";
inline constexpr char kBadMemory[] = "expects a size such as 1048576, 512mb or 1gb";

}  // namespace tfproxy::config::errors
