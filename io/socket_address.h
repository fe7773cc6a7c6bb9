// A backend address as the kernel takes it, for connects made without Asio: what a TCP host
// name resolves to, or a Unix socket's path.
#pragma once

#include <sys/socket.h>

#include <optional>
#include <string>
#include <vector>

#include "config/options.h"

namespace tfproxy::io {

struct SocketAddress {
  sockaddr_storage storage;
  socklen_t length;
};

// The addresses of `endpoint`: its Unix socket, or its host resolved (blocking, getaddrinfo).
// Empty with `error` set when the name does not resolve.
std::vector<SocketAddress> resolve(const config::Endpoint& endpoint, std::string* error);

}  // namespace tfproxy::io
