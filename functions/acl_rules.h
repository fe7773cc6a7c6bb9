// ACL rules that name tfproxy's commands (README "Who runs a command"): `+tfcall`,
// `-tfcallasync`, `+tfunction`, `-tfunction|delete` -- any case, anywhere among a user's rules
// -- as RedisGears 2 users wrote them with the module loaded. Redis does not know these
// commands, so tfproxy keeps such rules itself, per user, with the rules that include or exclude
// every command (`+@all`, `allcommands`, `-@all`, `nocommands`, `reset`), which Redis gets as
// well. Stored in the backend with the libraries (library_store.h).
//
// A user's rules are kept in order, shortened at each all-or-nothing rule (it overrides what
// came before). A command none of them names falls back to the Redis command whose right stands
// for it (access_policy.h), as for a user that has no such rules at all.
#pragma once

#include <map>
#include <mutex>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace tfproxy::functions {

class AclRules {
 public:
  // ACL SETUSER's rules split: `forwarded` goes to Redis (everything but rules naming
  // tfproxy's commands), `ours` is kept (those, and the all-or-nothing rules). `error`: Redis'
  // text for a rule that names an unknown subcommand of ours; nothing is applied then.
  struct Split {
    std::vector<std::string> forwarded;
    std::vector<std::string> ours;
    std::string error;
  };
  static Split split(std::span<const std::string> rules);

  // After Redis accepted the forwarded rules: `user`'s rules go on with `ours`.
  void apply(const std::string& user, const std::vector<std::string>& ours);
  void forget(const std::string& user);
  // Every user's rules as stored (user -> space-separated rules); replaces what is known.
  using Stored = std::map<std::string, std::string>;
  void replaceAll(const Stored& stored);
  Stored all() const;
  // A user's rules in their stored form; nullopt when the user has none.
  std::optional<std::string> stored(const std::string& user) const;

  // What the rules say of `command` ("tfcall", "tfunction|load"): true, false, or nullopt when
  // none names it.
  std::optional<bool> allows(const std::string& user, std::string_view command) const;
  // The rules naming tfproxy's commands, as ACL GETUSER and ACL LIST show them after Redis' own
  // ("+tfcall -tfunction|delete"); empty when there are none.
  std::string shown(const std::string& user) const;

 private:
  mutable std::mutex mutex_;
  std::map<std::string, std::vector<std::string>> rules_;  // lower-case rules, in order
};

}  // namespace tfproxy::functions
