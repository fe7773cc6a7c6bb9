#include "scripting/v8/library.h"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <string_view>

#include "scripting/v8/bindings.h"
#include "scripting/v8/engine_impl.h"

namespace tfproxy::scripting {
namespace {

// Globals a library keeps (SPEC 2.6); everything else is deleted from the global object.
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
      jobs_(std::make_shared<JobQueue>(engine.executor())) {
  engine_.libraryCreated(this);
}

Library::~Library() {
  if (isolate_ != nullptr) {
    {
      v8::Locker locker(isolate_);
      v8::Isolate::Scope scope(isolate_);
      for (auto& f : functions_) {
        f->callback.Reset();
        f->client.Reset();
        delete f->client_state;
      }
      context_.Reset();
    }
    isolate_->Dispose();
  }
  engine_.libraryDestroyed(this);
}

bool Library::initialize(std::string* error) {
  const config::GearsSettings& s = engine_.config().startup();
  v8::Isolate::CreateParams params;
  params.array_buffer_allocator = engine_.allocator();
  params.constraints.ConfigureDefaultsFromHeapSize(s.v8_library_initial_memory_usage,
                                                   s.v8_library_initial_memory_limit);
  isolate_ = v8::Isolate::New(params);
  if (isolate_ == nullptr) {
    *error = "could not create a V8 isolate";
    return false;
  }
  heap_limit_ = s.v8_library_initial_memory_limit;
  isolate_->SetMicrotasksPolicy(v8::MicrotasksPolicy::kExplicit);
  isolate_->AddNearHeapLimitCallback(&Library::nearHeapLimit, this);
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
}

const Function* Library::findFunction(const std::string& name) const {
  for (const auto& f : functions_) {
    if (f->name == name) return f.get();
  }
  return nullptr;
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

// V8 is about to run out of this isolate's heap (SPEC 6.10). Grow the limit while the total of
// all libraries allows; otherwise stop the JavaScript and give it room to unwind, so a memory
// bomb becomes an error reply instead of a crash of the whole proxy (with either policy).
size_t Library::nearHeapLimit(void* data, size_t current_limit, size_t initial_limit) {
  auto* self = static_cast<Library*>(data);
  const config::GearsSettings& s = self->engine_.config().startup();
  v8::HeapStatistics hs;
  self->isolate_->GetHeapStatistics(&hs);
  self->total_heap_ = hs.total_heap_size();
  const size_t total = self->engine_.totalHeap();
  const size_t delta = s.v8_library_memory_usage_delta;
  if (total + delta < s.v8_maxmemory) {
    size_t limit = std::max(hs.total_heap_size(), current_limit) + delta;
    self->heap_limit_ = limit;
    return limit;
  }
  spdlog::warn(
      "library {}: the JavaScript heap of all libraries reached v8-maxmemory ({} "
      "bytes); stopping the running code",
      self->prologue_.name, s.v8_maxmemory);
  self->oom_terminated_ = true;
  self->isolate_->TerminateExecution();
  return current_limit + 16 * delta;
}

JsScope::JsScope(Library& library, bool timed, bool restoring)
    : library_(library),
      locker_(library.isolate()),
      isolate_scope_(library.isolate()),
      handle_scope_(library.isolate()),
      context_(library.context()),
      context_scope_(context_) {
  if (timed) watch_ = library.engine().watchdog().enter(library.isolate(), restoring);
}

JsScope::~JsScope() {
  if (watch_) terminated_ |= library_.engine().watchdog().leave(*watch_);
  if (isolate()->IsExecutionTerminating()) isolate()->CancelTerminateExecution();
  // What a stopped memory bomb allocated is garbage now: collect it, so the OOM state can end.
  bool collected = library_.takeOomTermination();
  if (collected) isolate()->LowMemoryNotification();
  library_.updateHeapStatistics(collected);
}

void JsScope::runMicrotasks() { isolate()->PerformMicrotaskCheckpoint(); }

bool JsScope::terminated() { return terminated_ || isolate()->IsExecutionTerminating(); }

}  // namespace tfproxy::scripting
