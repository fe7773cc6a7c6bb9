// Client-visible texts about the backend, shared by every layer that talks to it: the
// forwarding path, commands from JavaScript and the commands tfproxy runs itself.
#pragma once

namespace tfproxy::backend::errors {

// The backend cannot be reached; followed by the reason.
inline constexpr char kUnavailablePrefix[] = "ERR tfproxy: backend unavailable: ";
// Replies still owed when the backend connection broke; the client is closed after them.
inline constexpr char kLost[] = "ERR tfproxy: connection to the backend lost";
// A forwarded command whose reply did not come within --backend-timeout.
inline constexpr char kTimedOut[] = "ERR tfproxy: backend timed out";
// The backend refused a client's identity (its user deleted or disabled), upstream's text.
inline constexpr char kUserGone[] = "User does not exists or disabled";
// A section from JavaScript could not start: this instance has not been in step with the other
// instances in front of the backend (design §4) for a whole lease.
inline constexpr char kOutOfStep[] =
    "ERR tfproxy: not in step with the other instances in front of the backend (is the backend "
    "reachable?)";

}  // namespace tfproxy::backend::errors
