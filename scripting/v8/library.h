// One loaded library: its isolate and context (one per library, as upstream), what it
// registered, and its job queue. A library's JavaScript runs only through JsScope, on the
// library's job queue, so never on two threads at once.
#pragma once

#include <v8.h>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <unordered_set>
#include <vector>

#include "resp/encoder.h"
#include "scripting/engine.h"
#include "scripting/prologue.h"
#include "scripting/v8/executor.h"
#include "scripting/v8/watchdog.h"

namespace tfproxy::scripting {

class EngineImpl;
class JsScope;
class LibraryDebugger;
class DebugServer;

enum FunctionFlag : uint32_t {
  kNoWrites = 1u << 0,
  kAllowOom = 1u << 1,
  kRawArguments = 1u << 2,
};

struct ClientState;

// A client waiting for a function's promise (TFCALLASYNC): its reply goes out when the
// promise settles, the run is stopped, or the promise is garbage-collected unsettled.
struct ReplyTarget {
  std::function<void(std::string)> done;
  resp::Protocol protocol = resp::Protocol::kResp2;
  v8::Global<v8::Promise> watched;  // weak: a promise dropped unsettled answers the client
  struct WeakParameter* weak = nullptr;
};

struct Function {
  std::string name;
  v8::Global<v8::Function> callback;
  bool is_async = false;      // callable only with TFCALLASYNC
  bool is_coroutine = false;  // the callback is an `async function`
  uint32_t flags = 0;
  std::optional<std::string> description;
  // The sync client handed to this function, reused call after call and valid only during one
  // (as upstream does).
  v8::Global<v8::Object> client;
  ClientState* client_state = nullptr;
  // Calls and their latency; a REPLACE hands the same object to the new version's function of
  // the same name.
  std::shared_ptr<RunStats> stats = std::make_shared<RunStats>();

  // Whether the I/O thread that received a call may run it (design §3): only a function whose
  // runs used under kShortRunCpu of CPU on average (every eighth run sampled, the recent ones
  // weighing most, each counted as at most four times that; the first run, which compiles and
  // connects, left out), and none of whose runs took kLongRun or longer in the last
  // kLongRunPause while it was allowed. CPU time, not elapsed time, makes the average: a thread
  // preempted on a busy machine, or waiting for Redis, is not busy. Any thread. `runs_short` is
  // that decision, made at the end of each run (reading the clock per call would cost more).
  static constexpr std::chrono::microseconds kShortRunCpu{250};
  static constexpr std::chrono::milliseconds kLongRun{10};
  static constexpr std::chrono::seconds kLongRunPause{10};
  bool runsShort() const { return runs_short.load(std::memory_order_relaxed); }
  // A run took `took` (its JavaScript and Redis calls, not its wait for a thread), `cpu` of it
  // on its thread's CPU when that was measured.
  void noteRun(std::chrono::steady_clock::duration took,
               std::optional<std::chrono::nanoseconds> cpu);
  std::atomic<bool> runs_short{false};
  std::atomic<uint64_t> runs{0};  // of this version (stats->runs carries over REPLACE)
  std::atomic<int64_t> average_cpu_ns{0};
  std::atomic<int64_t> long_run_at{INT64_MIN / 2};  // steady clock, ns
};

// A trigger's statistics (spec §7.5). Kept across REPLACE: the new version's trigger of the
// same name takes over the same object. Any thread.
struct TriggerStats {
  std::mutex mutex;  // the fields below, and `runs` counted under it (LIST reads them together)
  uint64_t num_trigger = 0;
  std::optional<std::string> last_error;
  int64_t last_execution_time = 0;  // ms
  int64_t total_execution_time = 0;
  // Finished runs and failures (num_finished, num_failed; num_success is the difference) with
  // their latency, also read by operators; and where slow runs are logged as `label`
  // ("lib.trigger"). Set at registration.
  std::shared_ptr<RunStats> runs = std::make_shared<RunStats>();
  std::string label;
  SlowLog* slow_log = nullptr;
  // A run that started at `start` ended: `error` is its failure, or nullopt.
  void finish(std::chrono::steady_clock::time_point start, std::optional<std::string> error);
};

struct KeyspaceTrigger {
  std::string name;
  std::string prefix;  // bytes; "" matches every key
  v8::Global<v8::Function> callback;
  v8::Global<v8::Function> on_fired;  // empty when not given
  bool is_coroutine = false;          // the callback is an `async function`
  std::optional<std::string> description;
  std::shared_ptr<TriggerStats> stats = std::make_shared<TriggerStats>();

