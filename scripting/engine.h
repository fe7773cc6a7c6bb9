// The scripting engine as the rest of tfproxy sees it: load, delete, list and call JavaScript
// libraries. No V8 type appears here (V8 stays inside scripting/v8/, and so does its compile
// cost). Modelled on Redis' functions engine interface and upstream's plugin API.
//
// Threads: the engine runs JavaScript on its own script threads (`execution-threads`), never on
// the caller's. Every `done` callback may run on a script thread or, for errors found before
// any JavaScript runs, on the calling thread before the call returns.
#pragma once

#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "backend/script_connection.h"
#include "base/metrics.h"
#include "base/status.h"
#include "config/gears.h"
#include "resp/encoder.h"
#include "resp/value.h"
#include "scripting/slow_log.h"

namespace tfproxy::io {
class EventLoop;
}

namespace tfproxy::scripting {

// A stream entry ID, <ms>-<seq>.
struct StreamId {
  uint64_t ms = 0;
  uint64_t seq = 0;
  auto operator<=>(const StreamId&) const = default;
  std::string text() const { return std::to_string(ms) + "-" + std::to_string(seq); }
};

// A stream trigger's progress on one stream (spec §8.1): kept by the functions layer's stream
// reader, shown by TFUNCTION LIST, and carried over by REPLACE (spec §8.8).
struct StreamProgress {
  std::optional<StreamId> last_read;  // the last entry handed to the callback
  std::deque<StreamId> pending;       // handed over, not completed, oldest first
  std::optional<std::string> last_error;
  uint64_t total_record_processed = 0;
  int64_t last_processed_time = 0;  // ms
  int64_t total_processed_time = 0;
  int64_t last_lag = 0;
  int64_t total_lag = 0;
};
// Calls of one function, or runs of one trigger, since it was first registered (a REPLACE keeps
// them): what operators see in INFO, /metrics and the admin page. Any thread.
struct RunStats {
  metrics::Counter runs;
  metrics::Counter failures;
  metrics::Histogram latency;  // from the call (or the event) to the reply (or the end)
};

struct StreamTriggerState {
  std::mutex mutex;
  // The trigger's runs over every stream.
  std::shared_ptr<RunStats> runs = std::make_shared<RunStats>();
  std::map<std::pair<int64_t, std::string>, StreamProgress> streams;  // (db, key)
};

// A registered stream trigger as the functions layer sees it.
struct StreamTriggerInfo {
  std::string library;
  std::string name;
  std::string prefix;
  int64_t window = 1;
  bool trim = false;
  std::shared_ptr<StreamTriggerState> state;  // one object for the trigger's whole life
  bool matches(std::string_view key) const { return key.substr(0, prefix.size()) == prefix; }
};

// A stream entry handed to a stream trigger (spec §4.9).
struct StreamRecord {
  int64_t db = 0;
  std::string stream;
  StreamId id;
  std::vector<std::pair<std::string, std::string>> fields;
};

// What the engine needs from the proxy. Implemented by the server.
class Host {
 public:
  virtual ~Host() = default;
  // The atomic gate (design §4) around commands issued from JavaScript. Blocking;
  // called on script threads. Fails (nothing held) when the instance cannot be in step with
  // the others in front of the backend soon; the message is the error JavaScript sees.
  virtual Status enterAtomicSection() = 0;
  virtual void leaveAtomicSection() = 0;
  // Enters the atomic section only if that needs no waiting: no other section holds or waits
  // for the gate, nothing forwarded is in flight, no other instance has to be asked, and no
  // trigger needs its markers. Never blocks; anything but kEntered holds nothing. Lets the
  // thread that received a call run a short function itself (CallRequest::io_thread).
  // kEnterFirst: what stood in the way goes once one section is entered with
  // enterAtomicSection (the fleet's lock, kept from then on while this instance is alone).
  enum class TryEnter { kEntered, kBusy, kEnterFirst };
  virtual TryEnter tryEnterAtomicSection() { return TryEnter::kBusy; }
  // Connections that run commands from JavaScript as a given identity.
  virtual backend::ScriptConnections& connections() = 0;
  // The backend's state for the replica and out-of-memory checks, as last read (never blocks).
  virtual bool backendWritable() = 0;
  virtual bool backendOutOfMemory() = 0;
  // False while a change of that state is known to be on its way (a CONFIG SET or REPLICAOF
  // just went through): decisions confirm first then.
  virtual bool backendStateCurrent() = 0;
  // Reads that state again before a refusal (blocking: one round trip).
  virtual void confirmBackendState() = 0;
  // Runs a command outside any atomic section, possibly waiting long (client.callAsync).
  // `done` runs later on another thread with the reply, or nullopt and an error text.
  using AsyncDone = std::function<void(std::optional<resp::Value> reply, const std::string& error)>;
  virtual void asyncCommand(const backend::Identity& identity, int64_t db,
                            std::vector<std::string> args, bool may_block, AsyncDone done) = 0;
  // A command tfproxy runs itself that JavaScript may not call (lower-case name, spec §6.3).
  virtual bool deniedToScripts(std::string_view lower_name) const = 0;
  // A command from JavaScript is about to run in the current atomic section (its events are
  // the section's own: spec §6.13).
  virtual void commandIssued(const std::vector<std::string>& args) = 0;
  // Edits a command's reply before JavaScript sees it: SCAN and KEYS leave out the keys
  // tfproxy keeps for itself, as they do for clients.
  virtual void editReply(const std::vector<std::string>& args, resp::Value* reply) const = 0;
  // A command from JavaScript failed with `error` (lets the host notice a role change).
  virtual void commandFailed(const std::string& error) = 0;
  // The triggers changed (a library with triggers was loaded, replaced or deleted):
  // `keyspace_prefixes` holds every key space trigger's prefix, `streams` every stream
  // trigger. Called on the engine's admin thread.
  virtual void triggersChanged(std::vector<std::string> keyspace_prefixes,
                               std::vector<StreamTriggerInfo> streams) = 0;
  // Who a trigger's commands run as, for a library of `user`.
  virtual backend::Identity libraryIdentity(const std::string& user) = 0;
  // Why key space triggers receive no events now (shown as their last error), or nullopt.
  virtual std::optional<std::string> keyspaceEventsProblem() = 0;
  // Cluster functions (spec §4.6, 4.8): the backend's shards -- the primaries of a Redis
  // Cluster, one unnamed shard for a single Redis -- and the shard that holds `key`.
  virtual std::vector<std::string> shards() { return {std::string()}; }
  virtual std::string shardOf(std::string_view key) { return {}; }
  // A command of a cluster function running on `shard` that touches keys of another shard:
  // the error it gets; nullopt when it may run.
  virtual std::optional<std::string> outsideShard(const std::string& shard,
                                                  const std::vector<std::string>& args) {
    return std::nullopt;
  }
};

// A key space event (spec §4.9, §7): the database it happened in, the event, the key.
struct KeyEvent {
  int64_t db = 0;
  std::string event;
  std::string key;
};

// The libraries whose key space triggers may fire for some keys, locked for one atomic section
// (Engine::lockTriggers). Destroying it unlocks them.
class TriggerRun {
 public:
  virtual ~TriggerRun() = default;
  // Runs the triggers that match each event (spec §7.2), event after event, each event's in
  // registration order: onTriggerFired and a normal callback at once on the calling thread,
  // inside the caller's atomic section; an async callback as a background job.
  virtual void fire(const std::vector<KeyEvent>& events) = 0;
  // Hands `record` to stream trigger `trigger` of `library` (spec §8.4): a normal callback
  // runs at once on the calling thread inside the caller's section, an async one as a
  // background job. `done` gets the run's failure or nullopt once it completed: before this
  // returns for a callback that returned, later for an async one or a pending promise (then on
  // a script thread). False, and `done` not called, when the trigger is no longer registered.
  using Completion = std::function<void(std::optional<std::string> error)>;
  virtual bool deliver(const StreamTriggerInfo& trigger, const StreamRecord& record,
                       Completion done) = 0;
};

// A library as it is stored: enough to load it again.
struct LibraryDefinition {
  std::string name;
  std::string code;
  std::string user;
  std::optional<std::string> config;
};

struct LoadRequest {
  std::string code;                   // UTF-8, prologue first
  std::optional<std::string> config;  // a JSON object's text, already validated
  bool replace = false;
  std::string user;        // the library user: the loading client's ACL user
  bool restoring = false;  // loaded from the store at start (db-loading-lock-redis-timeout)
  bool debug = false;      // TFUNCTION LOAD DEBUG: served to DevTools (v8-debug-server-address)
};

struct CallRequest {
  std::string library;
  std::string function;
  size_t numkeys = 0;
  std::vector<std::string> args;  // the keys, then the other arguments
  backend::Identity identity;     // who the function's commands run as
  int64_t db = 0;                 // the client's selected database
  resp::Protocol protocol = resp::Protocol::kResp2;
  bool async_call = false;      // TFCALLASYNC
  bool in_transaction = false;  // inside MULTI/EXEC: blocking not allowed
  bool section_held = false;    // the caller holds the atomic gate already (proxy-run EXEC)
  // Runs on the calling thread, which holds the library (Engine::lockLibraries) and the gate:
  // a job on the library's queue could wait behind a function that waits for that gate.
  bool run_here = false;
  // Set when the calling thread is an I/O thread: its loop. That thread may run a short sync
  // function itself when that needs no waiting (its library idle, a script thread's place free,
  // the atomic section entered with Host::tryEnterAtomicSection); otherwise the call goes to the
  // library's queue -- and when only the library was busy, the queue is lent to this thread
  // once its turn comes, to run the call there (design §3).
  io::EventLoop* io_thread = nullptr;
  bool state_confirmed = false;  // the backend's role and memory were just read (Host)
  std::string client_address;    // the caller's ip:port, for the slow log
};

// A snapshot of the engine for the operations surfaces (server/stats.h).
struct EngineStats {
  struct Runnable {
    enum class Kind { kFunction, kAsyncFunction, kKeyspaceTrigger, kStreamTrigger };
    std::string name;
    Kind kind = Kind::kFunction;
    std::shared_ptr<const RunStats> stats;
    std::optional<std::string> last_error;  // triggers

