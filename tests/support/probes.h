// What integration tests measure of a running process or server: resident memory, open
// descriptors, clients connected to a Redis.
#pragma once

#include <sys/types.h>

#include <cstdint>

namespace tfproxy::testing {

// A sanitizer's shadow memory is part of the process' RSS: memory bounds hold for plain builds
// only.
#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
inline constexpr bool kSanitized = true;
#else
inline constexpr bool kSanitized = false;
#endif

// VmRSS of `pid` in kB (-1 if unknown).
int64_t rssKb(pid_t pid);
// Descriptors `pid` has open (-1 if unknown).
int openFds(pid_t pid);
// connected_clients of the Redis on `port` (the asking connection included).
int connectedClients(uint16_t redis_port);

}  // namespace tfproxy::testing
