// Client-visible texts of the server module.
#pragma once

namespace tfproxy::server::errors {

// Forwarded commands while the backend cannot be reached; followed by the reason.
inline constexpr char kBackendUnavailablePrefix[] = "ERR tfproxy: backend unavailable: ";
// Replies still owed when the backend connection broke; the client is closed after them.
inline constexpr char kBackendLost[] = "ERR tfproxy: connection to the backend lost";
// A client over --maxclients (Redis' text); the connection is closed after it.
inline constexpr char kMaxClients[] = "-ERR max number of clients reached\r\n";
// A forwarded command whose reply did not come within --backend-timeout.
inline constexpr char kBackendTimeout[] = "ERR tfproxy: backend timed out";
// Log text when a client's unfinished command outgrows client-query-buffer-limit.
inline constexpr char kQueryBufferLimit[] = "query buffer limit reached";

}  // namespace tfproxy::server::errors
