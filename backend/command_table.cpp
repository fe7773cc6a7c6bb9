#include "backend/command_table.h"

#include <deque>
#include <unordered_map>
#include <utility>

namespace tfproxy::backend {
namespace {

const CommandInfo kCommands[] = {
#include "backend/command_table_data.inc"
};

// COMMAND's flag names, as scripts/gen_command_table.py maps them.
const std::pair<std::string_view, CommandFlag> kFlagNames[] = {
    {"write", kFlag_write},
    {"readonly", kFlag_readonly},
    {"denyoom", kFlag_denyoom},
    {"admin", kFlag_admin},
    {"pubsub", kFlag_pubsub},
    {"noscript", kFlag_noscript},
    {"blocking", kFlag_blocking},
    {"loading", kFlag_loading},
    {"stale", kFlag_stale},
    {"skip_monitor", kFlag_skip_monitor},
    {"skip_slowlog", kFlag_skip_slowlog},
    {"fast", kFlag_fast},
    {"no_auth", kFlag_no_auth},
    {"may_replicate", kFlag_may_replicate},
    {"no_mandatory_keys", kFlag_no_mandatory_keys},
    {"no_multi", kFlag_no_multi},
    {"movablekeys", kFlag_movablekeys},
    {"allow_busy", kFlag_allow_busy},
};

}  // namespace

struct CommandTable::Impl {
  std::unordered_map<std::string_view, const CommandInfo*> by_name;
  std::vector<const CommandInfo*> all;
  // Learnt entries and their names; deques keep addresses stable.
  std::deque<CommandInfo> learnt;
  std::deque<std::string> names;

  void add(const CommandInfo* info) {
    by_name.emplace(info->name, info);
    all.push_back(info);
  }
  // One COMMAND entry: [name, arity, flags, first key, last key, step, ..., subcommands (10th)].
  size_t learn(const resp::Value& entry) {
    const auto& e = entry.elements;
    if (e.size() < 6 || e[0].str.empty() || e[1].type != resp::Type::kInteger) return 0;
    size_t added = 0;
    std::string name;
    toLower(e[0].str, &name);
    if (by_name.find(name) == by_name.end()) {
      uint32_t flags = 0;
      for (const resp::Value& f : e[2].elements) {
        for (const auto& [text, bit] : kFlagNames) {
          if (f.str == text) flags |= bit;
        }
      }
      names.push_back(std::move(name));
      CommandInfo info{};
      info.name = names.back().c_str();
      info.arity = static_cast<int>(e[1].integer);
      info.flags = flags;
      info.first_key = static_cast<int>(e[3].integer);
      info.last_key = static_cast<int>(e[4].integer);
      info.key_step = static_cast<int>(e[5].integer);
      learnt.push_back(info);
      add(&learnt.back());
      ++added;
    }
    if (e.size() > 9) {
      for (const resp::Value& sub : e[9].elements) added += learn(sub);
    }
    return added;
  }
};

CommandTable::CommandTable() : impl_(new Impl) {
  for (const CommandInfo& c : kCommands) impl_->add(&c);
}

const std::vector<const CommandInfo*>& CommandTable::all() const { return impl_->all; }

CommandTable& CommandTable::instance() {
  static CommandTable table;
  return table;
}

const CommandTable& CommandTable::builtin() { return instance(); }

size_t CommandTable::learn(const resp::Value& command_reply) {
  size_t added = 0;
  for (const resp::Value& entry : command_reply.elements) added += instance().impl_->learn(entry);
  return added;
}

ConnectionEffect connectionEffect(std::string_view name) {
  char lower[16];
  if (name.size() > sizeof lower) return ConnectionEffect::kNone;
  for (size_t i = 0; i < name.size(); ++i) {
    const char c = name[i];
    lower[i] = (c >= 'A' && c <= 'Z') ? static_cast<char>(c + 32) : c;
  }
  const std::string_view n(lower, name.size());
  if (n == "select") return ConnectionEffect::kDatabase;
  if (n == "multi") return ConnectionEffect::kOpensTransaction;
  if (n == "exec" || n == "discard") return ConnectionEffect::kEndsTransaction;
  static constexpr std::string_view kOther[] = {
      "auth",         "hello",      "reset",      "client",      "quit",
      "subscribe",    "psubscribe", "ssubscribe", "unsubscribe", "punsubscribe",
      "sunsubscribe", "monitor",    "watch",      "unwatch",     "readonly",
      "readwrite",    "asking",     "sync",       "psync",       "replconf"};
  for (std::string_view o : kOther) {
    if (n == o) return ConnectionEffect::kOther;
  }
  return ConnectionEffect::kNone;
}

void toLower(std::string_view in, std::string* out) {
  out->resize(in.size());
  for (size_t i = 0; i < in.size(); ++i) {
    char c = in[i];
    (*out)[i] = (c >= 'A' && c <= 'Z') ? static_cast<char>(c + 32) : c;
  }
}

const CommandInfo* CommandTable::find(std::string_view name, std::string_view subcommand) const {
  thread_local std::string key;
  if (name.size() > 64 || subcommand.size() > 64) return nullptr;
  toLower(name, &key);
  auto it = impl_->by_name.find(key);
  if (it == impl_->by_name.end()) return nullptr;
  if (!subcommand.empty()) {
    std::string sub;
    toLower(subcommand, &sub);
    key.push_back('|');
    key.append(sub);
    auto sub_it = impl_->by_name.find(key);
    if (sub_it != impl_->by_name.end()) return sub_it->second;
  }
  return it->second;
}

}  // namespace tfproxy::backend