    bool isFunction() const { return kind == Kind::kFunction || kind == Kind::kAsyncFunction; }
    // "function", "async function", "keyspace trigger", "stream trigger".
    const char* kindName() const {
      switch (kind) {
        case Kind::kFunction:
          return "function";
        case Kind::kAsyncFunction:
          return "async function";
        case Kind::kKeyspaceTrigger:
          return "keyspace trigger";
        case Kind::kStreamTrigger:
          break;
      }
      return "stream trigger";
    }
  };
  struct Stream {  // a stream a stream trigger reads
    std::string trigger;
    int64_t db = 0;
    std::string key;
    uint64_t processed = 0;
    int64_t last_lag_ms = 0;
    size_t pending = 0;  // handed over, not completed
  };
  struct Library {
    std::string name;
    std::string user;
    std::string api_version;
    std::optional<std::string> config;
    size_t code_bytes = 0;
    std::vector<Runnable> runnables;  // functions first, then triggers
    std::vector<std::string> cluster_functions;
    std::vector<Stream> streams;
    size_t total_heap = 0;
    size_t used_heap = 0;
    size_t heap_limit = 0;
    size_t pending_jobs = 0;
    size_t pending_async_calls = 0;
  };
  std::vector<Library> libraries;
  // Calls run on the I/O thread that received them (CallRequest::io_thread).
  uint64_t io_thread_calls = 0;
  // Replaced or deleted versions whose isolates still finish their work (upstream's not_active).
  size_t not_active = 0;
  size_t combined_memory_limit = 0;  // v8-maxmemory
};

struct ListRequest {
  bool with_code = false;
  int verbosity = 0;
  std::optional<std::string> library;
};

class Engine {
 public:
  virtual ~Engine() = default;

