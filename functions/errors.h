// Client-visible texts of the commands tfproxy runs itself, each once. Upstream's texts carry
// over as RedisGears 2 and Redis wrote them (their typos included: clients match on them);
// tfproxy's own start with "ERR tfproxy:".
#pragma once

#include <string>
#include <string_view>

namespace tfproxy::functions::errors {

// As Redis answers them.
inline constexpr char kNoAuth[] = "NOAUTH Authentication required.";
inline constexpr char kBlockingInTransaction[] =
    "ERR Blocking module command called from transaction";
inline constexpr char kEmptyInteger[] = "ERR cannot parse integer from empty string";
inline constexpr char kInvalidDigit[] = "ERR invalid digit found in string";
inline constexpr char kIntegerTooLarge[] = "ERR number too large to fit in target type";
// ACL SETUSER with a rule naming an unknown subcommand of tfproxy's commands.
inline std::string aclBadModifier(std::string_view rule) {
  return "ERR Error in ACL SETUSER modifier '" + std::string(rule) +
         "': Unknown command or category name in ACL";
}
// ACL LOAD with --aclfile.
inline std::string aclFileUnreadable(std::string_view path) {
  return "ERR tfproxy: cannot read the ACL file " + std::string(path);
}
inline std::string aclFileBadLine(std::string_view path, int line) {
  return "ERR " + std::string(path) + ":" + std::to_string(line) +
         ": line should start with user keyword";
}
// ACL DRYRUN's answer for a command the user may not run.
inline std::string dryRunDenied(std::string_view command) {
  return "This user has no permissions to run the '" + std::string(command) + "' command";
}
inline std::string dryRunKeyDenied(std::string_view key) {
  return "This user has no permissions to access the '" + std::string(key) + "' key";
}
// COMMAND GETKEYS / GETKEYSANDFLAGS for TFCALL, TFCALLASYNC and TFUNCTION.
inline constexpr char kGetKeysArity[] = "ERR Invalid number of arguments specified for command";
inline constexpr char kGetKeysInvalid[] = "ERR Invalid arguments specified for command";
inline constexpr char kGetKeysNone[] = "ERR The command has no key arguments";

// As RedisGears 2 answers them.
inline constexpr char kNoConfigValue[] = "configuration value was not given";
inline constexpr char kConfigNotString[] = "given configuration value is not a valid string";
inline constexpr char kConfigNotObject[] = "configuration must be a valid json object";
inline constexpr char kNoPayload[] = "Could not find library payload";
inline constexpr char kCodeNotString[] = "lib code must a valid string";
inline constexpr char kUserArgument[] = "Unknown argument user";
inline constexpr char kNoDebugServer[] =
    "The debug server address was not specified in the configuration.";
inline constexpr char kDebugInCluster[] = "Debugging when in cluster mode isn't supported.";
inline constexpr char kNoFunctionName[] = "function name was not given";
inline constexpr char kBinaryOption[] = "Binary option is not allowed";
inline constexpr char kNoLibraryName[] = "Library name was not given";
inline constexpr char kLibraryNameNotString[] = "Library name is not a string";
inline constexpr char kDebugDisabled[] = "Debug command are disabled";
inline constexpr char kInternalCommand[] =
    "Internal command should only be sent from primary or loaded from AOF";

inline std::string unknownSubcommand(std::string_view sub) {
  return "Unknown subcommand " + std::string(sub);
}
inline std::string unknownOption(std::string_view option) {
  return "Unknown option '" + std::string(option) + "'";
}

// TFUNCTION SLOWLOG, worded as Redis' SLOWLOG answers.
inline constexpr char kSlowlogCount[] = "ERR count should be greater than or equal to -1";
inline std::string unknownSlowlogSubcommand(std::string_view sub) {
  return "ERR unknown subcommand '" + std::string(sub) + "'. Try TFUNCTION SLOWLOG HELP.";
}

// tfproxy's own.
inline constexpr char kMalformedExec[] = "ERR tfproxy: malformed EXEC reply";
inline constexpr char kPrefix[] = "ERR tfproxy: ";
inline constexpr char kTransactionFailed[] = "transaction failed";
inline constexpr char kStoreFailed[] = "ERR tfproxy: could not store the library in the backend: ";
inline constexpr char kRemoveFailed[] =
    "ERR tfproxy: could not remove the library from the backend: ";

// Shown as a key space trigger's last_error in TFUNCTION LIST while it cannot get events.
inline constexpr char kNoEventsFlags[] =
    "ERR tfproxy: this trigger receives no events: the backend's notify-keyspace-events lacks "
    "the flags 'KAm' and refuses CONFIG SET; set them on the backend";
inline constexpr char kNoEventsConnection[] =
    "ERR tfproxy: this trigger receives no events: the notification connection to the backend "
    "is down";

// A command of a cluster function (runOnKey, runOnShards) that touches a key of another shard
// than the one it runs on; followed by the key.
inline constexpr char kOutsideShard[] =
    "ERR tfproxy: a cluster function's commands are confined to the keys of its shard; not "
    "of this shard: ";

}  // namespace tfproxy::functions::errors
