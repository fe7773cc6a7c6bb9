// Who may run the proxy's own commands (spec §11.4; README "Who runs a command"): a user's ACL
// rules that name the command decide (acl_rules.h); without one, the user must be allowed to run
// the Redis Functions command that corresponds to the intercepted one (asked of the backend with
// ACL DRYRUN). And, for TFCALL, to read and write its declared keys (the user's
// key patterns from ACL GETUSER; ACL DRYRUN for keys only a selector grants). Answers are
// cached for a second and forgotten at once after an ACL change seen through the proxy.
#pragma once

#include <chrono>
#include <mutex>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "backend/script_connection.h"
#include "base/status.h"
#include "functions/acl_rules.h"
#include "functions/key_access.h"
#include "resp/value.h"

namespace tfproxy::functions {

class AccessPolicy {
 public:
  // Asks the backend as `proxy_identity` over `connections`.
  // `rules` (may be null): the ACL rules that name tfproxy's commands.
  AccessPolicy(backend::ScriptConnections& connections, backend::Identity proxy_identity,
               const AclRules* rules = nullptr);

  struct Verdict {
    bool known = false;  // false: the caches cannot tell, call check()
    Status access;       // a denial fails with the error reply
  };
  // `command`: the intercepted command's name ("tfcall", "tfunction|load"); `equivalent`: the
  // Redis command whose right stands for it ("FCALL f 0"); `keys`: TFCALL's declared keys.
  // From the caches only; never blocks.
  Verdict cached(const std::string& user, const std::string& command,
                 const std::vector<std::string>& equivalent,
                 const std::vector<std::string_view>& keys);
  // Fills the caches from the backend as needed; blocks. A denial fails with the error reply.
  Status check(const std::string& user, const std::string& command,
               const std::vector<std::string>& equivalent,
               const std::vector<std::string_view>& keys);
  // The command alone, keys aside (ACL DRYRUN); blocks when the backend is asked.
  Status permitted(const std::string& user, const std::string& command,
                   const std::vector<std::string>& equivalent);
  // An ACL change went through the proxy: cached answers are forgotten at once.
  void forget();

 private:
  Verdict cachedLocked(const std::string& user, const std::string& command,
                       const std::vector<std::string>& equivalent,
                       const std::vector<std::string_view>& keys);
  Status permission(const std::string& user, const std::vector<std::string>& equivalent,
                    const std::string& shown_name);
  void fetchKeyAccess(const std::string& user);
  // Runs one command as the proxy's own user; nullopt when the backend is unreachable.
  std::optional<resp::Value> askBackend(std::span<const std::string_view> command);

  struct CachedPermission {
    Status access;
    std::chrono::steady_clock::time_point until;
  };
  struct CachedKeyAccess {
    KeyAccess access;
    std::chrono::steady_clock::time_point until;
  };

  backend::ScriptConnections& connections_;
  const backend::Identity proxy_identity_;
  const AclRules* rules_;
  std::mutex mutex_;
  std::unordered_map<std::string, CachedPermission> permissions_;       // by user and command
  std::unordered_map<std::string, CachedKeyAccess> key_access_;         // by user
  std::unordered_map<std::string, CachedPermission> selector_answers_;  // by user and keys
  std::once_flag dryrun_warning_;
  std::once_flag getuser_warning_;
};

}  // namespace tfproxy::functions
