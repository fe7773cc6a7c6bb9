#include "backend/script_connection.h"

#include <sys/socket.h>

#include "backend/command_table.h"
#include "backend/sync_connection.h"
#include "resp/encoder.h"

namespace tfproxy::backend {

std::optional<resp::Value> helloAs(SyncConnection& conn, const Identity& identity,
                                   std::string_view client_name) {
  std::vector<std::string_view> args = {"HELLO", "3"};
  if (identity.authenticates()) args.insert(args.end(), {"AUTH", identity.user, identity.password});
  if (!client_name.empty()) args.insert(args.end(), {"SETNAME", client_name});
  return conn.call(args);
}

// A pooled connection to the backend, authenticated as one identity.
class PooledConnection final : public ScriptConnection {
 public:
  PooledConnection(std::unique_ptr<SyncConnection> conn, Identity identity)
      : conn_(std::move(conn)), identity_(std::move(identity)) {}

  std::optional<std::vector<resp::Value>> run(
      int64_t db, std::span<const std::vector<std::string_view>> commands) override;
  const std::string& error() const override { return error_; }
  void setReplySpin(std::chrono::microseconds spin) override { conn_->setReplySpin(spin); }
  bool broken() const { return spoiled_ || conn_->broken(); }
  bool alive() const { return conn_->alive(); }
  const Identity& identity() const { return identity_; }

