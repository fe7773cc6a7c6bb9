// Client-visible texts of the server module (those about the backend: backend/errors.h).
#pragma once

namespace tfproxy::server::errors {

// A client over --maxclients (Redis' text); the connection is closed after it.
inline constexpr char kMaxClients[] = "-ERR max number of clients reached\r\n";
// A command captured for a proxy-run transaction whose client left before the reply.
inline constexpr char kClientClosed[] = "-ERR tfproxy: the client connection closed\r\n";
// An intercepted command when no handler was wired (a build without the functions domain).
inline constexpr char kNoHandler[] = "-ERR tfproxy: no handler for intercepted command\r\n";
// Log text when a client's unfinished command outgrows client-query-buffer-limit.
inline constexpr char kQueryBufferLimit[] = "query buffer limit reached";

}  // namespace tfproxy::server::errors
