// The protocol logic of one client session, without I/O: it cuts client bytes into commands,
// decides for each whether it is forwarded or run by the proxy, and puts the backend's replies
// and the proxy's own replies back in request order. The Session feeds it bytes and writes what
// it produces; unit tests feed it bytes directly.
//
// Reply slots, oldest first:
//
//   front                                                         back
//   [fwd x3 (run)] [local: TFCALL, pending] [fwd SUBSCRIBE a b] [fwd x1]
//        ^ target: the first forwarded slot still waiting for backend replies
//
// Backend frames go to the target slot; bytes for the front slot go straight to the client,
// bytes for later slots wait in the slot's buffer until everything before it is written.
// Consecutive plain commands share one run slot, so a pipeline of thousands of GETs costs one
// slot. Frames no request asked for (RESP3 pushes, RESP2 pub/sub messages, MONITOR lines) go to
// the client at once, ahead of any reply still pending. A command whose reply the proxy edits
// (functions/reply_edits.h) holds its replies -- its own and its extra commands' -- in its slot
// until all are in.
#pragma once

#include <array>
#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "backend/command_index.h"
#include "backend/connection_state.h"
#include "base/metrics.h"
#include "functions/intercept.h"
#include "functions/reply_edits.h"
#include "resp/encoder.h"
#include "resp/framer.h"
#include "resp/request_parser.h"

namespace tfproxy::server {

using backend::ChannelKind;
using backend::CommandEntry;
using backend::CommandIndex;
using backend::CommandKind;

// The gate as the forwarding path sees it (see gate.h). A seam so tests can inject a fake.
class ForwardGate {
 public:
  virtual ~ForwardGate() = default;
  // Asks to send commands now; `counted` of them will be answered promptly and must be
  // answered before an exclusive section starts. False: the gate is closed, nothing counted.
  virtual bool tryAdmit(uint32_t counted) = 0;
  // `counted` admitted commands were answered or abandoned.
  virtual void release(uint32_t counted) = 0;
};

// What the sessions of one I/O worker forwarded; written by that worker's thread only, read by
// server/stats.h from any thread.
struct ForwardingCounters {
  std::array<metrics::OwnedCounter, backend::kCommandFamilies> commands;  // by CommandFamily
  metrics::OwnedCounter bytes_from_clients;
  metrics::OwnedCounter bytes_to_clients;
  metrics::Gauge pinned;  // sessions on a backend connection of their own now
};

struct PipelineLimits {
  resp::ParserLimits parser;
  // Most bytes of one unfinished command held for a client (client-query-buffer-limit).
  uint64_t query_buffer_limit = 1024ull * 1024 * 1024;
};

class Pipeline {
 public:
  enum class Stop {
    kNeedMore,  // every complete command was handled; wait for more client bytes
    kPaused,    // the gate is closed; call again when it opens
    kBarrier,   // an intercepted command is pending; call again once it completed
    kPin,       // the next command needs the client's own backend connection (shared mode)
    kClose,     // close the client after writing what is queued (QUIT, protocol error, limit)
  };
  struct InputResult {
    Stop stop;
    size_t consumed;  // leading bytes of the input that are handled and can be dropped
  };

  // `editor` (may be null) edits the replies of the commands the index marks as edited.
  // `triggers` (may be null) says which writes may fire a key space trigger: those are handed
  // over as intercepted commands that fire (Intercepted::fires).
  Pipeline(const CommandIndex& index, ForwardGate& gate, PipelineLimits limits,
           const functions::ReplyEditor* editor = nullptr,
           const functions::WriteTriggers* triggers = nullptr);
  ~Pipeline();
  // Where forwarded commands are counted (by default nowhere anyone reads).
  void setCounters(ForwardingCounters* counters) { counters_ = counters; }
  Pipeline(const Pipeline&) = delete;
  Pipeline& operator=(const Pipeline&) = delete;

  // Handles the complete commands at the start of `in`. Forwarded commands are appended to
  // `to_backend`; replies that are ready to be written in order are appended to `to_client`.
  InputResult onClientInput(std::string_view in, std::string* to_backend, std::string* to_client);

  // Handles the complete backend replies at the start of `in`; returns the bytes consumed, or
  // npos if the backend sent something that is not RESP (the connection is unusable).
  size_t onBackendInput(std::string_view in, std::string* to_client);

