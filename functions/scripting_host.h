// What the scripting engine gets from the server: the atomic gate, connections that run as a
// client's identity, and the backend's role and memory state.
#pragma once

#include "backend/async_commands.h"
#include "backend/backend_status.h"
#include "backend/errors.h"
#include "backend/gate.h"
#include "backend/script_connection.h"
#include "functions/commands.h"
#include "functions/keyspace_triggers.h"
#include "functions/reply_edits.h"
#include "scripting/engine.h"

namespace tfproxy::backend {
class ClusterTopology;
}

namespace tfproxy::functions {

class ScriptingHost : public scripting::Host {
 public:
  ScriptingHost(backend::Gate& gate, backend::ScriptConnections& connections,
                backend::BackendStatus& status, backend::AsyncCommands& async_commands,
                KeyspaceTriggers& triggers, const ReplyEdits& edits,
                backend::Identity proxy_identity)
      : gate_(gate),
        connections_(connections),
        status_(status),
        async_(async_commands),
        triggers_(triggers),
        edits_(edits),
        proxy_identity_(std::move(proxy_identity)) {}

  // scripting::Host
  // A section's own commands fire no key space trigger (spec §6.13).
  Status enterAtomicSection() override {
    if (!gate_.lockExclusive(/*may_fail=*/true))
      return Status::failure(backend::errors::kOutOfStep);
    quiet_ = triggers_.active();
    if (quiet_) triggers_.beginQuiet();
    return {};
  }
  // Without waiting: a section with triggers loaded publishes its markers first (a round trip),
  // so it is never entered this way.
  TryEnter tryEnterAtomicSection() override {
    if (triggers_.active()) return TryEnter::kBusy;
    switch (gate_.tryLockExclusive()) {
      case backend::Gate::TryResult::kEntered:
        quiet_ = false;
        return TryEnter::kEntered;
      case backend::Gate::TryResult::kCoordinator:
        return TryEnter::kEnterFirst;
      case backend::Gate::TryResult::kBusy:
        break;
    }
    return TryEnter::kBusy;
  }
  void leaveAtomicSection() override {
    if (quiet_) triggers_.endQuiet();
    quiet_ = false;
    gate_.unlockExclusive();
  }
  backend::ScriptConnections& connections() override { return connections_; }
  bool backendWritable() override { return status_.writablePrimary(); }
  bool backendOutOfMemory() override { return status_.outOfMemory(); }
  bool backendStateCurrent() override { return status_.current(); }
  void confirmBackendState() override { status_.confirm(); }
  void asyncCommand(const backend::Identity& identity, int64_t db, std::vector<std::string> args,
                    bool may_block, AsyncDone done) override {
    // Its keys' events are its own (spec §6.13), from before it is sent until it is answered.
    std::vector<std::string> keys = triggers_.beginOutside(args);
    std::string name = args[0];
    async_.run(identity, db, std::move(args), may_block,
               [this, keys = std::move(keys), name = std::move(name), done = std::move(done)](
                   std::optional<resp::Value> reply, const std::string& error) {
                 triggers_.endOutside(keys);
                 if (reply && !reply->isError()) edits_.editDecoded(name, &*reply);
                 // A reply that shows the backend changed role updates the state first, so the
                 // code it wakes up sees the new role in its next block().
                 if (reply && reply->isError() && roleChanged(reply->str)) status_.confirm();
                 done(std::move(reply), error);
               });
  }
  bool deniedToScripts(std::string_view lower_name) const override {
    return functions::deniedToScripts(lower_name);
  }
  void commandFailed(const std::string& error) override {
    if (roleChanged(error)) status_.confirm();
  }
  void commandIssued(const std::vector<std::string>& args) override { triggers_.noteCommand(args); }
  void editReply(const std::vector<std::string>& args, resp::Value* reply) const override {
    if (!args.empty()) edits_.editDecoded(args[0], reply);
  }
  void triggersChanged(std::vector<std::string> prefixes,
                       std::vector<scripting::StreamTriggerInfo> streams) override {
    triggers_.setTriggers(std::move(prefixes), std::move(streams));
  }
  // tfproxy knows no library user's password: triggers run as tfproxy's own backend user.
  backend::Identity libraryIdentity(const std::string&) override { return proxy_identity_; }
  std::optional<std::string> keyspaceEventsProblem() override { return triggers_.problem(); }
  // In front of a Redis Cluster (design §9) the shards are its primaries; otherwise one.
  void setCluster(backend::ClusterTopology* cluster) { cluster_ = cluster; }
  std::vector<std::string> shards() override;
  std::string shardOf(std::string_view key) override;
  std::optional<std::string> outsideShard(const std::string& shard,
                                          const std::vector<std::string>& args) override;

 private:
  // A reply that shows the role or memory state changed (spec §11.5).
  static bool roleChanged(const std::string& error) {
    return error.rfind("READONLY", 0) == 0 || error.rfind("OOM", 0) == 0 ||
           (error.rfind("UNBLOCKED", 0) == 0 &&
            error.find("instance state changed") != std::string::npos);
  }
  backend::Gate& gate_;
  backend::ScriptConnections& connections_;
  backend::BackendStatus& status_;
  backend::AsyncCommands& async_;
  KeyspaceTriggers& triggers_;
  const ReplyEdits& edits_;
  backend::Identity proxy_identity_;
  backend::ClusterTopology* cluster_ = nullptr;
  bool quiet_ = false;  // the section holding the gate began quiet (only its holder reads it)
};

}  // namespace tfproxy::functions
