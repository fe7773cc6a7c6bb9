// Commands issued with client.callAsync / callAsyncRaw (spec §6.12): they may block (BLPOP k 0)
// and settle a promise whenever they finish. One event-loop thread drives all of them over
// non-blocking connections, so thousands waiting at once cost neither threads nor the gate:
// like forwarded traffic they wait while the gate is closed, and only commands that answer
// promptly count for its drain.
#pragma once

#include <deque>
#include <functional>
#include <memory>
#include <string>
#include <thread>
#include <unordered_map>
#include <vector>

#include "backend/gate.h"
#include "backend/idle_list.h"
#include "backend/link.h"
#include "backend/script_connection.h"
#include "io/event_loop.h"
#include "resp/value.h"

namespace tfproxy::backend {

class ClusterTopology;

class AsyncCommands {
 public:
  // The reply (possibly an error value), or nullopt with a reason when the backend could not
  // be reached or the connection broke. Called on the runner's thread.
  using Done = std::function<void(std::optional<resp::Value> reply, const std::string& error)>;

  // `gate_slot`: the runner's own in-flight counter in the gate (after the I/O workers').
  // `cluster` (null: one backend): commands go to the node of their keys' slot (design §9).
  AsyncCommands(BackendLink& link, Gate& gate, size_t gate_slot,
                ClusterTopology* cluster = nullptr);
  ~AsyncCommands();

  // Runs `args` as `identity` in `db`. `may_block`: the command may wait indefinitely, so it
  // does not count for the gate's drain. Thread-safe.
  void run(Identity identity, int64_t db, std::vector<std::string> args, bool may_block, Done done);

  // The gate opened: commands held back may go now. Called from any thread.
  void onGateOpened();
  // Commands sent and not answered yet, and commands waiting for the gate.
  size_t pending() const { return pending_.load(); }

 private:
  struct Call;
  class Connection;
  void start(std::shared_ptr<Call> call);
  // Sends an admitted call over an idle or new connection to its node.
  void dispatch(std::shared_ptr<Call> call);
  // A call's reply: redirects are followed (cluster), everything else finishes it.
  void onReply(std::shared_ptr<Call> call, std::optional<resp::Value> reply,
               const std::string& error);
  // Cluster: routes a call refused before it ran again after a pause, with a newer map.
  void retryLater(std::shared_ptr<Call> call);
  // Cluster: the node for a call, or an error reply for one that cannot be routed.
  std::optional<resp::Value> route(Call& call);
  void admitWaiting();
  void finish(std::shared_ptr<Call> call, std::optional<resp::Value> reply,
              const std::string& error);
  void giveBack(std::unique_ptr<Connection> connection);
  // Every second: closes idle connections that broke (the backend closed them) or expired.
  void sweep();
  void closeLater(std::unique_ptr<Connection> connection);

  BackendLink& link_;
  ClusterTopology* cluster_;
  Gate& gate_;
  size_t gate_slot_;
  io::EventLoop loop_;
  std::thread thread_;
  std::atomic<size_t> pending_{0};
  std::atomic<int> waiting_count_{0};  // calls held back by the gate
  // Loop thread only.
  std::deque<std::shared_ptr<Call>> waiting_for_gate_;
  IdleList<Connection> idle_;
  std::unordered_map<Connection*, std::unique_ptr<Connection>> busy_;
};

}  // namespace tfproxy::backend
