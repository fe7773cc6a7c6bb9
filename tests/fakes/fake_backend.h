// In-process stand-ins at the seams of the functions domain (tests only): a backend that keeps
// strings in memory and answers the commands the functions tests send, the connections that
// reach it, and the scripting host around them. They replace redis-server, never V8.
#pragma once

#include <map>
#include <mutex>
#include <set>
#include <string>
#include <vector>

#include "backend/script_connection.h"
#include "scripting/engine.h"

namespace tfproxy::fakes {

// The data and ACL rules of a Redis, in memory: GET, SET, DEL, INCR, PING, SELECT (per run),
// MULTI/EXEC, CONFIG GET, ACL DRYRUN/GETUSER. Anything else is an unknown command.
class FakeRedis {
 public:
  // `user` may not run the commands named (upper case), as ACL DRYRUN reports it.
  void deny(const std::string& user, const std::string& command);
  std::vector<resp::Value> run(int64_t db, const std::vector<std::vector<std::string_view>>& cmds,
                               const backend::Identity& who);
  std::string get(int64_t db, const std::string& key);
  // Every command run so far, as "db user NAME arg...", for tests that check what was sent.
  std::vector<std::string> log();

 private:
  resp::Value one(int64_t* db, const std::vector<std::string_view>& cmd);
  std::mutex mutex_;
  std::map<std::pair<int64_t, std::string>, std::string> data_;
  std::map<std::string, std::set<std::string>> denied_;
  std::vector<std::string> log_;
};

class FakeConnections final : public backend::ScriptConnections {
 public:
  explicit FakeConnections(FakeRedis& redis) : redis_(redis) {}
  Lease acquire(const backend::Identity& identity, Failure* failure, std::string* error) override;
  void forgetUser(const std::string&) override {}
  // Connections lent and not yet given back.
  int outstanding() const { return outstanding_; }
  // While set, acquire() fails as an unreachable backend does.
  void setUnreachable(bool down) { down_ = down; }

 private:
  void giveBack(std::unique_ptr<backend::ScriptConnection> conn) override;
  FakeRedis& redis_;
  std::atomic<int> outstanding_{0};
  std::atomic<bool> down_{false};
};

// The host: a mutex as the atomic gate, the fake connections, a writable primary.
class FakeHost final : public scripting::Host {
 public:
  explicit FakeHost(backend::ScriptConnections& connections) : connections_(connections) {}
  Status enterAtomicSection() override {
    gate_.lock();
    return {};
  }
  void leaveAtomicSection() override { gate_.unlock(); }
  backend::ScriptConnections& connections() override { return connections_; }
  bool backendWritable() override { return true; }
  bool backendOutOfMemory() override { return false; }
  bool backendStateCurrent() override { return true; }
  void confirmBackendState() override {}
  void asyncCommand(const backend::Identity& identity, int64_t db, std::vector<std::string> args,
                    bool may_block, AsyncDone done) override;
  bool deniedToScripts(std::string_view lower_name) const override;
  void commandFailed(const std::string&) override {}
  void commandIssued(const std::vector<std::string>&) override {}
  void editReply(const std::vector<std::string>&, resp::Value*) const override {}
  void triggersChanged(std::vector<std::string> prefixes,
                       std::vector<scripting::StreamTriggerInfo>) override {
    std::lock_guard lock(prefixes_mutex_);
    prefixes_ = std::move(prefixes);
  }
  backend::Identity libraryIdentity(const std::string& user) override { return {user, ""}; }
  std::optional<std::string> keyspaceEventsProblem() override { return std::nullopt; }
  // The prefixes the engine announced last.
  std::vector<std::string> prefixes() {
    std::lock_guard lock(prefixes_mutex_);
    return prefixes_;
  }

 private:
  backend::ScriptConnections& connections_;
  std::mutex gate_;
  std::mutex prefixes_mutex_;
  std::vector<std::string> prefixes_;
};

}  // namespace tfproxy::fakes
