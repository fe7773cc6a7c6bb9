// A blocking connection to Redis with timeouts, plaintext or TLS (io::Stream's waiting use): for
// probing the backend, starting the embedded server, the proxy's own reads and writes, and
// commands issued from JavaScript on script threads. No Asio.
#pragma once

#include <chrono>
#include <initializer_list>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>

#include "config/options.h"
#include "io/stream.h"
#include "resp/framer.h"
#include "resp/value.h"

namespace tfproxy::backend {

class SyncConnection {
 public:
  ~SyncConnection();
  SyncConnection(const SyncConnection&) = delete;
  SyncConnection& operator=(const SyncConnection&) = delete;

  // Connects within `timeout`. On failure returns nullptr and sets `error` to a readable reason.
  static std::unique_ptr<SyncConnection> connect(const io::Target& target,
                                                 std::chrono::milliseconds timeout,
                                                 std::string* error);

  // Sends one command and reads its reply. Returns nullopt on a transport failure or timeout
  // (error() says which); Redis error replies are returned as values.
  std::optional<resp::Value> call(std::span<const std::string_view> args);
  std::optional<resp::Value> call(std::initializer_list<std::string_view> args);

  // Lower-level: write raw bytes / read the next reply.
  bool send(std::string_view bytes);
  std::optional<resp::Value> readReply();

  // True once a reply (or a push) can be read, false when none came within `wait`: bytes
  // already received, buffered in TLS, or readable on the socket. A connection that broke
  // counts as readable (readReply() then says why).
  bool waitReadable(std::chrono::milliseconds wait);

  // Bounds each send and each wait for reply bytes.
  void setTimeout(std::chrono::milliseconds timeout);
  // How long a wait for reply bytes polls before it sleeps (io::Stream::receive); 0: not at all.
  void setReplySpin(std::chrono::microseconds spin) { spin_ = spin; }
  // False if the backend has closed the connection (checked without blocking).
  bool alive();
  const std::string& error() const { return error_; }
  // A transport failure or timeout happened (error() says which); the socket closes with the
  // connection.
  bool broken() const { return broken_; }
  // The stream, for a second thread that only writes on it (Stream::sendAll) while this
  // connection's own thread reads.
  io::Stream& stream() { return stream_; }

 private:
  SyncConnection(io::Stream stream, std::chrono::milliseconds timeout);
  void fail(std::string reason);

  io::Stream stream_;
  bool broken_ = false;
  std::chrono::milliseconds timeout_;
  std::chrono::microseconds spin_{0};
  std::string in_;
  resp::ReplyFramer framer_;
  std::string error_;
};

}  // namespace tfproxy::backend
