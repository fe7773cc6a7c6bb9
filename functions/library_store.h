// Libraries kept in the backend (design §6): a hash under a reserved key (default
// `tfproxy:libraries`), one field per library holding its code, user and configuration, and
// the field `#generation`, incremented after every change. A restarted proxy -- or a sidecar
// whose disk is gone -- loads them from there.
//
// Several proxies in front of one Redis share the hash: each checks the generation every two
// seconds (one HGET) and, when it moved, loads, replaces and deletes libraries until it serves what
// is stored.
//
// FLUSHALL/FLUSHDB would remove the key: after a flush seen through the proxy, and whenever a
// periodic check finds the key missing (a flush sent to the backend directly, eviction), the
// store writes every loaded library again.
#pragma once

#include <atomic>
#include <condition_variable>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "config/options.h"
#include "functions/acl_rules.h"
#include "io/stream.h"
#include "scripting/engine.h"

namespace tfproxy::backend {
class SyncConnection;
}

namespace tfproxy::functions {

class LibraryStore {
 public:
  // `acl` (may be null): the ACL rules naming tfproxy's commands, kept in the same hash, one
  // field `#acl:<user>` each. The store fills it from the backend whenever it reads the
  // libraries, and writes it again with them after a flush.
  LibraryStore(io::Target target, std::string user, std::string password, std::string key,
               AclRules* acl = nullptr);
  ~LibraryStore();

  // Every stored library; nullopt (with `error`) if the backend could not be read.
  std::optional<std::vector<scripting::LibraryDefinition>> loadAll(std::string* error);
  // Stores or removes one library.
  Status put(const scripting::LibraryDefinition& definition);
  Status erase(const std::string& name);
  // Stores one user's ACL rules (their stored form), or removes users' rules.
  Status putAcl(const std::string& user, const std::string& rules);
  Status eraseAcl(const std::vector<std::string>& users);

  using Definitions = std::vector<scripting::LibraryDefinition>;
  // Every second (and at once after notifyFlush()): writes `current()` -- the loaded libraries
  // -- again if the key is gone, and calls `adopt` with the stored libraries when another proxy
  // changed them. `adopt` must stop when `stale()` turns true (a change of this proxy's own
  // began or ended meanwhile): the next round adopts again.
  using Stale = std::function<bool()>;
  void startGuard(std::function<Definitions()> current,
                  std::function<void(const Definitions&, const Stale& stale)> adopt);
  void notifyFlush();
  void stop();

  // A load or delete of this proxy is between storing and taking effect: the guard must not
  // mistake it for another proxy's change meanwhile.
  void beginChange() { changes_in_flight_.fetch_add(1); }
  void endChange() {
    changes_done_.fetch_add(1);
    changes_in_flight_.fetch_sub(1);
  }

 private:
  // Runs `command` on the store's connection (reconnecting if needed). Caller holds mutex_.
  // `not_null`: whether the reply was not nil.
  Status run(const std::vector<std::string>& command, std::string* reply_text = nullptr,
             int64_t* integer = nullptr, bool* not_null = nullptr);
  void guard();
  void check();
  // Bumps the generation after a change (caller holds mutex_).
  void bump();
  // Reads the generation, then the libraries (caller holds mutex_).
  std::optional<Definitions> readAll(std::string* generation, std::string* error);

  io::Target target_;
  std::string user_;
  std::string password_;
  std::string key_;
  AclRules* acl_;
  std::mutex mutex_;  // the connection
  std::unique_ptr<backend::SyncConnection> conn_;

  std::function<Definitions()> current_;
  std::function<void(const Definitions&, const Stale&)> adopt_;
  std::string seen_generation_;  // guarded by mutex_
  bool adopt_again_ = false;     // the last adoption was cut short (guarded by mutex_)
  std::atomic<int> changes_in_flight_{0};
  std::atomic<uint64_t> changes_done_{0};
  std::mutex guard_mutex_;
  std::condition_variable guard_cv_;
  bool flushed_ = false;
  bool stopping_ = false;
  std::thread guard_thread_;
};

}  // namespace tfproxy::functions
