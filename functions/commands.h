// The commands tfproxy runs itself (spec §3), one row each: name, subcommand, arity, flags, the
// keys it declares, the Redis command whose ACL rights it follows, and its handler. Every fact
// about these commands lives in this table; the session's command index, the transaction
// runner, the access policy and the script client all read it.
#pragma once

#include <array>
#include <cstdint>
#include <functional>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "functions/intercept.h"

namespace tfproxy::backend {
class CommandIndex;
}

namespace tfproxy::functions {

class TfCommands;

enum CommandFlag : uint32_t {
  kNoScript = 1u << 0,       // JavaScript cannot call it (unless unsafe commands are allowed)
  kDeniedInMulti = 1u << 1,  // answered with an error inside a transaction (spec §3.1)
  kConditional = 1u << 2,    // ours only when its arguments name redisgears_2.* settings
  kListed = 1u << 3,         // COMMAND reports it, as Redis did with the module loaded
};

// Where a command's keys are: nowhere, or after a numkeys argument at position 2 (TFCALL).
enum class KeyRule : uint8_t { kNone, kNumkeys };

struct CommandSpec {
  using Handler = void (TfCommands::*)(const std::vector<std::string>& argv,
                                       const ClientContext& client,
                                       std::function<void(std::string reply)> done);
  std::string_view name;  // lower case
  std::string_view sub;   // lower case; empty for a command's own row
  int arity;              // as Redis counts it: negative means at least -arity arguments
  uint32_t flags;
  KeyRule keys;
  // The Redis command whose right stands for this one in the access policy ("FCALL f 0" for
  // TFCALL); empty: everyone may run it.
  std::array<std::string_view, 4> acl;
  Handler handler;

  bool has(CommandFlag flag) const { return (flags & flag) != 0; }
  bool arityMatches(size_t argc) const;
  // "tfunction|load", as ACL texts and errors name it.
  std::string fullName() const;
  std::vector<std::string> aclCommand() const;
};

// Every row: each command's own row first, then its subcommands' rows.
std::span<const CommandSpec> commandSpecs();
// The row of a command name (any case); null for names that are not ours.
const CommandSpec* findCommand(std::string_view name);
// The row of argv: its subcommand's row when the command has one by that name, else its own.
const CommandSpec* findCommand(const std::vector<std::string>& argv);
// For a command of the kConditional kind: do these arguments make it ours? CONFIG GET/SET of
// redisgears_2.* settings; ACL SETUSER, GETUSER, LIST, DELUSER, LOAD, and DRYRUN of one of
// tfproxy's commands (acl_rules.h).
bool interceptsConditional(const std::vector<std::string_view>& argv);
// Is `argv` a command tfproxy runs itself (and not one it forwards)?
bool isOwnCommand(const std::vector<std::string>& argv);
// A redisgears_2.* setting's name (any case).
bool isGearsSetting(std::string_view name);
// JavaScript may not call this command (lower-case name).
bool deniedToScripts(std::string_view lower_name);
// Tells the session's command index which names are ours.
void registerIntercepts(backend::CommandIndex& index);

// numkeys parses like Rust's u64: an optional '+', digits (leading zeros allowed). The text of
// the error (spec §3.0) in `*error` when it does not.
std::optional<uint64_t> parseNumkeys(std::string_view s, std::string* error);
// The keys a command declares (its KeyRule); empty when numkeys is malformed (the handler
// reports that).
std::vector<std::string_view> declaredKeys(const CommandSpec& spec,
                                           const std::vector<std::string>& argv);

}  // namespace tfproxy::functions