  // The backend connection is gone: every reply still expected from it becomes `error`.
  void onBackendLost(std::string_view error, std::string* to_client);

  // Sends `bytes` (one command) outside the gate's admission -- for the holder of the gate --
  // and hands its reply frame to `on_reply` instead of the client. `on_reply` also runs (with an
  // error frame) if the connection is lost or the session abandoned first. `ends_multi`: the
  // command is the EXEC or DISCARD of the client's open transaction; the connection state is
  // updated before `on_reply` runs.
  void forwardCaptured(std::string_view bytes, std::function<void(std::string_view)> on_reply,
                       std::string* to_backend, bool ends_multi = false);
  // Connection state changed by commands the proxy ran for this client elsewhere (a
  // transaction it executed), after the same change was made on the client's own connection.
  void applyChange(const backend::StateChange& change) { change.applyTo(&state_); }

  // Shared mode: forwarded commands go over a connection shared with other clients, so a
  // command that needs the client's own connection stops the input with kPin.
  void setShared(bool shared) { shared_ = shared; }
  bool shared() const { return shared_; }
  // Cluster (design §9): where a command belongs relative to the node of the client's own
  // connection. With a check set, a transaction opened on one node whose first command with keys
  // belongs elsewhere stops the input (kPin) before that command, so that the session moves the
  // transaction there (transactionPrefix() is what to queue again after MULTI).
  // kProxy: answered by tfproxy's routing (CLUSTER ..., as a one-node cluster). kSplit: keys of
  // several slots (split by the router; refused by a node inside a transaction). kWhole: the
  // whole key space (every primary through the router). A free own connection returns to
  // routing by slot for kElsewhere, kProxy, kSplit and kWhole.
  enum class NodePlace : uint8_t { kKeyless, kHere, kElsewhere, kProxy, kSplit, kWhole };
  void setNodeCheck(std::function<NodePlace(const resp::RequestParser&)> check) {
    node_check_ = std::move(check);
  }
  std::vector<std::string> transactionPrefix() const {
    return scan_.multi_prefix ? *scan_.multi_prefix : std::vector<std::string>();
  }

  // Replies the bytes appended to `to_backend` since the last call will produce.
  uint32_t takeExpectedReplies() { return std::exchange(expected_added_, 0); }

  // While set, forwarded commands are answered with this error instead of being sent (the
  // backend is unreachable). Empty to forward again.
  void setUnavailable(std::string error) { unavailable_error_ = std::move(error); }
  bool unavailable() const { return !unavailable_error_.empty(); }

  // An intercepted command for the proxy to run. For EXEC of a transaction the proxy runs
  // (spec §11.11), `transaction` holds the commands queued after the forwarded prefix.
  struct Intercepted {
    std::vector<std::string> argv;
    std::vector<std::vector<std::string>> transaction;
    // A write (or the EXEC of a transaction with writes) whose keys may fire a key space
    // trigger: the proxy sends it itself, on the client's connection (forwardCaptured).
    bool fires = false;
    std::vector<std::string> keys;
  };
  // The intercepted command whose turn has come (every earlier reply is in), or nullptr. It
  // stays valid until completeIntercepted().
  const Intercepted* readyIntercepted();
  // The proxy's reply to the intercepted command (RESP bytes in the client's protocol).
  void completeIntercepted(std::string reply, std::string* to_client);

  // True while an intercepted command holds back the commands after it.
  bool holdingInput() const { return barrier_; }
  // Forgets every pending reply and returns their gate counts (the session is closing).
  void abandon();

  // The client's connection carries state that routing over a cluster's nodes cannot carry: an
  // open or pending transaction, WATCH, subscriptions, MONITOR, CLIENT REPLY/TRACKING and the
  // like. While it does, the session keeps its own connection to one node. (WATCH and CLIENT
  // are tracked only with a node check set.)
  bool boundToConnection() const {
    return in_multi_ || scan_.multi || subscribed() || monitor_ || watching_ || client_bound_ ||
           transaction_.active || barrier_ || scan_.mode != ReplyMode::kOn;
  }

