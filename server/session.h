// One client connection and its own backend connection (DESIGN.md section 2). The Session moves
// bytes between the two sockets; Pipeline decides what the bytes mean. Everything runs on the
// session's worker thread; completions from elsewhere are posted to it.
#pragma once

#include <memory>
#include <string>

#include <boost/asio/ip/tcp.hpp>

#include "server/buffer.h"
#include "server/gate.h"
#include "server/pipeline.h"

namespace tfproxy::backend {
class BackendLink;
}

namespace tfproxy::server {

class Worker;
class InterceptHandler;

// Everything sessions share, owned by the Server.
struct SessionServices {
  const CommandIndex* index;
  Gate* gate;
  backend::BackendLink* link;
  InterceptHandler* intercept;  // may be null: nothing intercepted
  PipelineLimits limits;
  // Clients start on their worker's shared connection and get their own when they need it.
  bool multiplex = true;
};

class Session : public std::enable_shared_from_this<Session> {
 public:
  Session(Worker& worker, boost::asio::ip::tcp::socket client, const SessionServices& services);
  ~Session();

  // Connects the backend, then serves the client.
  void start();
  // Graceful stop: read no more commands, finish the replies owed, then close.
  void shutdown();
  // The gate opened after this session queued commands.
  void onGateOpened();
  // The gate is closing: answered commands must be read even if the client is slow.
  void onGateClosing();
  // Immediate close of both connections.
  void close();

  // SharedConnection
  // Complete replies for this session's commands on the shared connection.
  void onSharedReplies(std::string_view frames);
  // The shared connection broke while this session waited for replies on it.
  void onSharedLost();

 private:
  // ForwardGate bound to this session's worker.
  class GateTicket : public ForwardGate {
   public:
    GateTicket(Gate& gate, size_t thread) : gate_(gate), thread_(thread) {}
    bool tryAdmit(uint32_t counted) override { return gate_.tryAdmit(thread_, counted); }
    void release(uint32_t counted) override { gate_.release(thread_, counted); }

   private:
    Gate& gate_;
    size_t thread_;
  };
  enum class BackendState {
    kShared,       // forwarding over the worker's shared connection
    kConnecting,   // opening this client's own connection
    kConnected,    // forwarding over this client's own connection
    kUnavailable,  // the backend cannot be reached: forwarded commands are answered with errors
  };

  void connectBackend();
  // Moves to a dedicated connection once no reply is owed on the shared one.
  void pinWhenReady();
  void readClient();
  void onClientRead(const boost::system::error_code& ec, size_t n);
  void readBackend();
  void onBackendRead(const boost::system::error_code& ec, size_t n);
  static bool writeNow(boost::asio::ip::tcp::socket& socket, std::string* pending,
                       size_t* offset);
  void process();
  void dispatchIntercepted();
  void onInterceptDone(std::string reply);
  void flushClient();
  void flushBackend();
  void backendLost(const std::string& why);
  void maybeFinish();
  bool clientBackpressure() const;
  bool backendBackpressure() const;

  Worker& worker_;
  const SessionServices& services_;
  boost::asio::ip::tcp::socket client_;
  boost::asio::ip::tcp::socket backend_;
  GateTicket ticket_;
  Pipeline pipeline_;
  BackendState backend_state_ = BackendState::kConnecting;

  Buffer client_in_;
  Buffer backend_in_;
  // Bytes owed to each side; the first *_written_ of them are already sent.
  std::string to_client_;
  size_t client_written_ = 0;
  std::string to_backend_;
  size_t backend_written_ = 0;

  bool closed_ = false;
  bool close_after_flush_ = false;  // QUIT, protocol error, shutdown
  bool reading_client_ = false;
  bool reading_backend_ = false;
  bool writing_client_ = false;   // waiting for the client socket to take more
  bool writing_backend_ = false;  // waiting for the backend socket to take more
  bool waiting_for_gate_ = false;
  bool pin_requested_ = false;
  std::string shared_out_;  // commands for the shared connection, handed over per round
  std::string peer_;
};

}  // namespace tfproxy::server
