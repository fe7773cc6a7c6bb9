// What the proxy knows about every Redis command: arity, flags and key positions. Built in from
// backend/command_table_data.inc (generated from a real Redis' COMMAND reply by
// scripts/gen_command_table.py), so it works where the backend refuses COMMAND; at start the
// backend's own COMMAND reply adds what the built-in table lacks (newer Redis or Valkey
// versions, commands of loaded modules).
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "resp/value.h"

namespace tfproxy::backend {

enum CommandFlag : uint32_t {
  kFlag_write = 1u << 0,
  kFlag_readonly = 1u << 1,
  kFlag_denyoom = 1u << 2,
  kFlag_admin = 1u << 3,
  kFlag_pubsub = 1u << 4,
  kFlag_noscript = 1u << 5,
  kFlag_blocking = 1u << 6,
  kFlag_loading = 1u << 7,
  kFlag_stale = 1u << 8,
  kFlag_skip_monitor = 1u << 9,
  kFlag_skip_slowlog = 1u << 10,
  kFlag_fast = 1u << 11,
  kFlag_no_auth = 1u << 12,
  kFlag_may_replicate = 1u << 13,
  kFlag_no_mandatory_keys = 1u << 14,
  kFlag_no_multi = 1u << 15,
  kFlag_movablekeys = 1u << 16,
  kFlag_allow_busy = 1u << 17,
};

struct CommandInfo {
  const char* name;  // lower case; subcommands as "parent|sub"
  int arity;         // negative: at least -arity arguments (the name counts)
  uint32_t flags;
  int first_key;
  int last_key;  // negative: counted from the end
  int key_step;

  bool has(CommandFlag f) const { return (flags & f) != 0; }
};

class CommandTable {
 public:
  // The built-in table, with what learn() added.
  static const CommandTable& builtin();

  // Adds the commands and subcommands of a COMMAND reply (RESP2 or RESP3) that the table does
  // not know; returns how many. Only before the table is in use by other threads: at start.
  static size_t learn(const resp::Value& command_reply);

  // Every entry, commands and subcommands.
  const std::vector<const CommandInfo*>& all() const;

  // Looks a command up by name, case-insensitively; nullptr if unknown. For container commands
  // (CONFIG, CLIENT, ...) pass the subcommand to get its own entry; an unknown subcommand
  // falls back to the container.
  const CommandInfo* find(std::string_view name, std::string_view subcommand = {}) const;

 private:
  CommandTable();
  static CommandTable& instance();
  struct Impl;
  Impl* impl_;
};

// Lower-cases ASCII into `out` (reused buffer, no allocation once warm).
// Is `word` (any case) the lower-case `lower`? Command names and keywords are ASCII.
inline bool equalsLower(std::string_view word, std::string_view lower) {
  if (word.size() != lower.size()) return false;
  for (size_t i = 0; i < word.size(); ++i) {
    char c = word[i];
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c + 32);
    if (c != lower[i]) return false;
  }
  return true;
}
void toLower(std::string_view in, std::string* out);

// What a command does to the connection it runs on, beyond its reply: the one list behind the
// forwarding path's choice of connection and the reuse of script connections.
enum class ConnectionEffect : uint8_t {
  kNone,
  kDatabase,          // SELECT
  kOpensTransaction,  // MULTI
  kEndsTransaction,   // EXEC, DISCARD
  kOther,  // identity, protocol, name, subscriptions, MONITOR, WATCH, replication, QUIT...
};
// `name` in any case; no allocation.
ConnectionEffect connectionEffect(std::string_view name);

// Calls `f(i)` for each argument position of a call of `info` with `argc` arguments (the name
// counts) that holds a key. For commands whose keys move (EVAL, SORT ... STORE, ZUNIONSTORE)
// every argument after the name may be one.
template <class F>
void forEachKeyPosition(const CommandInfo& info, size_t argc, F f) {
  const int n = static_cast<int>(argc);
  if (info.has(kFlag_movablekeys)) {
    for (int i = 1; i < n; ++i) f(static_cast<size_t>(i));
    return;
  }
  if (info.first_key <= 0) return;
  const int last = info.last_key < 0 ? n + info.last_key : info.last_key;
  const int step = info.key_step > 0 ? info.key_step : 1;
  for (int i = info.first_key; i <= last && i < n; i += step) f(static_cast<size_t>(i));
}
// A command that may change data: a write, or one that may replicate (EVAL, FCALL).
inline bool mayWrite(const CommandInfo& info) {
  return info.has(kFlag_write) || info.has(kFlag_may_replicate);
}

}  // namespace tfproxy::backend
