#include "config/options.h"

#include "config/errors.h"
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

namespace {

int hexValue(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

// %XX sequences of a URL's user or password; nullopt when one is malformed.
std::optional<std::string> percentDecode(std::string_view text) {
  std::string out;
  for (size_t i = 0; i < text.size(); ++i) {
    if (text[i] != '%') {
      out += text[i];
      continue;
    }
    if (i + 2 >= text.size()) return std::nullopt;
    const int high = hexValue(text[i + 1]);
    const int low = hexValue(text[i + 2]);
    if (high < 0 || low < 0) return std::nullopt;
    out += static_cast<char>(high * 16 + low);
    i += 2;
  }
  return out;
}

}  // namespace

std::optional<BackendSpec> parseBackend(const std::string& text, std::string* error) {
  BackendSpec spec;
  std::string_view rest = text;
  auto scheme = [&](std::string_view head) {
    if (rest.substr(0, head.size()) != head) return false;
    rest.remove_prefix(head.size());
    return true;
  };
  if (scheme("unix://")) {
    auto e = parseEndpoint("unix:" + std::string(rest));
    if (!e) {
      *error = errors::kBadEndpoint;
      return std::nullopt;
    }
    spec.endpoint = *e;
    return spec;
  }
  spec.tls = scheme("rediss://");
  if (!spec.tls && !scheme("redis://")) {
    auto e = parseEndpoint(text);
    if (!e) {
      *error = errors::kBadEndpoint;
      return std::nullopt;
    }
    spec.endpoint = *e;
    return spec;
  }
  // A trailing "/" or "/0" names database 0, the only one tfproxy's own connections use.
  if (size_t slash = rest.find('/'); slash != std::string_view::npos) {
    std::string_view path = rest.substr(slash);
    if (path != "/" && path != "/0") {
      *error = errors::kBadBackendPath;
      return std::nullopt;
    }
    rest = rest.substr(0, slash);
  }
  if (size_t at = rest.rfind('@'); at != std::string_view::npos) {
    std::string_view credentials = rest.substr(0, at);
    rest.remove_prefix(at + 1);
    const size_t colon = credentials.find(':');
    auto user = percentDecode(credentials.substr(0, colon));
    std::optional<std::string> password;
    if (colon != std::string_view::npos) password = percentDecode(credentials.substr(colon + 1));
    if (!user || (colon != std::string_view::npos && !password)) {
      *error = errors::kBadBackendCredentials;
      return std::nullopt;
    }
    if (!user->empty()) spec.user = *user;
    spec.password = password;
  }
  auto e = parseEndpoint(std::string(rest));
  if (!e || e->isUnix()) {
    *error = errors::kBadEndpoint;
    return std::nullopt;
  }
  spec.endpoint = *e;
  return spec;
}

}  // namespace tfproxy::config
