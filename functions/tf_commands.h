// Runs the commands tfproxy owns (spec §3): TFUNCTION, TFCALL, TFCALLASYNC, TCONFIG_GET/SET,
// the _rg_internals.* carriers, CONFIG GET/SET when they touch redisgears_2.* settings, and
// EXEC of a transaction that contains any of them. Their facts are the rows of commands.cpp;
// the handlers are one file per family: tfunction.cpp, tfcall.cpp, config_commands.cpp,
// transaction.cpp. Arguments are parsed there, with upstream's texts, and the work goes to the
// scripting engine.
#pragma once

#include <chrono>
#include <condition_variable>
#include <deque>
#include <functional>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <unordered_map>
#include <vector>

#include "backend/backend_status.h"
#include "backend/script_connection.h"
#include "config/gears.h"
#include "functions/access_policy.h"
#include "functions/commands.h"
#include "functions/intercept.h"
#include "scripting/engine.h"

namespace tfproxy::functions {

class LibraryStore;

class TfCommands : public InterceptHandler {
 public:
  struct Services {
    scripting::Engine* engine = nullptr;
    config::GearsConfig* config = nullptr;
    LibraryStore* store = nullptr;                      // null: nothing is stored
    backend::ScriptConnections* connections = nullptr;  // forwards the rest of CONFIG
    // The permission checks' connections: their calls have a short bound, so that a frozen
    // backend cannot hold commands tfproxy answers itself for long.
    backend::ScriptConnections* checks = nullptr;
    backend::BackendStatus* status = nullptr;  // is authentication required?
    backend::Identity proxy_identity;          // runs ACL DRYRUN for the permission checks
    scripting::Host* host = nullptr;           // the atomic gate, for transactions
    AclRules* acl = nullptr;                   // rules naming tfproxy's commands
    std::string acl_file;                      // applied by ACL LOAD; empty: Redis' own
    bool cluster = false;                      // the backend is a Redis Cluster
  };
  explicit TfCommands(Services services);
  ~TfCommands() override;

  // InterceptHandler
  void run(const std::vector<std::string>& argv, const ClientContext& client,
           std::function<void(std::string reply)> done) override;

  // Applies the ACL file's users as `identity` (start-up); blocks. Fails with the reason.
  Status loadAclFile(const backend::Identity& identity);

  // Runs `argv` as run() does for a client that has not authenticated on a connection yet (the
  // admin page): `client.user` and `client.password` are first checked against the backend
  // (one HELLO AUTH), off the caller's thread; wrong credentials answer the backend's WRONGPASS
  // error. Then Redis' rights of that user decide, as for a client.
  void runAs(std::vector<std::string> argv, ClientContext client,
             std::function<void(std::string reply)> done);

  // A library loaded or deleted and stored in the backend, with no permission check: what
  // TFUNCTION LOAD and DELETE do once they are allowed, and what the operator's --library-dir
  // does. `done` gets the outcome (its message the error a client would get), on any thread.
  void loadLibrary(scripting::LoadRequest request, std::function<void(Status)> done);
  void deleteLibrary(std::string name, std::function<void(Status)> done);

 private:
  using Done = std::function<void(std::string)>;
  using Args = std::vector<std::string>;
  // The table (commands.cpp) names the handlers below.
  static const CommandSpec kSpecs[];
  friend std::span<const CommandSpec> commandSpecs();

  // tfunction.cpp
  void unknownSubcommand(const Args& argv, const ClientContext& client, Done done);
  void load(const Args& argv, const ClientContext& client, Done done);
  void remove(const Args& argv, const ClientContext& client, Done done);
  void list(const Args& argv, const ClientContext& client, Done done);
  void debug(const Args& argv, const ClientContext& client, Done done);
  void slowlog(const Args& argv, const ClientContext& client, Done done);
  // tfcall.cpp
  void tfcall(const Args& argv, const ClientContext& client, Done done);
  void internal(const Args& argv, const ClientContext& client, Done done);
  // config_commands.cpp
  void tconfigGet(const Args& argv, const ClientContext& client, Done done);
  void tconfigSet(const Args& argv, const ClientContext& client, Done done);
  void configGetCommand(const Args& argv, const ClientContext& client, Done done);
  void configSetCommand(const Args& argv, const ClientContext& client, Done done);
  void configGet(const std::vector<std::string>& patterns, bool forward,
                 const ClientContext& client, Done done);
  void configSet(const std::vector<std::pair<std::string, std::string>>& pairs,
                 const ClientContext& client, Done done);
  // ACL, where rules name tfproxy's commands (acl_commands.cpp, acl_rules.h).
  void aclSetuser(const Args& argv, const ClientContext& client, Done done);
  void aclGetuser(const Args& argv, const ClientContext& client, Done done);
  void aclList(const Args& argv, const ClientContext& client, Done done);
  void aclDeluser(const Args& argv, const ClientContext& client, Done done);
  void aclDryrun(const Args& argv, const ClientContext& client, Done done);
  void aclLoad(const Args& argv, const ClientContext& client, Done done);
  // Runs `argv` on the backend as the client; `after` edits a successful reply (or acts on it)
  // before the client gets it.
  void forwardAsClient(const Args& argv, const ClientContext& client, Done done,
                       std::function<void(resp::Value*)> after);
  // Each `user` line of the ACL file, as ACL SETUSER <name> reset <rules> run as `client`.
  Status applyAclFile(const ClientContext& client);
  // ACL SETUSER's work once the rules are split: Redis' part as `client`, then ours.
  Status setUser(const std::string& user, const AclRules::Split& split, const ClientContext& client,
                 std::optional<resp::Value>* reply);

  // Runs backend round trips (the forwarded part of CONFIG) off the I/O threads; on the helper
  // thread itself (inside a transaction) at once.
  void runBlocking(std::function<void()> task);
  // transaction.cpp: EXEC of a proxy-run transaction (spec §11.11), on the helper thread.
  void execTransaction(const ClientContext& client, Done done);
  // Runs one intercepted command and waits for its reply (helper thread only).
  std::string runAndWait(const Args& argv, const ClientContext& client);

  AccessPolicy access_;
  Services services_;
  std::mutex mutex_;
  std::condition_variable cv_;
  std::deque<std::function<void()>> tasks_;
  bool stopping_ = false;
  std::thread thread_;
};

}  // namespace tfproxy::functions