  // Commands sent to the backend whose replies have not arrived yet.
  bool awaitingBackend() const { return target_ != kNone; }
  // A reply is owed for a command that cannot block (a blocking command may wait forever).
  bool awaitingBoundedReply() const { return target_ != kNone && slots_[target_].counted; }
  // No reply of any kind is pending.
  bool idle() const { return slots_.empty(); }

  // Connection state learnt from replies, as the backend sees this client.
  const backend::ConnectionState& state() const { return state_; }
  resp::Protocol protocol() const { return state_.protocol; }
  int64_t db() const { return state_.db; }
  const std::string& user() const { return state_.user; }
  const std::string& password() const { return state_.password; }
  bool inMulti() const { return in_multi_; }
  bool subscribed() const { return channels_ + patterns_ + shard_channels_ > 0; }
  bool monitoring() const { return monitor_; }
  // Successful FLUSHALL/FLUSHDB replies seen so far.
  uint64_t flushes() const { return flushes_; }
  // Replies after which the backend's role or memory state is to be read again: successful
  // CONFIG SET, REPLICAOF, SLAVEOF, FAILOVER, and OOM, READONLY and UNBLOCKED errors.
  uint64_t statusChanges() const { return status_changes_; }
  const std::string& protocolError() const { return protocol_error_; }

 private:
  // What the proxy learns from a forwarded command's reply.
  enum class Observe : uint8_t {
    kNone,
    kState,  // HELLO, AUTH, SELECT: Slot::change
    kReset,
    kMulti,
    kEndMulti,
    kSubscribe,
    kUnsubscribe,
    kMonitor,
    kFlush,
    kStatusChange,  // CONFIG SET, REPLICAOF...: the backend's role or memory may have changed
    kQueued,        // a state-changing command inside MULTI: its effect waits for EXEC
    kCapture,       // the reply goes to Slot::capture, not to the client
    kEdit,          // the replies of the command and its extras make the client's (Slot::merge)
  };
  static constexpr uint32_t kAll = UINT32_MAX;  // unsubscribe without arguments
  static constexpr size_t kNone = SIZE_MAX;

  struct Slot {
    bool forward = true;
    bool counted = false;
    bool ready = false;
    Observe observe = Observe::kNone;
    ChannelKind channel_kind = ChannelKind::kChannel;
    uint32_t expected = 0;        // forward: replies still to come (confirmations for subscribes)
    uint32_t weight = 0;          // commands of this slot the gate still counts as in flight
    backend::StateChange change;  // kState, or kQueued of a state change
    std::string buffer;           // bytes that wait for earlier slots
    std::function<void(std::string_view)> capture;
    bool ends_multi = false;          // a captured EXEC or DISCARD
    Observe effect = Observe::kNone;  // kQueued: what EXEC's success applies
    uint32_t queue_index = 0;         // kQueued: position in the transaction
    bool silent = false;              // a local reply CLIENT REPLY drops
    // kEdit: the replies so far, and what makes the client's reply of them (kept apart: a
    // slot of plain forwarded commands does not carry them).
    struct Edit {
      std::vector<std::string> frames;
      std::function<std::string(const std::vector<resp::Value>&)> merge;
    };
    std::unique_ptr<Edit> edit;
  };
  // A transaction the proxy runs itself: entered at the first intercepted command inside
  // MULTI; commands are queued here until EXEC.
  struct Transaction {
    bool active = false;
    bool aborted = false;  // a queuing error: EXEC answers EXECABORT
    std::vector<std::vector<std::string>> queued;
  };
  // Queues the current command of a proxy-run transaction, answering QUEUED or an error.
  // `silent`: CLIENT REPLY OFF or SKIP drops the reply; the command still runs.
  void raiseBarrier(Intercepted request, bool silent, std::string* to_client);
  void queueInTransaction(const CommandEntry& entry, bool silent);
  enum class ReplyMode : uint8_t { kOn, kOff, kSkipNext };
  // State that decides how many replies a command gets, as of the commands scanned so far.
  struct ScanState {
    ReplyMode mode = ReplyMode::kOn;
    bool multi = false;                    // inside MULTI: the backend answers QUEUED
    uint32_t queued = 0;                   // commands queued since MULTI
    std::vector<std::string> firing_keys;  // keys of queued writes that may fire a trigger
    // With a node check: a command with keys was queued since MULTI; the keyless ones before it
    // (shared, copied when changed: a scan state is copied per input, and stays this cheap to
    // copy when no node check is set).
    bool multi_keyed = false;
    std::shared_ptr<const std::vector<std::string>> multi_prefix;
  };
  // Appends the keys of a write that may fire a key space trigger; false if it cannot.
  bool firingKeys(const CommandEntry& entry, const resp::RequestParser& cmd,
                  std::vector<std::string>* keys) const;

