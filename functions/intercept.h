// Commands the proxy runs itself (the Triggers and Functions family) reach their handler through
// this seam; the session only knows that a command is intercepted, not what it does.
#pragma once

#include <functional>
#include <string>
#include <string_view>
#include <vector>

#include "backend/connection_state.h"

namespace tfproxy::io {
class EventLoop;
}

namespace tfproxy::functions {

using backend::ConnectionState;

// What a handler may know about the client that sent the command: its connection's state
// (protocol, database, user), and its transaction.
struct ClientContext : ConnectionState {
  std::string address;  // the client's ip:port (the slow log shows it)
  bool in_multi = false;
  // Set when the handler runs on the client's I/O thread: that thread's loop. The handler may do
  // short work there itself when that needs no waiting (a short function,
  // CallRequest::io_thread).
  io::EventLoop* io_thread = nullptr;
  // EXEC of a transaction the proxy runs (spec §11.11): the commands queued after the forwarded
  // prefix, and a way to EXEC that prefix on the client's own connection. `exec_prefix` may be
  // called from any thread; its callback gets the reply frame (an error frame if the client
  // went away) and the connection state after it, on the client's worker thread.
  std::vector<std::vector<std::string>> transaction;
  std::function<void(std::function<void(std::string frame, ConnectionState after)>)> exec_prefix;
  // Brings the client's own connection to `state` (SELECT, AUTH) when the queued part of the
  // transaction changed it; `done` runs once that is answered (or the client went away).
  std::function<void(ConnectionState state, std::function<void()> done)> adopt_state;
};

class InterceptHandler {
 public:
  virtual ~InterceptHandler() = default;
  // Runs `argv`. `done` receives the reply, encoded for `client.protocol`; it may be called
  // from any thread, exactly once, before or after run() returns.
  virtual void run(const std::vector<std::string>& argv, const ClientContext& client,
                   std::function<void(std::string reply)> done) = 0;
};

// Writes that may fire a key space trigger run together with it (spec §7.2, design §5): the
// session hands such a write over instead of sending it, and the triggers send it in their
// atomic section.
class WriteTriggers {
 public:
  virtual ~WriteTriggers() = default;
  // True while any trigger is registered: one relaxed load, asked per write.
  virtual bool active() const = 0;
  // May an event on `key` fire a trigger?
  virtual bool mayFire(std::string_view key) const = 0;
  // Sends the write on the client's own connection (from any thread); `on_reply` gets the
  // reply frame (an error frame if the client went away), on the client's worker thread.
  using Forward = std::function<void(std::function<void(std::string frame)> on_reply)>;
  // Runs a write of `keys`: in one atomic section it is sent, its events are collected and the
  // matching triggers run; then `done` gets the write's reply frame, from any thread.
  virtual void runWrite(std::vector<std::string> keys, Forward forward,
                        std::function<void(std::string reply)> done) = 0;
};

}  // namespace tfproxy::functions
