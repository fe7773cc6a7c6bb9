// Atomicity across a fleet (design §4): every tfproxy in front of one Redis shares one gate.
//
// Instances find each other through the backend. Each is a member of a sorted set, scored with
// the backend time (ms) at which its membership expires, renewed by a heartbeat on its
// subscription connection; the same connection is subscribed to the fleet's channel. An
// exclusive section anywhere takes the fleet's lock (`SET lock token NX PX lease`), publishes
// "close" and waits until every live member has answered "closed" (it closed its gate and its
// forwarded commands drained) or its membership expired; it publishes "open" when done.
//
// Safety rests on one rule: an instance forwards only while it is in step -- its heartbeat, sent
// on the connection that receives the fleet's messages, was sent less than five sixths of a
// lease ago. Everything published before that heartbeat ran reached it first, and its
// membership outlives the rule's deadline, so a holder that stops waiting for a silent member
// (its membership expired) knows that member stopped forwarding. A member that lost its
// connection closes its gate at once and joins again: subscribe, register, read the lock.
//
// Alone, an instance keeps the lock between its sections (solo): a section costs no round trip.
// Another instance that joins finds the lock taken, closes, and publishes "join"; the solo
// holder then gives the lock back after its current section.
#pragma once

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "backend/gate.h"
#include "backend/link.h"
#include "backend/script_connection.h"
#include "io/stream.h"
#include "resp/value.h"

namespace tfproxy::backend {

class ClusterTopology;
class SyncConnection;

class Fleet : public GateCoordinator {
 public:
  struct Settings {
    io::Target target;
    Identity identity;
    std::chrono::milliseconds connect_timeout{2000};
    std::string key_base;                   // the library key; the fleet's keys extend it
    std::chrono::milliseconds lease{3000};  // membership and lock expiry
    // Told when the fleet cannot connect: forwarding, held back while out of step, then
    // answers errors as it does whenever the backend is down.
    BackendLink* link = nullptr;
    // In front of a Redis Cluster: the fleet lives on the primary of its keys' slot (both keys
    // share it), found in the map at every connect; `target` and `link` are not used.
    ClusterTopology* topology = nullptr;
  };

  Fleet(Settings settings, Gate& gate);
  ~Fleet() override;
  Fleet(const Fleet&) = delete;
  Fleet& operator=(const Fleet&) = delete;

  // Closes the gate until this instance has joined, and starts the fleet's threads.
  void start();
  // Leaves the fleet (membership, a kept lock) and stops the threads.
  void stop();

  // The backend keys and channel, from the library key.
  static std::string lockKey(std::string_view key_base);
  static std::string membersKey(std::string_view key_base);
  static std::string channel(std::string_view key_base);

  // GateCoordinator (the gate's exclusive holder, one at a time).
  bool lock(bool may_fail) override;
  void closeOthers() override;
  void release(bool more) override;
  bool tryLock() override;
  bool wouldKeepLock() override;

  // Whether this instance may forward (readiness): joined and its heartbeat current.
  bool inStep() const;

 private:
  using Clock = std::chrono::steady_clock;
  using Command = std::vector<std::string>;
  using Handler = std::function<void(const resp::Value&)>;

  // Where the fleet's keys are: the backend, or their slot's primary.
  struct Home {
    io::Target target;
    BackendLink* link = nullptr;
  };
  Home home() const;
  // A reply that says the fleet's keys are served by another node (their slot moved): the
  // map is read again, and the connection is to be replaced.
  bool movedAway(const resp::Value& reply) const;

  // The subscription connection's thread: joins, heartbeats, reads the channel.
  void run();
  std::unique_ptr<SyncConnection> open();
  // Joins and serves the connection; why it ended.
  std::string session(SyncConnection& conn);
  void beat(bool joining);
  void onBeat(Clock::time_point sent, bool ok, bool joining, int64_t sent_coarse);
  void onLock(const resp::Value& holder, bool joining);
  void onMessage(std::string_view payload);
  void fence(const std::string& why);
  // This instance's user may not use the fleet's keys: it takes no part (as with --fleet no).
  void standAside(const std::string& why);
  // Sends on the subscription connection from any thread; each reply goes to its handler on the
  // connection's thread. False when the connection is down.
  bool subSend(const std::vector<Command>& commands, std::vector<Handler> handlers);

