// One client connection (design §2). The Session moves bytes between the client's
// socket and the backend -- the worker's shared connection, or the client's own once it needs
// one; Pipeline decides what the bytes mean. Everything runs on the session's worker thread;
// completions from elsewhere are posted to it.
#pragma once

#include <atomic>
#include <chrono>
#include <functional>
#include <memory>
#include <string>

#include "backend/gate.h"
#include "backend/shared_connection.h"
#include "functions/intercept.h"
#include "io/buffer.h"
#include "io/event_loop.h"
#include "io/stall_clock.h"
#include "io/stream.h"
#include "server/pipeline.h"

namespace tfproxy::backend {
class BackendLink;
class ClusterConnection;
class ClusterTopology;
}  // namespace tfproxy::backend

namespace tfproxy::server {

class Worker;

// Everything sessions share, owned by the Server.
struct SessionServices {
  const CommandIndex* index;
  backend::Gate* gate;
  backend::BackendLink* link;
  // Set when the backend is a Redis Cluster (design §9): commands are routed by slot, and a
  // session's own connection goes to one node at a time.
  backend::ClusterTopology* cluster = nullptr;
  functions::InterceptHandler* intercept;          // may be null: nothing intercepted
  const functions::ReplyEditor* editor = nullptr;  // may be null: no reply is edited
  functions::WriteTriggers* triggers = nullptr;    // may be null: no key space triggers
  PipelineLimits limits;
  // Clients start on their worker's shared connection and get their own when they need it.
  bool multiplex = true;
  // Told (on the worker thread) after a FLUSHALL/FLUSHDB through the proxy succeeded.
  std::function<void()> on_flush;
  // Told when a reply shows the backend's role or memory may have changed.
  std::function<void()> on_status_change;
  // Connected clients; each session counts itself out when it goes.
  std::atomic<size_t>* clients = nullptr;
};

class Session : public backend::Forwarder::User, public std::enable_shared_from_this<Session> {
 public:
  // Takes ownership of the connected client (non-blocking; a TLS handshake done).
  Session(Worker& worker, io::Stream client, const SessionServices& services);
  ~Session() override;

  // Registers the client socket and starts serving it.
  void start();
  // Graceful stop: read no more commands, finish the replies owed, then close.
  void shutdown();
  // The gate opened after this session queued commands.
  void onGateOpened();
  // The gate is closing: answered commands must be read even if the client is slow.
  void onGateClosing();
  // Immediate close of both connections.
  void close();

  // backend::Forwarder::User
  void onSharedReplies(std::string_view frames) override;
  void onSharedLost(const char* text, bool sent) override;
  std::string localAddress() const override;
  bool resp3() const override { return pipeline_.protocol() == resp::Protocol::kResp3; }
  // --backend-timeout: a reply owed on this session's own connection for `limit` with no byte
  // from the backend meanwhile ends the connection; the client gets the timeout error.
  void checkBackendTimeout(std::chrono::steady_clock::time_point now,
                           std::chrono::milliseconds limit);

 private:
  // ForwardGate bound to this session's worker.
  class GateTicket : public ForwardGate {
   public:
    GateTicket(backend::Gate& gate, size_t thread) : gate_(gate), thread_(thread) {}
    bool tryAdmit(uint32_t counted) override { return gate_.tryAdmit(thread_, counted); }
    void release(uint32_t counted) override { gate_.release(thread_, counted); }

   private:
    backend::Gate& gate_;
    size_t thread_;
  };
  // Routes one socket's readiness to the session.
  class SocketWatcher : public io::EventLoop::Watcher {
   public:
    SocketWatcher(Session& session, bool client) : session_(session), client_(client) {}
    void onEvents(uint32_t events) override;

   private:
    Session& session_;
    bool client_;
  };
  enum class BackendState {
    kShared,       // forwarding over the worker's shared connection
    kConnecting,   // opening this client's own connection
    kConnected,    // forwarding over this client's own connection
    kUnavailable,  // the backend cannot be reached: forwarded commands are answered with errors
  };

