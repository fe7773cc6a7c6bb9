#include "io/socket_address.h"

#include <netdb.h>
#include <sys/un.h>

#include <cstring>

namespace tfproxy::io {

std::vector<SocketAddress> resolve(const config::Endpoint& endpoint, std::string* error) {
  std::vector<SocketAddress> out;
  if (endpoint.isUnix()) {
    SocketAddress a{};
    auto* un = reinterpret_cast<sockaddr_un*>(&a.storage);
    un->sun_family = AF_UNIX;
    if (endpoint.unix_path.size() >= sizeof un->sun_path) {
      *error = "Unix socket path too long: " + endpoint.unix_path;
      return out;
    }
    std::memcpy(un->sun_path, endpoint.unix_path.c_str(), endpoint.unix_path.size() + 1);
    a.length =
        static_cast<socklen_t>(offsetof(sockaddr_un, sun_path) + endpoint.unix_path.size() + 1);
    out.push_back(a);
    return out;
  }
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  addrinfo* res = nullptr;
  const std::string port = std::to_string(endpoint.port);
  const int rc = ::getaddrinfo(endpoint.host.c_str(), port.c_str(), &hints, &res);
  if (rc != 0) {
    *error = "cannot resolve " + endpoint.host + ": " + gai_strerror(rc);
    return out;
  }
  for (addrinfo* ai = res; ai != nullptr; ai = ai->ai_next) {
    SocketAddress a{};
    std::memcpy(&a.storage, ai->ai_addr, ai->ai_addrlen);
    a.length = ai->ai_addrlen;
    out.push_back(a);
  }
  ::freeaddrinfo(res);
  return out;
}

}  // namespace tfproxy::io
