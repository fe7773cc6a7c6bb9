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

// What --backend names: an endpoint, in the forms above or as a URL
// (redis://[user[:password]@]host:port, rediss://... for TLS, unix://PATH), with the URL's
// credentials, percent-decoded.
struct BackendSpec {
  Endpoint endpoint;
  bool tls = false;  // rediss://
  std::optional<std::string> user;
  std::optional<std::string> password;
};
// nullopt with `error` set when malformed.
std::optional<BackendSpec> parseBackend(const std::string& text, std::string* error);

// TLS towards the backend (--backend-tls-*, or a rediss:// URL).
struct TlsClientOptions {
  bool enabled = false;
  // Certificates that may sign the backend's (none given: the system's CAs).
  std::string ca_cert_file;
  std::string ca_cert_dir;
  // The proxy's own certificate and key, for backends that require client certificates.
  std::string cert_file;
  std::string key_file;
  // Sent as SNI and checked against the backend's certificate (empty: the backend's host).
  std::string server_name;
  // No verification of the backend's certificate (warned about at start).
  bool insecure = false;
};

// TLS for clients, with Redis' own option names (tls-port, tls-cert-file, ...).
struct TlsServerOptions {
  enum class AuthClients { kYes, kNo, kOptional };
  uint16_t port = 0;  // 0: no TLS listener
  std::string cert_file;
  std::string key_file;
  std::string ca_cert_file;
  std::string ca_cert_dir;
  AuthClients auth_clients = AuthClients::kYes;  // as Redis: client certificates required
  std::string protocols;                         // "TLSv1.2 TLSv1.3" (empty: both)
  std::string ciphersuites;                      // TLSv1.3
  std::string ciphers;                           // TLSv1.2
  // A client that has not finished its handshake within this is dropped.
  uint32_t handshake_timeout_ms = 10000;
  bool enabled() const { return port != 0; }
};

struct ProxyOptions {
  // Listening sockets: plaintext on `port` (0: none, as Redis), TLS on tls.port.
  std::string bind = "127.0.0.1";
  uint16_t port = 6380;
  TlsServerOptions tls;
  // GET /healthz and /readyz for container probes (0: off).
  uint16_t health_port = 0;
  // Operations over HTTP (0: off): GET /metrics (Prometheus), the admin page at /, its API,
  // and the probes; listening on http_bind.
  uint16_t http_port = 0;
  std::string http_bind = "127.0.0.1";
  // The slow log of functions and triggers (TFUNCTION SLOWLOG), as Redis' settings of the same
  // names: runs of at least this many microseconds are logged (0: all; negative: none).
  int64_t slowlog_log_slower_than = 10000;
  uint32_t slowlog_max_len = 128;
  // A short sync function runs on the I/O thread that received its call when its library, a
  // script thread's place and the atomic gate are free (design §3); no: always a script thread.
  bool io_thread_functions = true;
  // Backend; without it tfproxy starts a private redis-server (the embedded default).
  std::optional<Endpoint> backend;
  TlsClientOptions backend_tls;
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
  // Where the embedded default keeps its data (AOF and RDB); filled in with the user's data
  // folder when neither it nor `ephemeral` is given. `ephemeral`: a temporary folder deleted
  // on exit instead.
  std::string data_dir;
  bool ephemeral = false;
  // Where the libraries are kept in the backend (a hash, one field per library).
  std::string library_key = "tfproxy:libraries";
  // Instances in front of the same backend (and library key) share one atomic gate (design §4).
  bool fleet = true;
  // Milliseconds a fleet membership and the fleet's lock live without renewal: an instance that
  // dies holds the others up this long at most.
  uint32_t fleet_lease_ms = 3000;
  // An ACL file in Redis' format whose users tfproxy applies at start and on ACL LOAD, rules
  // naming its commands included (empty: ACL LOAD goes to Redis).
  std::string acl_file;
  // A folder whose *.js files are libraries, loaded at start and followed (empty: none).
  std::string library_dir;
  // Triggers and Functions settings (also CONFIG GET/SET redisgears_2.<name>).
  GearsSettings gears;
};

}  // namespace tfproxy::config
