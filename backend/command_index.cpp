#include "backend/command_index.h"

#include <algorithm>
#include <cstring>

#include "io/check.h"

namespace tfproxy::backend {
namespace {

CommandFamily familyOf(const CommandInfo& info) {
  if (info.has(kFlag_blocking)) return CommandFamily::kBlocking;
  if (info.has(kFlag_pubsub)) return CommandFamily::kPubsub;
  if (info.has(kFlag_admin)) return CommandFamily::kAdmin;
  if (info.has(kFlag_write)) return CommandFamily::kWrite;
  if (info.has(kFlag_readonly)) return CommandFamily::kRead;
  return CommandFamily::kOther;
}

}  // namespace

const char* familyName(CommandFamily family) {
  switch (family) {
    case CommandFamily::kRead:
      return "read";
    case CommandFamily::kWrite:
      return "write";
    case CommandFamily::kBlocking:
      return "blocking";
    case CommandFamily::kPubsub:
      return "pubsub";
    case CommandFamily::kAdmin:
      return "admin";
    case CommandFamily::kOther:
      break;
  }
  return "other";
}

CommandIndex::CommandIndex(const CommandTable& table) : table_(table) {
  for (const CommandInfo* info : table.all()) {
    if (std::strchr(info->name, '|') != nullptr) continue;  // subcommands: looked up by need
    const char* name = info->name;
    if (std::strlen(name) > kMaxNameLength) continue;  // looked up as unknown: forwarded, pinned
    longest_ = std::max(longest_, std::strlen(name));
    CommandEntry e;
    e.info = info;
    e.family = familyOf(*info);
    e.kind =
        info != nullptr && info->has(kFlag_blocking) ? CommandKind::kBlocking : CommandKind::kPlain;
    entries_[name] = e;
  }
  auto set = [&](const char* name, CommandKind kind, ChannelKind channel = ChannelKind::kChannel) {
    CommandEntry& e = entries_[name];
    e.kind = kind;
    e.channel_kind = channel;
  };
  set("xread", CommandKind::kXread);
  set("xreadgroup", CommandKind::kXread);
  set("wait", CommandKind::kBlocking);
  set("waitaof", CommandKind::kBlocking);
  set("hello", CommandKind::kHello);
  set("auth", CommandKind::kAuth);
  set("select", CommandKind::kSelect);
  set("reset", CommandKind::kReset);
  set("quit", CommandKind::kQuit);
  set("multi", CommandKind::kMulti);
  set("exec", CommandKind::kExec);
  set("discard", CommandKind::kDiscard);
  set("subscribe", CommandKind::kSubscribe, ChannelKind::kChannel);
  set("psubscribe", CommandKind::kSubscribe, ChannelKind::kPattern);
  set("ssubscribe", CommandKind::kSubscribe, ChannelKind::kShard);
  set("unsubscribe", CommandKind::kUnsubscribe, ChannelKind::kChannel);
  set("punsubscribe", CommandKind::kUnsubscribe, ChannelKind::kPattern);
  set("sunsubscribe", CommandKind::kUnsubscribe, ChannelKind::kShard);
  set("monitor", CommandKind::kMonitor);
  set("client", CommandKind::kClient);
  set("flushall", CommandKind::kFlush);
  set("flushdb", CommandKind::kFlush);
  for (std::string_view name : {"config", "replicaof", "slaveof", "failover"}) {
    entry(name).changes_status = true;
  }

  // Plain, stateless commands can share a connection; everything else pins.
  for (auto& [name, e] : entries_) {
    e.pins = (e.kind != CommandKind::kPlain && e.kind != CommandKind::kXread &&
              e.kind != CommandKind::kFlush) ||
             connectionEffect(name) != ConnectionEffect::kNone;
  }
}

CommandEntry& CommandIndex::entry(std::string_view lower_name) {
  TFPROXY_CHECK(lower_name.size() <= kMaxNameLength);
  longest_ = std::max(longest_, lower_name.size());
  return entries_[std::string(lower_name)];
}

void CommandIndex::shareClusterCommands() {
  for (std::string_view name : {"readonly", "readwrite", "asking"}) entry(name).pins = false;
}

void CommandIndex::interceptWhen(std::string_view lower_name, Predicate predicate) {
  CommandEntry& e = entry(lower_name);
  e.kind = CommandKind::kConditional;
  e.pins = false;
  condition_ = std::move(predicate);
}

void CommandIndex::intercept(std::string_view lower_name, int arity) {
  CommandEntry& e = entry(lower_name);
  e.kind = CommandKind::kIntercepted;
  e.arity = arity;
  e.pins = false;  // run by the proxy, with the client's identity
}

const CommandEntry& CommandIndex::lookup(std::string_view name) const {
  if (name.size() > longest_) return unknown_;
  char lower[kMaxNameLength];
  for (size_t i = 0; i < name.size(); ++i) {
    char c = name[i];
    lower[i] = (c >= 'A' && c <= 'Z') ? static_cast<char>(c + 32) : c;
  }
  auto it = entries_.find(std::string_view(lower, name.size()));
  return it == entries_.end() ? unknown_ : it->second;
}

}  // namespace tfproxy::backend