  // Stores a change durably; a failure (its text the error reply) vetoes it. Runs on a script
  // thread.
  using Persist =
      std::function<Status(const LibraryDefinition* definition, const std::string& name)>;

  // Compiles and evaluates a library (spec §2.5). On success `persist` is asked to store it
  // (nullptr: no storing), and only then does it replace the previous version.
  virtual void load(LoadRequest request, Persist persist, std::function<void(Status)> done) = 0;
  // Deletes a library (spec §3.2) after `persist` removed it from the store.
  virtual void remove(std::string name, Persist persist, std::function<void(Status)> done) = 0;
  // Runs a function (spec §3.4) and answers with the reply bytes for request.protocol.
  virtual void call(CallRequest request, std::function<void(std::string reply)> done) = 0;
  // TFUNCTION LIST (spec §3.3), as a value to encode for the client.
  virtual resp::Value list(const ListRequest& request) = 0;
  // TFUNCTION DEBUG <args...> (spec §3.5); `args` starts after DEBUG.
  virtual resp::Value debug(const std::vector<std::string>& args) = 0;
  // Locks the libraries with a key space or stream trigger that one of `keys` matches, for firing
  // them in an atomic section the caller enters afterwards: a running function holds its library
  // while it waits for the gate, so libraries are always locked first. Blocks while one of them
  // runs JavaScript elsewhere. Events fired through the run must be of these keys.
  virtual std::unique_ptr<TriggerRun> lockTriggers(const std::vector<std::string>& keys) = 0;
  // Locks the named libraries the same way, for a caller that then enters the atomic section
  // and runs their functions with CallRequest::run_here (a transaction tfproxy runs).
  virtual std::unique_ptr<TriggerRun> lockLibraries(const std::vector<std::string>& names) = 0;
  // What every library runs and holds, for operators (any thread; never waits for JavaScript).
  virtual EngineStats stats() = 0;
  // Functions and trigger runs slower than the slow log's threshold (TFUNCTION SLOWLOG).
  virtual SlowLog& slowLog() = 0;
  // Every loaded library, for the store.
  virtual std::vector<LibraryDefinition> definitions() = 0;
  // Whether I/O threads may run short functions themselves (--io-thread-functions; default yes).
  virtual void allowIoThreadRuns(bool allow) = 0;
  // Stops the script threads; pending work is dropped.
  virtual void shutdown() = 0;
};

// Initialises V8 (once per process) and creates the engine.
std::unique_ptr<Engine> createEngine(config::GearsConfig& config, Host& host);

// The embedded V8's version, e.g. "10.2.154.26-node.37".
std::string v8Version();

}  // namespace tfproxy::scripting
