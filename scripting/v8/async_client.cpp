// The async client (spec §4.8), handed to coroutines and executeAsync bodies: it cannot run
// commands itself; block(fn) enters one atomic section and runs fn with a sync client valid
// only inside it.
#include "scripting/errors.h"
#include "scripting/v8/bindings.h"
#include "scripting/v8/engine_impl.h"
#include "scripting/v8/library.h"
#include "scripting/v8/watchdog.h"

namespace tfproxy::scripting::bindings {
namespace {

AsyncClientState* asyncState(const v8::FunctionCallbackInfo<v8::Value>& info) {
  return static_cast<AsyncClientState*>(info.This()->GetAlignedPointerFromInternalField(0));
}

void block(const v8::FunctionCallbackInfo<v8::Value>& info) {
  v8::Isolate* isolate = info.GetIsolate();
  v8::Local<v8::Context> ctx = isolate->GetCurrentContext();
  AsyncClientState* state = asyncState(info);
  Library& library = *state->library;
  if (info.Length() < 1 || !info[0]->IsFunction()) {
    throwString(isolate, errors::kBlockNotFunction);
    return;
  }
  if (library.locked()) {
    throwString(isolate, errors::kAlreadyBlocked);
    return;
  }
  if (library.deleted()) {
    throwString(isolate, errors::kUnregistered);
    return;
  }
  Host& host = library.engine().host();
  if (Status entered = host.enterAtomicSection(); !entered.ok()) {
    throwString(isolate, entered.message());
    return;
  }
  // The conditions are checked again now that the section is ours (spec §4.8, 6.5).
  if ((state->flags & kNoWrites) == 0) {
    auto refusal_now = [&]() -> const char* {
      if (!host.backendWritable()) return errors::kLockOnReplica;
      if ((state->flags & kAllowOom) == 0 && host.backendOutOfMemory()) return errors::kLockOom;
      return nullptr;
    };
    const char* refusal = refusal_now();
    if (refusal != nullptr || !host.backendStateCurrent()) {
      host.confirmBackendState();  // a refusal is confirmed first (spec §11.5)
      refusal = refusal_now();
    }
    if (refusal != nullptr) {
      host.leaveAtomicSection();
      throwString(isolate, refusal);
      return;
    }
  }
  v8::Local<v8::Value> result;
  bool ok;
  bool stopped;
  {
    // block() sections run in db 0, as upstream's detached context does (spec §6.6).
    Invocation invocation(library, state->identity, /*db=*/0, state->flags,
                          /*block_allowed=*/true, /*section_held=*/true, state->target);
    v8::Local<v8::Value> client[1] = {blockClient(library, &invocation)};
    library.setLocked(true);
    Watchdog::Handle watch =
        library.engine().watchdog().enter(isolate, /*timed=*/true, /*restoring=*/false);
    v8::TryCatch tc(isolate);
    ok = info[0].As<v8::Function>()->Call(ctx, v8::Undefined(isolate), 1, client).ToLocal(&result);
    stopped = library.engine().watchdog().leave(watch) || tc.HasTerminated();
    library.setLocked(false);
    invalidateBlockClient(client[0]);
    if (!ok) {
      if (stopped && state->target != 0) library.replyError(state->target, errors::kTerminated);
      // A stopped section ends the whole run: the termination unwinds by itself (re-throwing it
      // would make it an ordinary exception that the coroutine could catch and carry on).
      if (!tc.HasTerminated()) tc.ReThrow();
    }
  }
  host.leaveAtomicSection();
  if (ok) info.GetReturnValue().Set(result);
}

// Cluster functions are not provided (README): there is no remote function to run.
void remote(const v8::FunctionCallbackInfo<v8::Value>& info, int name_position) {
  v8::Isolate* isolate = info.GetIsolate();
  v8::Local<v8::Context> ctx = isolate->GetCurrentContext();
  auto* library = asyncState(info)->library;
  std::string name = info.Length() > name_position && info[name_position]->IsString()
                         ? *v8::String::Utf8Value(isolate, info[name_position])
                         : std::string();
  v8::Local<v8::Promise::Resolver> resolver;
  if (!v8::Promise::Resolver::New(ctx).ToLocal(&resolver)) return;  // being stopped
  settle(ctx, resolver, /*fulfil=*/false,
         newString(isolate,
                   "Remote function " + name + " does not exists on library " + library->name()));
  info.GetReturnValue().Set(resolver->GetPromise());
}

// The async client's template, built once per library.
v8::Local<v8::ObjectTemplate> asyncClientTemplate(Library& library) {
  v8::Isolate* isolate = library.isolate();
  if (!library.async_client_template.IsEmpty()) return library.async_client_template.Get(isolate);
  v8::Local<v8::ObjectTemplate> t = v8::ObjectTemplate::New(isolate);
  t->SetInternalFieldCount(1);
  // Every member JavaScript can see, in one block.
  t->Set(newString(isolate, "block"), v8::FunctionTemplate::New(isolate, block));
  t->Set(newString(isolate, "runOnKey"),
         v8::FunctionTemplate::New(
             isolate, [](const v8::FunctionCallbackInfo<v8::Value>& info) { remote(info, 1); }));
  t->Set(newString(isolate, "runOnShards"),
         v8::FunctionTemplate::New(
             isolate, [](const v8::FunctionCallbackInfo<v8::Value>& info) { remote(info, 0); }));
  library.async_client_template.Reset(isolate, t);
  return t;
}

}  // namespace

v8::Local<v8::Object> asyncClient(Library& library, const backend::Identity& identity,
                                  uint32_t flags, uint64_t target) {
  v8::Isolate* isolate = library.isolate();
  v8::Local<v8::Context> ctx = isolate->GetCurrentContext();
  v8::Local<v8::ObjectTemplate> t = asyncClientTemplate(library);
  v8::Local<v8::Object> client = t->NewInstance(ctx).ToLocalChecked();
  auto* state = new AsyncClientState(&library, identity, flags, target);
  client->SetAlignedPointerInInternalField(0, state);
  library.adopt(state, client);
  return client;
}

}  // namespace tfproxy::scripting::bindings