  // Answers "closed" for the other holders' tokens once this instance's gate has drained.
  void runAcker();

  // Commands of the exclusive holder on a connection of its own: replies, or nullopt when the
  // backend could not be reached. `read` false: the replies are read before the next commands.
  std::optional<std::vector<resp::Value>> command(const std::vector<Command>& commands,
                                                  bool read = true);
  void giveBack(const std::string& token, bool delete_lock);
  bool lockLocked(std::unique_lock<std::mutex>& lock, bool may_fail);
  // False when this instance fell out of step while waiting (the lock was given back).
  bool closeOthersLocked(std::unique_lock<std::mutex>& lock);
  bool own(std::string_view token) const;

  Settings settings_;
  Gate& gate_;
  const std::string id_;
  const std::string lock_key_;
  const std::string members_key_;
  const std::string channel_;
  const std::chrono::milliseconds beat_interval_;
  const std::chrono::milliseconds margin_;

  mutable std::mutex mutex_;
  std::condition_variable cv_;      // in step, acks, "open", stopping
  std::condition_variable ack_cv_;  // tokens to acknowledge
  bool stopping_ = false;
  bool in_step_ = false;
  bool fenced_ = false;                 // holds one gate closer while out of step
  std::set<std::string> closed_for_;    // other holders' tokens; each holds one gate closer
  std::deque<std::string> to_ack_;      // tokens to answer "closed" for
  std::string lock_token_;              // this instance holds the lock
  Clock::time_point lock_valid_until_;  // before this the lock is surely still this instance's
  bool section_ = false;                // a section of this instance runs
  bool solo_ = false;                   // the lock is kept between sections
  // The lock is kept, the others left closed, for this instance's next waiting section: a
  // chain of at most kMaxChain sections or kMaxChainTime amortises one close of the fleet.
  static constexpr int kMaxChain = 8;
  static constexpr std::chrono::microseconds kMaxChainTime{1000};
  bool chained_ = false;
  Clock::time_point chain_since_;
  int chain_length_ = 0;
  bool alone_ = false;              // no other live member at the last acquire
  bool acquired_ = false;           // the lock was taken at least once
  bool join_seen_ = false;          // another instance joined since the last acquire began
  bool replica_ = false;            // the backend is a replica: nothing is writable through anyone
  bool aside_ = false;              // standing aside for good (permissions)
  std::string acquiring_;           // the token whose answers are awaited
  std::set<std::string> answered_;  // members that answered it, or left
  std::map<std::string, int64_t> pending_;  // members to hear from -> expiry (backend ms)
  int64_t offset_ms_acquired_ = 0;          // backend ms minus local ms, the holder's view
  std::set<std::string> wanting_;  // instances that asked for the lock while this one held it
  uint64_t sequence_ = 0;

  // The subscription connection (the fleet thread reads; anyone sends under sub_mutex_).
  std::mutex sub_mutex_;
  SyncConnection* sub_ = nullptr;
  std::deque<Handler> expected_;
  // Fleet thread only.
  int64_t offset_ms_ = 0;  // backend ms minus local steady ms (an overestimate)
  uint64_t beats_ = 0;
  bool beat_outstanding_ = false;
  Clock::time_point last_ok_;
  bool warned_ = false;
  bool moved_away_ = false;  // a heartbeat was redirected: the session ends and joins anew

  std::mutex cmd_mutex_;
  std::unique_ptr<SyncConnection> cmd_;
  size_t cmd_unread_ = 0;

  std::thread thread_;
  std::thread acker_;
};

}  // namespace tfproxy::backend
