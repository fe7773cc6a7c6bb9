#include "scripting/v8/library.h"

#include "scripting/v8/inspector.h"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <string_view>

#include "scripting/errors.h"
#include "scripting/v8/bindings.h"
#include "scripting/v8/convert.h"
#include "scripting/v8/engine_impl.h"
#include "scripting/v8/platform.h"

namespace tfproxy::scripting {
namespace {

// Globals a library keeps (spec §2.6); everything else is deleted from the global object.
constexpr std::string_view kAllowedGlobals[] = {"Object",
                                                "Function",
                                                "Array",
                                                "Number",
                                                "parseFloat",
                                                "parseInt",
                                                "Infinity",
                                                "NaN",
                                                "undefined",
                                                "Boolean",
                                                "String",
                                                "Symbol",
                                                "Date",
                                                "Promise",
                                                "RegExp",
                                                "Error",
                                                "AggregateError",
                                                "RangeError",
                                                "ReferenceError",
                                                "SyntaxError",
                                                "TypeError",
                                                "URIError",
                                                "globalThis",
                                                "JSON",
                                                "Math",
                                                "Intl",
                                                "ArrayBuffer",
                                                "Uint8Array",
                                                "Int8Array",
                                                "Uint16Array",
                                                "Int16Array",
                                                "Uint32Array",
                                                "Int32Array",
                                                "Float32Array",
                                                "Float64Array",
                                                "Uint8ClampedArray",
                                                "BigUint64Array",
                                                "BigInt64Array",
                                                "DataView",
                                                "Map",
                                                "BigInt",
                                                "Set",
                                                "WeakMap",
                                                "WeakSet",
                                                "Proxy",
                                                "Reflect",
                                                "FinalizationRegistry",
                                                "WeakRef",
                                                "decodeURI",
                                                "decodeURIComponent",
                                                "encodeURI",
                                                "encodeURIComponent",
                                                "escape",
                                                "unescape",
                                                "isFinite",
                                                "isNaN",
                                                "console",
                                                "WebAssembly",
                                                "Iterator"};
// Removed without a warning.
constexpr std::string_view kDeniedGlobals[] = {"eval", "EvalError", "SharedArrayBuffer", "Atomics"};

// How far V8's own heap limit lies above a library's budget. V8 10.2 ends the process when an
// allocation does not fit under its limit after a last-resort collection (CALL_AND_RETRY_LAST),
// without asking the near-heap-limit callback first, and a single allocation can be 1 GB (the
// largest FixedArray or string backing store) plus the store it is copied from. So V8's limit
// is never what stops JavaScript: the budget is enforced after every full collection, and the
// headroom absorbs whatever one run allocates between the budget being crossed and the
// termination taking effect at the next interrupt check. Only committed pages cost memory.
constexpr size_t kAllocationHeadroom = size_t{3} << 30;

template <size_t N>
bool listed(const std::string_view (&list)[N], std::string_view name) {
  return std::find(std::begin(list), std::end(list), name) != std::end(list);
}

}  // namespace

Library::Library(EngineImpl& engine, Prologue prologue, const LoadRequest& request)
    : engine_(engine),
      prologue_(std::move(prologue)),
      code_(request.code),
      user_(request.user),
      config_(request.config),
      jobs_(std::make_shared<JobQueue>(engine.executor())) {}

Library::~Library() {
  // Out of the engine's sight before the isolate goes (shutdown stops the isolates it sees).
  engine_.libraryDestroyed(this);
  if (isolate_ != nullptr) engine_.watchdog().forget(isolate_);
  if (isolate_ != nullptr) {
    {
      v8::Locker locker(isolate_);
      v8::Isolate::Scope scope(isolate_);
      v8::HandleScope handles(isolate_);
      debugger_.reset();  // the inspector goes before what it inspects
      // Nothing can settle what is still awaited: every waiting client is answered.
      std::vector<uint64_t> waiting;
      {
        std::lock_guard lock(targets_mutex_);
        for (auto& [id, target] : targets_) waiting.push_back(id);
      }
      for (uint64_t id : waiting) replyError(id, errors::kPromiseDropped);
      resolvers_.clear();
      client_template.Reset();
      async_client_template.Reset();
      for (Wrapped* w : wrapped_) {
        w->handle.Reset();
        delete w;
      }
      wrapped_.clear();
      for (auto& f : functions_) {
        f->callback.Reset();
        f->client.Reset();
        delete f->client_state;
      }
      for (auto& t : keyspace_triggers_) {
        t->callback.Reset();
        t->on_fired.Reset();
      }
      for (auto& t : stream_triggers_) t->callback.Reset();
      for (auto& [name, fn] : cluster_functions_) fn.Reset();
      context_.Reset();
    }
    isolate_->Dispose();
  }
}

bool Library::startDebugging(DebugServer& server) {
  auto debugger = std::make_unique<LibraryDebugger>(*this, server);
  if (!server.attach(debugger.get())) return false;
  debugger_ = std::move(debugger);
  return true;
}

bool Library::initialize(std::string* error) {
  const config::GearsSettings& s = engine_.config().startup();
  v8::Isolate::CreateParams params;
  params.array_buffer_allocator = engine_.allocator();
  params.constraints.ConfigureDefaultsFromHeapSize(s.v8_library_initial_memory_usage,
                                                   s.v8_library_initial_memory_limit);
  params.constraints.set_max_old_generation_size_in_bytes(
      params.constraints.max_old_generation_size_in_bytes() + kAllocationHeadroom);
  isolate_ = v8::Isolate::New(params);
  if (isolate_ == nullptr) {
    *error = "could not create a V8 isolate";
    return false;
  }
  heap_limit_ = s.v8_library_initial_memory_limit;
  isolate_->SetData(0, this);  // native callbacks find their library through the isolate
  isolate_->SetMicrotasksPolicy(v8::MicrotasksPolicy::kExplicit);
  isolate_->AddNearHeapLimitCallback(&Library::nearHeapLimit, this);
  isolate_->AddGCEpilogueCallback(&Library::afterFullCollection, this, v8::kGCTypeMarkSweepCompact);
  v8::Locker locker(isolate_);
  v8::Isolate::Scope isolate_scope(isolate_);
  v8::HandleScope handle_scope(isolate_);
  v8::Local<v8::Context> context = v8::Context::New(isolate_);
  if (context.IsEmpty()) {
    *error = "could not create a V8 context";
    return false;
  }
  context_.Reset(isolate_, context);
  v8::Context::Scope context_scope(context);
  installGlobals(context);
  if (engine_.isolateBaseline() == 0) {
    updateHeapStatistics(/*force=*/true);
    engine_.setIsolateBaseline(used_heap_);
  }
  baseline_heap_ = engine_.isolateBaseline();
  engine_.libraryCreated(this);  // counted in the heap total, reachable by shutdown, from now on
  return true;
}

void Library::installGlobals(v8::Local<v8::Context> context) {
  v8::Local<v8::Object> global = context->Global();
  if (!engine_.avoidGlobalAllowList()) {
    v8::Local<v8::Array> names;
    if (global
            ->GetPropertyNames(context, v8::KeyCollectionMode::kOwnOnly,
                               v8::PropertyFilter::SKIP_SYMBOLS, v8::IndexFilter::kSkipIndices)
            .ToLocal(&names)) {
      for (uint32_t i = 0; i < names->Length(); ++i) {
        v8::Local<v8::Value> name = names->Get(context, i).ToLocalChecked();
        v8::String::Utf8Value text(isolate_, name);
        std::string_view n(*text, text.length());
        if (listed(kAllowedGlobals, n)) continue;
        if (!listed(kDeniedGlobals, n)) {
          spdlog::warn("library {}: removing unknown global '{}'", prologue_.name, n);
        }
        global->Delete(context, name).Check();
      }
    }
  }
  bindings::installRedis(*this, context, global);
  bindings::installPromise(*this, context, global);
}

const Function* Library::findFunction(const std::string& name) const {
  for (const auto& f : functions_) {
    if (f->name == name) return f.get();
  }
  return nullptr;
}

const KeyspaceTrigger* Library::findKeyspaceTrigger(const std::string& name) const {
  for (const auto& t : keyspace_triggers_) {
    if (t->name == name) return t.get();
  }
  return nullptr;
}

const StreamTrigger* Library::findStreamTrigger(const std::string& name) const {
  for (const auto& t : stream_triggers_) {
    if (t->name == name) return t.get();
  }
  return nullptr;
}

void Function::noteRun(std::chrono::steady_clock::duration took,
                       std::optional<std::chrono::nanoseconds> cpu) {
  const int64_t now = std::chrono::steady_clock::now().time_since_epoch().count();
  // Only a long run of a function an I/O thread would have run starts the pause: a first run
  // that connected or compiled, or runs of a function already kept off them, do not.
  if (took >= kLongRun && runs_short.load(std::memory_order_relaxed)) {
    long_run_at.store(now, std::memory_order_relaxed);
  }
  // Runs of one library never overlap: a plain read and write of the average suffice. The
  // first run (compiling, connecting) is left out of it.
  int64_t average = average_cpu_ns.load(std::memory_order_relaxed);
  const bool first = runs.fetch_add(1, std::memory_order_relaxed) == 0;
  if (!first && cpu) {
    // One run's weight is capped, so that a single collection does not keep a function off the
    // I/O threads for the next eight samples.
    const int64_t capped =
        std::min<int64_t>(cpu->count(), std::chrono::nanoseconds(kShortRunCpu).count() * 4);
    average += (capped - average) / 8;
    average_cpu_ns.store(average, std::memory_order_relaxed);
  }
  const bool paused = now - long_run_at.load(std::memory_order_relaxed) <
                      std::chrono::nanoseconds(kLongRunPause).count();
  runs_short.store(!first && !paused && average < std::chrono::nanoseconds(kShortRunCpu).count(),
                   std::memory_order_relaxed);
}

void TriggerStats::finish(std::chrono::steady_clock::time_point start,
                          std::optional<std::string> error) {
  const auto took = std::chrono::steady_clock::now() - start;
  const auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(took).count();
  runs->latency.observe(took);
  if (slow_log != nullptr && slow_log->logs(took)) slow_log->add(took, {label}, "", label);
  std::lock_guard lock(mutex);
  runs->runs.add();
  last_execution_time = ms;
  total_execution_time += ms;
  if (error) {
    runs->failures.add();
    last_error = std::move(error);
  }
}

void Library::updateHeapStatistics(bool force) {
  // The figures feed the OOM-state check and TFUNCTION DEBUG; the near-heap-limit callback is
  // what stops a growing heap, so a few milliseconds of staleness are fine.
  auto now = std::chrono::steady_clock::now();
  if (!force && now - heap_checked_ < std::chrono::milliseconds(10)) return;
  heap_checked_ = now;
  v8::HeapStatistics hs;
  isolate_->GetHeapStatistics(&hs);
  total_heap_ = hs.total_heap_size();
  used_heap_ = hs.used_heap_size();
}

// The memory budget (spec §6.10). Each library starts with v8-library-initial-memory-limit and
// grows by v8-library-memory-usage-delta while the heap in use by all libraries together is
// under v8-maxmemory; past that, its running JavaScript is stopped and the run ends with the
// termination error. Checked after every full collection, every 10 ms while JavaScript runs
// (the watchdog's interrupt: V8 may go long between full collections under its high limit),
// and at the end of every run.
void Library::afterFullCollection(v8::Isolate*, v8::GCType, v8::GCCallbackFlags, void* data) {
  static_cast<Library*>(data)->enforceBudget(/*collect=*/false);
}

void Library::requestBudgetCheck(v8::Isolate* isolate) {
  auto* self = static_cast<Library*>(isolate->GetData(0));
  // V8 queues every request; a check that collects can outlast the watchdog's tick, and queued
  // checks would then run back to back without the JavaScript ever reaching its termination.
  if (self->budget_check_pending_.exchange(true)) return;
  isolate->RequestInterrupt(
      [](v8::Isolate* isolate, void*) {
        auto* library = static_cast<Library*>(isolate->GetData(0));
        library->enforceBudget(/*collect=*/true);
        library->budget_check_pending_ = false;
      },
      nullptr);
}

void Library::enforceBudget(bool collect) {
  v8::HeapStatistics hs;
  isolate_->GetHeapStatistics(&hs);
  total_heap_ = hs.total_heap_size();
  used_heap_ = hs.used_heap_size();
  if (hs.used_heap_size() <= heap_limit_) return;
  const config::GearsSettings& s = engine_.config().startup();
  const size_t delta = s.v8_library_memory_usage_delta;
  // Growth stops once the total reached v8-maxmemory, so the total exceeds it by at most one
  // delta, and a library stopped here leaves the engine in the OOM state until memory is freed.
  if (engine_.totalHeap() < s.v8_maxmemory) {
    heap_limit_ = hs.used_heap_size() + delta;
    return;
  }
  // Garbage may be what holds the heap up: the collection's own check decides.
  if (collect) {
    isolate_->LowMemoryNotification();
    return;
  }
  stopForMemory();
}

void Library::settleBudgetAfterRun() {
  const bool stopped = oom_terminated_.exchange(false);
  updateHeapStatistics(stopped);
  // A run that was stopped, or that ended over its limit before a check caught it, leaves
  // garbage that would keep every library in the OOM state: collect it now, before the client
  // hears of the run and calls again.
  if (!stopped && usedHeap() <= heapLimit()) return;
  if (stopped) {
    isolate_->LowMemoryNotification();
  } else {
    enforceBudget(/*collect=*/true);  // grows the limit, or collects
  }
  Platform::runPendingTasks(isolate_);
  // No JavaScript runs now: a stop the collection's budget check requested has nothing to stop.
  isolate_->CancelTerminateExecution();
  oom_terminated_ = false;
  updateHeapStatistics(/*force=*/true);
}

void Library::stopForMemory() {
  if (!oom_terminated_.exchange(true)) {
    spdlog::warn(
        "library {}: the JavaScript heap of all libraries reached v8-maxmemory ({} bytes); "
        "stopping the running code",
        prologue_.name, engine_.config().startup().v8_maxmemory);
  }
  isolate_->TerminateExecution();
}

// V8 reached its own limit, which lies kAllocationHeadroom above the budget: only JavaScript
// that keeps allocating after it was told to stop gets here. V8 ends the process unless the
// answer exceeds what the heap already holds, so the limit always grows; the termination
// takes effect at the next interrupt check.
size_t Library::nearHeapLimit(void* data, size_t current_limit, size_t) {
  auto* self = static_cast<Library*>(data);
  v8::HeapStatistics hs;
  self->isolate_->GetHeapStatistics(&hs);
  self->stopForMemory();
  return std::max(current_limit, hs.total_heap_size()) + kAllocationHeadroom;
}

// --- Asynchronous work --------------------------------------------------------------------

struct WeakParameter {
  Library* library;
  uint64_t id;
};

namespace {

// Then-handlers that answer a waiting client; data is the target id.
void onSettled(const v8::FunctionCallbackInfo<v8::Value>& info, bool fulfilled) {
  v8::Isolate* isolate = info.GetIsolate();
  auto* library = static_cast<Library*>(isolate->GetData(0));
  auto id = reinterpret_cast<uint64_t>(info.Data().As<v8::External>()->Value());
  if (!library->hasReplyTarget(id)) return;
  v8::Local<v8::Context> ctx = isolate->GetCurrentContext();
  std::string bytes;
  resp::ReplyWriter w(&bytes, library->replyProtocol(id));
  if (fulfilled) {
    std::string error;
    if (!convert::jsToReply(isolate, ctx, info[0], w, &error)) {
      bytes.clear();
      w.error(error);
    }
  } else {
    w.error(convert::errorText(isolate, ctx, info[0], library->engine().config().errorVerbosity()));
  }
  library->reply(id, std::move(bytes));
}

void onPromiseDropped(const v8::WeakCallbackInfo<WeakParameter>& info) {
  WeakParameter* p = info.GetParameter();
  p->library->replyError(p->id, errors::kPromiseDropped);
}

}  // namespace

void Library::postJob(uint64_t target, std::function<void(JsScope&)> job) {
  auto self = shared_from_this();
  jobs_->post([self, target, job = std::move(job)]() mutable {
    bool stopped = false;
    {
      JsScope scope(*self, /*timed=*/false);
      if (self->deleted()) {
        if (!self->warned_deleted_) {
          self->warned_deleted_ = true;
          spdlog::warn("library {}: Library was delete while not all the jobs were done",
                       self->name());
        }
        if (target != 0) self->replyError(target, errors::kPromiseDropped);
      } else {
        job(scope);
        scope.runMicrotasks();
      }
      job = nullptr;  // handles it captured are released while the isolate is entered
      stopped = scope.terminated();
    }
    if (stopped && target != 0) {
      JsScope scope(*self, /*timed=*/false);
      self->replyError(target, errors::kTerminated);
    }
  });
}

uint64_t Library::addReplyTarget(std::function<void(std::string)> done, resp::Protocol protocol) {
  uint64_t id = ++last_target_;
  auto target = std::make_unique<ReplyTarget>();
  target->done = std::move(done);
  target->protocol = protocol;
  std::lock_guard lock(targets_mutex_);
  targets_[id] = std::move(target);
  return id;
}

bool Library::hasReplyTarget(uint64_t id) {
  std::lock_guard lock(targets_mutex_);
  return targets_.count(id) > 0;
}

resp::Protocol Library::replyProtocol(uint64_t id) {
  std::lock_guard lock(targets_mutex_);
  auto it = targets_.find(id);
  return it == targets_.end() ? resp::Protocol::kResp2 : it->second->protocol;
}

void Library::reply(uint64_t id, std::string bytes) {
  std::unique_ptr<ReplyTarget> target;
  {
    std::lock_guard lock(targets_mutex_);
    auto it = targets_.find(id);
    if (it == targets_.end()) return;
    target = std::move(it->second);
    targets_.erase(it);
  }
  if (target->weak != nullptr) {
    target->watched.Reset();
    delete target->weak;
  }
  if (runs_ > 0) {
    deferred_.emplace_back(std::move(target->done), std::move(bytes));
    return;
  }
  target->done(std::move(bytes));
}

void Library::sendDeferredReplies() {
  std::vector<std::pair<std::function<void(std::string)>, std::string>> replies;
  replies.swap(deferred_);
  for (auto& [done, bytes] : replies) done(std::move(bytes));
}

void Library::replyError(uint64_t id, std::string_view text) {
  std::string bytes;
  resp::ReplyWriter(&bytes, replyProtocol(id)).error(text);
  reply(id, std::move(bytes));
}

void Library::replyWhenSettled(uint64_t id, v8::Local<v8::Promise> promise) {
  v8::Local<v8::Context> ctx = isolate_->GetCurrentContext();
  v8::Local<v8::External> data = v8::External::New(isolate_, reinterpret_cast<void*>(id));
  v8::Local<v8::Function> fulfilled;
  v8::Local<v8::Function> rejected;
  v8::Local<v8::Promise> ignored;
  if (!v8::Function::New(
           ctx, [](const v8::FunctionCallbackInfo<v8::Value>& info) { onSettled(info, true); },
           data)
           .ToLocal(&fulfilled) ||
      !v8::Function::New(
           ctx, [](const v8::FunctionCallbackInfo<v8::Value>& info) { onSettled(info, false); },
           data)
           .ToLocal(&rejected) ||
      !promise->Then(ctx, fulfilled, rejected).ToLocal(&ignored)) {
    replyError(id, errors::kPromiseDropped);
    return;
  }
  std::lock_guard lock(targets_mutex_);
  auto it = targets_.find(id);
  if (it == targets_.end()) return;
  ReplyTarget& t = *it->second;
  t.weak = new WeakParameter{this, id};
  t.watched.Reset(isolate_, promise);
  t.watched.SetWeak(t.weak, onPromiseDropped, v8::WeakCallbackType::kParameter);
}

void Library::adopt(Wrapped* state, v8::Local<v8::Object> object) {
  state->owner = this;
  wrapped_.insert(state);
  state->handle.Reset(isolate_, object);
  state->handle.SetWeak(
      state,
      [](const v8::WeakCallbackInfo<Wrapped>& info) {
        Wrapped* w = info.GetParameter();
        w->handle.Reset();
        w->owner->wrapped_.erase(w);
        delete w;
      },
      v8::WeakCallbackType::kParameter);
}

uint64_t Library::addResolver(v8::Local<v8::Promise::Resolver> resolver) {
  uint64_t id = nextId();
  resolvers_[id].Reset(isolate_, resolver);
  return id;
}

v8::Local<v8::Promise::Resolver> Library::takeResolver(uint64_t id) {
  auto it = resolvers_.find(id);
  if (it == resolvers_.end()) return {};
  v8::Local<v8::Promise::Resolver> r = it->second.Get(isolate_);
  resolvers_.erase(it);
  return r;
}

void Library::addPendingCall(uint64_t id, std::string text) {
  std::lock_guard lock(calls_mutex_);
  pending_calls_[id] = std::move(text);
}

void Library::removePendingCall(uint64_t id) {
  std::lock_guard lock(calls_mutex_);
  pending_calls_.erase(id);
}

std::vector<std::string> Library::pendingCalls() const {
  std::lock_guard lock(calls_mutex_);
  std::vector<std::string> out;
  for (auto& [id, text] : pending_calls_) out.push_back(text);
  return out;
}

JsScope::JsScope(Library& library, bool timed, bool restoring)
    : library_(library),
      run_lock_(library.runLock()),
      locker_(library.isolate()),
      isolate_scope_(library.isolate()),
      handle_scope_(library.isolate()),
      context_(library.context()),
      context_scope_(context_),
      run_handles_(std::in_place, library.isolate()) {
  library.beginRun();
  watch_ =
      library.engine().watchdog().enter(library.isolate(), timed && !library.debugged(), restoring);
}

JsScope::~JsScope() {
  if (watch_) terminated_ |= library_.engine().watchdog().leave(*watch_);
  // Also clears a termination requested after the JavaScript had already ended (the watchdog
  // racing the end of a run), which would otherwise stop the library's next run.
  isolate()->CancelTerminateExecution();
  run_handles_.reset();
  Platform::runPendingTasks(isolate());
  library_.settleBudgetAfterRun();
  library_.endRun();
}

void JsScope::runMicrotasks() { isolate()->PerformMicrotaskCheckpoint(); }

bool JsScope::terminated() { return terminated_ || isolate()->IsExecutionTerminating(); }

}  // namespace tfproxy::scripting
