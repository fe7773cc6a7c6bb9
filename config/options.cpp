#include "config/options.h"

#include "resp/number.h"

namespace tfproxy::config {

std::string Endpoint::toString() const {
  if (isUnix()) return "unix:" + unix_path;
  if (host.find(':') != std::string::npos) return "[" + host + "]:" + std::to_string(port);
  return host + ":" + std::to_string(port);
}

std::optional<Endpoint> parseEndpoint(const std::string& text) {
  if (text.rfind("unix:", 0) == 0 || text.rfind('/', 0) == 0) {
    Endpoint e;
    e.unix_path = text.rfind("unix:", 0) == 0 ? text.substr(5) : text;
    // sockaddr_un holds 108 bytes, the terminating zero included.
    if (e.unix_path.empty() || e.unix_path.size() > 107) return std::nullopt;
    return e;
  }
  size_t colon = text.rfind(':');
  if (colon == std::string::npos || colon == 0) return std::nullopt;
  std::string host = text.substr(0, colon);
  if (host.size() >= 2 && host.front() == '[' && host.back() == ']') {
    host = host.substr(1, host.size() - 2);
  } else if (host.find(':') != std::string::npos) {
    return std::nullopt;  // a bare IPv6 address needs brackets
  }
  auto port = resp::parseUint64(std::string_view(text).substr(colon + 1));
  if (host.empty() || !port || *port == 0 || *port > 65535) return std::nullopt;
  Endpoint e;
  e.host = host;
  e.port = static_cast<uint16_t>(*port);
  return e;
}

}  // namespace tfproxy::config
