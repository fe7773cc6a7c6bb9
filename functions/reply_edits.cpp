#include "functions/reply_edits.h"

#include <algorithm>

#include "backend/command_index.h"
#include "backend/command_table.h"
#include "config/glob.h"
#include "functions/commands.h"
#include "functions/errors.h"
#include "resp/encoder.h"
#include "resp/number.h"

namespace tfproxy::functions {
namespace {

using backend::equalsLower;
using resp::Type;
using resp::Value;

// The module whose commands COMMAND reports tfproxy's as (COMMAND DOCS, LIST FILTERBY MODULE).
constexpr std::string_view kModuleName = "redisgears_2";

// What COMMAND DOCS says of each listed command; the rest comes from the command table.
struct CommandDocs {
  std::string_view name;
  std::string_view summary;
};
constexpr CommandDocs kDocs[] = {
    {"tfunction", "Loads, deletes, lists and debugs JavaScript libraries"},
    {"tfcall", "Runs a JavaScript function"},
    {"tfcallasync", "Runs a JavaScript function that may finish in the background"},
};
constexpr std::string_view kSince = "2.0.0";

std::string encode(const Value& v, resp::Protocol protocol) {
  std::string out;
  resp::ReplyWriter(&out, protocol).value(v);
  return out;
}

Value simple(std::string_view s) { return Value::simple(s); }
Value bulk(std::string_view s) { return Value::bulk(s); }
Value integer(int64_t n) { return Value::integerValue(n); }
Value map(std::vector<Value> pairs) { return Value::array(std::move(pairs), Type::kMap); }
Value set(std::vector<Value> items) { return Value::array(std::move(items), Type::kSet); }

std::vector<const CommandSpec*> listedCommands() {
  std::vector<const CommandSpec*> out;
  for (const CommandSpec& spec : commandSpecs()) {
    if (spec.sub.empty() && spec.has(kListed)) out.push_back(&spec);
  }
  return out;
}

const CommandSpec* listedCommand(std::string_view name) {
  const CommandSpec* spec = findCommand(name);
  return spec != nullptr && spec->has(kListed) ? spec : nullptr;
}

// The flags a declared key of TFCALL carries (spec §3.0).
Value keyFlags() { return set({simple("RW"), simple("access"), simple("update")}); }

// COMMAND INFO's entry, as Redis 7 reports a module command.
Value commandInfo(const CommandSpec& spec) {
  const bool movable = spec.keys == KeyRule::kNumkeys;
  std::vector<Value> flags = {simple("module"), simple("noscript"), simple("may_replicate"),
                              simple("no_mandatory_keys")};
  if (movable) flags.push_back(simple("movablekeys"));
  std::vector<Value> key_specs;
  if (movable) {
    key_specs.push_back(
        map({bulk("flags"), keyFlags(), bulk("begin_search"),
             map({bulk("type"), bulk("index"), bulk("spec"), map({bulk("index"), integer(2)})}),
             bulk("find_keys"),
             map({bulk("type"), bulk("keynum"), bulk("spec"),
                  map({bulk("keynumidx"), integer(0), bulk("firstkey"), integer(1), bulk("keystep"),
                       integer(1)})})}));
  }
  return Value::array({bulk(spec.name), integer(spec.arity), set(std::move(flags)), integer(0),
                       integer(0), integer(0), set({}), set({}), Value::array(std::move(key_specs)),
                       Value::array({})});
}

// COMMAND DOCS' pair (name, docs).
void appendDocs(const CommandSpec& spec, std::vector<Value>* out) {
  std::string_view summary;
  for (const CommandDocs& d : kDocs) {
    if (d.name == spec.name) summary = d.summary;
  }
  out->push_back(bulk(spec.name));
  out->push_back(map({bulk("summary"), bulk(summary), bulk("since"), bulk(kSince), bulk("group"),
                      bulk("module"), bulk("module"), bulk(kModuleName)}));
}

// COMMAND GETKEYS / GETKEYSANDFLAGS for one of ours: `call` is the command after the subcommand.
std::string getKeys(std::span<const std::string_view> call, bool with_flags,
                    resp::Protocol protocol) {
  const CommandSpec& spec = *listedCommand(call[0]);
  std::string out;
  resp::ReplyWriter w(&out, protocol);
  if (!spec.arityMatches(call.size())) {
    w.error(errors::kGetKeysArity);
    return out;
  }
  std::vector<std::string> argv(call.begin(), call.end());
  std::string ignored;
  const auto numkeys =
      spec.keys == KeyRule::kNumkeys ? parseNumkeys(argv[2], &ignored) : std::nullopt;
  if (spec.keys == KeyRule::kNumkeys && (!numkeys || *numkeys > argv.size() - 3)) {
    w.error(errors::kGetKeysInvalid);
    return out;
  }
  std::vector<std::string_view> keys = declaredKeys(spec, argv);
  if (keys.empty()) {
    w.error(errors::kGetKeysNone);
    return out;
  }
  std::vector<Value> items;
  for (std::string_view k : keys) {
    items.push_back(with_flags ? Value::array({bulk(k), keyFlags()}) : bulk(k));
  }
  w.value(Value::array(std::move(items)));
  return out;
}

// Does INFO with these arguments include the keyspace section?
bool infoShowsKeyspace(std::span<const std::string_view> argv) {
  if (argv.size() == 1) return true;
  for (size_t i = 1; i < argv.size(); ++i) {
    for (std::string_view section : {"keyspace", "all", "everything", "default"}) {
      if (equalsLower(argv[i], section)) return true;
    }
  }
  return false;
}

// Does INFO with these arguments include tfproxy's section? It does wherever Redis shows every
// section, and when named.
bool infoShowsTfproxy(std::span<const std::string_view> argv) {
  if (argv.size() == 1) return true;
  for (size_t i = 1; i < argv.size(); ++i) {
    for (std::string_view section : {"tfproxy", "all", "everything", "default"}) {
      if (equalsLower(argv[i], section)) return true;
    }
  }
  return false;
}

// INFO's keyspace line for db0 with `hidden` keys fewer (gone if none are left).
void subtractFromKeyspace(std::string* text, int64_t hidden) {
  const std::string_view kLine = "db0:keys=";
  size_t at = text->find(kLine);
  if (at == std::string::npos || (at > 0 && (*text)[at - 1] != '\n')) return;
  const size_t digits = at + kLine.size();
  const size_t comma = text->find(',', digits);
  if (comma == std::string::npos) return;
  auto keys = resp::parseInt64(std::string_view(*text).substr(digits, comma - digits));
  if (!keys) return;
  const int64_t left = *keys - hidden;
  if (left > 0) {
    text->replace(digits, comma - digits, std::to_string(left));
    return;
  }
  size_t end = text->find('\n', at);
  text->erase(at, end == std::string::npos ? std::string::npos : end + 1 - at);
}

}  // namespace

ReplyEdits::ReplyEdits(std::vector<std::string> hidden_keys)
    : hidden_keys_(std::move(hidden_keys)) {}

void ReplyEdits::registerEdited(backend::CommandIndex& index) {
  for (std::string_view name : {"command", "keys", "scan", "randomkey", "dbsize", "info"}) {
    index.markEdited(name);
  }
}

bool ReplyEdits::isHidden(std::string_view key) const {
  return std::find(hidden_keys_.begin(), hidden_keys_.end(), key) != hidden_keys_.end();
}

void ReplyEdits::editDecoded(std::string_view command, resp::Value* reply) const {
  if (hidden_keys_.empty()) return;
  resp::Value* keys = nullptr;
  if (equalsLower(command, "scan") && reply->elements.size() == 2) {
    keys = &reply->elements[1];
  } else if (equalsLower(command, "keys")) {
    keys = reply;
  }
  if (keys == nullptr) return;
  std::erase_if(keys->elements, [this](const resp::Value& k) { return isHidden(k.str); });
}

bool ReplyEdits::plan(std::span<const std::string_view> argv, const backend::ConnectionState& state,
                      ReplyEdit* edit) const {
  if (equalsLower(argv[0], "command")) return planCommand(argv, state.protocol, edit);
  // Whatever database the command runs in (a SELECT before it may not be answered yet): the
  // extra EXISTS runs there too, and finds the store only in db 0.
  if (hidden_keys_.empty()) return false;
  return planKeys(argv, state, edit);
}

bool ReplyEdits::planCommand(std::span<const std::string_view> argv, resp::Protocol protocol,
                             ReplyEdit* edit) const {
  const std::vector<const CommandSpec*> listed = listedCommands();
  // Merges that change a well-formed reply; any other reply (an error) passes unchanged.
  auto editArray = [protocol](std::function<void(Value*)> change) {
    return [protocol, change = std::move(change)](const std::vector<Value>& replies) {
      Value reply = replies[0];
      if (reply.type == Type::kArray || reply.type == Type::kMap || reply.type == Type::kSet) {
        change(&reply);
      }
      return encode(reply, protocol);
    };
  };
  auto appendInfo = [listed](Value* reply) {
    for (const CommandSpec* spec : listed) reply->elements.push_back(commandInfo(*spec));
  };
  if (argv.size() == 1) {
    edit->merge = editArray(appendInfo);
    return true;
  }
  const std::string_view sub = argv[1];
  if (equalsLower(sub, "count") && argv.size() == 2) {
    edit->merge = [protocol, n = listed.size()](const std::vector<Value>& replies) {
      Value reply = replies[0];
      if (reply.type == Type::kInteger) reply.integer += static_cast<int64_t>(n);
      return encode(reply, protocol);
    };
    return true;
  }
  if (equalsLower(sub, "info")) {
    if (argv.size() == 2) {
      edit->merge = editArray(appendInfo);
      return true;
    }
    std::vector<std::pair<size_t, const CommandSpec*>> ours;
    for (size_t i = 2; i < argv.size(); ++i) {
      if (const CommandSpec* spec = listedCommand(argv[i])) ours.emplace_back(i - 2, spec);
    }
    if (ours.empty()) return false;
    edit->merge = editArray([ours](Value* reply) {
      for (const auto& [position, spec] : ours) {
        if (position < reply->elements.size()) reply->elements[position] = commandInfo(*spec);
      }
    });
    return true;
  }
  if (equalsLower(sub, "docs")) {
    std::vector<const CommandSpec*> wanted;
    for (size_t i = 2; i < argv.size(); ++i) {
      const CommandSpec* spec = listedCommand(argv[i]);
      if (spec != nullptr && std::find(wanted.begin(), wanted.end(), spec) == wanted.end()) {
        wanted.push_back(spec);
      }
    }
    if (argv.size() == 2) wanted = listed;
    if (wanted.empty()) return false;
    edit->merge = editArray([wanted](Value* reply) {
      for (const CommandSpec* spec : wanted) appendDocs(*spec, &reply->elements);
    });
    return true;
  }
  if (equalsLower(sub, "list")) {
    std::vector<std::string_view> names;
    if (argv.size() == 2) {
      for (const CommandSpec* spec : listed) names.push_back(spec->name);
    } else if (argv.size() == 5 && equalsLower(argv[2], "filterby")) {
      for (const CommandSpec* spec : listed) {
        if ((equalsLower(argv[3], "module") && equalsLower(argv[4], kModuleName)) ||
            (equalsLower(argv[3], "pattern") &&
             config::globMatch(argv[4], spec->name, /*nocase=*/true))) {
          names.push_back(spec->name);
        }
      }
    }
    if (names.empty()) return false;
    edit->merge = editArray([names](Value* reply) {
      for (std::string_view name : names) reply->elements.push_back(bulk(name));
    });
    return true;
  }
  const bool getkeys = equalsLower(sub, "getkeys");
  if ((getkeys || equalsLower(sub, "getkeysandflags")) && argv.size() >= 3 &&
      listedCommand(argv[2]) != nullptr) {
    edit->local_reply = getKeys(argv.subspan(2), !getkeys, protocol);
    return true;
  }
  return false;
}

bool ReplyEdits::planKeys(std::span<const std::string_view> argv,
                          const backend::ConnectionState& state, ReplyEdit* edit) const {
  const resp::Protocol protocol = state.protocol;
  auto exists = [this] {
    std::vector<std::string> command = {"EXISTS"};
    command.insert(command.end(), hidden_keys_.begin(), hidden_keys_.end());
    return command;
  };
  // How many of tfproxy's keys exist: the reply to exists(), 0 when it is refused.
  auto hiddenCount = [](const Value& reply) {
    return reply.type == Type::kInteger ? reply.integer : 0;
  };
  auto withoutHidden = [this](Value* keys) {
    std::erase_if(keys->elements,
                  [this](const Value& k) { return !k.isError() && isHidden(k.str); });
  };
  if (equalsLower(argv[0], "keys") && argv.size() == 2) {
    edit->merge = [protocol, withoutHidden](const std::vector<Value>& replies) {
      Value reply = replies[0];
      if (reply.type == Type::kArray || reply.type == Type::kSet) withoutHidden(&reply);
      return encode(reply, protocol);
    };
    return true;
  }
  if (equalsLower(argv[0], "scan") && argv.size() >= 2) {
    edit->merge = [protocol, withoutHidden](const std::vector<Value>& replies) {
      Value reply = replies[0];
      if (reply.type == Type::kArray && reply.elements.size() == 2) {
        withoutHidden(&reply.elements[1]);
      }
      return encode(reply, protocol);
    };
    return true;
  }
  if (equalsLower(argv[0], "dbsize") && argv.size() == 1) {
    edit->extra.push_back(exists());
    edit->merge = [protocol, hiddenCount](const std::vector<Value>& replies) {
      Value reply = replies[0];
      if (reply.type == Type::kInteger) {
        reply.integer = std::max<int64_t>(0, reply.integer - hiddenCount(replies[1]));
      }
      return encode(reply, protocol);
    };
    return true;
  }
  if (equalsLower(argv[0], "randomkey") && argv.size() == 1) {
    // Redis picks tfproxy's key now and then: more picks, and a SCAN page for a database that
    // holds few keys, give one of the others; none when only tfproxy's are there.
    constexpr int kPicks = 3;
    edit->extra.push_back({"DBSIZE"});
    edit->extra.push_back(exists());
    for (int i = 0; i < kPicks; ++i) edit->extra.push_back({"RANDOMKEY"});
    edit->extra.push_back({"SCAN", "0", "COUNT", "100"});
    edit->merge = [this, protocol, hiddenCount](const std::vector<Value>& replies) {
      const Value& first = replies[0];
      if (first.type != Type::kBulkString || !isHidden(first.str)) return encode(first, protocol);
      const Value& size = replies[1];
      if (size.type == Type::kInteger && size.integer - hiddenCount(replies[2]) <= 0) {
        return encode(Value::null(), protocol);
      }
      for (int i = 0; i < kPicks; ++i) {
        const Value& pick = replies[3 + i];
        if (pick.type == Type::kBulkString && !isHidden(pick.str)) return encode(pick, protocol);
      }
      const Value& page = replies[3 + kPicks];
      if (page.type == Type::kArray && page.elements.size() == 2) {
        for (const Value& k : page.elements[1].elements) {
          if (!isHidden(k.str)) return encode(k, protocol);
        }
      }
      return encode(Value::null(), protocol);
    };
    return true;
  }
  if (equalsLower(argv[0], "info")) {
    // The db0 line, counted from db 0 only (EXISTS runs in the client's database); tfproxy's
    // own section after the backend's.
    const bool keyspace = state.db == 0 && infoShowsKeyspace(argv);
    const bool ours = info_section_ && infoShowsTfproxy(argv);
    if (!keyspace && !ours) return false;
    if (keyspace) edit->extra.push_back(exists());
    edit->merge = [this, protocol, hiddenCount, keyspace, ours](const std::vector<Value>& replies) {
      Value reply = replies[0];
      if (reply.type == Type::kBulkString || reply.type == Type::kVerbatim) {
        if (keyspace) subtractFromKeyspace(&reply.str, hiddenCount(replies[1]));
        if (ours) {
          if (!reply.str.empty()) reply.str += "\r\n";
          reply.str += info_section_();
        }
      }
      return encode(reply, protocol);
    };
    return true;
  }
  return false;
}

}  // namespace tfproxy::functions
