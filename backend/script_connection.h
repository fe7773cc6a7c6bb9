// Connections that run commands issued from JavaScript (design §3): blocking, on
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
#include "io/stream.h"
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

// `HELLO 3` on `conn`, authenticated as `identity` when it must be, with `client_name` (SETNAME)
// when given: the reply, or nullopt when the connection failed (conn.error() says why).
std::optional<resp::Value> helloAs(SyncConnection& conn, const Identity& identity,
                                   std::string_view client_name = {});

// A connection lent to run commands as one identity. Abstract: the pool's connections speak to
// the backend; tests lend in-memory ones (tests/fakes/).
class ScriptConnection {
 public:
  virtual ~ScriptConnection() = default;
  // Runs the commands in `db` as one pipeline and returns their replies in order (Redis errors
  // as error values). nullopt when the connection broke: see error(). A SELECT among the
  // commands lasts until the end of this run only: the next run selects its own `db` again.
  virtual std::optional<std::vector<resp::Value>> run(
      int64_t db, std::span<const std::vector<std::string_view>> commands) = 0;
  std::optional<resp::Value> run(int64_t db, std::span<const std::string_view> command);
  virtual const std::string& error() const = 0;
  // Replies due within `spin` are waited for without sleeping (a thread that others wait for:
  // an I/O thread running a function); 0 sleeps at once.
  virtual void setReplySpin(std::chrono::microseconds spin) {}
};

// Where connections that run commands as a given identity come from: the seam between the
// functions domain and the backend.
class ScriptConnections {
 public:
  enum class Failure { kNone, kUnreachable, kAuthentication };

  // A borrowed connection; it goes back to its source when the lease ends.
  class Lease {
   public:
    Lease() = default;
    Lease(ScriptConnections* source, std::unique_ptr<ScriptConnection> conn)
        : source_(source), conn_(std::move(conn)) {}
    Lease(Lease&&) = default;
    Lease& operator=(Lease&& other) {
      reset();
      source_ = other.source_;
      conn_ = std::move(other.conn_);
      return *this;
    }
    ~Lease() { reset(); }
    ScriptConnection* operator->() { return conn_.get(); }
    explicit operator bool() const { return conn_ != nullptr; }
    void reset();

   private:
    ScriptConnections* source_ = nullptr;
    std::unique_ptr<ScriptConnection> conn_;
  };

  virtual ~ScriptConnections() = default;
  // Borrows a connection for `identity`. On failure the lease is empty and `failure`/`error`
  // say why.
  virtual Lease acquire(const Identity& identity, Failure* failure, std::string* error) = 0;
  // Drops idle connections of a user (after ACL changes).
  virtual void forgetUser(const std::string& user) = 0;

 protected:
  // A lease ended: the connection may be kept for the next one.
  virtual void giveBack(std::unique_ptr<ScriptConnection> conn) = 0;
};

// A connection kept by one thread across calls (the trigger lease's renewals, the stream
// triggers' reads): borrowed when first needed, and when the backend closed it meanwhile (a
// restart, a timeout) replaced once and the command sent again -- for commands that may run
// twice.
class KeptConnection {
 public:
  KeptConnection(ScriptConnections* source, Identity identity)
      : source_(source), identity_(std::move(identity)) {}
  // The reply, or nullopt when no connection could be had or it broke twice (error() says why).
  std::optional<resp::Value> run(int64_t db, std::span<const std::string_view> command);
  const std::string& error() const { return error_; }
  bool held() const { return static_cast<bool>(lease_); }
  void reset() { lease_.reset(); }

 private:
  ScriptConnections* source_;
  Identity identity_;
  ScriptConnections::Lease lease_;
  std::string error_;
};

class PooledConnection;

// The backend's connections (design §3, script connections), pooled by identity. Idle connections
// are bounded as in every pool (IdleList); one the backend closed (its user deleted, `timeout`,
// CLIENT KILL) is closed within a second by a sweep that probes them.
class ScriptConnectionPool final : public ScriptConnections {
 public:
  ScriptConnectionPool(io::Target target, std::chrono::milliseconds connect_timeout,
                       std::chrono::milliseconds command_timeout);
  ~ScriptConnectionPool() override;

  // Reuses an idle connection of `identity` that is alive, or connects and authenticates a new
  // one.
  Lease acquire(const Identity& identity, Failure* failure, std::string* error) override;
  void forgetUser(const std::string& user) override;
  // Closes expired idle connections and those the backend closed (the sweep, every second).
  void sweep();

 private:
  void giveBack(std::unique_ptr<ScriptConnection> conn) override;

  io::Target target_;
  std::chrono::milliseconds connect_timeout_;
  std::chrono::milliseconds command_timeout_;
  std::mutex mutex_;
  IdleList<PooledConnection> idle_;
  std::condition_variable_any stop_;
  std::jthread sweeper_;  // last: stopped first
};

}  // namespace tfproxy::backend
