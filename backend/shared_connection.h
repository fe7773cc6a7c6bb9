// One pipelined backend connection per I/O worker for the sessions that have not used any
// connection state yet (design §2, "multiplexing"). Their commands are written
// together -- one send per event-loop round for all of them -- and the replies, which come back
// in order, are handed to each session by a FIFO of (session, replies expected).
//
//   fifo_:  [session A: 1] [session B: 16] [session A: 1] ...
//            ^ the next reply frame belongs to the front entry
//
// A session moves to a dedicated connection (it pins) before its first command that
// depends on or changes connection state, once its replies on this connection are all in.
// The connection itself stays as fresh as a new client's: unauthenticated, db 0, RESP2.
#pragma once

#include <chrono>
#include <deque>
#include <memory>
#include <string>
#include <string_view>

#include "backend/forwarder.h"
#include "io/buffer.h"
#include "io/event_loop.h"
#include "io/stall_clock.h"
#include "io/stream.h"
#include "resp/framer.h"

namespace tfproxy::backend {

class BackendLink;

class SharedConnection : public Forwarder,
                         public io::EventLoop::Watcher,
                         public std::enable_shared_from_this<SharedConnection> {
 public:
  SharedConnection(io::EventLoop& loop, BackendLink& link);
  ~SharedConnection() override;

  // Forwarder. After a loss or a timeout, the next command opens a new connection.
  void send(const std::shared_ptr<User>& user, std::string_view bytes, uint32_t replies) override;
  void close() override;
  // Commands (`replies` replies, nobody's) sent first on each new connection: the connection
  // state of the session that owns this connection (cluster routing, design §9).
  void setPreamble(std::string bytes, uint32_t replies) {
    preamble_ = std::move(bytes);
    preamble_replies_ = replies;
  }
  void checkTimeout(std::chrono::steady_clock::time_point now,
                    std::chrono::milliseconds limit) override;

  // io::EventLoop::Watcher
  void onEvents(uint32_t events) override;

 private:
  enum class State { kIdle, kConnecting, kConnected };
  struct Pending {
    std::weak_ptr<User> user;
    uint32_t replies;
  };

  void connect();
  void scheduleFlush();
  void flush();
  void read();
  // The connection broke: every session still waiting for a reply learns it.
  void fail(const std::string& why, const char* text, bool sent = true);

  io::EventLoop& loop_;
  BackendLink& link_;
  io::Stream stream_;
  State state_ = State::kIdle;
  std::deque<Pending> fifo_;
  std::string preamble_;
  uint32_t preamble_replies_ = 0;
  std::string out_;
  size_t written_ = 0;
  bool flush_scheduled_ = false;
  bool blocked_ = false;   // the socket was full: wait for the writable edge
  bool readable_ = false;  // a readable edge came and the socket is not drained yet
  bool hung_up_ = false;   // the backend closed its side: read until recv returns 0
  io::Buffer in_;
  resp::ReplyFramer framer_;
  uint64_t reads_ = 0;  // reads that brought bytes
  io::StallClock stall_;
};

}  // namespace tfproxy::backend