  bool matches(std::string_view key) const { return key.substr(0, prefix.size()) == prefix; }
};

struct StreamTrigger {
  std::string name;
  std::string prefix;  // bytes; "" matches every stream
  v8::Global<v8::Function> callback;
  bool is_coroutine = false;  // the callback is an `async function`
  std::optional<std::string> description;
  int64_t window = 1;  // entries in flight per stream
  bool trim = false;   // isStreamTrimmed
  // Positions and statistics per stream; a REPLACE hands the same object on (spec §8.8).
  std::shared_ptr<StreamTriggerState> state = std::make_shared<StreamTriggerState>();
};

class Library : public std::enable_shared_from_this<Library> {
 public:
  Library(EngineImpl& engine, Prologue prologue, const LoadRequest& request);
  ~Library();
  Library(const Library&) = delete;
  Library& operator=(const Library&) = delete;

  // Creates the isolate and context with the global environment of spec §2.6. False with
  // `error` if V8 could not create them.
  bool initialize(std::string* error);

  EngineImpl& engine() { return engine_; }
  v8::Isolate* isolate() { return isolate_; }
  v8::Local<v8::Context> context() { return context_.Get(isolate_); }
  const std::shared_ptr<JobQueue>& jobs() { return jobs_; }

  const std::string& name() const { return prologue_.name; }
  const std::string& code() const { return code_; }
  const std::string& user() const { return user_; }
  const std::optional<std::string>& config() const { return config_; }
  std::string apiVersion() const { return prologue_.apiVersion(); }
  LibraryDefinition definition() const { return {name(), code_, user_, config_}; }

  // Templates built once per library (bindings only). V8 caches every template it instantiates
  // for the life of the context, so a template built per call would never be freed.
  v8::Global<v8::ObjectTemplate> client_template;
  v8::Global<v8::ObjectTemplate> async_client_template;

  // Registrations; written while the top-level code runs, read-only afterwards.
  std::vector<std::unique_ptr<Function>>& functions() { return functions_; }
  const Function* findFunction(const std::string& name) const;
  std::vector<std::unique_ptr<KeyspaceTrigger>>& keyspaceTriggers() { return keyspace_triggers_; }
  const std::vector<std::unique_ptr<KeyspaceTrigger>>& keyspaceTriggers() const {
    return keyspace_triggers_;
  }
  const KeyspaceTrigger* findKeyspaceTrigger(const std::string& name) const;
  std::vector<std::unique_ptr<StreamTrigger>>& streamTriggers() { return stream_triggers_; }
  const std::vector<std::unique_ptr<StreamTrigger>>& streamTriggers() const {
    return stream_triggers_;
  }
  const StreamTrigger* findStreamTrigger(const std::string& name) const;
  // Cluster functions (spec §4.6), by name: async functions run by runOnKey/runOnShards.
  std::map<std::string, v8::Global<v8::Function>>& clusterFunctions() { return cluster_functions_; }
  // The version this load replaces (null for a first load): registrations check against it.
  void setPredecessor(std::shared_ptr<Library> previous) { predecessor_ = std::move(previous); }
  const std::shared_ptr<Library>& predecessor() const { return predecessor_; }
  // Position among libraries for trigger order (registration order across libraries); a
  // replacement keeps its predecessor's.
  uint64_t order() const { return order_; }
  void setOrder(uint64_t order) { order_ = order; }
  bool registering() const { return registering_; }
  void finishRegistering() { registering_ = false; }

  // The function or trigger whose code runs now, for redis.log's lines (none at load and in
  // code a promise resumes later). Isolate lock held.
  const std::string* running() const { return running_; }
  class Running {
   public:
    Running(Library& library, const std::string& name)
        : library_(library), previous_(library.running_) {
      library.running_ = &name;
    }
    ~Running() { library_.running_ = previous_; }
    Running(const Running&) = delete;
    Running& operator=(const Running&) = delete;

   private:
    Library& library_;
    const std::string* previous_;
  };

  // True while a locked section runs (a function body); commands may be issued then.
  bool locked() const { return locked_; }
  void setLocked(bool locked) { locked_ = locked; }

