// Connections that run commands issued from JavaScript (DESIGN.md section 3): blocking, on
// script threads, speaking RESP3, each authenticated as the identity the commands run as, so
// that Redis itself enforces that user's ACL on every command at no extra round trip. Pooled by
// identity. Asio-free: the scripting module uses this header only.
#pragma once

#include <chrono>
#include <condition_variable>
#include <memory>
#include <mutex>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "backend/idle_list.h"
#include "config/options.h"
#include "resp/value.h"

namespace tfproxy::backend {

class SyncConnection;

// Who commands run as: the ACL user and the password the client authenticated with (kept in
// memory only, never logged). The default user without a password does not authenticate.
struct Identity {
  std::string user = "default";
  std::string password;
  bool authenticates() const { return !(user == "default" && password.empty()); }
};

class ScriptConnection {
 public:
  ~ScriptConnection();
  // Runs the commands in `db` as one pipeline and returns their replies in order (Redis errors
  // as error values). nullopt when the connection broke: see error(). A SELECT among the
  // commands lasts until the end of this run only: the next run selects its own `db` again.
  std::optional<std::vector<resp::Value>> run(
      int64_t db, std::span<const std::vector<std::string_view>> commands);
  std::optional<resp::Value> run(int64_t db, std::span<const std::string_view> command);
  const std::string& error() const { return error_; }
  bool broken() const;

 private:
  friend class ScriptConnectionPool;
  ScriptConnection(std::unique_ptr<SyncConnection> conn, Identity identity);
  std::unique_ptr<SyncConnection> conn_;
  Identity identity_;
  static constexpr int64_t kUnknownDb = -1;
  int64_t db_ = 0;
  // The commands changed connection state the pool cannot restore (AUTH, HELLO, CLIENT ...):
  // the connection is closed instead of being reused.
  bool spoiled_ = false;
  std::string error_;
};

// Idle connections are bounded as in every pool (IdleList); one the backend closed (its user
// deleted, `timeout`, CLIENT KILL) is closed within a second by a sweep that probes them.
class ScriptConnectionPool {
 public:
  enum class Failure { kNone, kUnreachable, kAuthentication };

  ScriptConnectionPool(config::Endpoint endpoint, std::chrono::milliseconds connect_timeout,
                       std::chrono::milliseconds command_timeout);
  ~ScriptConnectionPool();

  // A borrowed connection; it goes back to the pool when the lease ends (unless broken).
  class Lease {
   public:
    Lease() = default;
    Lease(ScriptConnectionPool* pool, std::unique_ptr<ScriptConnection> conn)
        : pool_(pool), conn_(std::move(conn)) {}
    Lease(Lease&&) = default;
    Lease& operator=(Lease&& other) {
      reset();
      pool_ = other.pool_;
      conn_ = std::move(other.conn_);
      return *this;
    }
    ~Lease() { reset(); }
    ScriptConnection* operator->() { return conn_.get(); }
    explicit operator bool() const { return conn_ != nullptr; }
    void reset();

   private:
    ScriptConnectionPool* pool_ = nullptr;
    std::unique_ptr<ScriptConnection> conn_;
  };

  // Borrows a connection for `identity`, connecting and authenticating a new one if no idle
  // one is alive. On failure the lease is empty and `failure`/`error` say why.
  Lease acquire(const Identity& identity, Failure* failure, std::string* error);

  // Drops idle connections of a user (after ACL changes).
  void forgetUser(const std::string& user);
  // Closes expired idle connections and those the backend closed (the sweep, every second).
  void sweep();

 private:
  void giveBack(std::unique_ptr<ScriptConnection> conn);

  config::Endpoint endpoint_;
  std::chrono::milliseconds connect_timeout_;
  std::chrono::milliseconds command_timeout_;
  std::mutex mutex_;
  IdleList<ScriptConnection> idle_;
  std::condition_variable_any stop_;
  std::jthread sweeper_;  // last: stopped first
};

}  // namespace tfproxy::backend
