// Every setting of the proxy, parsed and validated into plain structs that main() passes down.
#pragma once

#include <cstdint>
#include <optional>
#include <string>

#include "config/gears.h"

namespace tfproxy::config {

// Where the backend listens: a TCP host and port, or a Unix socket.
struct Endpoint {
  std::string host;
  uint16_t port = 0;
  std::string unix_path;  // set: a Unix socket, host and port unused
  bool isUnix() const { return !unix_path.empty(); }
  std::string toString() const;
};

// Parses "HOST:PORT", "[V6ADDR]:PORT", or a Unix socket as "unix:PATH" or an absolute path.
// Returns nullopt when malformed.
std::optional<Endpoint> parseEndpoint(const std::string& text);

struct ProxyOptions {
  // Listening socket.
  std::string bind = "127.0.0.1";
  uint16_t port = 6380;
  // Backend; without it tfproxy starts a private redis-server (the embedded default).
  std::optional<Endpoint> backend;
  // The proxy's own identity for its internal connections (never used for client traffic).
  std::string backend_user;
  std::string backend_password;
  // Milliseconds a backend connect may take before it counts as failed.
  uint32_t backend_connect_timeout_ms = 2000;
  // I/O threads; each owns its client sessions and their backend connections.
  uint32_t threads = 1;
  // Clients that use no connection state share one pipelined backend connection per I/O thread
  // until their first stateful command (then they get their own).
  bool multiplex = true;
  std::string log_level = "info";
  // Input limits, as Redis' proto-max-bulk-len and client-query-buffer-limit.
  uint64_t proto_max_bulk_len = 512ull * 1024 * 1024;
  uint64_t client_query_buffer_limit = 1024ull * 1024 * 1024;
  // Most clients connected at once (Redis' maxclients); more are refused with Redis' error.
  uint32_t maxclients = 10000;
  // Milliseconds a forwarded command may wait for its reply before the client gets an error and
  // the backend connection is replaced (0: wait as long as it takes, as Redis clients do).
  uint32_t backend_timeout_ms = 0;
  // How long shutdown waits for in-flight replies.
  uint32_t shutdown_timeout_ms = 5000;
  // redis-server binary for the embedded default.
  std::string redis_server = "redis-server";
  // Where the libraries are kept in the backend (a hash, one field per library).
  std::string library_key = "tfproxy:libraries";
  // An ACL file in Redis' format whose users tfproxy applies at start and on ACL LOAD, rules
  // naming its commands included (empty: ACL LOAD goes to Redis).
  std::string acl_file;
  // Triggers and Functions settings (also CONFIG GET/SET redisgears_2.<name>).
  GearsSettings gears;
};

}  // namespace tfproxy::config
