#include "functions/commands.h"

#include <algorithm>
#include <limits>

#include "backend/command_index.h"
#include "backend/command_table.h"
#include "config/gears.h"
#include "functions/errors.h"
#include "functions/tf_commands.h"

namespace tfproxy::functions {

// clang-format off
const CommandSpec TfCommands::kSpecs[] = {
  // name, sub, arity, flags, keys, ACL equivalent, handler
  {"tfunction", "", -2, kNoScript | kListed, KeyRule::kNone, {},
   &TfCommands::unknownSubcommand},
  {"tfunction", "load", -2, kNoScript | kDeniedInMulti, KeyRule::kNone,
   {"FUNCTION", "LOAD", "x"}, &TfCommands::load},
  {"tfunction", "delete", -2, kNoScript | kDeniedInMulti, KeyRule::kNone,
   {"FUNCTION", "DELETE", "x"}, &TfCommands::remove},
  {"tfunction", "list", -2, kNoScript, KeyRule::kNone, {"FUNCTION", "LIST"}, &TfCommands::list},
  {"tfunction", "debug", -2, kNoScript, KeyRule::kNone, {}, &TfCommands::debug},
  {"tfunction", "slowlog", -3, kNoScript, KeyRule::kNone, {"SLOWLOG", "GET"},
   &TfCommands::slowlog},
  {"tfcall", "", -3, kNoScript | kListed, KeyRule::kNumkeys, {"FCALL", "f", "0"},
   &TfCommands::tfcall},
  {"tfcallasync", "", -3, kNoScript | kListed, KeyRule::kNumkeys, {"FCALL", "f", "0"},
   &TfCommands::tfcall},
  {"tconfig_get", "", -2, kNoScript, KeyRule::kNone, {"CONFIG", "GET", "x"},
   &TfCommands::tconfigGet},
  {"tconfig_set", "", -3, kNoScript, KeyRule::kNone, {"CONFIG", "SET", "x", "y"},
   &TfCommands::tconfigSet},
  {"_rg_internals.function", "", -1, 0, KeyRule::kNone, {}, &TfCommands::internal},
  {"_rg_internals.update_stream_last_read_id", "", -1, 0, KeyRule::kNone, {},
   &TfCommands::internal},
  {"config", "", -2, kConditional, KeyRule::kNone, {}, &TfCommands::unknownSubcommand},
  {"config", "get", -2, kConditional, KeyRule::kNone,
   {"CONFIG", "GET", "x", "y"}, &TfCommands::configGetCommand},
  {"config", "set", -2, kConditional, KeyRule::kNone,
   {"CONFIG", "SET", "x", "y"}, &TfCommands::configSetCommand},
  // ACL as the client runs it (Redis checks its rights), with the rules naming ours kept here.
  {"acl", "", -2, kConditional, KeyRule::kNone, {}, &TfCommands::unknownSubcommand},
  {"acl", "setuser", -3, kConditional, KeyRule::kNone, {}, &TfCommands::aclSetuser},
  {"acl", "getuser", 3, kConditional, KeyRule::kNone, {}, &TfCommands::aclGetuser},
  {"acl", "list", 2, kConditional, KeyRule::kNone, {}, &TfCommands::aclList},
  {"acl", "deluser", -3, kConditional, KeyRule::kNone, {}, &TfCommands::aclDeluser},
  {"acl", "dryrun", -4, kConditional, KeyRule::kNone, {}, &TfCommands::aclDryrun},
  {"acl", "load", 2, kConditional, KeyRule::kNone, {}, &TfCommands::aclLoad},
};
// clang-format on

std::span<const CommandSpec> commandSpecs() { return TfCommands::kSpecs; }

bool CommandSpec::arityMatches(size_t argc) const {
  const auto n = static_cast<int>(argc);
  return arity > 0 ? n == arity : n >= -arity;
}

std::string CommandSpec::fullName() const {
  std::string out(name);
  if (!sub.empty()) out.append("|").append(sub);
  return out;
}

std::vector<std::string> CommandSpec::aclCommand() const {
  std::vector<std::string> out;
  for (std::string_view part : acl) {
    if (!part.empty()) out.emplace_back(part);
  }
  return out;
}

const CommandSpec* findCommand(std::string_view name) {
  for (const CommandSpec& spec : commandSpecs()) {
    if (spec.sub.empty() && backend::equalsLower(name, spec.name)) return &spec;
  }
  return nullptr;
}

const CommandSpec* findCommand(const std::vector<std::string>& argv) {
  const CommandSpec* own = findCommand(argv[0]);
  if (own == nullptr || argv.size() < 2) return own;
  for (const CommandSpec& spec : commandSpecs()) {
    if (spec.name == own->name && !spec.sub.empty() && backend::equalsLower(argv[1], spec.sub)) {
      return &spec;
    }
  }
  return own;
}

namespace {

bool interceptsConfig(const std::vector<std::string_view>& argv) {
  if (argv.size() < 3) return false;
  std::string sub;
  backend::toLower(argv[1], &sub);
  if (sub == "get") {
    // Any pattern that matches one of our settings.
    return std::any_of(argv.begin() + 2, argv.end(), [](std::string_view pattern) {
      return config::GearsConfig::patternMatchesAny(pattern);
    });
  }
  if (sub == "set") {
    for (size_t i = 2; i < argv.size(); i += 2) {
      if (isGearsSetting(argv[i])) return true;
    }
  }
  return false;
}

bool interceptsAcl(const std::vector<std::string_view>& argv) {
  if (argv.size() < 2) return false;
  for (std::string_view sub : {"setuser", "getuser", "list", "deluser", "load"}) {
    if (backend::equalsLower(argv[1], sub)) return true;
  }
  if (backend::equalsLower(argv[1], "dryrun") && argv.size() >= 4) {
    const CommandSpec* spec = findCommand(argv[3]);
    return spec != nullptr && spec->has(kListed);
  }
  return false;
}

}  // namespace

bool interceptsConditional(const std::vector<std::string_view>& argv) {
  return backend::equalsLower(argv[0], "acl") ? interceptsAcl(argv) : interceptsConfig(argv);
}

bool isGearsSetting(std::string_view name) {
  std::string lower;
  backend::toLower(name, &lower);
  return lower.rfind(config::GearsConfig::kPrefix, 0) == 0;
}

bool isOwnCommand(const std::vector<std::string>& argv) {
  const CommandSpec* spec = findCommand(argv[0]);
  if (spec == nullptr) return false;
  if (!spec->has(kConditional)) return true;
  return interceptsConditional(std::vector<std::string_view>(argv.begin(), argv.end()));
}

bool deniedToScripts(std::string_view lower_name) {
  const CommandSpec* spec = findCommand(lower_name);
  return spec != nullptr && spec->has(kNoScript);
}

void registerIntercepts(backend::CommandIndex& index) {
  for (const CommandSpec& spec : commandSpecs()) {
    if (!spec.sub.empty()) continue;
    if (spec.has(kConditional)) {
      index.interceptWhen(spec.name, interceptsConditional);
    } else {
      index.intercept(spec.name, spec.arity);
    }
  }
}

std::optional<uint64_t> parseNumkeys(std::string_view s, std::string* error) {
  if (s.empty()) {
    *error = errors::kEmptyInteger;
    return std::nullopt;
  }
  if (s[0] == '+') s.remove_prefix(1);
  if (s.empty()) {
    *error = errors::kInvalidDigit;
    return std::nullopt;
  }
  uint64_t v = 0;
  bool overflow = false;
  for (char c : s) {
    if (c < '0' || c > '9') {
      *error = errors::kInvalidDigit;
      return std::nullopt;
    }
    const auto d = static_cast<uint64_t>(c - '0');
    if (v > (std::numeric_limits<uint64_t>::max() - d) / 10) overflow = true;
    v = v * 10 + d;
  }
  if (overflow) {
    *error = errors::kIntegerTooLarge;
    return std::nullopt;
  }
  return v;
}

std::vector<std::string_view> declaredKeys(const CommandSpec& spec,
                                           const std::vector<std::string>& argv) {
  if (spec.keys != KeyRule::kNumkeys || argv.size() < 3) return {};
  std::string ignored;
  std::optional<uint64_t> numkeys = parseNumkeys(argv[2], &ignored);
  if (!numkeys || *numkeys > argv.size() - 3) return {};
  return {argv.begin() + 3, argv.begin() + 3 + static_cast<std::ptrdiff_t>(*numkeys)};
}

}  // namespace tfproxy::functions
