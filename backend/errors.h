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

// Redis Cluster (design §9). Redis Cluster's own texts where it has one for the case.
inline constexpr char kCrossSlot[] = "CROSSSLOT Keys in request don't hash to the same slot";
inline constexpr char kSlotUnserved[] = "CLUSTERDOWN Hash slot not served";
inline constexpr char kInvalidCursor[] = "ERR invalid cursor";
// A redirect or map named a node tfproxy has no link to yet, for longer than it waits.
inline constexpr char kUnknownNode[] = "ERR tfproxy: no connection to the cluster node ";
// callAsync of a command that needs several nodes' replies merged (MGET over several slots,
// DBSIZE, SCAN...): client.call runs those.
inline constexpr char kAsyncAcrossSlots[] =
    "ERR tfproxy: in front of a cluster, callAsync runs commands of one slot only; use client.call "
    "for ";
// A command from tfproxy's own callers with no words at all (nothing to route).
inline constexpr char kEmptyCommand[] = "ERR tfproxy: empty command";
// A CLUSTER subcommand that makes no sense against the one-node cluster clients see.
inline constexpr char kClusterSubcommand[] =
    "ERR tfproxy shows itself as a one-node cluster and does not serve CLUSTER ";

}  // namespace tfproxy::backend::errors
