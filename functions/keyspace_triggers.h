// Key space triggers (spec §7, design §5): where their events come from, whose they are, and
// the atomic sections that run them.
//
// Events arrive on the notification connection (backend/keyspace_events.h), together with the
// markers every tfproxy instance in front of the backend publishes on one channel, all in the
// order Redis produced them. The markers tell each instance what an event is:
//   - a write through an instance whose key may match a trigger is bracketed by a "write"
//     marker naming its keys and an "end" marker: the events of those keys between the two are
//     that instance's, which runs the triggers in the same atomic section as the write, before
//     any other command passes it and before the writer gets its reply;
//   - a section that runs JavaScript is bracketed by "quiet" and "loud", and "loud" names the
//     keys its commands touched: their events fire nothing (spec §6.13). Events that arrive
//     while any instance is quiet wait for its "loud", which drops those of its keys and lets
//     the others go on;
//   - a callAsync command (outside any section) is bracketed by "keys" and "keys end" markers
//     naming its keys: their events in between fire nothing;
//   - every other event (expiry, eviction, key misses, clients of Redis itself) is nobody's
//     write: the instance that holds the trigger lease (a key in the backend, renewed while it
//     lives) fires it as soon as it arrives, in a section of its own.
// So each event fires each trigger once however many instances run. One thread runs an
// instance's write sections and its unproxied events, in arrival order.
//
// In front of a Redis Cluster (design §9) every primary sends the events of its own keys only,
// so there is a notification connection (a source) per primary, following failovers, and the
// markers go where the keys are: a write's and a callAsync command's to the primary of each
// key, a section's "quiet" and "loud" to every primary. Each primary's markers travel on a
// channel of its own, so that the copies Redis Cluster passes to the other nodes reach nobody.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "backend/backend_status.h"
#include "backend/cluster_topology.h"
#include "backend/gate.h"
#include "backend/keyspace_events.h"
#include "backend/script_connection.h"
#include "backend/sync_connection.h"
#include "functions/intercept.h"
#include "functions/stream_triggers.h"
#include "scripting/engine.h"

namespace tfproxy::functions {

class KeyspaceTriggers : public WriteTriggers {
 public:
  struct Services {
    backend::Gate* gate = nullptr;
    backend::BackendStatus* status = nullptr;      // triggers fire on a writable primary only
    io::Target target;                             // the backend, or a cluster's seed (its TLS)
    backend::ClusterTopology* topology = nullptr;  // in front of a cluster
    // The lease and the stream triggers' commands go through these.
    backend::ScriptConnections* connections = nullptr;
    backend::Identity identity;  // the notification and lease connections'
    std::chrono::milliseconds connect_timeout{2000};
    // The library store's key: its events are not the users', and the lease and the markers'
    // channel are named after it.
    std::string library_key;
  };
  explicit KeyspaceTriggers(Services services);
  ~KeyspaceTriggers() override;
  // The engine comes after this object (its host needs this one); set before any event.
  void setEngine(scripting::Engine* engine) { engine_ = engine; }
  void stop();

  // The key that says which instance fires the events nobody proxied and reads the streams.
  static std::string leaseKey(const std::string& library_key) { return library_key + ":lease"; }
  // The hash of the stream triggers' acknowledged positions.
  static std::string positionsKey(const std::string& library_key) {
    return library_key + ":streams";
  }

  // The engine's triggers changed: every key space trigger's prefix, and the stream triggers.
  // The first trigger starts the events (and waits a moment for them to flow).
  void setTriggers(std::vector<std::string> keyspace_prefixes,
                   std::vector<scripting::StreamTriggerInfo> streams);
  // A FLUSHALL/FLUSHDB went through tfproxy: the stream triggers' state goes (spec §8.5).
  void flushed() { streams_.flushed(); }
  // A CONFIG SET went through tfproxy: notify-keyspace-events may have lost the flags the
  // triggers need; they are added again (any thread; the work is done on the loop thread).
  void configChanged();
  // Why registered triggers get no events, or nullopt.
  std::optional<std::string> problem() const;

  // Sections that run JavaScript, from their holder (gate taken): events of their commands are
  // dropped. begin waits until the backend saw the bracket's start; noteCommand records a
  // command the section is about to send.
  void beginQuiet();
  void noteCommand(const std::vector<std::string>& args);
  void endQuiet();
  // A command from JavaScript outside any section (callAsync), about to be sent: the events of
  // its keys until it is answered are its own. Returns the keys to pass to endOutside (none
  // when no trigger prefix matches them); waits until the backend saw the start.
  std::vector<std::string> beginOutside(const std::vector<std::string>& args);
  void endOutside(const std::vector<std::string>& keys);

  // WriteTriggers
  bool active() const override { return active_.load(std::memory_order_relaxed); }
  bool mayFire(std::string_view key) const override;
  void runWrite(std::vector<std::string> keys, Forward forward,
                std::function<void(std::string reply)> done) override;

