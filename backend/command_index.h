// How the session treats each command name: forwarded plainly, forwarded with its reply
// observed (connection state the proxy must track), or intercepted (run by the proxy).
// One lookup per command on the forwarding path.
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "backend/command_table.h"

namespace tfproxy::backend {

enum class CommandKind : uint8_t {
  kPlain,     // one reply; counted by the gate's drain
  kBlocking,  // one reply that may take forever (BLPOP, WAIT...): not counted
  kXread,     // XREAD/XREADGROUP: blocking only with a BLOCK argument
  kHello,     // HELLO: protocol, user, name
  kAuth,      // AUTH: user
  kSelect,    // SELECT: db
  kReset,     // RESET: back to a fresh connection's state
  kQuit,      // QUIT: answered by the proxy, then the connection closes
  kMulti,     // MULTI / EXEC / DISCARD: transaction state
  kExec,
  kDiscard,
  kSubscribe,    // SUBSCRIBE / PSUBSCRIBE / SSUBSCRIBE: one confirmation per channel
  kUnsubscribe,  // (P|S)UNSUBSCRIBE: one per channel, or per current subscription if none given
  kMonitor,      // MONITOR: the backend then streams monitor lines
  kClient,       // CLIENT: REPLY ON|OFF|SKIP changes how many replies follow
  kIntercepted,  // owned by the proxy (Triggers and Functions commands)
  kConditional,  // intercepted only when a predicate on its arguments says so (CONFIG)
  kFlush,        // FLUSHALL / FLUSHDB: the library store is told after they succeed
};

// What operators see forwarded commands counted by (INFO's tfproxy section, /metrics), from the
// command's flags: a blocking command is counted as blocking, an admin one as admin, and so on
// in this order; commands the table does not know are "other".
enum class CommandFamily : uint8_t { kRead, kWrite, kBlocking, kPubsub, kAdmin, kOther };
inline constexpr size_t kCommandFamilies = 6;
// "read", "write", "blocking", "pubsub", "admin", "other".
const char* familyName(CommandFamily family);

// Which subscription set a (un)subscribe command works on.
enum class ChannelKind : uint8_t { kChannel, kPattern, kShard };

struct CommandEntry {
  CommandKind kind = CommandKind::kPlain;
  // Needs the client's own backend connection: it uses or changes connection state, may block,
  // or is unknown (a module's command might do either). XREAD pins only with BLOCK.
  bool pins = true;
  // Arity of an intercepted command (the table has none for them); as Redis counts it.
  int arity = 0;
  ChannelKind channel_kind = ChannelKind::kChannel;
  CommandFamily family = CommandFamily::kOther;
  // The proxy edits its reply (functions/reply_edits.h): COMMAND, and the commands that list
  // keys. Checked only on these commands' own path.
  bool edited = false;
  // Its success changes the backend's role or memory state (CONFIG SET, REPLICAOF, SLAVEOF,
  // FAILOVER): the proxy reads that state again (backend_status.h).
  bool changes_status = false;
  const CommandInfo* info = nullptr;  // null for commands the table does not know
};

class CommandIndex {
 public:
  explicit CommandIndex(const CommandTable& table);

  // Marks a command name as intercepted (e.g. "tfcall"), with its arity.
  void intercept(std::string_view lower_name, int arity);
  // Intercepts `lower_name` only when `predicate(argv)` holds; otherwise it is forwarded.
  using Predicate = std::function<bool(const std::vector<std::string_view>& argv)>;
  void interceptWhen(std::string_view lower_name, Predicate predicate);
  // In front of a Redis Cluster: READONLY, READWRITE and ASKING are answered by the cluster
  // routing (cluster_routing.h) and need no connection of the client's own.
  void shareClusterCommands();
  // Marks a forwarded command whose reply the proxy edits.
  void markEdited(std::string_view lower_name) { entry(lower_name).edited = true; }
  bool conditionHolds(const std::vector<std::string_view>& argv) const {
    return condition_ && condition_(argv);
  }

  // Classifies a command name (any case). Unknown names are kPlain with no info.
  const CommandEntry& lookup(std::string_view name) const;
  // The entry of `container`'s subcommand, or `container` itself if it has none by that name.
  const CommandInfo* subcommand(const CommandInfo* container, std::string_view sub) const {
    return table_.find(container->name, sub);
  }

 private:
  struct Hash {
    using is_transparent = void;
    size_t operator()(std::string_view s) const { return std::hash<std::string_view>{}(s); }
  };
  // Names are lower-cased on the stack; no command name is longer.
  static constexpr size_t kMaxNameLength = 64;
  CommandEntry& entry(std::string_view lower_name);
  std::unordered_map<std::string, CommandEntry, Hash, std::equal_to<>> entries_;
  size_t longest_ = 0;  // no longer name can be in entries_
  CommandEntry unknown_;
  Predicate condition_;
  const CommandTable& table_;
};

}  // namespace tfproxy::backend
