// Key space triggers (spec §7, design §5): where their events come from and the atomic
// sections that run them.
//
// Events arrive on the notification connection (backend/keyspace_events.h). Three kinds of
// atomic section decide what an event means:
//   - a write forwarded through tfproxy whose key may match a trigger: the section sends the
//     write, sends a marker, and takes the events that arrive before the marker's answer and
//     concern the write's keys as the write's own; the triggers run in the same section, before
//     any other command passes tfproxy and before the writer gets its reply;
//   - a section that runs JavaScript (a function, a block(), the triggers themselves): its
//     commands fire nothing (spec §6.13), so it is bracketed by two markers and the events
//     between them are dropped;
//   - events nobody proxied (expiry, eviction, clients of Redis itself) fire as soon as they
//     arrive, each batch in a section of its own.
// One thread runs the sections of the writes and of the unproxied events, in arrival order.
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
#include <string>
#include <thread>
#include <vector>

#include "backend/backend_status.h"
#include "backend/gate.h"
#include "backend/keyspace_events.h"
#include "functions/intercept.h"
#include "scripting/engine.h"

namespace tfproxy::functions {

class KeyspaceTriggers : public WriteTriggers, public backend::KeyspaceEvents::Listener {
 public:
  struct Services {
    backend::Gate* gate = nullptr;
    backend::BackendStatus* status = nullptr;  // triggers fire on a writable primary only
    config::Endpoint endpoint;
    backend::Identity identity;  // the notification connection's
    std::chrono::milliseconds connect_timeout{2000};
    std::string library_key;  // the library store's key: its events are not the users'
  };
  explicit KeyspaceTriggers(Services services);
  ~KeyspaceTriggers() override;
  // The engine comes after this object (its host needs this one); set before any event.
  void setEngine(scripting::Engine* engine) { engine_ = engine; }
  void stop();

  // The engine's libraries changed: these are every trigger's prefixes. Events start at the
  // first trigger.
  void setPrefixes(std::vector<std::string> prefixes);
  // Why registered triggers get no events, or nullopt.
  std::optional<std::string> problem() const;

  // Sections that run JavaScript, from their holder (gate taken): their events are dropped.
  // begin waits until the backend saw the bracket's start.
  void beginQuiet();
  void endQuiet();

  // WriteTriggers
  bool active() const override { return active_.load(std::memory_order_relaxed); }
  bool mayFire(std::string_view key) const override;
  void runWrite(std::vector<std::string> keys, Forward forward,
                std::function<void(std::string reply)> done) override;

  // backend::KeyspaceEvents::Listener
  void onEvent(int64_t db, std::string_view event, std::string_view key) override;
  void onMarker(uint64_t id) override;
  void onConnection(bool up) override;

 private:
  enum class Marker { kQuiet, kLoud, kCollect };
  // Sends a marker of `kind`; 0 when the connection is down.
  uint64_t mark(Marker kind);
  // Waits until marker `id` is back (or the connection broke); true if it came back.
  bool waitMarker(uint64_t id);
  bool matchesLocked(std::string_view key) const;
  void loop();
  // Fires `events` in a section of their own.
  void fireUnproxied(std::vector<scripting::KeyEvent> events);
  void writeSection(const std::vector<std::string>& keys, const Forward& forward,
                    const std::function<void(std::string)>& done);

  Services services_;
  scripting::Engine* engine_ = nullptr;
  backend::KeyspaceEvents events_;
  std::atomic<bool> active_{false};

  mutable std::mutex mutex_;
  std::condition_variable cv_;
  std::vector<std::string> prefixes_;
  std::map<uint64_t, Marker> markers_;  // sent, not back yet
  uint64_t last_marker_back_ = 0;
  uint64_t connection_epoch_ = 0;  // counts breaks: markers of an older epoch never return
  bool quiet_ = false;             // between a quiet marker and its loud one
  bool collecting_ = false;        // a write section waits for its events
  std::vector<scripting::KeyEvent> window_;     // events seen while collecting
  std::vector<scripting::KeyEvent> collected_;  // handed over by the collect marker
  std::deque<scripting::KeyEvent> unproxied_;
  std::deque<std::function<void()>> writes_;
  bool stopping_ = false;
  std::thread thread_;
};

}  // namespace tfproxy::functions
