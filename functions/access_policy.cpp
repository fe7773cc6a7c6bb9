#include "functions/access_policy.h"

#include "backend/errors.h"

#include <spdlog/spdlog.h>

#include "scripting/errors.h"

namespace tfproxy::functions {
namespace {

// How long ACL answers are trusted: ACL changes take effect within this time.
constexpr std::chrono::seconds kAccessCacheTime{1};
// Answers about keys only a selector grants, cached per user and keys; the cache starts over
// when it holds this many.
constexpr size_t kMaxSelectorAnswers = 10000;

// Cached per user and intercepted command: the denial text names the command.
std::string permissionKey(const std::string& user, const std::string& command) {
  return user + '\0' + command;
}

// A user and a list of keys, unambiguously (keys may hold any bytes).
std::string selectorKey(const std::string& user, const std::vector<std::string_view>& keys) {
  std::string out = user;
  for (std::string_view k : keys) {
    out += '\0' + std::to_string(k.size()) + ':';
    out.append(k);
  }
  return out;
}

std::string commandDenied(const std::string& user, const std::string& command) {
  return scripting::errors::noPermissions(user, "to run the '" + command + "' command");
}

// Is the cached answer under `key` still to be trusted?
template <typename Map>
bool fresh(const Map& cache, const std::string& key, std::chrono::steady_clock::time_point now) {
  auto it = cache.find(key);
  return it != cache.end() && it->second.until > now;
}

}  // namespace

AccessPolicy::AccessPolicy(backend::ScriptConnections& connections,
                           backend::Identity proxy_identity, const AclRules* rules)
    : connections_(connections), proxy_identity_(std::move(proxy_identity)), rules_(rules) {}

void AccessPolicy::forget() {
  std::lock_guard lock(mutex_);
  permissions_.clear();
  key_access_.clear();
  selector_answers_.clear();
}

AccessPolicy::Verdict AccessPolicy::cached(const std::string& user, const std::string& command,
                                           const std::vector<std::string>& equivalent,
                                           const std::vector<std::string_view>& keys) {
  std::lock_guard lock(mutex_);
  return cachedLocked(user, command, equivalent, keys);
}

AccessPolicy::Verdict AccessPolicy::cachedLocked(const std::string& user,
                                                 const std::string& command,
                                                 const std::vector<std::string>& equivalent,
                                                 const std::vector<std::string_view>& keys) {
  const auto now = std::chrono::steady_clock::now();
  const std::optional<bool> ruled =
      rules_ != nullptr ? rules_->allows(user, command) : std::nullopt;
  if (ruled && !*ruled) return {true, Status::failure(commandDenied(user, command))};
  if (!ruled) {
    auto permission = permissions_.find(permissionKey(user, command));
    if (permission == permissions_.end() || permission->second.until <= now) return {};
    if (!permission->second.access.ok()) return {true, permission->second.access};
  }
  if (keys.empty()) return {true, Status()};
  auto rules = key_access_.find(user);
  if (rules == key_access_.end() || rules->second.until <= now) return {};
  switch (rules->second.access.readWrite(keys)) {
    case KeyAccess::Verdict::kAllowed:
      return {true, Status()};
    case KeyAccess::Verdict::kDenied:
      return {true, Status::failure(scripting::errors::kKeyDenied)};
    case KeyAccess::Verdict::kAskRedis:
      break;
  }
  auto answer = selector_answers_.find(selectorKey(user, keys));
  if (answer == selector_answers_.end() || answer->second.until <= now) return {};
  return {true, answer->second.access};
}

Status AccessPolicy::permitted(const std::string& user, const std::string& command,
                               const std::vector<std::string>& equivalent) {
  if (auto ruled = rules_ != nullptr ? rules_->allows(user, command) : std::nullopt) {
    return *ruled ? Status() : Status::failure(commandDenied(user, command));
  }
  {
    std::lock_guard lock(mutex_);
    auto it = permissions_.find(permissionKey(user, command));
    if (it != permissions_.end() && it->second.until > std::chrono::steady_clock::now()) {
      return it->second.access;
    }
  }
  return permission(user, equivalent, command);
}

Status AccessPolicy::check(const std::string& user, const std::string& command,
                           const std::vector<std::string>& equivalent,
                           const std::vector<std::string_view>& keys) {
  bool permission_known = false;
  bool rules_known = keys.empty();
  {
    std::lock_guard lock(mutex_);
    Verdict cached = cachedLocked(user, command, equivalent, keys);
    if (cached.known) return cached.access;
    const auto now = std::chrono::steady_clock::now();
    permission_known = (rules_ != nullptr && rules_->allows(user, command)) ||
                       fresh(permissions_, permissionKey(user, command), now);
    rules_known = rules_known || fresh(key_access_, user, now);
  }
  if (!permission_known) {
    if (Status allowed = permission(user, equivalent, command); !allowed.ok()) return allowed;
  }
  if (keys.empty()) return {};
  if (!rules_known) fetchKeyAccess(user);
  {
    std::lock_guard lock(mutex_);
    Verdict cached = cachedLocked(user, command, equivalent, keys);
    if (cached.known) return cached.access;
  }
  // A selector may grant what the root patterns deny: only Redis can tell.
  std::vector<std::string_view> dryrun = {"ACL", "DRYRUN", user, "FCALL", "f"};
  const std::string numkeys = std::to_string(keys.size());
  dryrun.push_back(numkeys);
  dryrun.insert(dryrun.end(), keys.begin(), keys.end());
  std::optional<resp::Value> reply = askBackend(dryrun);
  Status access;
  if (reply && reply->type == resp::Type::kBulkString) {
    access = Status::failure(scripting::errors::kKeyDenied);
  }
  std::lock_guard lock(mutex_);
  if (selector_answers_.size() >= kMaxSelectorAnswers) selector_answers_.clear();
  selector_answers_[selectorKey(user, keys)] = {
      access, std::chrono::steady_clock::now() + kAccessCacheTime};
  return access;
}

std::optional<resp::Value> AccessPolicy::askBackend(std::span<const std::string_view> command) {
  backend::ScriptConnections::Failure failure;
  std::string error;
  auto lease = connections_.acquire(proxy_identity_, &failure, &error);
  if (!lease) return std::nullopt;
  return lease->run(0, command);
}

void AccessPolicy::fetchKeyAccess(const std::string& user) {
  const std::vector<std::string_view> command = {"ACL", "GETUSER", user};
  std::optional<resp::Value> reply = askBackend(command);
  if (!reply) return;  // unreachable: the function's own commands will fail
  KeyAccess access;
  if (!reply->isError()) {
    access = KeyAccess::fromGetUser(*reply);
  } else {
    // The proxy's own user may not read ACL users (managed services): declared keys are not
    // checked; every command a function runs still is, by Redis.
    access = KeyAccess::unrestricted();
    std::call_once(getuser_warning_, [&] {
      spdlog::warn(
          "ACL GETUSER is not available to the proxy's backend user ({}); TFCALL's declared "
          "keys are not checked up front",
          reply->str);
    });
  }
  std::lock_guard lock(mutex_);
  key_access_[user] = {std::move(access), std::chrono::steady_clock::now() + kAccessCacheTime};
}

Status AccessPolicy::permission(const std::string& user, const std::vector<std::string>& equivalent,
                                const std::string& shown_name) {
  const std::string key = permissionKey(user, shown_name);
  Status access;
  std::vector<std::string_view> command = {"ACL", "DRYRUN", user};
  for (const std::string& part : equivalent) command.push_back(part);
  std::optional<resp::Value> reply = askBackend(command);
  if (reply && reply->type == resp::Type::kBulkString) {
    access = Status::failure(commandDenied(user, shown_name));
  } else if (reply && reply->isError() && reply->str.find("not found") != std::string::npos) {
    access = Status::failure(backend::errors::kUserGone);
  } else if (!reply || reply->isError()) {
    // The proxy's own user may not run ACL DRYRUN (managed services): allow, and say so once.
    std::call_once(dryrun_warning_, [&] {
      spdlog::warn(
          "ACL DRYRUN is not available to the proxy's backend user ({}); Triggers and "
          "Functions commands are allowed for every authenticated client. To check them per "
          "user (ACL rules naming TFCALL, TFUNCTION), allow 'acl|dryrun' to the user of "
          "--backend-user, or name the rules in --aclfile",
          reply ? reply->str : std::string("no connection"));
    });
  }
  std::lock_guard lock(mutex_);
  permissions_[key] = {access, std::chrono::steady_clock::now() + kAccessCacheTime};
  return access;
}

}  // namespace tfproxy::functions
