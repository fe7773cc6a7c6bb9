// Every client- and JavaScript-visible text of the scripting module, as upstream words it
// (spec Appendix A). Placeholders are filled by the code that uses them.
#pragma once

#include <string>
#include <string_view>

namespace tfproxy::scripting::errors {

// Loading.
inline constexpr char kCompilePrefix[] = "Failed to compile library: ";
inline constexpr char kLoadingPrefix[] = "Failed loading library: ";
inline constexpr char kInvalidPrologue[] =
    "Invalid or missing prologue. The rules for the prologue are: a) It starts on the first "
    "line. b) It is formatted as follows: \"#!<engine name> <key>=<value>\".";
inline constexpr char kApiVersionMissing[] = "The api version is missing from the prologue.";
inline constexpr char kNameMissing[] = "The library name is missing from the prologue.";
inline constexpr char kNoRegistrations[] = "Neither function nor other registrations were found.";
inline constexpr char kOomState[] = "JS engine reached OOM state and can not run any more code";
inline constexpr char kTerminated[] = "Err Execution was terminated due to OOM or timeout";
inline constexpr char kEmptyName[] = "Empty name is not allowed";
inline constexpr char kModuleRejected[] = "Failed evaluating module: ";
inline constexpr char kLibraryMissing[] = "library does not exists";
inline std::string libraryExists(std::string_view name) {
  return "Library " + std::string(name) + " already exists.";
}

// Debugging (TFUNCTION LOAD DEBUG).
inline constexpr char kDebugSessionExists[] =
    "Only one debugging session can be established at a time.";

// Commands.
inline constexpr char kNotUtf8[] = "Couldn't parse as UTF-8 string";
inline constexpr char kNoFunctionName[] = "Failed extracting function name";
inline constexpr char kWritesOnReplica[] =
    "Err can not run a function that might perform writes on a replica or when the \"avoid "
    "replication traffic\" option is enabled";
inline constexpr char kOomFunction[] = "OOM can not run the function when out of memory";
inline constexpr char kDeclaredAsync[] =
    "The function is declared as async and was called while blocking was not allowed; note "
    "that you cannot invoke async functions from within Lua or MULTI, and you must use "
    "TFCALLASYNC instead.";
inline constexpr char kCannotBlock[] =
    "Can not block client for background execution, Blocking is not allow inside multi/exec, "
    "Lua, or within another module (RM_Call).";
inline constexpr char kArgNotString[] = "Can not convert argument to string";

// Registration (thrown into JavaScript as plain strings).
inline constexpr char kRegisterFunctionNotFunction[] =
    "Second argument to 'registerFunction' must be a function";
inline constexpr char kFlagNotString[] =
    "Failed parsing function flags, wrong type of string value";
inline constexpr char kRegisterOutOfContext[] = "Called 'register_function' out of context";
// Cluster functions (spec §4.6, 4.8).
inline constexpr char kClusterFunctionOutOfContext[] =
    "Called 'registerClusterFunction' out of context";
inline constexpr char kClusterFunctionNotFunction[] =
    "Second argument to 'registerClusterFunction' must be a function";
inline constexpr char kRemoteNotAsync[] = "Remote function must be async";
inline std::string badClusterFunctionName(std::string_view name, std::string_view problem) {
  return "Unallowed cluster function name '" + std::string(name) + "', " + std::string(problem) +
         ".";
}
inline std::string remoteExists(std::string_view name) {
  return "Remote function " + std::string(name) + " already exists";
}
inline std::string remoteUnknown(std::string_view name, std::string_view library) {
  return "Remote function " + std::string(name) + " does not exists on library " +
         std::string(library);
}
inline constexpr char kSerializingArguments[] = "Failed serializing arguments";
inline constexpr char kDeserializingArgument[] = "Failed deserializing remote function argument";
inline constexpr char kDeserializingResult[] = "Failed deserializing remote function result";
inline constexpr char kRemoteTimeout[] = "Timeout";
inline constexpr char kRemoteKeyNotBytes[] = "Key argument must be a String or ArrayBuffer";
inline constexpr char kKeySpaceTriggerOutOfContext[] =
    "Called 'registerKeySpaceTrigger' out of context";
inline constexpr char kKeySpaceTriggerNotFunction[] =
    "Third argument to 'registerKeySpaceTrigger' must be a function";
inline constexpr char kOnTriggerFiredNotFunction[] =
    "'onTriggerFired' argument to 'registerKeySpaceTrigger' must be a function";
inline constexpr char kKeySpaceTriggerBadPrefix[] =
    "Second argument to 'registerKeySpaceTrigger' must be a string or ArrayBuffer representing "
    "the prefix";
inline constexpr char kKeySpaceTriggerExists[] = "Notification consumer already exists";
inline constexpr char kStreamTriggerOutOfContext[] = "Called 'registerFunction' out of context";
inline constexpr char kStreamTriggerNotFunction[] =
    "The fifth argument to 'registerStreamTrigger' must be a function";
inline constexpr char kStreamWindowNotPositive[] = "window argument must be a positive number";
inline constexpr char kStreamTriggerBadPrefix[] =
    "Second argument to 'registerStreamTrigger' must be a String or ArrayBuffer representing "
    "the prefix";
inline constexpr char kStreamTriggerExists[] = "Stream registration already exists";
inline std::string badStreamTriggerName(std::string_view name, std::string_view problem) {
  return "Unallowed stream trigger name '" + std::string(name) + "', " + std::string(problem) + ".";
}
// `old_prefix` and `new_prefix` as shown: the text, or "[binary data]".
inline std::string streamPrefixChanged(std::string_view name, std::string_view old_prefix,
                                       std::string_view new_prefix) {
  return "Can not upgrade an existing consumer with different prefix, consumer: '" +
         std::string(name) + "', old_prefix: " + std::string(old_prefix) +
         ", new_prefix: " + std::string(new_prefix) + ".";
}
inline constexpr char kBinaryData[] = "[binary data]";
inline std::string badKeySpaceTriggerName(std::string_view name, std::string_view problem) {
  return "Unallowed key space trigger name '" + std::string(name) + "', " + std::string(problem) +
         ".";
}

// Function arguments and registration (thrown into JavaScript as plain strings).
// "Can not convert value at position <i> into <type>. <reason>." (spec §4.2)
inline std::string conversion(int position, std::string_view type, std::string_view reason) {
  return "Can not convert value at position " + std::to_string(position) + " into " +
         std::string(type) + ". " + std::string(reason) + ".";
}
inline std::string unknownFlag(std::string_view flag) {
  return "Failed parsing function flags, Unknow flag '" + std::string(flag) + "' was given";
}
inline std::string badFunctionName(std::string_view name, std::string_view problem) {
  return "Unallowed function name '" + std::string(name) + "', " + std::string(problem) + ".";
}
inline std::string functionExists(std::string_view name) {
  return "Function " + std::string(name) + " already exists";
}
inline constexpr char kNotBytes[] =
    "Failed consuming arguments. Can not convert value into bytes buffer.";

// TFUNCTION DEBUG.
inline constexpr char kNoSubcommand[] = "Subcommand was not provided";
inline constexpr char kDebugArgNotString[] = "Failed converting arguments to string";
inline std::string unknownBackend(std::string_view name) {
  return "Backend '" + std::string(name) + "' does not exists or not yet loaded";
}
inline std::string unknownDebugSubcommand(std::string_view sub) {
  return "Unknown subcommand '" + std::string(sub) + "'";
}

// Calls from JavaScript.
inline std::string notInScripts(std::string_view command) {
  return "ERR command '" + std::string(command) + "' is not allowed on script mode";
}
inline std::string writeNotAllowed(std::string_view command) {
  return "ERR Write command '" + std::string(command) + "' was called while write is not allowed.";
}
inline constexpr char kNotLocked[] = "Main thread is not locked";
inline constexpr char kInvalidClient[] = "Used on invalid client";
inline constexpr char kRedisAi[] = "RedisAI is not initialize";
inline constexpr char kNotUtf8Value[] = "Could not decode value as string";
inline constexpr char kBinaryMapKey[] = "Binary map key is not supported";
inline constexpr char kBadMapKey[] = "Given object can not be a object key";
inline constexpr char kBigNumberNotUtf8[] = "Could not decode big number as string";
// Redis' text for a key the user may not access (also TFCALL's declared keys).
inline constexpr char kKeyDenied[] = "NOPERM No permissions to access a key";
// Redis' text for a command the user may not run; `what` is "to run the '<command>' command".
inline std::string noPermissions(std::string_view user, std::string_view what) {
  return "NOPERM User " + std::string(user) + " has no permissions " + std::string(what);
}

// Asynchronous work.
inline constexpr char kPromiseDropped[] =
    "Promise was dropped without been resolved. Usually happened because of timeout or OOM.";
inline constexpr char kBadPromiseArgument[] = "Bad argument to 'Promise' function";
inline constexpr char kLibraryDeleted[] = "Library was deleted";
inline constexpr char kBlockNotFunction[] = "Argument to 'block' must be a function";
inline constexpr char kAlreadyBlocked[] = "Main thread is already blocked";
inline constexpr char kUnregistered[] = "Function were unregistered";
inline constexpr char kLockOnReplica[] =
    "Can not lock Redis, Can not lock redis for write on replica or when the \"avoid "
    "replication traffic\" option is enabled";
inline constexpr char kLockOom[] = "Can not lock Redis, OOM Can not lock redis for write";
inline constexpr char kExecuteAsyncOutOfContext[] = "Called 'executeAsync' out of context";
inline constexpr char kExecuteAsyncNotAsync[] =
    "First argument to 'executeAsync' must be an async function";

// Results.
inline constexpr char kNesting[] = "nesting level reached";
inline constexpr char kSetElement[] = "Give value is not a key";
inline constexpr char kVerbatimFormat[] = "Verbatim format length must be 3.";
// tfproxy's own: a reply value longer than V8's longest string (about 512 MB).
inline constexpr char kValueTooLong[] =
    "ERR tfproxy: the value is too long for a JavaScript string";
inline constexpr char kConversionFailed[] = "ERR tfproxy: could not convert the reply";

}  // namespace tfproxy::scripting::errors
