// A worker's forwarding to a Redis Cluster (design §9): the Forwarder its stateless sessions
// send to when the backend is a cluster. Each command is routed by the slot of its keys
// (cluster_routing.h) over one pipelined connection per node, split and merged where its keys
// span slots, and its reply handed back in the order the session sent it.
//
//   session A: [GET a -> node 1] [MGET a b -> node 1 + node 2] [DBSIZE -> every node]
//                 ^ replies leave for A in this order, whatever order the nodes answer in
//
// Redirects are followed here: MOVED re-sends to the named node and has the map read again,
// ASK re-sends once with ASKING. A command refused before it ran (TRYAGAIN, CLUSTERDOWN, a node
// that cannot be connected to) waits and is routed again with the newer map, for a bounded
// time; a command whose node was lost after it was sent answers an error (it may have run).
#pragma once

#include <chrono>
#include <cstdint>
#include <deque>
#include <memory>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "backend/cluster_routing.h"
#include "backend/forwarder.h"
#include "io/event_loop.h"
#include "resp/request_parser.h"

namespace tfproxy::backend {

class ClusterTopology;
class SharedConnection;
class SlotMap;

class ClusterConnection : public Forwarder, public std::enable_shared_from_this<ClusterConnection> {
 public:
  ClusterConnection(io::EventLoop& loop, ClusterTopology& topology);
  ~ClusterConnection() override;

  // Forwarder
  void send(const std::shared_ptr<User>& user, std::string_view bytes, uint32_t replies) override;
  void close() override;
  void checkTimeout(std::chrono::steady_clock::time_point now,
                    std::chrono::milliseconds limit) override;

  // Commands sent first on every node connection opened from now on (a session's AUTH, HELLO;
  // `replies` replies). For a session's own router; the workers' routers have none.
  void setPreamble(std::string bytes, uint32_t replies);

  // The id tfproxy gives itself as a one-node cluster (40 hex digits, one per process).
  static const std::string& nodeId();

 private:
  struct Request;
  // One command sent to one node: a whole request, or its share of a split one.
  struct Part {
    std::shared_ptr<Request> request;
    uint32_t index = 0;
  };
  class Node;
  // A user's requests in the order it sent them; `id` tells a queue from a later one at the
  // same address. `ready`: replies in order, handed over at the end of the event's work (one
  // hand-over, so one write to the client, per node read rather than per reply).
  struct Queue {
    std::weak_ptr<User> user;
    uint64_t id = 0;
    std::deque<std::shared_ptr<Request>> requests;
    std::string ready;
    bool listed = false;  // in ready_
  };

  // Builds the request for one command (argv of its bytes) and routes its parts.
  void accept(const std::shared_ptr<User>& user, std::string_view bytes);
  // Sends `part` to the node serving it (or to `address`, a redirect's target); `asking`
  // prefixes ASKING.
  void dispatch(Part part, const std::string& address = {}, bool asking = false);
  // A part's reply arrived from its node (redirects are followed here).
  void onReply(const Part& part, std::string_view frame);
  // The part's node connection broke.
  void onLost(const Part& part, const char* text, bool sent);
  // Routes `part` again later with a newer map, or answers `error` when its time is up.
  void retryLater(const Part& part, std::string_view error);
  void retryParked();
  void complete(const Part& part, std::string frame);
  // Moves the replies of the user's requests that are done, in order, to its queue's `ready`.
  void deliver(Request& request);
  // Hands every user its ready replies. Last thing of every entry point.
  void handOver();
  const SlotMap& currentMap();
  // CLUSTER ..., READONLY, READWRITE, ASKING as a one-node cluster at `self` ("ip:port")
  // answers them, in the shapes Redis uses for RESP2 or RESP3; empty (and `slot` set) for those
  // asked of the primary serving a slot.
  std::string localReply(const std::vector<std::string_view>& argv, const std::string& self,
                         bool resp3, int* slot) const;

  io::EventLoop& loop_;
  ClusterTopology& topology_;
  std::shared_ptr<const SlotMap> map_;
  uint64_t map_version_ = 0;
  std::unordered_map<std::string, std::shared_ptr<Node>> nodes_;
  std::vector<std::shared_ptr<Node>> by_primary_;  // nodes_ by primary index, this map_
  std::unordered_map<User*, Queue> queues_;
  std::vector<User*> ready_;  // queues with replies to hand over
  std::string preamble_;
  uint32_t preamble_replies_ = 0;
  std::deque<Part> parked_;  // waiting to be routed again, in order
  bool retry_scheduled_ = false;
  uint64_t next_queue_id_ = 0;
  resp::RequestParser parser_;
  std::vector<std::string_view> argv_;
};

}  // namespace tfproxy::backend
