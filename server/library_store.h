// Libraries kept in the backend (DESIGN.md section 6): a hash under a reserved key (default
// `tfproxy:libraries`), one field per library holding its code, user and configuration. A
// restarted proxy -- or a sidecar whose disk is gone -- loads them from there.
//
// FLUSHALL/FLUSHDB would remove the key: after a flush seen through the proxy, and whenever a
// periodic check finds the key missing (a flush sent to the backend directly, eviction), the
// store writes every loaded library again.
#pragma once

#include <condition_variable>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "config/options.h"
#include "scripting/engine.h"

namespace tfproxy::backend {
class SyncConnection;
}

namespace tfproxy::server {

class LibraryStore {
 public:
  LibraryStore(config::Endpoint endpoint, std::string user, std::string password, std::string key);
  ~LibraryStore();

  // Every stored library; nullopt (with `error`) if the backend could not be read.
  std::optional<std::vector<scripting::LibraryDefinition>> loadAll(std::string* error);
  // Stores or removes one library; an error text if that failed.
  std::optional<std::string> put(const scripting::LibraryDefinition& definition);
  std::optional<std::string> erase(const std::string& name);

  // Keeps the stored copy complete: `current` lists what should be there. Checks every second
  // and at once after notifyFlush().
  void startGuard(std::function<std::vector<scripting::LibraryDefinition>()> current);
  void notifyFlush();
  void stop();

 private:
  // Runs `command` on the store's connection (reconnecting if needed). Caller holds mutex_.
  std::optional<std::string> run(const std::vector<std::string>& command,
                                 std::string* reply_text = nullptr, int64_t* integer = nullptr);
  void guard();

  config::Endpoint endpoint_;
  std::string user_;
  std::string password_;
  std::string key_;
  std::mutex mutex_;  // the connection
  std::unique_ptr<backend::SyncConnection> conn_;

  std::function<std::vector<scripting::LibraryDefinition>()> current_;
  std::mutex guard_mutex_;
  std::condition_variable guard_cv_;
  bool flushed_ = false;
  bool stopping_ = false;
  std::thread guard_thread_;
};

}  // namespace tfproxy::server