  // Whether the command being scanned gets its reply under CLIENT REPLY (SKIP is used up).
  static bool takesReply(ScanState* scan);
  // Describes a forwarded command as a slot; returns false if it expects no reply at all.
  bool describe(const CommandEntry& entry, const resp::RequestParser& cmd, ScanState* scan,
                Slot* slot) const;
  // For a command whose reply the proxy edits: whether it does this time (outside
  // transactions, replies on), and how (a local reply, or `slot` and the extra commands).
  bool planEdit(const resp::RequestParser& cmd, const ScanState& scan, Slot* slot,
                std::string* local_reply, std::string* extra) const;
  // An error reply that shows the backend's role or memory changed counts in status_changes_.
  void noteError(std::string_view frame);
  // Makes an edited slot's reply once all its replies are in.
  void finishEdit(Slot& slot, std::string* to_client);
  // Tracks what boundToConnection() reports beyond the observed state (WATCH, CLIENT ...).
  void noteBinding(const CommandEntry& entry, const resp::RequestParser& cmd);
  static bool describeState(const CommandEntry& entry, const resp::RequestParser& cmd, Slot* slot);
  // EXEC or DISCARD answered: the transaction's state changes apply where EXEC ran them.
  void endMulti(std::string_view frame);
  void addToBatch(Slot&& slot);
  bool commitBatch(std::string_view bytes, std::string* to_backend);
  void pushLocal(std::string reply);
  // An error reply of the proxy's own, in the client's protocol.
  void pushError(std::string_view text);
  void appendForClient(size_t slot_index, std::string_view bytes, std::string* to_client);
  void handleFrame(std::string_view frame, std::string* to_client);
  bool isUnrequested(std::string_view frame, const Slot* target) const;
  // Applies a reply to an observing slot; returns true when the slot has all its replies.
  bool observe(Slot& slot, std::string_view frame);
  void slotDone(size_t index);
  void advanceTarget();
  void flush(std::string* to_client);
  void resetConnectionState();

  const CommandIndex& index_;
  ForwardingCounters* counters_;
  const functions::ReplyEditor* editor_;
  const functions::WriteTriggers* triggers_;
  ForwardGate& gate_;
  PipelineLimits limits_;
  resp::RequestParser parser_;
  resp::ReplyFramer framer_;

  std::deque<Slot> slots_;
  size_t target_ = kNone;  // index in slots_ of the first forwarded slot awaiting replies
  uint32_t released_ = 0;  // counted replies not yet returned to the gate

  // The batch being scanned: contiguous forwarded commands admitted together.
  std::vector<Slot> batch_;
  uint32_t batch_counted_ = 0;
  std::array<uint32_t, backend::kCommandFamilies> batch_families_{};  // of the batch, by family

  bool shared_ = false;
  std::function<NodePlace(const resp::RequestParser&)> node_check_;
  uint32_t expected_added_ = 0;
  bool barrier_ = false;  // an intercepted command is pending
  bool intercept_dispatched_ = false;
  Intercepted intercepted_;
  Transaction transaction_;
  bool closing_ = false;
  std::string unavailable_error_;
  std::string protocol_error_;

  // Connection state.
  ScanState scan_;
  backend::ConnectionState state_;
  bool in_multi_ = false;
  std::vector<Slot> queued_effects_;  // QUEUED state changes of the open transaction
  int64_t channels_ = 0;
  int64_t patterns_ = 0;
  int64_t shard_channels_ = 0;
  bool monitor_ = false;
  bool watching_ = false;      // WATCH sent, no EXEC, DISCARD, UNWATCH or RESET since
  bool client_bound_ = false;  // a CLIENT subcommand whose effect stays with the connection
  uint64_t flushes_ = 0;
  uint64_t status_changes_ = 0;
};

}  // namespace tfproxy::server
