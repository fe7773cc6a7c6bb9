// Stream triggers (spec §8): which streams each trigger tracks, the delivery loop, completions,
// acknowledged positions kept in the backend, and trimming. Driven by the trigger thread of
// KeyspaceTriggers (keyspace_triggers.h), which owns the events, the lease and the sections:
// only the instance that holds the trigger lease reads streams, so one instance of a fleet
// reads a given stream for a given trigger at a time.
//
// Positions: each (library, trigger, database, stream) has a field in one hash
// (`<library key>:streams`) holding the newest ID acknowledged while it was the oldest one in
// flight (spec §8.4 step 3). It is written before the next entry is handed over, so after a
// crash only entries that were in flight are delivered again (at most `window` per stream).
#pragma once

#include <chrono>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "backend/script_connection.h"
#include "config/options.h"
#include "scripting/engine.h"

namespace tfproxy::functions {

class StreamTriggers {
 public:
  struct Services {
    // Reads, positions and trims go through these (routed by key in front of a cluster).
    backend::ScriptConnections* connections = nullptr;
    backend::Identity identity;
    std::string positions_key;
    // Keys move between nodes (a Redis Cluster): a stream's `del` may be its slot moving away.
    bool keys_move = false;
    std::function<void()> wake;  // tells the trigger thread there is work (any thread)
  };
  explicit StreamTriggers(Services services);

  // The engine's stream triggers changed (any thread). Triggers that went lose their positions.
  void setTriggers(std::vector<scripting::StreamTriggerInfo> triggers);
  // Some trigger's prefix matches `key`.
  bool matches(std::string_view key) const;
  // A key space event on a key some trigger's prefix matches (the events' thread): stream
  // events ask for a read, `del` drops the stream's state (spec §8.3, 8.5).
  void onEvent(int64_t db, std::string_view event, std::string_view key);
  // FLUSHALL/FLUSHDB through tfproxy: every stream state goes (spec §8.5).
  void flushed();
  // This instance started (true) or stopped (false) reading streams (it holds the lease): on
  // start the positions are loaded and the matching streams discovered (spec §8.3).
  void setReading(bool reading);
  bool reading() const;
  // The events connection came back: events may have been missed, so every matching stream is
  // read again from its position.
  void rediscover();

  // Trigger thread: whether there is work, the keys it concerns (for locking the libraries),
  // and the work, inside a section holding the gate and those libraries.
  bool hasWork() const;
  std::vector<std::string> workKeys() const;
  void process(scripting::TriggerRun& run);

 private:
  struct StreamKey {
    int64_t db;
    std::string key;
    auto operator<=>(const StreamKey&) const = default;
  };
  struct Completion {
    std::shared_ptr<scripting::StreamTriggerState> state;
    StreamKey stream;
    scripting::StreamId id;
    std::chrono::steady_clock::time_point handed;
    std::optional<std::string> error;
  };
  // Runs a command for reads, positions and trims (trigger thread); nullopt when the backend
  // cannot be reached.
  std::optional<resp::Value> call(int64_t db, std::vector<std::string> args);
  static std::string field(const scripting::StreamTriggerInfo& t, const StreamKey& stream);
  void discover();
  void loadPositions(const scripting::StreamTriggerInfo& t);
  void forgetPositions(const std::string& library, const std::string& trigger);
  // `retouch`: the completion came later (async): the stream's loop goes on in a later round.
  void complete(const Completion& c, const std::vector<scripting::StreamTriggerInfo>& triggers,
                bool retouch);
  void trim(const StreamKey& stream, const std::vector<scripting::StreamTriggerInfo>& triggers);
  // The delivery loop of one trigger on one stream (spec §8.4).
  // `triggers`: this round's list, for the completions it applies on the way.
  void deliver(scripting::TriggerRun& run, const scripting::StreamTriggerInfo& t,
               const StreamKey& stream, const std::vector<scripting::StreamTriggerInfo>& triggers);
  void applyCompletions(const std::vector<scripting::StreamTriggerInfo>& triggers, bool retouch);

  Services services_;
  mutable std::mutex mutex_;
  std::vector<scripting::StreamTriggerInfo> triggers_;
  std::vector<scripting::StreamTriggerInfo> added_;  // to load positions of (trigger thread)
  std::vector<std::pair<std::string, std::string>> removed_;  // (library, trigger)
  std::set<StreamKey> touched_;
  std::set<StreamKey> dropped_;
  std::deque<Completion> completions_;
  bool reading_ = false;
  bool start_reading_ = false;  // positions and discovery due
  bool rediscover_ = false;     // discovery due
  bool flushed_ = false;

  // Trigger thread only.
  std::set<StreamKey> trims_;  // due at the end of the round (after every trigger's hand-over)
  backend::KeptConnection conn_;
};

}  // namespace tfproxy::functions
