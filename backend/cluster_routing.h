// Where each command goes when the backend is a Redis Cluster (design §9): the one table of
// routing facts. A command with keys goes to the primary serving their slot; a few multi-key
// commands whose keys span slots are split per slot and their replies merged; keyless commands
// go to one node, or to every primary with their replies merged; the CLUSTER family and the
// cluster client's connection commands are answered by tfproxy, which shows itself as a
// one-node cluster. The README's routing table says the same for users.
#pragma once

#include <cstdint>
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

}  // namespace tfproxy::backend