 private:
  std::unique_ptr<SyncConnection> conn_;
  Identity identity_;
  static constexpr int64_t kUnknownDb = -1;
  int64_t db_ = 0;
  // The commands changed connection state the pool cannot restore (AUTH, HELLO, CLIENT ...):
  // the connection is closed instead of being reused.
  bool spoiled_ = false;
  std::string error_;
};

std::optional<std::vector<resp::Value>> PooledConnection::run(
    int64_t db, std::span<const std::vector<std::string_view>> commands) {
  std::string request;
  const bool select = db != db_;
  if (select) {
    std::string n = std::to_string(db);
    resp::encodeCommand({"SELECT", n}, &request);
  }
  // A SELECT lasts for this run only; a MULTI left open or any other state change (commands
  // JavaScript may not send but a proxy-run transaction may) makes the connection unfit to reuse.
  bool reselect = false;
  bool open_transaction = false;
  for (const auto& c : commands) {
    resp::encodeCommand(c, &request);
    if (c.empty()) continue;
    switch (connectionEffect(c[0])) {
      case ConnectionEffect::kNone:
        break;
      case ConnectionEffect::kDatabase:
        reselect = true;
        break;
      case ConnectionEffect::kOpensTransaction:
        open_transaction = true;
        break;
      case ConnectionEffect::kEndsTransaction:
        open_transaction = false;
        break;
      case ConnectionEffect::kOther:
        spoiled_ = true;
        break;
    }
  }
  if (open_transaction) spoiled_ = true;
  if (!conn_->send(request)) {
    error_ = conn_->error();
    return std::nullopt;
  }
  if (select) {
    auto r = conn_->readReply();
    if (!r) {
      error_ = conn_->error();
      return std::nullopt;
    }
    if (!r->isError()) db_ = db;
  }
  std::vector<resp::Value> replies;
  replies.reserve(commands.size());
  for (size_t i = 0; i < commands.size(); ++i) {
    auto r = conn_->readReply();
    if (!r) {
      error_ = conn_->error();
      return std::nullopt;
    }
    replies.push_back(std::move(*r));
  }
  if (reselect) db_ = kUnknownDb;
  return replies;
}

std::optional<resp::Value> ScriptConnection::run(int64_t db,
                                                 std::span<const std::string_view> command) {
  std::vector<std::string_view> one(command.begin(), command.end());
  auto r = run(db, std::span<const std::vector<std::string_view>>(&one, 1));
  if (!r) return std::nullopt;
  return std::move((*r)[0]);
}

ScriptConnectionPool::ScriptConnectionPool(io::Target target,
                                           std::chrono::milliseconds connect_timeout,
                                           std::chrono::milliseconds command_timeout)
    : target_(std::move(target)),
      connect_timeout_(connect_timeout),
      command_timeout_(command_timeout),
      sweeper_([this](std::stop_token stop) {
        std::unique_lock lock(mutex_);
        while (true) {
          stop_.wait_for(lock, stop, std::chrono::seconds(1), [] { return false; });
          if (stop.stop_requested()) return;
          lock.unlock();
          sweep();
          lock.lock();
        }
      }) {}

ScriptConnectionPool::~ScriptConnectionPool() = default;

std::optional<resp::Value> KeptConnection::run(int64_t db,
                                               std::span<const std::string_view> command) {
  std::optional<resp::Value> reply;
  for (int attempt = 0; attempt < 2 && !reply; ++attempt) {
    if (!lease_) {
      ScriptConnections::Failure failure;
      lease_ = source_->acquire(identity_, &failure, &error_);
      if (!lease_) return std::nullopt;
    }
    reply = lease_->run(db, command);
    if (!reply) {
      error_ = lease_->error();
      lease_.reset();
    }
  }
  return reply;
}

void ScriptConnections::Lease::reset() {
  if (source_ != nullptr && conn_ != nullptr) source_->giveBack(std::move(conn_));
  conn_.reset();
  source_ = nullptr;
}

ScriptConnectionPool::Lease ScriptConnectionPool::acquire(const Identity& identity,
                                                          Failure* failure, std::string* error) {
  *failure = Failure::kNone;
  {
    std::lock_guard lock(mutex_);
    // The most recently used live connection of this identity. One the backend closed
    // meanwhile (its user deleted, a timeout) is passed over and left to the sweep. Probing
    // costs a system call, so only connections idle for a while are probed; a fresher one that
    // turns out closed fails its command, which reports why.
    const auto now = std::chrono::steady_clock::now();
    auto conn = idle_.take([&](PooledConnection& c, std::chrono::steady_clock::time_point since) {
      return c.identity().user == identity.user && c.identity().password == identity.password &&
             !c.broken() && (now - since < std::chrono::milliseconds(100) || c.alive());
    });
    if (conn) return Lease(this, std::move(conn));
  }
  auto sync = SyncConnection::connect(target_, connect_timeout_, error);
  if (!sync) {
    *failure = Failure::kUnreachable;
    return {};
  }
  sync->setTimeout(command_timeout_);
  std::optional<resp::Value> hello = helloAs(*sync, identity);
  if (!hello) {
    *failure = Failure::kUnreachable;
    *error = sync->error();
    return {};
  }
  if (hello->isError()) {
    if (hello->str.rfind("WRONGPASS", 0) == 0) {
      *failure = Failure::kAuthentication;
      *error = hello->str;
      return {};
    }
    // NOAUTH and the like: commands will fail exactly as they would for the client itself.
  }
  return Lease(this, std::make_unique<PooledConnection>(std::move(sync), identity));
}

void ScriptConnectionPool::giveBack(std::unique_ptr<ScriptConnection> conn) {
  // Only this pool's leases come back here.
  std::unique_ptr<PooledConnection> pooled(static_cast<PooledConnection*>(conn.release()));
  if (pooled->broken()) return;
  pooled->setReplySpin({});                   // the next borrower says its own
  std::unique_ptr<PooledConnection> evicted;  // closed outside the lock
  std::lock_guard lock(mutex_);
  evicted = idle_.put(std::move(pooled), std::chrono::steady_clock::now());
}

void ScriptConnectionPool::forgetUser(const std::string& user) {
  std::vector<std::unique_ptr<PooledConnection>> dropped;  // closed outside the lock
  std::lock_guard lock(mutex_);
  dropped = idle_.remove([&](PooledConnection& c) { return c.identity().user == user; });
}

void ScriptConnectionPool::sweep() {
  std::vector<std::unique_ptr<PooledConnection>> dropped;  // closed outside the lock
  std::lock_guard lock(mutex_);
  // A probe is one non-blocking system call: 64 at most, once a second.
  dropped = idle_.remove([](PooledConnection& c) { return c.broken() || !c.alive(); },
                         std::chrono::steady_clock::now());
}

}  // namespace tfproxy::backend