  void connectBackend();
  // The loop every event ends in (see session.cpp), and its steps. Each step returns whether it
  // moved bytes (or changed what the next pass may do); none calls drive().
  void drive();
  bool readBackend();
  bool flushClient();
  bool readClient();
  bool process();
  bool flushBackend();
  // Moves to a dedicated connection once no reply is owed on the shared one.
  void pinWhenReady();
  // Cluster: leaves the session's own connection for routing by slot once nothing binds the
  // client to it; a session with connection state routes through a router of its own that
  // restores that state on each node.
  void unpinWhenFree();
  // Cluster: closes the session's own connection and forwards through routing by slot.
  void routeBySlot();
  // Cluster: closes the session's own connection, with nothing owed on it, to leave its node.
  void dropOwnConnection();
  // Cluster: where a command belongs relative to the node of the session's own connection.
  Pipeline::NodePlace placeOf(const resp::RequestParser& cmd) const;
  // Where forwarded commands go while not on the session's own connection.
  backend::Forwarder& forwarder();
  // Cluster: sends what brings the session's new own connection to the client's state (and a
  // transaction that moved there back to what it had queued).
  void restoreState();
  void dispatchIntercepted();
  void dispatchFiring(const Pipeline::Intercepted& request);
  void onInterceptDone(std::string reply);
  backend::ConnectionState connectionState() const;
  void adoptState(backend::ConnectionState state, std::function<void()> done);
  void backendLost(const std::string& why, const char* text);
  void maybeFinish();
  // Tells the library store about flushes, the access policy about ACL changes, seen in replies
  // since the last call.
  void noteChanges();
  bool clientBackpressure() const;
  bool backendBackpressure() const;
  void closeBackendSocket();

  Worker& worker_;
  const SessionServices& services_;
  io::Stream client_;
  io::Stream backend_;  // the client's own backend connection, once it has one
  // Cluster: the router of a session whose connection state differs from a fresh one's.
  std::shared_ptr<backend::ClusterConnection> router_;
  backend::ConnectionState router_state_;
  std::string node_;  // cluster: the node of the session's own connection
  SocketWatcher client_watcher_{*this, true};
  SocketWatcher backend_watcher_{*this, false};
  GateTicket ticket_;
  Pipeline pipeline_;
  ForwardingCounters& counters_;  // the worker's
  BackendState backend_state_ = BackendState::kShared;
  // Every change of backend_state_ goes through here (it counts pinned sessions).
  void setBackendState(BackendState state);
  bool own_connection_counted_ = false;

  io::Buffer client_in_;
  io::Buffer backend_in_;
  // Bytes owed to each side; the first *_written_ of them are already sent.
  std::string to_client_;
  size_t client_written_ = 0;
  std::string to_backend_;
  size_t backend_written_ = 0;
  std::string shared_out_;  // commands for the shared connection, handed over per batch

  // Edge-triggered sockets: "readable" until a read finds them drained; "blocked" from a write
  // that found them full until the writable edge.
  bool client_readable_ = false;
  bool backend_readable_ = false;
  bool client_blocked_ = false;
  bool backend_blocked_ = false;
  // The peer hung up: its close follows the data, so short reads no longer count as drained.
  bool client_hung_up_ = false;
  bool backend_hung_up_ = false;

  bool driving_ = false;  // drive() is on the stack
  bool redrive_ = false;  // an event arrived meanwhile: one more pass
  bool closed_ = false;
  bool close_after_flush_ = false;  // QUIT, protocol error, shutdown, lost backend
  bool waiting_for_gate_ = false;
  bool holding_reads_ = false;  // registered with the worker as holding back backend reads
  bool pin_requested_ = false;
  uint64_t backend_reads_ = 0;  // reads that brought bytes from this session's own connection
  io::StallClock stall_;
  uint64_t flushes_seen_ = 0;
  uint64_t status_changes_seen_ = 0;
  std::string peer_;
};

}  // namespace tfproxy::server
