// What integration tests measure of a running process or server: resident memory, open
// descriptors, clients connected to a Redis.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <string>

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
class Client;
// Function calls the proxy `c` talks to ran on an I/O thread so far (INFO tfproxy); 0 and a
// test failure if INFO does not say.
uint64_t ioThreadCalls(Client& c);

// One HTTP exchange with tfproxy's --health-port or --http-port: sends `request` as it is and
// returns everything received until the endpoint closed (status line, headers, body).
std::string httpExchange(uint16_t port, const std::string& request);
// GET `path`: the whole response.
std::string httpGet(uint16_t port, const std::string& path);
// The body of a response.
std::string httpBody(const std::string& response);

}  // namespace tfproxy::testing
