// Which keys an ACL user may read and write, from the backend's `ACL GETUSER` reply: what the
// proxy needs to check TFCALL's declared keys up front (spec §6.7, 11.4) without a round trip
// per call. Only the user's root key patterns are evaluated here; a user with selectors may be
// granted a key by one of them, which only Redis can decide (`ACL DRYRUN`).
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "resp/value.h"

namespace tfproxy::functions {

class KeyAccess {
 public:
  enum class Verdict { kAllowed, kDenied, kAskRedis };

  // Everything allowed: for when the backend does not let the proxy read ACL users.
  static KeyAccess unrestricted();
  // From an `ACL GETUSER` reply (RESP2 or RESP3). A nil reply (no such user) denies every key.
  static KeyAccess fromGetUser(const resp::Value& reply);

  // May the user read and write every one of `keys`? kAskRedis when the root patterns deny one
  // but a selector might grant it.
  template <typename Keys>
  Verdict readWrite(const Keys& keys) const {
    if (all_) return Verdict::kAllowed;
    for (const auto& key : keys) {
      if (!rootAllowsReadWrite(key)) return selectors_ ? Verdict::kAskRedis : Verdict::kDenied;
    }
    return Verdict::kAllowed;
  }

 private:
  struct Pattern {
    bool read = false;
    bool write = false;
    std::string glob;
  };
  bool rootAllowsReadWrite(std::string_view key) const;

  bool all_ = false;
  bool selectors_ = false;
  std::vector<Pattern> patterns_;
};

}  // namespace tfproxy::functions
