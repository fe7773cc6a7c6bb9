// Where each command goes when the backend is a Redis Cluster (design §9): the one table of
// routing facts. A command with keys goes to the primary serving their slot; a few multi-key
// commands whose keys span slots are split per slot and their replies merged; keyless commands
// go to one node, or to every primary with their replies merged; the CLUSTER family and the
// cluster client's connection commands are answered by tfproxy, which shows itself as a
// one-node cluster. The README's routing table says the same for users.
#pragma once

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "backend/command_table.h"

namespace tfproxy::backend {

enum class RouteKind : uint8_t {
  kSlot,       // to the primary of `slot`
  kAnyNode,    // keyless: to one primary
  kEveryNode,  // keyless: to every primary, replies merged by `merge`
  kSplit,      // keys of several slots: one command per slot, replies merged by `merge`
  kScan,       // SCAN: one primary after the other, the cursor naming which
  kLocal,      // answered by tfproxy (CLUSTER, READONLY, READWRITE, ASKING)
  kCrossSlot,  // keys of several slots in a command that cannot be split
};

enum class Merge : uint8_t {
  kFirst,    // the first part's reply (the first error if any part failed)
  kSum,      // integers added (DEL, UNLINK, EXISTS, TOUCH, DBSIZE)
  kOk,       // +OK unless a part failed (MSET, FLUSHALL)
  kConcat,   // arrays concatenated (KEYS)
  kNonNull,  // the first reply that is not null (RANDOMKEY)
  kByKey,    // one element per key, in the order of the request (MGET)
};

struct Route {
  RouteKind kind = RouteKind::kAnyNode;
  Merge merge = Merge::kFirst;
  int slot = -1;          // kSlot
  uint8_t key_group = 1;  // kSplit: arguments per key (MSET: key and value)
};

// The argument positions of `argv` that hold keys, as Redis finds them for `info` (numkeys of
// EVAL, FCALL, ZUNIONSTORE...; STREAMS of XREAD; STORE of SORT and GEORADIUS). `info` is the
// subcommand's entry for container commands.
void clusterKeyPositions(const CommandInfo& info, const std::vector<std::string_view>& argv,
                         std::vector<size_t>* positions);

// The route of `argv` (argv[0] the command name). `info` is the command's entry (its
// subcommand's for containers), null when the command is unknown (routed by no key).
Route routeCommand(const CommandInfo* info, const std::vector<std::string_view>& argv);

// The entry to route `argv` by: the subcommand's for container commands.
const CommandInfo* routingInfo(const CommandTable& table,
                               const std::vector<std::string_view>& argv);
// The route of `argv` by the built-in command table.
Route routeCommand(const std::vector<std::string_view>& argv);

// A command of Route::kSplit as one command per slot: each part's arguments (the command name,
// then its keys, each with its `key_group` arguments), and for each key of `argv` in order, its
// part and its place among that part's keys (how Merge::kByKey puts the replies back).
struct SlotPart {
  int slot;
  std::vector<std::string_view> args;
};
std::vector<SlotPart> splitBySlot(const CommandInfo& info,
                                  const std::vector<std::string_view>& argv, uint8_t key_group,
                                  std::vector<std::pair<uint32_t, uint32_t>>* key_order);

// Redirects one command follows before the last one is its reply.
inline constexpr int kMaxRedirects = 16;
// How long a command refused before it ran (TRYAGAIN, CLUSTERDOWN, an unserved slot, a node
// that cannot be reached) is routed again -- a failover takes about two cluster-node-timeouts --
// and the pause between tries.
inline constexpr std::chrono::milliseconds kRetryBudget{10000};
inline constexpr std::chrono::milliseconds kRetryPause{50};

// A MOVED or ASK error's text ("MOVED 3999 127.0.0.1:6381"): where to, and whether it is ASK.
struct Redirect {
  bool ask = false;
  std::string address;  // "host:port"
};
std::optional<Redirect> parseRedirect(std::string_view error_text);
// An error that says the command did not run and may be sent again (TRYAGAIN, CLUSTERDOWN).
bool refusedBeforeRunning(std::string_view error_text);

// SCAN over every primary with one cursor: the node's own cursor shifted left by
// kScanNodeBits, the primary's index (in SlotMap::primaries()) in the low bits.
inline constexpr unsigned kScanNodeBits = 10;
struct ScanPosition {
  uint32_t primary = 0;
  uint64_t node_cursor = 0;
};
// nullopt: not a cursor this many primaries can have made.
std::optional<ScanPosition> decodeScanCursor(std::string_view cursor, size_t primaries);
// The client's next cursor after `primary` answered `node_next`: 0 once the last primary is done.
uint64_t nextScanCursor(uint64_t node_next, uint32_t primary, size_t primaries);

}  // namespace tfproxy::backend
