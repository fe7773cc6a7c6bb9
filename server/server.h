// The process edge: the listening sockets (plaintext and TLS), the I/O workers, the gate, and
// graceful shutdown.
#pragma once

#include <array>
#include <atomic>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/steady_timer.hpp>

#include "backend/command_index.h"
#include "backend/gate.h"
#include "base/metrics.h"
#include "config/options.h"
#include "io/tls.h"
#include "server/session.h"
#include "server/worker.h"

namespace tfproxy::backend {
class AsyncCommands;
class ClusterTopology;
}  // namespace tfproxy::backend

namespace tfproxy::server {

// What the server serves with; built before it (main.cpp), outliving it.
struct ServerParts {
  backend::BackendLink& link;
  // Set when the backend is a Redis Cluster: stateless sessions are routed by slot.
  backend::ClusterTopology* cluster = nullptr;
  // One counter per I/O worker (options.threads) and one after them for callAsync.
  backend::Gate& gate;
  const CommandIndex& index;
  functions::InterceptHandler* intercept = nullptr;  // null: nothing intercepted
  const functions::ReplyEditor* editor = nullptr;    // null: no reply is edited
  functions::WriteTriggers* triggers = nullptr;      // null: no key space triggers
  backend::AsyncCommands* async_commands = nullptr;  // told when the gate opens
  std::shared_ptr<io::TlsContext> tls;               // the TLS listener's (null: none)
  // Called on a worker thread after a FLUSHALL/FLUSHDB through the proxy succeeded.
  std::function<void()> on_flush;
  // Called on a worker thread when a reply shows the backend's role or memory may have
  // changed (CONFIG SET, REPLICAOF, FAILOVER, an OOM/READONLY/UNBLOCKED error).
  std::function<void()> on_status_change;
};

class Server : public backend::GateListener {
 public:
  // `main_context` runs the acceptor and shutdown timer (the caller runs it).
  Server(boost::asio::io_context& main_context, const config::ProxyOptions& options,
         ServerParts parts);
  ~Server() override;

  // Binds and listens (plaintext and/or TLS); false with `error` set if an address cannot be
  // used.
  bool listen(std::string* error);
  // Starts the workers and accepting.
  void start();
  // Graceful stop: no new clients, sessions finish their owed replies within `timeout`, then
  // everything is closed and `done` runs on the main context.
  void shutdown(std::chrono::milliseconds timeout, std::function<void()> done);

  uint16_t port() const { return port_; }
  uint16_t tlsPort() const { return tls_port_; }

  // Clients and forwarding, summed over the workers (any thread).
  struct Counts {
    uint64_t connected = 0;  // clients now, in a TLS handshake included
    uint64_t pinned = 0;     // on a backend connection of their own
    uint64_t received = 0;   // connections accepted since start
    uint64_t rejected = 0;   // refused for --maxclients
    std::array<uint64_t, backend::kCommandFamilies> commands{};  // forwarded, by CommandFamily
    uint64_t bytes_from_clients = 0;
    uint64_t bytes_to_clients = 0;
  };
  Counts counts() const;
  bool stopping() const { return stopping_.load(); }

  // backend::GateListener
  void onGateClosing() override;
  void onGateOpened() override;

 private:
  // One listener: its socket, and whether its clients speak TLS.
  struct Listener {
    explicit Listener(boost::asio::io_context& context) : acceptor(context), retry(context) {}
    boost::asio::ip::tcp::acceptor acceptor;
    boost::asio::steady_timer retry;
    bool tls = false;
  };
  void accept(Listener& listener);
  // Starts serving an accepted client on `worker`: TLS clients finish their handshake first.
  void serve(Worker& worker, int fd, bool tls);
  // An accept failed (out of descriptors, say): warn at most every 10 s, retry after a pause.
  void acceptFailed(Listener& listener, const boost::system::error_code& ec);
  void pollShutdown(std::chrono::steady_clock::time_point deadline);

  boost::asio::io_context& main_;
  const config::ProxyOptions& options_;
  backend::Gate& gate_;
  SessionServices services_;
  std::vector<std::unique_ptr<Worker>> workers_;
  std::shared_ptr<io::TlsContext> tls_;
  std::vector<std::unique_ptr<Listener>> listeners_;
  boost::asio::steady_timer shutdown_timer_;
  std::chrono::steady_clock::time_point accept_warned_;
  uint64_t accept_failures_ = 0;  // since the last warning
  std::function<void()> shutdown_done_;
  std::optional<boost::asio::executor_work_guard<boost::asio::io_context::executor_type>>
      shutdown_guard_;
  size_t next_worker_ = 0;
  uint16_t port_ = 0;
  uint16_t tls_port_ = 0;
  std::atomic<size_t> clients_{0};
  metrics::Counter connections_received_;
  metrics::Counter rejected_connections_;
  std::atomic<bool> stopping_{false};
  backend::AsyncCommands* async_commands_;
};

}  // namespace tfproxy::server
