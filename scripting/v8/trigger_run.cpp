// Key space triggers firing (spec §7.2): the libraries are locked first, then the caller enters
// the atomic section, then each event's triggers run on the caller's thread.
#include "scripting/v8/trigger_run.h"

#include <algorithm>
#include <cstring>

#include "scripting/errors.h"
#include "scripting/text.h"
#include "scripting/v8/bindings.h"
#include "scripting/v8/convert.h"
#include "scripting/v8/engine_impl.h"

namespace tfproxy::scripting {
namespace {

using Clock = std::chrono::steady_clock;

v8::Local<v8::Value> stringOrNull(v8::Isolate* isolate, const std::string& bytes) {
  if (!isValidUtf8(bytes)) return v8::Null(isolate);
  return bindings::newString(isolate, bytes);
}

v8::Local<v8::ArrayBuffer> arrayBuffer(v8::Isolate* isolate, const std::string& bytes) {
  auto store = v8::ArrayBuffer::NewBackingStore(isolate, bytes.size());
  if (!bytes.empty()) std::memcpy(store->Data(), bytes.data(), bytes.size());
  return v8::ArrayBuffer::New(isolate, std::move(store));
}

// The event's `data` object (spec §4.9): {event, key, key_raw}.
v8::Local<v8::Object> eventData(v8::Isolate* isolate, v8::Local<v8::Context> ctx,
                                const KeyEvent& event) {
  v8::Local<v8::Object> data = v8::Object::New(isolate);
  data->Set(ctx, bindings::newString(isolate, "event"), bindings::newString(isolate, event.event))
      .Check();
  data->Set(ctx, bindings::newString(isolate, "key"), stringOrNull(isolate, event.key)).Check();
  data->Set(ctx, bindings::newString(isolate, "key_raw"), arrayBuffer(isolate, event.key)).Check();
  return data;
}

// A stream entry's `data` object (spec §4.9).
v8::Local<v8::Object> recordData(v8::Isolate* isolate, v8::Local<v8::Context> ctx,
                                 const StreamRecord& record) {
  v8::Local<v8::Object> data = v8::Object::New(isolate);
  auto set = [&](const char* name, v8::Local<v8::Value> value) {
    data->Set(ctx, bindings::newString(isolate, name), value).Check();
  };
  v8::Local<v8::Value> id[2] = {v8::BigInt::NewFromUnsigned(isolate, record.id.ms),
                                v8::BigInt::NewFromUnsigned(isolate, record.id.seq)};
  set("id", v8::Array::New(isolate, id, 2));
  set("stream_name", stringOrNull(isolate, record.stream));
  set("stream_name_raw", arrayBuffer(isolate, record.stream));
  std::vector<v8::Local<v8::Value>> pairs;
  std::vector<v8::Local<v8::Value>> raw_pairs;
  for (const auto& [field, value] : record.fields) {
    v8::Local<v8::Value> pair[2] = {stringOrNull(isolate, field), stringOrNull(isolate, value)};
    pairs.push_back(v8::Array::New(isolate, pair, 2));
    v8::Local<v8::Value> raw[2] = {arrayBuffer(isolate, field), arrayBuffer(isolate, value)};
    raw_pairs.push_back(v8::Array::New(isolate, raw, 2));
  }
  set("record", v8::Array::New(isolate, pairs.data(), pairs.size()));
  set("record_raw", v8::Array::New(isolate, raw_pairs.data(), raw_pairs.size()));
  return data;
}

// Completes a run when `promise` settles: `done` gets the rejection's text, or nullopt. (The
// library's reply target for it gets the bytes a client would: an error reply or a value.)
void completeWhenSettled(Library& library, v8::Local<v8::Promise> promise,
                         TriggerRun::Completion done) {
  const uint64_t target = library.addReplyTarget(
      [done = std::move(done)](std::string reply) {
        if (!reply.empty() && reply[0] == '-') {
          const size_t end = reply.find("\r\n");
          return done(reply.substr(1, end == std::string::npos ? end : end - 1));
        }
        done(std::nullopt);
      },
      resp::Protocol::kResp2);
  library.replyWhenSettled(target, promise);
}

// The failure a stopped or throwing call ends with.
std::string failureText(JsScope& scope, v8::TryCatch& tc, int64_t verbosity) {
  if (tc.HasTerminated() || scope.terminated()) return errors::kTerminated;
  return convert::errorText(scope.isolate(), scope.context(), tc.Exception(), verbosity);
}

}  // namespace

TriggerRunImpl::TriggerRunImpl(EngineImpl& engine, std::vector<std::shared_ptr<Library>> libraries)
    : engine_(engine) {
  // One order for every run (registration order), so that two runs cannot wait for each other.
  std::sort(libraries.begin(), libraries.end(),
            [](const auto& a, const auto& b) { return a->order() < b->order(); });
  for (auto& library : libraries) {
    Held held;
    held.run_lock = std::unique_lock(library->runLock());
    held.locker = std::make_unique<v8::Locker>(library->isolate());
    held.library = std::move(library);
    held_.push_back(std::move(held));
  }
}

TriggerRunImpl::~TriggerRunImpl() {
  // Lockers go in the reverse order of taking them.
  while (!held_.empty()) held_.pop_back();
}

void TriggerRunImpl::fire(const std::vector<KeyEvent>& events) {
  for (const KeyEvent& event : events) {
    for (Held& held : held_) {
      Library& library = *held.library;
      if (library.deleted()) continue;
      for (const auto& trigger : library.keyspaceTriggers()) {
        if (trigger->matches(event.key)) runTrigger(library, *trigger, event);
      }
    }
  }
}

void TriggerRunImpl::runTrigger(Library& library, const KeyspaceTrigger& trigger,
                                const KeyEvent& event) {
  const auto start = Clock::now();
  std::shared_ptr<TriggerStats> stats = trigger.stats;
  {
    std::lock_guard lock(stats->mutex);
    ++stats->num_trigger;
  }
  if (engine_.oomState()) return stats->finish(start, std::string(errors::kOomState));
  const int64_t verbosity = engine_.config().errorVerbosity();
  const backend::Identity identity = engine_.host().libraryIdentity(library.user());

  JsScope scope(library, /*timed=*/true);
  Library::Running running(library, trigger.name);
  v8::Isolate* isolate = scope.isolate();
  v8::Local<v8::Context> ctx = scope.context();
  v8::Local<v8::Object> data = eventData(isolate, ctx, event);

  // Runs `fn(client, data)` with a sync client of `flags` inside the caller's section; false
  // with `*error` set when it threw or was stopped.
  auto runSync = [&](v8::Local<v8::Function> fn, uint32_t flags, v8::Local<v8::Value>* result,
                     std::string* error) {
    Invocation invocation(library, identity, event.db, flags, /*block_allowed=*/true,
                          /*section_held=*/true);
    v8::Local<v8::Value> argv[2] = {bindings::blockClient(library, &invocation), data};
    library.setLocked(true);
    v8::TryCatch tc(isolate);
    bool ok = fn->Call(ctx, v8::Undefined(isolate), 2, argv).ToLocal(result);
    if (ok) scope.runMicrotasks();
    library.setLocked(false);
    bindings::invalidateBlockClient(argv[0]);
    if (!ok || tc.HasTerminated()) {
      *error = failureText(scope, tc, verbosity);
      return false;
    }
    return true;
  };

  // onTriggerFired first, never writing; it may add to `data` (spec §7.2 step 5).
  if (!trigger.on_fired.IsEmpty()) {
    v8::Local<v8::Value> ignored;
    std::string error;
    if (!runSync(trigger.on_fired.Get(isolate), kNoWrites, &ignored, &error)) {
      return stats->finish(start, std::move(error));
    }
  }

  auto settleLater = [lib = &library, stats, start](v8::Local<v8::Promise> promise) {
    completeWhenSettled(*lib, promise, [stats, start](std::optional<std::string> error) {
      stats->finish(start, std::move(error));
    });
  };

  if (trigger.is_coroutine) {
    // A background job with an async client (spec §7.2 step 6): no atomicity.
    auto kept = std::make_shared<v8::Global<v8::Object>>(isolate, data);
    library.postJob(0, [lib = library.shared_from_this(), &trigger, identity, stats, start, kept,
                        settleLater, verbosity](JsScope& job) {
      Library::Running running(*lib, trigger.name);
      v8::Isolate* iso = job.isolate();
      v8::Local<v8::Context> context = job.context();
      v8::TryCatch tc(iso);
      v8::Local<v8::Value> argv[2] = {
          bindings::asyncClient(*lib, identity, /*flags=*/0, /*target=*/0), kept->Get(iso)};
      kept->Reset();
      v8::Local<v8::Value> result;
      if (!trigger.callback.Get(iso)->Call(context, v8::Undefined(iso), 2, argv).ToLocal(&result)) {
        return stats->finish(start, failureText(job, tc, verbosity));
      }
      if (result->IsPromise()) return settleLater(result.As<v8::Promise>());
      stats->finish(start, std::nullopt);
    });
    return;
  }

  v8::Local<v8::Value> result;
  std::string error;
  if (!runSync(trigger.callback.Get(isolate), /*flags=*/0, &result, &error)) {
    return stats->finish(start, std::move(error));
  }
  if (result->IsPromise()) {
    v8::Local<v8::Promise> promise = result.As<v8::Promise>();
    switch (promise->State()) {
      case v8::Promise::kFulfilled:
        break;
      case v8::Promise::kRejected:
        return stats->finish(start, convert::errorText(isolate, ctx, promise->Result(), verbosity));
      case v8::Promise::kPending:
        return settleLater(promise);
    }
  }
  stats->finish(start, std::nullopt);
}

bool TriggerRunImpl::deliver(const StreamTriggerInfo& info, const StreamRecord& record,
                             Completion done) {
  Library* library = nullptr;
  const StreamTrigger* trigger = nullptr;
  for (Held& held : held_) {
    if (held.library->name() != info.library || held.library->deleted()) continue;
    const StreamTrigger* t = held.library->findStreamTrigger(info.name);
    if (t != nullptr && t->state == info.state) {
      library = held.library.get();
      trigger = t;
    }
  }
  if (trigger == nullptr) return false;
  // Counted from the hand-over to the completion, for operators.
  done = [runs = trigger->state->runs, start = Clock::now(), &log = engine_.slowLog(),
          label = info.library + "." + info.name, key = record.stream,
          done = std::move(done)](std::optional<std::string> error) {
    const auto took = Clock::now() - start;
    runs->runs.add();
    if (error) runs->failures.add();
    runs->latency.observe(took);
    if (log.logs(took)) log.add(took, {label, key}, "", label);
    done(std::move(error));
  };
  if (engine_.oomState()) {
    done(std::string(errors::kOomState));
    return true;
  }
  const int64_t verbosity = engine_.config().errorVerbosity();
  const backend::Identity identity = engine_.host().libraryIdentity(library->user());
  auto shared_done = std::make_shared<Completion>(std::move(done));
  auto settleLater = [library, shared_done](v8::Local<v8::Promise> promise) {
    completeWhenSettled(*library, promise, [shared_done](std::optional<std::string> error) {
      (*shared_done)(std::move(error));
    });
  };

  if (trigger->is_coroutine) {
    library->postJob(0, [lib = library->shared_from_this(), trigger, identity, record, shared_done,
                         settleLater, verbosity](JsScope& job) {
      v8::Isolate* iso = job.isolate();
      v8::Local<v8::Context> context = job.context();
      Library::Running running(*lib, trigger->name);
      v8::TryCatch tc(iso);
      v8::Local<v8::Value> argv[2] = {
          bindings::asyncClient(*lib, identity, /*flags=*/0, /*target=*/0),
          recordData(iso, context, record)};
      v8::Local<v8::Value> result;
      if (!trigger->callback.Get(iso)
               ->Call(context, v8::Undefined(iso), 2, argv)
               .ToLocal(&result)) {
        return (*shared_done)(failureText(job, tc, verbosity));
      }
      if (result->IsPromise()) return settleLater(result.As<v8::Promise>());
      (*shared_done)(std::nullopt);
    });
    return true;
  }

  JsScope scope(*library, /*timed=*/true);
  Library::Running running(*library, trigger->name);
  v8::Isolate* isolate = scope.isolate();
  v8::Local<v8::Context> ctx = scope.context();
  Invocation invocation(*library, identity, record.db, /*flags=*/0, /*block_allowed=*/true,
                        /*section_held=*/true);
  v8::Local<v8::Value> argv[2] = {bindings::blockClient(*library, &invocation),
                                  recordData(isolate, ctx, record)};
  library->setLocked(true);
  v8::TryCatch tc(isolate);
  v8::Local<v8::Value> result;
  bool ok =
      trigger->callback.Get(isolate)->Call(ctx, v8::Undefined(isolate), 2, argv).ToLocal(&result);
  if (ok) scope.runMicrotasks();
  library->setLocked(false);
  bindings::invalidateBlockClient(argv[0]);
  if (!ok || tc.HasTerminated()) {
    (*shared_done)(failureText(scope, tc, verbosity));
    return true;
  }
  if (result->IsPromise()) {
    v8::Local<v8::Promise> promise = result.As<v8::Promise>();
    if (promise->State() == v8::Promise::kPending) {
      settleLater(promise);
      return true;
    }
    if (promise->State() == v8::Promise::kRejected) {
      (*shared_done)(convert::errorText(isolate, ctx, promise->Result(), verbosity));
      return true;
    }
  }
  (*shared_done)(std::nullopt);
  return true;
}

}  // namespace tfproxy::scripting
