#include "scripting/v8/engine_impl.h"

#include <time.h>

#include <spdlog/spdlog.h>

#include <atomic>
#include <cstdlib>
#include <mutex>
#include <thread>

#include "scripting/errors.h"
#include "scripting/prologue.h"
#include "scripting/text.h"
#include "scripting/v8/allocator.h"
#include "scripting/v8/bindings.h"
#include "scripting/v8/convert.h"
#include "scripting/v8/inspector.h"
#include "scripting/v8/library.h"
#include "scripting/v8/platform.h"
#include "scripting/v8/trigger_run.h"

namespace tfproxy::scripting {

using resp::Value;

namespace {

Value bulk(std::string_view s) { return Value::bulk(s); }
Value mapOf(std::vector<std::pair<std::string, Value>> entries) {
  // Upstream builds these maps from sorted trees: keys in byte order (spec §3.3).
  std::sort(entries.begin(), entries.end(),
            [](const auto& a, const auto& b) { return a.first < b.first; });
  std::vector<Value> flat;
  for (auto& [k, v] : entries) {
    flat.push_back(bulk(k));
    flat.push_back(std::move(v));
  }
  return Value::array(std::move(flat), resp::Type::kMap);
}
Value boolean(bool b) {
  Value v;
  v.type = resp::Type::kBoolean;
  v.boolean = b;
  return v;
}
Value okValue() { return Value::simple("OK"); }
Value pendingCalls(const Library& lib) {
  std::vector<Value> calls;
  for (std::string& text : lib.pendingCalls()) calls.push_back(Value::bulk(text));
  return Value::array(std::move(calls));
}

// Writes a function's result (or the error it became) for the client (spec §5.2, 5.3).
void writeResult(v8::Isolate* isolate, v8::Local<v8::Context> ctx, v8::Local<v8::Value> value,
                 resp::ReplyWriter& w) {
  std::string error;
  if (!convert::jsToReply(isolate, ctx, value, w, &error)) w.error(error);
}

std::once_flag platform_once;
std::unique_ptr<Platform> platform;

}  // namespace

std::unique_ptr<Engine> createEngine(config::GearsConfig& config, Host& host) {
  std::call_once(platform_once, [&] {
    platform = std::make_unique<Platform>(config::effectiveV8Flags(config.startup().v8_flags));
  });
  return std::make_unique<EngineImpl>(config, host);
}

std::string v8Version() { return Platform::v8Version(); }

EngineImpl::EngineImpl(config::GearsConfig& config, Host& host)
    : config_(config),
      host_(host),
      allocator_(newBudgetedAllocator(config.startup().v8_maxmemory)),
      watchdog_(config, &Library::requestBudgetCheck),
      executor_(config.startup().execution_threads),
      admin_executor_(1),
      admin_(std::make_shared<JobQueue>(admin_executor_)) {}

EngineImpl::~EngineImpl() { shutdown(); }

void EngineImpl::shutdown() {
  // JavaScript that does not end by itself (an endless loop in a coroutine) must not keep the
  // process from exiting: while the threads wind down, whatever runs is stopped, again and
  // again, until they are gone.
  std::atomic<bool> stopped{false};
  std::thread stopper([this, &stopped] {
    while (!stopped.load()) {
      {
        std::lock_guard lock(mutex_);
        for (Library* library : live_) library->isolate()->TerminateExecution();
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
  });
  admin_executor_.stop();
  executor_.stop();
  stopped = true;
  stopper.join();
  std::map<std::string, std::shared_ptr<Library>> libraries;
  {
    std::lock_guard lock(mutex_);
    libraries.swap(libraries_);
  }
  libraries.clear();  // disposes the isolates
}

void EngineImpl::libraryCreated(Library* library) {
  std::lock_guard lock(mutex_);
  live_.insert(library);
}

void EngineImpl::libraryDestroyed(Library* library) {
  std::lock_guard lock(mutex_);
  live_.erase(library);
}

size_t EngineImpl::totalHeap() {
  std::lock_guard lock(mutex_);
  size_t total = 0;
  for (Library* l : live_) total += l->countedHeap();
  return total;
}

bool EngineImpl::oomState() {
  if (totalHeap() < config_.startup().v8_maxmemory) return false;
  // Re-evaluated on every check (spec §6.10): garbage may be all that holds the heap up, so ask
  // every library to collect, at most once a second.
  auto now = std::chrono::steady_clock::now();
  std::vector<std::shared_ptr<Library>> libraries;
  {
    std::lock_guard lock(mutex_);
    if (now - last_oom_gc_ < std::chrono::seconds(1)) return true;
    last_oom_gc_ = now;
    for (auto& [name, lib] : libraries_) libraries.push_back(lib);
  }
  for (auto& lib : libraries) {
    lib->jobs()->post([lib] {
      JsScope scope(*lib, /*timed=*/false);
      scope.isolate()->LowMemoryNotification();
      lib->updateHeapStatistics(/*force=*/true);
    });
  }
  return true;
}

void EngineImpl::load(LoadRequest request, Persist persist, std::function<void(Status)> done) {
  admin_->post([this, request = std::move(request), persist = std::move(persist),
                done = std::move(done)] { done(loadNow(request, persist)); });
}

Status EngineImpl::loadNow(const LoadRequest& request, const Persist& persist) {
  std::string error;
  std::optional<Prologue> prologue = parsePrologue(request.code, &error);
  if (!prologue) return Status::failure(errors::kCompilePrefix + error);
  if (oomState()) return Status::failure(std::string(errors::kCompilePrefix) + errors::kOomState);

  auto library = std::make_shared<Library>(*this, *prologue, request);
  if (!library->initialize(&error)) return Status::failure(errors::kCompilePrefix + error);
  const int64_t verbosity = config_.errorVerbosity();
  {
    JsScope scope(*library, /*timed=*/true, request.restoring);
    v8::Isolate* isolate = scope.isolate();
    v8::Local<v8::Context> ctx = scope.context();
    if (request.debug) {
      if (!debug_server_) {
        debug_server_ = std::make_unique<DebugServer>(config_.startup().v8_debug_server_address);
      }
      if (Status started = debug_server_->start(); !started.ok()) {
        return Status::failure(errors::kCompilePrefix + started.message());
      }
      if (!library->startDebugging(*debug_server_)) {
        return Status::failure(errors::kDebugSessionExists);
      }
    }
    v8::TryCatch tc(isolate);
    v8::ScriptOrigin origin(isolate, bindings::newString(isolate, prologue->name));
    v8::Local<v8::Script> script;
    if (!v8::Script::Compile(ctx, bindings::newString(isolate, request.code), &origin)
             .ToLocal(&script)) {
      return Status::failure(errors::kCompilePrefix +
                             convert::errorText(isolate, ctx, tc.Exception(), 1) +
                             convert::compileErrorPlace(isolate, ctx, tc.Message(), verbosity));
    }
    if (!apiVersionSupported(*prologue)) {
      return Status::failure(errors::kCompilePrefix + unsupportedApiVersion(*prologue));
    }
    {
      std::lock_guard lock(mutex_);
      auto it = libraries_.find(prologue->name);
      if (it != libraries_.end()) {
        if (!request.replace) return Status::failure(errors::libraryExists(prologue->name));
        library->setPredecessor(it->second);
      }
    }
    v8::Local<v8::Value> completion;
    bool ran = script->Run(ctx).ToLocal(&completion);
    if (ran) scope.runMicrotasks();
    if (!ran || tc.HasTerminated()) {
      if (tc.HasTerminated() || scope.terminated()) {
        return Status::failure(std::string(errors::kLoadingPrefix) + errors::kTerminated + ".");
      }
      return Status::failure(errors::kLoadingPrefix +
                             convert::errorText(isolate, ctx, tc.Exception(), verbosity) + ".");
    }
    if (completion->IsPromise() &&
        completion.As<v8::Promise>()->State() == v8::Promise::kRejected) {
      return Status::failure(
          errors::kLoadingPrefix + std::string(errors::kModuleRejected) +
          convert::errorText(isolate, ctx, completion.As<v8::Promise>()->Result(), verbosity) +
          ".");
    }
    library->finishRegistering();
  }
  library->setPredecessor(nullptr);
  if (library->functions().empty() && library->keyspaceTriggers().empty() &&
      library->streamTriggers().empty()) {
    return Status::failure(errors::kNoRegistrations);
  }
  if (persist) {
    LibraryDefinition definition = library->definition();
    if (Status refused = persist(&definition, definition.name); !refused.ok()) return refused;
  }
  std::shared_ptr<Library> previous;
  {
    std::lock_guard lock(mutex_);
    auto it = libraries_.find(prologue->name);
    if (it != libraries_.end()) previous = it->second;
  }
  // An upgrade keeps the triggers' statistics (spec §7.4) and the library's place in the
  // trigger order.
  library->setOrder(previous ? previous->order() : ++last_order_);
  if (previous) {
    for (auto& trigger : library->keyspaceTriggers()) {
      if (const KeyspaceTrigger* old = previous->findKeyspaceTrigger(trigger->name)) {
        trigger->stats = old->stats;
      }
    }
    for (auto& function : library->functions()) {
      if (const Function* old = previous->findFunction(function->name)) {
        function->stats = old->stats;
      }
    }
  }
  auto hasTriggers = [](const Library& l) {
    return !l.keyspaceTriggers().empty() || !l.streamTriggers().empty();
  };
  const bool triggers = hasTriggers(*library) || (previous && hasTriggers(*previous));
  {
    std::lock_guard lock(mutex_);
    libraries_[prologue->name] = std::move(library);
  }
  if (previous) watchdog_.retire(previous->isolate());
  if (triggers) announceTriggers();
  // The previous version finishes the work it has (spec §9.2) and goes when nothing holds it.
  return {};
}

void EngineImpl::remove(std::string name, Persist persist, std::function<void(Status)> done) {
  admin_->post(
      [this, name = std::move(name), persist = std::move(persist), done = std::move(done)] {
        {
          std::lock_guard lock(mutex_);
          if (libraries_.count(name) == 0) {
            done(Status::failure(errors::kLibraryMissing));
            return;
          }
        }
        if (persist) {
          if (Status refused = persist(nullptr, name); !refused.ok()) {
            done(refused);
            return;
          }
        }
        std::shared_ptr<Library> removed;
        {
          std::lock_guard lock(mutex_);
          auto it = libraries_.find(name);
          if (it != libraries_.end()) {
            removed = std::move(it->second);
            libraries_.erase(it);
          }
        }
        // Its work in flight goes on; what would settle its promises is dropped (spec §9.3).
        if (removed) {
          removed->markDeleted();
          watchdog_.retire(removed->isolate());
          if (!removed->keyspaceTriggers().empty() || !removed->streamTriggers().empty()) {
            announceTriggers();
          }
        }
        done(Status());
      });
}

void EngineImpl::call(CallRequest request, std::function<void(std::string reply)> done) {
  auto fail = [&](std::string_view text) {
    std::string reply;
    resp::ReplyWriter(&reply, request.protocol).error(text);
    done(std::move(reply));
  };
  std::shared_ptr<Library> library;
  {
    std::lock_guard lock(mutex_);
    auto it = libraries_.find(request.library);
    if (it != libraries_.end()) library = it->second;
  }
  if (!library) return fail("Unknown library " + request.library);
  const Function* function = library->findFunction(request.function);
  if (function == nullptr) return fail("Unknown function " + request.function);
  if ((function->flags & kNoWrites) == 0) {
    const bool replica = !host_.backendWritable();
    const bool oom = !replica && (function->flags & kAllowOom) == 0 && host_.backendOutOfMemory();
    if ((replica || oom || !host_.backendStateCurrent()) && !request.state_confirmed) {
      // A refusal -- or any decision while a change is on its way -- is confirmed with the
      // backend first (spec §11.5), off this thread: the call starts over with the answer.
      request.state_confirmed = true;
      if (request.run_here) {  // this thread may wait: it holds the library
        host_.confirmBackendState();
        return call(std::move(request), std::move(done));
      }
      admin_->post([this, request = std::move(request), done = std::move(done)]() mutable {
        host_.confirmBackendState();
        call(std::move(request), std::move(done));
      });
      return;
    }
    if (replica) return fail(errors::kWritesOnReplica);
    if (oom) return fail(errors::kOomFunction);
  }
  const size_t after_numkeys = request.args.size();
  if (after_numkeys < request.numkeys) {
    return fail("Not enough arguments was given, expected at least " +
                std::to_string(request.numkeys) + " arguments, got " +
                std::to_string(after_numkeys) + " arguments.");
  }
  if (function->is_async && !request.async_call) return fail(errors::kDeclaredAsync);
  if (oomState()) return fail(errors::kOomState);
  // Counted from here to the reply, waits for the library and the gate included: the time the
  // client waited on tfproxy.
  // The call as the slow log shows it, should it be slow.
  std::vector<std::string> shown{request.async_call ? "TFCALLASYNC" : "TFCALL",
                                 request.library + "." + request.function,
                                 std::to_string(request.numkeys)};
  shown.insert(shown.end(), request.args.begin(), request.args.end());
  auto counted = [this, stats = function->stats, start = std::chrono::steady_clock::now(),
                  shown = std::move(shown), client = request.client_address,
                  done = std::move(done)](std::string reply) mutable {
    const auto took = std::chrono::steady_clock::now() - start;
    stats->runs.add();
    if (!reply.empty() && (reply[0] == '-' || reply[0] == '!')) stats->failures.add();
    stats->latency.observe(took);
    if (slow_log_.logs(took)) {
      std::string name = shown[1];
      slow_log_.add(took, std::move(shown), std::move(client), std::move(name));
    }
    done(std::move(reply));
  };
  invoke(std::move(library), function, std::move(request), std::move(counted));
}

namespace {
// How long an I/O thread running a function polls for a Redis reply before it sleeps: a loopback
// round trip is well inside it.
constexpr std::chrono::microseconds kIoThreadReplySpin{50};

using Nanos = std::chrono::nanoseconds;

// CPU time the calling thread has used (not the time it was preempted or waited for Redis).
Nanos threadCpuTime() {
  timespec ts{};
  ::clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
  return std::chrono::seconds(ts.tv_sec) + std::chrono::nanoseconds(ts.tv_nsec);
}
}  // namespace

// Converts the call's arguments for JavaScript (spec §3.4): strings, or ArrayBuffers with
// RAW_ARGUMENTS. False if one is not UTF-8.
bool functionArguments(v8::Isolate* isolate, const Function& f, const CallRequest& request,
                       std::vector<v8::Local<v8::Value>>* argv) {
  for (const std::string& a : request.args) {
    if ((f.flags & kRawArguments) != 0) {
      auto store = v8::ArrayBuffer::NewBackingStore(isolate, a.size());
      if (!a.empty()) std::memcpy(store->Data(), a.data(), a.size());
      argv->push_back(v8::ArrayBuffer::New(isolate, std::move(store)));
    } else if (isValidUtf8(a)) {
      argv->push_back(bindings::newString(isolate, a));
    } else {
      return false;
    }
  }
  return true;
}

// Runs a function (spec §6.1) on its library's queue. A normal callback runs at once in a locked
// section with the sync client (A); a coroutine starts as a background job with an async
// client (B). When blocking is allowed (TFCALLASYNC outside MULTI) a pending promise makes the
// client wait for it.
void EngineImpl::invoke(std::shared_ptr<Library> library, const Function* function,
                        CallRequest request, std::function<void(std::string)> done) {
  const bool block_allowed = request.async_call && !request.in_transaction;
  if (function->is_coroutine) {
    if (!block_allowed) {
      std::string reply;
      resp::ReplyWriter(&reply, request.protocol).error(errors::kCannotBlock);
      done(std::move(reply));
      return;
    }
    const uint64_t target = library->addReplyTarget(std::move(done), request.protocol);
    Library* lib = library.get();
    library->postJob(
        target, [this, lib, function, request = std::move(request), target](JsScope& scope) {
          v8::Isolate* isolate = scope.isolate();
          v8::Local<v8::Context> ctx = scope.context();
          const Function& f = *function;
          Library::Running running(*lib, f.name);
          std::vector<v8::Local<v8::Value>> argv;
          argv.push_back(bindings::asyncClient(*lib, request.identity, f.flags, target));
          if (!functionArguments(isolate, f, request, &argv)) {
            lib->replyError(target, errors::kArgNotString);
            return;
          }
          v8::TryCatch tc(isolate);
          v8::Local<v8::Value> result;
          if (!f.callback.Get(isolate)
                   ->Call(ctx, ctx->Global(), static_cast<int>(argv.size()), argv.data())
                   .ToLocal(&result)) {
            lib->replyError(target, tc.HasTerminated()
                                        ? std::string(errors::kTerminated)
                                        : convert::errorText(isolate, ctx, tc.Exception(),
                                                             config_.errorVerbosity()));
            return;
          }
          if (result->IsPromise()) {
            lib->replyWhenSettled(target, result.As<v8::Promise>());
          } else {
            std::string bytes;
            resp::ReplyWriter w(&bytes, lib->replyProtocol(target));
            writeResult(isolate, ctx, result, w);
            lib->reply(target, std::move(bytes));
          }
        });
    return;
  }

  // The function's own run figures (Function::noteRun) change with every run.
  Function& f = *const_cast<Function*>(function);
  if (request.run_here) {
    runSync(*library, f, request, done, request.section_held);
    return;
  }
  callSync(std::move(library), f, std::move(request), std::move(done));
}

void EngineImpl::callSync(std::shared_ptr<Library> library, Function& f, CallRequest request,
                          std::function<void(std::string)> done) {
  IoRun tried = IoRun::kNotEligible;
  if (request.io_thread != nullptr) {
    tried = tryRunOnIoThread(*library, f, request, done);
    if (tried == IoRun::kRan) return;
  }
  struct Call {
    std::shared_ptr<Library> library;
    CallRequest request;
    std::function<void(std::string)> done;
    IoRun tried;
  };
  auto call = std::make_shared<Call>(Call{library, std::move(request), std::move(done), tried});
  // On a script thread. Entering before the body (rather than at its first Redis call) lets the
  // gate keep the fleet's lock for the calls that follow, which can then run on their I/O thread.
  auto on_script_thread = [this, call, &f] {
    if (call->tried == IoRun::kEnterFirst && host_.enterAtomicSection().ok()) {
      runSync(*call->library, f, call->request, call->done, /*section_held=*/true);
      host_.leaveAtomicSection();
      return;
    }
    runSync(*call->library, f, call->request, call->done, call->request.section_held);
  };
  Library* lib = library.get();
  if (tried != IoRun::kLibraryBusy) {
    lib->jobs()->post(std::move(on_script_thread));
    return;
  }
  // Only the library stood in the way: on its turn, its queue is lent to this I/O thread, which
  // runs this call and the ones queued behind it for the same thread -- one crossing each way
  // for all of them, and the calls arriving meanwhile run there at once -- instead of every
  // call queueing behind the one before it on a script thread (design §3).
  lib->jobs()->postLent(
      request.io_thread,
      [this, call, &f] {
        if (!mayRunOnIoThread(*call->library, f, call->request)) return false;
        call->tried = runOnIoThread(*call->library, f, call->request, call->done);
        return call->tried == IoRun::kRan;
      },
      std::move(on_script_thread));
}

bool EngineImpl::mayRunOnIoThread(const Library& library, const Function& function,
                                  const CallRequest& request) const {
  // Only what cannot wait here: a function known to run short, in a library not being debugged
  // (a breakpoint would stop the I/O thread) -- and then only a library nobody runs, with a
  // script thread's place free, and the gate free (design §3, "Running JavaScript").
  return io_thread_runs_.load(std::memory_order_relaxed) && function.runsShort() &&
         !request.section_held && !library.debugged() && !library.deleted();
}

EngineImpl::IoRun EngineImpl::tryRunOnIoThread(Library& library, Function& function,
                                               const CallRequest& request,
                                               std::function<void(std::string)>& done) {
  if (!mayRunOnIoThread(library, function, request)) return IoRun::kNotEligible;
  IoRun outcome = IoRun::kLibraryBusy;
  library.jobs()->runHere(
      [&] {
        outcome = runOnIoThread(library, function, request, done);
        return outcome == IoRun::kRan;
      },
      request.io_thread);
  return outcome;
}

EngineImpl::IoRun EngineImpl::runOnIoThread(Library& library, Function& function,
                                            const CallRequest& request,
                                            std::function<void(std::string)>& done) {
  std::unique_lock run_lock(library.runLock(), std::try_to_lock);
  // A trigger run or a transaction holds the library (and may wait for this thread).
  if (!run_lock.owns_lock()) return IoRun::kLibraryBusy;
  // The isolate before the gate, in the order every runner takes them (JsScope takes it again).
  // Free, with the run lock held: only the platform's tasks take it otherwise, briefly.
  v8::Locker locker(library.isolate());
  switch (host_.tryEnterAtomicSection()) {
    case Host::TryEnter::kEntered:
      break;
    case Host::TryEnter::kEnterFirst:
      return IoRun::kEnterFirst;
    case Host::TryEnter::kBusy:
      return IoRun::kGateBusy;
  }
  io_thread_calls_.add();
  runSync(library, function, request, done, /*section_held=*/true, /*on_io_thread=*/true);
  host_.leaveAtomicSection();
  return IoRun::kRan;
}

void EngineImpl::runSync(Library& library, Function& f, const CallRequest& request,
                         std::function<void(std::string)>& done, bool section_held,
                         bool on_io_thread) {
  const bool block_allowed = request.async_call && !request.in_transaction;
  // A client that may wait gets a target now, so background work started by the body
  // (executeAsync) knows whom it works for.
  const uint64_t target =
      block_allowed ? library.addReplyTarget(std::move(done), request.protocol) : 0;
  bool answered_later = false;
  std::string reply;
  resp::ReplyWriter w(&reply, request.protocol);
  const auto started = std::chrono::steady_clock::now();
  // The thread's CPU clock costs a system call where the steady clock does not (over a
  // microsecond on a virtual machine): every eighth run is enough for the average.
  const bool sample_cpu = f.runs.load(std::memory_order_relaxed) % 8 == 1;
  const std::chrono::nanoseconds cpu_started = sample_cpu ? threadCpuTime() : Nanos::zero();
  {
    JsScope scope(library, /*timed=*/true);
    v8::Isolate* isolate = scope.isolate();
    v8::Local<v8::Context> ctx = scope.context();
    Library::Running running(library, f.name);
    Invocation invocation(library, request.identity, request.db, f.flags, block_allowed,
                          section_held, target);
    // An I/O thread waits for Redis without sleeping: its clients, and the gate it holds, wait
    // for it (and it has no other work meanwhile). Measured in the README ("Functions").
    if (on_io_thread) invocation.setReplySpin(kIoThreadReplySpin);
    std::vector<v8::Local<v8::Value>> argv;
    argv.push_back(bindings::syncClient(library, f));
    if (!functionArguments(isolate, f, request, &argv)) {
      w.error(errors::kArgNotString);
    } else {
      f.client_state->invocation = &invocation;
      library.setLocked(true);
      v8::TryCatch tc(isolate);
      v8::Local<v8::Value> result;
      bool ok = f.callback.Get(isolate)
                    ->Call(ctx, ctx->Global(), static_cast<int>(argv.size()), argv.data())
                    .ToLocal(&result);
      if (ok) scope.runMicrotasks();
      if (!ok || tc.HasTerminated()) {
        if (tc.HasTerminated() || scope.terminated()) {
          w.error(errors::kTerminated);
        } else {
          w.error(convert::errorText(isolate, ctx, tc.Exception(), config_.errorVerbosity()));
        }
      } else if (result->IsPromise()) {
        v8::Local<v8::Promise> promise = result.As<v8::Promise>();
        switch (promise->State()) {
          case v8::Promise::kFulfilled:
            writeResult(isolate, ctx, promise->Result(), w);
            break;
          case v8::Promise::kRejected:
            w.error(convert::errorText(isolate, ctx, promise->Result(), config_.errorVerbosity()));
            break;
          case v8::Promise::kPending:
            if (block_allowed) {
              library.replyWhenSettled(target, promise);
              answered_later = true;
            } else {
              w.error(errors::kCannotBlock);
            }
            break;
        }
      } else {
        writeResult(isolate, ctx, result, w);
      }
      if (tc.HasTerminated()) {
        reply.clear();
        w.error(errors::kTerminated);
        answered_later = false;
      }
      library.setLocked(false);
      f.client_state->invocation = nullptr;
    }
    if (target != 0 && !answered_later) library.reply(target, std::move(reply));
  }
  f.noteRun(std::chrono::steady_clock::now() - started,
            sample_cpu ? std::optional(threadCpuTime() - cpu_started) : std::nullopt);
  if (target == 0) done(std::move(reply));
}

void EngineImpl::announceTriggers() {
  std::vector<std::string> prefixes;
  std::vector<StreamTriggerInfo> streams;
  {
    std::lock_guard lock(mutex_);
    std::vector<Library*> ordered;
    for (auto& [name, lib] : libraries_) ordered.push_back(lib.get());
    std::sort(ordered.begin(), ordered.end(),
              [](const Library* a, const Library* b) { return a->order() < b->order(); });
    for (Library* lib : ordered) {
      for (const auto& t : lib->keyspaceTriggers()) prefixes.push_back(t->prefix);
      for (const auto& t : lib->streamTriggers()) {
        streams.push_back({lib->name(), t->name, t->prefix, t->window, t->trim, t->state});
      }
    }
  }
  host_.triggersChanged(std::move(prefixes), std::move(streams));
}

std::unique_ptr<TriggerRun> EngineImpl::lockTriggers(const std::vector<std::string>& keys) {
  std::vector<std::shared_ptr<Library>> involved;
  {
    std::lock_guard lock(mutex_);
    for (auto& [name, lib] : libraries_) {
      auto matchesKey = [&](const std::string& prefix) {
        return std::any_of(keys.begin(), keys.end(), [&](const std::string& key) {
          return std::string_view(key).substr(0, prefix.size()) == prefix;
        });
      };
      const auto& keyspace = lib->keyspaceTriggers();
      const auto& streams = lib->streamTriggers();
      const bool matches = std::any_of(keyspace.begin(), keyspace.end(),
                                       [&](const auto& t) { return matchesKey(t->prefix); }) ||
                           std::any_of(streams.begin(), streams.end(),
                                       [&](const auto& t) { return matchesKey(t->prefix); });
      if (matches) involved.push_back(lib);
    }
  }
  return std::make_unique<TriggerRunImpl>(*this, std::move(involved));
}

std::unique_ptr<TriggerRun> EngineImpl::lockLibraries(const std::vector<std::string>& names) {
  std::vector<std::shared_ptr<Library>> involved;
  {
    std::lock_guard lock(mutex_);
    for (const std::string& name : names) {
      auto it = libraries_.find(name);
      if (it != libraries_.end() &&
          std::find(involved.begin(), involved.end(), it->second) == involved.end()) {
        involved.push_back(it->second);
      }
    }
  }
  return std::make_unique<TriggerRunImpl>(*this, std::move(involved));
}

namespace {

// A keyspace trigger as TFUNCTION LIST shows it at level 1 and above (spec §3.3, 7.5).
Value keyspaceTriggerMap(const KeyspaceTrigger& t, const std::optional<std::string>& problem) {
  std::lock_guard lock(t.stats->mutex);
  const TriggerStats& s = *t.stats;
  const std::optional<std::string>& error = s.last_error ? s.last_error : problem;
  auto integer = [](auto n) { return Value::integerValue(static_cast<int64_t>(n)); };
  const uint64_t finished = s.runs->runs.value();
  const uint64_t failed = s.runs->failures.value();
  return mapOf({
      {"description", t.description ? bulk(*t.description) : Value::null()},
      {"last_error", error ? bulk(*error) : Value::null()},
      {"last_execution_time", integer(s.last_execution_time)},
      {"name", bulk(t.name)},
      {"num_failed", integer(failed)},
      {"num_finished", integer(finished)},
      {"num_success", integer(finished - failed)},
      {"num_trigger", integer(s.num_trigger)},
      {"total_execution_time", integer(s.total_execution_time)},
  });
}

// A stream trigger as TFUNCTION LIST shows it (spec §3.3): from level 2 with its streams.
Value streamTriggerMap(const StreamTrigger& t, int verbosity) {
  auto integer = [](auto n) { return Value::integerValue(static_cast<int64_t>(n)); };
  std::vector<std::pair<std::string, Value>> fields = {
      {"description", t.description ? bulk(*t.description) : Value::null()},
      {"name", bulk(t.name)},
      {"prefix", bulk(t.prefix)},
      {"trim", boolean(t.trim)},
      {"window", integer(t.window)},
  };
  if (verbosity >= 2) {
    std::vector<Value> streams;
    std::lock_guard lock(t.state->mutex);
    for (const auto& [key, p] : t.state->streams) {
      std::vector<Value> pending;
      for (const StreamId& id : p.pending) pending.push_back(bulk(id.text()));
      streams.push_back(mapOf({
          {"id_to_read_from", p.last_read ? bulk(p.last_read->text()) : Value::null()},
          {"last_error", p.last_error ? bulk(*p.last_error) : Value::null()},
          {"last_lag", integer(p.last_lag)},
          {"last_processed_time", integer(p.last_processed_time)},
          {"name", bulk(key.second)},
          {"pending_ids", Value::array(std::move(pending))},
          {"total_lag", integer(p.total_lag)},
          {"total_processed_time", integer(p.total_processed_time)},
          {"total_record_processed", integer(p.total_record_processed)},
      }));
    }
    fields.emplace_back("streams", Value::array(std::move(streams)));
  }
  return mapOf(std::move(fields));
}

}  // namespace

resp::Value EngineImpl::list(const ListRequest& request) {
  std::vector<std::shared_ptr<Library>> libraries;
  {
    std::lock_guard lock(mutex_);
    for (auto& [name, lib] : libraries_) {
      if (!request.library || *request.library == name) libraries.push_back(lib);
    }
  }
  std::vector<Value> out;
  const std::optional<std::string> problem = host_.keyspaceEventsProblem();
  for (const auto& lib : libraries) {
    std::vector<Value> functions;
    for (const auto& f : lib->functions()) {
      if (request.verbosity == 0) {
        functions.push_back(bulk(f->name));
        continue;
      }
      std::vector<Value> flags;
      if (f->flags & kNoWrites) flags.push_back(bulk("no-writes"));
      if (f->flags & kAllowOom) flags.push_back(bulk("allow-oom"));
      if (f->flags & kRawArguments) flags.push_back(bulk("raw-arguments"));
      functions.push_back(mapOf({
          {"description", f->description ? bulk(*f->description) : Value::null()},
          {"flags", Value::array(std::move(flags))},
          {"is_async", boolean(f->is_async)},
          {"name", bulk(f->name)},
      }));
    }
    std::vector<Value> keyspace_triggers;
    for (const auto& t : lib->keyspaceTriggers()) {
      keyspace_triggers.push_back(request.verbosity == 0 ? bulk(t->name)
                                                         : keyspaceTriggerMap(*t, problem));
    }
    std::vector<Value> stream_triggers;
    for (const auto& t : lib->streamTriggers()) {
      stream_triggers.push_back(request.verbosity == 0 ? bulk(t->name)
                                                       : streamTriggerMap(*t, request.verbosity));
    }
    std::vector<Value> cluster_functions;
    for (const auto& [name, fn] : lib->clusterFunctions()) cluster_functions.push_back(bulk(name));
    std::vector<std::pair<std::string, Value>> fields = {
        {"api_version", bulk(lib->apiVersion())},
        {"cluster_functions", Value::array(std::move(cluster_functions))},
        {"configuration", lib->config() ? bulk(*lib->config()) : Value::null()},
        {"engine", bulk("js")},
        {"functions", Value::array(std::move(functions))},
        {"keyspace_triggers", Value::array(std::move(keyspace_triggers))},
        {"name", bulk(lib->name())},
        {"pending_async_calls", pendingCalls(*lib)},
        {"pending_jobs", Value::integerValue(static_cast<int64_t>(lib->jobs()->pending()))},
        {"stream_triggers", Value::array(std::move(stream_triggers))},
        {"user", bulk(lib->user())},
    };
    if (request.with_code) fields.emplace_back("code", bulk(lib->code()));
    out.push_back(mapOf(std::move(fields)));
  }
  return Value::array(std::move(out));
}

EngineStats EngineImpl::stats() {
  using Kind = EngineStats::Runnable::Kind;
  std::vector<std::shared_ptr<Library>> libraries;
  EngineStats out;
  {
    std::lock_guard lock(mutex_);
    for (auto& [name, lib] : libraries_) libraries.push_back(lib);
    out.not_active = live_.size() > libraries_.size() ? live_.size() - libraries_.size() : 0;
  }
  out.combined_memory_limit = config_.startup().v8_maxmemory;
  out.io_thread_calls = io_thread_calls_.value();
  // Registrations are read-only once a library is loaded; the figures are atomics or guarded.
  for (const auto& lib : libraries) {
    EngineStats::Library l;
    l.name = lib->name();
    l.user = lib->user();
    l.api_version = lib->apiVersion();
    l.config = lib->config();
    l.code_bytes = lib->code().size();
    for (const auto& f : lib->functions()) {
      l.runnables.push_back(
          {f->name, f->is_async ? Kind::kAsyncFunction : Kind::kFunction, f->stats, std::nullopt});
    }
    for (const auto& t : lib->keyspaceTriggers()) {
      std::optional<std::string> last_error;
      {
        std::lock_guard lock(t->stats->mutex);
        last_error = t->stats->last_error;
      }
      l.runnables.push_back(
          {t->name, Kind::kKeyspaceTrigger, t->stats->runs, std::move(last_error)});
    }
    for (const auto& t : lib->streamTriggers()) {
      std::optional<std::string> last_error;
      std::lock_guard lock(t->state->mutex);
      for (const auto& [where, progress] : t->state->streams) {
        l.streams.push_back({t->name, where.first, where.second, progress.total_record_processed,
                             progress.last_lag, progress.pending.size()});
        if (progress.last_error) last_error = progress.last_error;
      }
      l.runnables.push_back({t->name, Kind::kStreamTrigger, t->state->runs, std::move(last_error)});
    }
    for (const auto& [name, fn] : lib->clusterFunctions()) l.cluster_functions.push_back(name);
    l.total_heap = lib->totalHeap();
    l.used_heap = lib->usedHeap();
    l.heap_limit = lib->heapLimit();
    l.pending_jobs = lib->jobs()->pending();
    l.pending_async_calls = lib->pendingCalls().size();
    out.libraries.push_back(std::move(l));
  }
  return out;
}

std::vector<LibraryDefinition> EngineImpl::definitions() {
  std::lock_guard lock(mutex_);
  std::vector<LibraryDefinition> out;
  for (auto& [name, lib] : libraries_) out.push_back(lib->definition());
  return out;
}

resp::Value EngineImpl::debug(const std::vector<std::string>& args) {
  auto lower = [](std::string s) {
    for (char& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    return s;
  };
  if (args.empty()) return Value::error(errors::kNoSubcommand);
  const std::string sub = lower(args[0]);
  if (sub == "help") {
    return Value::array({bulk("allow_unsafe_redis_commands - allow calling unsafe commands"),
                         bulk("dump_pending_async_calls - pending callAsync calls per library"),
                         bulk("js <sub> - JS engine commands, 'js help' lists them")});
  }
  if (sub == "allow_unsafe_redis_commands") {
    allow_unsafe_commands_ = true;
    return okValue();
  }
  if (sub == "dump_pending_async_calls") {
    std::vector<std::pair<std::string, Value>> entries;
    std::lock_guard lock(mutex_);
    for (auto& [name, lib] : libraries_) entries.emplace_back(name, pendingCalls(*lib));
    return mapOf(std::move(entries));
  }
  if (sub != "js") return Value::error(errors::unknownBackend(args[0]));
  for (const std::string& a : args) {
    if (!isValidUtf8(a)) return Value::error(errors::kDebugArgNotString);
  }
  if (args.size() < 2) return Value::error(errors::kNoSubcommand);
  const std::string cmd = lower(args[1]);
  std::vector<std::shared_ptr<Library>> active;
  size_t live = 0;
  {
    std::lock_guard lock(mutex_);
    for (auto& [name, lib] : libraries_) active.push_back(lib);
    live = live_.size();
  }
  if (cmd == "help") {
    return Value::array({bulk("isolates_aggregated_stats"), bulk("isolates_strong_count"),
                         bulk("isolates_gc"), bulk("request_v8_gc_for_debugging"),
                         bulk("avoid_global_allow_list"), bulk("isolates_stats")});
  }
  if (cmd == "isolates_aggregated_stats") {
    size_t limit = 0;
    for (auto& lib : active) limit += lib->heapLimit();
    return Value::array(
        {bulk("active"), Value::integerValue(static_cast<int64_t>(active.size())),
         bulk("not_active"), Value::integerValue(static_cast<int64_t>(live - active.size())),
         bulk("combined_memory_limit"), Value::integerValue(static_cast<int64_t>(limit))});
  }
  if (cmd == "isolates_strong_count") return Value::integerValue(static_cast<int64_t>(live));
  if (cmd == "isolates_gc" || cmd == "request_v8_gc_for_debugging") {
    for (auto& lib : active) {
      lib->jobs()->post([lib] {
        JsScope scope(*lib, /*timed=*/false);
        scope.isolate()->LowMemoryNotification();
      });
    }
    return okValue();
  }
  if (cmd == "avoid_global_allow_list") {
    avoid_global_allow_list_ = true;
    return okValue();
  }
  if (cmd == "isolates_stats") {
    std::vector<std::pair<std::string, Value>> entries;
    for (auto& lib : active) {
      entries.emplace_back(
          lib->name(),
          mapOf(
              {{"total_heap_size", Value::integerValue(static_cast<int64_t>(lib->totalHeap()))},
               {"used_heap_size", Value::integerValue(static_cast<int64_t>(lib->usedHeap()))},
               {"heap_size_limit", Value::integerValue(static_cast<int64_t>(lib->heapLimit()))}}));
    }
    return mapOf(std::move(entries));
  }
  return Value::error(errors::unknownDebugSubcommand(args[1]));
}

}  // namespace tfproxy::scripting