  // Heap figures as of the end of the last run (read without the isolate lock).
  size_t totalHeap() const { return total_heap_.load(std::memory_order_relaxed); }
  size_t usedHeap() const { return used_heap_.load(std::memory_order_relaxed); }
  // What counts against v8-maxmemory (spec §6.10): the heap in use above what a library's
  // isolate holds before its code runs -- the empty context, the API objects and the garbage of
  // making them, alike for every library.
  size_t countedHeap() const {
    const size_t used = usedHeap();
    return used > baseline_heap_ ? used - baseline_heap_ : 0;
  }
  size_t heapLimit() const { return heap_limit_.load(std::memory_order_relaxed); }
  // Refreshes the heap figures (at most every 10 ms unless forced). Isolate lock held.
  void updateHeapStatistics(bool force = false);

  // The memory budget (spec §6.10): the heap may grow by v8-library-memory-usage-delta steps
  // while all libraries together stay under v8-maxmemory. Over it, `collect` first collects
  // garbage (the collection checks again); otherwise the running JavaScript is stopped.
  // Isolate lock held.
  void enforceBudget(bool collect);
  // The end of every run (JsScope): refreshes the heap figures and, after a run the budget
  // stopped or that ended over its limit, collects before anyone hears of the run. Isolate lock
  // held, no JavaScript running.
  void settleBudgetAfterRun();
  // Asks a running isolate to check its budget at its next interrupt check (the watchdog's
  // periodic probe; any thread).
  static void requestBudgetCheck(v8::Isolate* isolate);

  // --- Asynchronous work (job-queue thread unless noted) ---------------------------------
  // Runs `job` on this library's queue inside a JsScope (not timed: background code has no
  // limit, spec §6.9). If the run is stopped, `target` (when non-zero) gets the error reply.
  // Dropped, with a log line, once the library is deleted.
  void postJob(uint64_t target, std::function<void(JsScope&)> job);
  uint64_t nextId() { return ++last_id_; }

  // Clients waiting for a promise. addReplyTarget may be called from any thread.
  uint64_t addReplyTarget(std::function<void(std::string)> done, resp::Protocol protocol);
  bool hasReplyTarget(uint64_t id);
  // Answers the client (bytes already encoded) and forgets the target. During a run the answer
  // leaves when the run has ended (after its end-of-run collection).
  void reply(uint64_t id, std::string bytes);
  void replyError(uint64_t id, std::string_view text);
  resp::Protocol replyProtocol(uint64_t id);
  // Replies to `id` once `promise` settles (or is dropped unsettled).
  void replyWhenSettled(uint64_t id, v8::Local<v8::Promise> promise);

  // Promises the engine settles later (callAsync, executeAsync).
  uint64_t addResolver(v8::Local<v8::Promise::Resolver> resolver);
  v8::Local<v8::Promise::Resolver> takeResolver(uint64_t id);

  // callAsync commands still waiting (TFUNCTION LIST pending_async_calls); any thread.
  void addPendingCall(uint64_t id, std::string text);
  void removePendingCall(uint64_t id);
  std::vector<std::string> pendingCalls() const;

  // Native state behind an object handed to JavaScript (a client). Freed by the object's weak
  // callback once JavaScript can no longer reach it, or with the library: V8 runs no weak
  // callbacks when it disposes an isolate. Isolate lock held.
  struct Wrapped {
    virtual ~Wrapped() = default;
    v8::Global<v8::Object> handle;
    Library* owner = nullptr;
  };
  void adopt(Wrapped* state, v8::Local<v8::Object> object);

  // JsScope brackets every run with these. Isolate lock held.
  void beginRun() { ++runs_; }
  void endRun() {
    if (--runs_ == 0 && !deferred_.empty()) sendDeferredReplies();
  }

  // TFUNCTION LOAD DEBUG: V8's inspector on this isolate, served by `server` (isolate lock
  // held, context entered). A debugged library runs without lock-redis-timeout (a breakpoint
  // pauses it as long as the developer looks).
  // False when `server` debugs another library already.
  bool startDebugging(DebugServer& server);
  LibraryDebugger* debugger() { return debugger_.get(); }
  bool debugged() const { return debugger_ != nullptr; }