 private:
  // What one instance's markers say it is doing.
  struct Window {
    bool quiet = false;             // between "quiet" (or "end") and "loud"
    std::vector<std::string> keys;  // between "write" and "end": the write's keys
    // Keys of commands from JavaScript outside any section (callAsync) still running.
    std::multiset<std::string> own_keys;
    std::chrono::steady_clock::time_point since;
  };
  enum class Marker : char {
    kQuiet = 'q',
    kLoud = 'l',
    kWrite = 'w',
    kEnd = 'e',
    kSync = 's',       // nothing but its return: what was sent before it took effect
    kKeysBegin = 'k',  // a command from JavaScript outside a section starts on these keys
    kKeysEnd = 'u',    // and ended
  };
  using Prefixes = std::vector<std::string>;
  // Events that arrived while some instance was quiet, with those instances.
  struct Held {
    scripting::KeyEvent event;
    std::vector<std::string> quiet;
  };
  // One node's events and markers: the backend's, or a cluster primary's. Its fields after
  // `events` are guarded by the owner's mutex_.
  struct Source final : backend::KeyspaceEvents::Listener {
    Source(KeyspaceTriggers& owner, std::string node, io::Target target);
    void onEvent(int64_t db, std::string_view event, std::string_view key) override {
      owner.onEvent(*this, db, event, key);
    }
    void onMessage(std::string_view payload) override { owner.onMessage(*this, payload); }
    void onConnection(bool up) override { owner.onConnection(*this, up); }

    KeyspaceTriggers& owner;
    const std::string node;  // "host:port" of a primary; empty for a backend that is no cluster
    backend::KeyspaceEvents events;
    std::map<std::string, Window> windows;       // per instance, this one included
    uint64_t marker_back = 0;                    // the last marker of ours seen here
    uint64_t epoch = 0;                          // counts breaks: older markers never return
    bool gone = false;                           // no longer a primary: nothing more comes
    std::vector<scripting::KeyEvent> window;     // this instance's write's events so far
    std::vector<scripting::KeyEvent> collected;  // handed over by its "end" marker
    std::deque<Held> held;
  };
  using SourcePtr = std::shared_ptr<Source>;
  // A marker on its way: back once its source's marker_back reaches `id`.
  struct Sent {
    SourcePtr source;
    uint64_t id;
    uint64_t epoch;
  };
  // Publishes a marker on each of `sources`; those that went out.
  std::vector<Sent> mark(Marker kind, const std::vector<std::string>& keys,
                         const std::vector<SourcePtr>& sources);
  // Waits until these markers are back (or their connections broke).
  void waitMarkers(const std::vector<Sent>& sent);
  // Every source, and those of the primaries of `keys`.
  std::vector<SourcePtr> allSources() const;
  std::vector<SourcePtr> sourcesOf(const std::vector<std::string>& keys) const;
  // Makes the sources those of the backend's primaries (once a trigger started them).
  void syncSources();
  void onEvent(Source& source, int64_t db, std::string_view event, std::string_view key);
  void onMessage(Source& source, std::string_view payload);
  void onConnection(Source& source, bool up);
  bool matchesLocked(std::string_view key) const;
  // An event that is nobody's write and no section's own: the lease holder fires it.
  void deliverLocked(scripting::KeyEvent event);
  // Instance `instance`'s quiet window on `source` closed with `keys`: its held events go or
  // are dropped.
  void closeQuietLocked(Source& source, const std::string& instance,
                        const std::vector<std::string>& keys);
  void loop();
  // Takes or renews the lease (every kLeaseRenewal), follows the primaries, and asserts the
  // flags when due; loop thread.
  void tendLease();
  // A command on the lease's connection; nullopt when the backend cannot be reached.
  std::optional<resp::Value> leaseCall(std::vector<std::string_view> args);
  // Fires `events` in a section of their own.
  void fireUnproxied(std::vector<scripting::KeyEvent> events);
  // Runs the stream triggers' work in a section of its own.
  void processStreams();
  void setLeaseHeld(bool held);
  void writeSection(const std::vector<std::string>& keys, const Forward& forward,
                    const std::function<void(std::string)>& done);

  Services services_;
  const std::string instance_;  // this instance's name in markers (random)
  const std::string lease_key_;
  const std::string positions_key_;
  const std::string fleet_lock_key_;  // the fleet's own keys fire nothing
  const std::string fleet_members_key_;
  std::atomic<scripting::Engine*> engine_{nullptr};
  std::atomic<bool> active_{false};
  std::atomic<bool> lease_held_{false};
  backend::KeptConnection lease_conn_;                 // loop thread
  std::chrono::steady_clock::time_point lease_due_{};  // mutex_
  bool lease_warned_ = false;
  std::atomic<bool> flags_due_{false};
  std::atomic<bool> flags_ensuring_{false};  // the trigger thread is setting them now

  mutable std::mutex mutex_;
  std::condition_variable cv_;
  // Held while the sources or their subscriptions change (never with mutex_ wanted after it).
  std::mutex sources_change_;
  bool started_ = false;                        // the first trigger started the sources; mutex_
  uint64_t sources_version_ = 0;                // of the topology they follow; sources_change_
  std::map<std::string, SourcePtr> sources_;    // by node; mutex_
  std::vector<std::string> keyspace_prefixes_;  // of key space triggers
  // The same for the forwarding path, read without the lock: each I/O thread keeps the
  // snapshot of the version it saw last.
  std::atomic<std::shared_ptr<const Prefixes>> snapshot_;
  std::atomic<uint64_t> version_{0};
  uint64_t last_marker_ = 0;  // the last one published, on any source
  std::deque<scripting::KeyEvent> unproxied_;
  uint64_t dropped_events_ = 0;  // over kMaxQueuedEvents
  // This instance's open quiet window and the keys its commands touched (gate holder).
  bool quiet_open_ = false;
  std::vector<std::string> quiet_keys_;
  std::deque<std::function<void()>> writes_;
  StreamTriggers streams_;
  bool stopping_ = false;
  std::thread thread_;
};

}  // namespace tfproxy::functions
