// Where a worker's stateless sessions send their commands (design §2, "multiplexing"): one
// pipelined connection to a single backend (SharedConnection), or a router over one such
// connection per node of a Redis Cluster (ClusterConnection). Either way each user gets the
// replies to its commands in the order it sent them.
#pragma once

#include <chrono>
#include <memory>
#include <string>
#include <string_view>

namespace tfproxy::backend {

class Forwarder {
 public:
  // Who sends (a session): told its replies and the connection's loss, on the loop's thread.
  class User {
   public:
    virtual ~User() = default;
    // Complete reply frames for this user's commands, in order.
    virtual void onSharedReplies(std::string_view frames) = 0;
    // The connection broke (or timed out: `text`) while this user waited on it. `sent`: the
    // commands may have reached the backend (false: the connection was never opened).
    virtual void onSharedLost(const char* text, bool sent) = 0;
    // "ip:port" the user's client connected to (tfproxy's own address, as it announces itself
    // to cluster clients).
    virtual std::string localAddress() const { return {}; }
    // The user speaks RESP3 (replies made by the router take that shape).
    virtual bool resp3() const { return false; }
  };

  virtual ~Forwarder() = default;
  // Queues `bytes` (whole commands, one reply each) for `user`, which expects `replies`
  // replies. The bytes go out at the end of the current event-loop round, with other users'.
  virtual void send(const std::shared_ptr<User>& user, std::string_view bytes,
                    uint32_t replies) = 0;
  virtual void close() = 0;
  // --backend-timeout: replies owed for `limit` with no byte from the backend meanwhile end the
  // connection; the waiting sessions get the error.
  virtual void checkTimeout(std::chrono::steady_clock::time_point now,
                            std::chrono::milliseconds limit) = 0;
};

}  // namespace tfproxy::backend