  // Taken before the isolate's Locker by every thread that runs this library's JavaScript
  // (JsScope, a trigger run holding the library), so that an I/O thread can try it without
  // waiting: V8's Locker has no try. Recursive, as the Locker is.
  std::recursive_mutex& runLock() { return run_lock_; }

  // TFUNCTION DELETE: settlements for this library are dropped from now on.
  void markDeleted() { deleted_ = true; }
  bool deleted() const { return deleted_; }

 private:
  void sendDeferredReplies();
  static size_t nearHeapLimit(void* data, size_t current_limit, size_t initial_limit);
  static void afterFullCollection(v8::Isolate* isolate, v8::GCType type, v8::GCCallbackFlags flags,
                                  void* data);
  void stopForMemory();
  void installGlobals(v8::Local<v8::Context> context);

  EngineImpl& engine_;
  Prologue prologue_;
  std::string code_;
  std::string user_;
  std::optional<std::string> config_;
  v8::Isolate* isolate_ = nullptr;
  v8::Global<v8::Context> context_;
  std::shared_ptr<JobQueue> jobs_;
  std::vector<std::unique_ptr<Function>> functions_;
  std::vector<std::unique_ptr<KeyspaceTrigger>> keyspace_triggers_;
  std::vector<std::unique_ptr<StreamTrigger>> stream_triggers_;
  std::map<std::string, v8::Global<v8::Function>> cluster_functions_;
  std::shared_ptr<Library> predecessor_;  // only while loading
  uint64_t order_ = 0;
  std::unordered_set<Wrapped*> wrapped_;  // isolate lock
  bool registering_ = true;
  bool locked_ = false;
  const std::string* running_ = nullptr;  // isolate lock
  std::unique_ptr<LibraryDebugger> debugger_;
  std::atomic<size_t> total_heap_{0};
  std::atomic<size_t> used_heap_{0};
  size_t baseline_heap_ = 0;  // the engine's isolate baseline, set by initialize()
  std::atomic<size_t> heap_limit_{0};
  std::atomic<bool> oom_terminated_{false};
  std::atomic<bool> budget_check_pending_{false};
  uint64_t last_id_ = 0;
  std::atomic<uint64_t> last_target_{0};
  std::mutex targets_mutex_;
  std::map<uint64_t, std::unique_ptr<ReplyTarget>> targets_;
  std::map<uint64_t, v8::Global<v8::Promise::Resolver>> resolvers_;
  int runs_ = 0;                                                                    // isolate lock
  std::vector<std::pair<std::function<void(std::string)>, std::string>> deferred_;  // isolate lock
  mutable std::mutex calls_mutex_;
  std::map<uint64_t, std::string> pending_calls_;
  std::atomic<bool> deleted_{false};
  std::recursive_mutex run_lock_;
  bool warned_deleted_ = false;
  std::chrono::steady_clock::time_point heap_checked_;
};

// The one way into a library's JavaScript (STYLE "V8 lifecycle"): takes the isolate's Locker,
// enters isolate, handle scope and context, and times the run with the watchdog. On exit it
// runs pending microtasks (still inside the run), records heap figures, and clears a
// termination so the library can run again.
class JsScope {
 public:
  // `timed`: bounded by lock-redis-timeout (db-loading-lock-redis-timeout when `restoring`).
  JsScope(Library& library, bool timed, bool restoring = false);
  ~JsScope();
  JsScope(const JsScope&) = delete;
  JsScope& operator=(const JsScope&) = delete;

  v8::Isolate* isolate() { return library_.isolate(); }
  v8::Local<v8::Context> context() { return context_; }
  // Runs queued promise reactions now (they belong to the run that queued them).
  void runMicrotasks();
  // True if the watchdog or the memory limit stopped the JavaScript.
  bool terminated();

 private:
  Library& library_;
  std::unique_lock<std::recursive_mutex> run_lock_;
  v8::Locker locker_;
  v8::Isolate::Scope isolate_scope_;
  v8::HandleScope handle_scope_;
  v8::Local<v8::Context> context_;
  v8::Context::Scope context_scope_;
  // The run's own handles, released before the end-of-run collection so that it can free
  // what they reached.
  std::optional<v8::HandleScope> run_handles_;
  std::optional<Watchdog::Handle> watch_;
  bool terminated_ = false;
};

}  // namespace tfproxy::scripting
