// The async client (spec §4.8), handed to coroutines and executeAsync bodies: it cannot run
// commands itself; block(fn) enters one atomic section and runs fn with a sync client valid
// only inside it.
#include <cstring>
#include <functional>
#include <memory>

#include "scripting/errors.h"
#include "scripting/v8/bindings.h"
#include "scripting/v8/convert.h"
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
    invocation.setShard(state->shard);
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

// A value on its way to or from a remote function (spec §4.8): an ArrayBuffer's bytes, or
// JSON text. tfproxy runs remote functions in the same library, but the round trip is kept so
// that they see what they would see on another shard.
struct Wire {
  bool binary = false;
  std::string bytes;
};

bool toWire(v8::Local<v8::Context> ctx, v8::Local<v8::Value> value, Wire* out) {
  if (value->IsArrayBuffer()) {
    auto store = value.As<v8::ArrayBuffer>()->GetBackingStore();
    out->binary = true;
    out->bytes.assign(static_cast<const char*>(store->Data()), store->ByteLength());
    return true;
  }
  v8::TryCatch tc(ctx->GetIsolate());
  v8::Local<v8::String> text;
  if (!v8::JSON::Stringify(ctx, value).ToLocal(&text)) return false;
  out->binary = false;
  out->bytes = convert::utf8(ctx->GetIsolate(), text);
  return true;
}

bool fromWire(v8::Local<v8::Context> ctx, const Wire& wire, v8::Local<v8::Value>* out) {
  v8::Isolate* isolate = ctx->GetIsolate();
  if (wire.binary) {
    auto buffer = v8::ArrayBuffer::New(isolate, wire.bytes.size());
    if (!wire.bytes.empty()) {
      std::memcpy(buffer->GetBackingStore()->Data(), wire.bytes.data(), wire.bytes.size());
    }
    *out = buffer;
    return true;
  }
  v8::TryCatch tc(isolate);
  // JSON.stringify(undefined) has no text: it arrives as undefined.
  if (wire.bytes == "undefined") {
    *out = v8::Undefined(isolate);
    return true;
  }
  return v8::JSON::Parse(ctx, newString(isolate, wire.bytes)).ToLocal(out);
}

// What becomes of one remote run: the result on the wire, or an error text.
using RemoteDone = std::function<void(JsScope* scope, bool ok, Wire result, std::string error)>;

// Settles a promise a remote run returned: both callbacks share this, the first to run frees it.
struct Completion {
  RemoteDone done;
  Library* library;
};

void completionCallback(const v8::FunctionCallbackInfo<v8::Value>& info, bool fulfilled) {
  auto* completion = static_cast<Completion*>(info.Data().As<v8::External>()->Value());
  std::unique_ptr<Completion> owned(completion);
  v8::Isolate* isolate = info.GetIsolate();
  v8::Local<v8::Context> ctx = isolate->GetCurrentContext();
  v8::Local<v8::Value> value = info.Length() > 0 ? info[0] : v8::Undefined(isolate).As<v8::Value>();
  if (!fulfilled) return owned->done(nullptr, false, {}, convert::utf8(isolate, value));
  Wire result;
  if (!toWire(ctx, value, &result)) {
    return owned->done(nullptr, false, {}, errors::kDeserializingResult);
  }
  owned->done(nullptr, true, std::move(result), {});
}

// Runs cluster function `name` of `lib` as a background job with an async client confined to
// `shard`, then `done` (on the library's thread, in its isolate).
void runRemote(Library* lib, const std::string& name, std::shared_ptr<std::vector<Wire>> args,
               const backend::Identity& identity, uint64_t target, const std::string& shard,
               RemoteDone done) {
  lib->postJob(target, [lib, name, args, identity, target, shard,
                        done = std::move(done)](JsScope& scope) mutable {
    v8::Isolate* isolate = scope.isolate();
    v8::Local<v8::Context> ctx = scope.context();
    auto it = lib->clusterFunctions().find(name);
    if (it == lib->clusterFunctions().end()) {
      return done(&scope, false, {}, errors::remoteUnknown(name, lib->name()));
    }
    std::vector<v8::Local<v8::Value>> argv;
    argv.push_back(asyncClient(*lib, identity, kNoWrites, target, shard));
    for (const Wire& wire : *args) {
      v8::Local<v8::Value> value;
      if (!fromWire(ctx, wire, &value)) {
        return done(&scope, false, {}, errors::kDeserializingArgument);
      }
      argv.push_back(value);
    }
    v8::TryCatch tc(isolate);
    v8::Local<v8::Value> result;
    if (!it->second.Get(isolate)
             ->Call(ctx, v8::Undefined(isolate), static_cast<int>(argv.size()), argv.data())
             .ToLocal(&result)) {
      if (tc.HasTerminated()) return;
      return done(&scope, false, {}, convert::utf8(isolate, tc.Exception()));
    }
    if (!result->IsPromise()) {  // an async function always returns one
      Wire wire;
      if (!toWire(ctx, result, &wire)) return done(&scope, false, {}, errors::kDeserializingResult);
      return done(&scope, true, std::move(wire), {});
    }
    auto* completion = new Completion{std::move(done), lib};
    v8::Local<v8::External> data = v8::External::New(isolate, completion);
    v8::Local<v8::Function> on_ok, on_error;
    if (!v8::Function::New(
             ctx, [](const v8::FunctionCallbackInfo<v8::Value>& i) { completionCallback(i, true); },
             data)
             .ToLocal(&on_ok) ||
        !v8::Function::New(
             ctx,
             [](const v8::FunctionCallbackInfo<v8::Value>& i) { completionCallback(i, false); },
             data)
             .ToLocal(&on_error) ||
        result.As<v8::Promise>()->Then(ctx, on_ok, on_error).IsEmpty()) {
      delete completion;  // being stopped
    }
  });
}

// The arguments after `first` on the wire; false (thrown) when one cannot be serialized.
bool wireArguments(const v8::FunctionCallbackInfo<v8::Value>& info, int first,
                   std::vector<Wire>* out) {
  v8::Local<v8::Context> ctx = info.GetIsolate()->GetCurrentContext();
  for (int i = first; i < info.Length(); ++i) {
    Wire wire;
    if (!toWire(ctx, info[i], &wire)) {
      throwString(info.GetIsolate(), errors::kSerializingArguments);
      return false;
    }
    out->push_back(std::move(wire));
  }
  return true;
}

// The common part of runOnKey and runOnShards: the remote function's name at `position`, the
// arguments after it on the wire, and the promise to return. False when something was thrown
// (or the isolate is being stopped).
bool remoteCall(const v8::FunctionCallbackInfo<v8::Value>& info, int position, std::string* name,
                std::vector<Wire>* args, v8::Local<v8::Promise::Resolver>* resolver) {
  v8::Isolate* isolate = info.GetIsolate();
  if (info.Length() <= position || !info[position]->IsString()) {
    throwString(isolate, errors::conversion(position, "V8LocalUtf8", "Value is not string"));
    return false;
  }
  *name = convert::utf8(isolate, info[position]);
  if (!wireArguments(info, position + 1, args)) return false;
  return v8::Promise::Resolver::New(isolate->GetCurrentContext()).ToLocal(resolver);
}

// runOnKey(key, remoteName, ...args): the remote function on the shard of `key`.
void runOnKey(const v8::FunctionCallbackInfo<v8::Value>& info) {
  v8::Isolate* isolate = info.GetIsolate();
  AsyncClientState* state = asyncState(info);
  Library* lib = state->library;
  std::string key;
  if (info.Length() > 0 && info[0]->IsString()) {
    key = convert::utf8(isolate, info[0]);
  } else if (info.Length() > 0 && info[0]->IsArrayBuffer()) {
    auto store = info[0].As<v8::ArrayBuffer>()->GetBackingStore();
    key.assign(static_cast<const char*>(store->Data()), store->ByteLength());
  } else {
    throwString(isolate, errors::kRemoteKeyNotBytes);
    return;
  }
  std::string name;
  auto args = std::make_shared<std::vector<Wire>>();
  v8::Local<v8::Promise::Resolver> resolver;
  if (!remoteCall(info, 1, &name, args.get(), &resolver)) return;
  const uint64_t id = lib->addResolver(resolver);
  const std::string shard = lib->engine().host().shardOf(key);
  runRemote(lib, name, args, state->identity, state->target, shard,
            [lib, id](JsScope*, bool ok, Wire result, std::string error) {
              v8::Isolate* isolate = lib->isolate();
              v8::Local<v8::Context> ctx = isolate->GetCurrentContext();
              v8::Local<v8::Promise::Resolver> r = lib->takeResolver(id);
              if (r.IsEmpty()) return;
              v8::Local<v8::Value> value;
              if (ok && !fromWire(ctx, result, &value)) {
                ok = false;
                error = errors::kDeserializingResult;
              }
              settle(ctx, r, ok, ok ? value : newString(isolate, error).As<v8::Value>());
            });
  info.GetReturnValue().Set(resolver->GetPromise());
}

// runOnShards(remoteName, ...args): the remote function once on every shard; resolves to
// [[result, ...], [error, ...]] once all answered, or after remote-task-default-timeout with
// "Timeout" among the errors.
void runOnShards(const v8::FunctionCallbackInfo<v8::Value>& info) {
  AsyncClientState* state = asyncState(info);
  Library* lib = state->library;
  std::string name;
  auto args = std::make_shared<std::vector<Wire>>();
  v8::Local<v8::Promise::Resolver> resolver;
  if (!remoteCall(info, 0, &name, args.get(), &resolver)) return;
  // Plain data only: the timer may outlive the library.
  struct Gathered {
    uint64_t id;
    size_t remaining;
    bool settled = false;
    std::vector<Wire> results;
    std::vector<std::string> errors;
  };
  const std::vector<std::string> shards = lib->engine().host().shards();
  auto gathered = std::make_shared<Gathered>();
  gathered->id = lib->addResolver(resolver);
  gathered->remaining = shards.size();
  auto finish = [lib, gathered]() {
    if (gathered->settled) return;
    gathered->settled = true;
    v8::Isolate* isolate = lib->isolate();
    v8::Local<v8::Context> ctx = isolate->GetCurrentContext();
    v8::Local<v8::Promise::Resolver> r = lib->takeResolver(gathered->id);
    if (r.IsEmpty()) return;
    v8::Local<v8::Array> results = v8::Array::New(isolate);
    v8::Local<v8::Array> errors = v8::Array::New(isolate);
    uint32_t n = 0;
    for (const Wire& wire : gathered->results) {
      v8::Local<v8::Value> value;
      if (fromWire(ctx, wire, &value)) {
        static_cast<void>(results->Set(ctx, n++, value).FromMaybe(false));
      } else {
        gathered->errors.push_back(errors::kDeserializingResult);
      }
    }
    for (uint32_t i = 0; i < gathered->errors.size(); ++i) {
      static_cast<void>(
          errors->Set(ctx, i, newString(isolate, gathered->errors[i])).FromMaybe(false));
    }
    v8::Local<v8::Value> both[2] = {results, errors};
    settle(ctx, r, /*fulfil=*/true, v8::Array::New(isolate, both, 2));
  };
  for (const std::string& shard : shards) {
    runRemote(lib, name, args, state->identity, state->target, shard,
              [gathered, finish](JsScope*, bool ok, Wire result, std::string error) {
                if (gathered->settled) return;
                if (ok) {
                  gathered->results.push_back(std::move(result));
                } else {
                  gathered->errors.push_back(std::move(error));
                }
                if (--gathered->remaining == 0) finish();
              });
  }
  std::weak_ptr<Library> weak = lib->weak_from_this();
  const auto timeout = std::chrono::milliseconds(lib->engine().config().remoteTaskTimeoutMs());
  lib->engine().watchdog().after(timeout, [weak, gathered, finish]() mutable {
    auto library = weak.lock();
    if (!library) return;
    library->postJob(0, [gathered, finish = std::move(finish)](JsScope&) {
      if (gathered->settled) return;
      gathered->errors.push_back(errors::kRemoteTimeout);
      finish();
    });
  });
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
  t->Set(newString(isolate, "runOnKey"), v8::FunctionTemplate::New(isolate, runOnKey));
  t->Set(newString(isolate, "runOnShards"), v8::FunctionTemplate::New(isolate, runOnShards));
  library.async_client_template.Reset(isolate, t);
  return t;
}

}  // namespace

v8::Local<v8::Object> asyncClient(Library& library, const backend::Identity& identity,
                                  uint32_t flags, uint64_t target, const std::string& shard) {
  v8::Isolate* isolate = library.isolate();
  v8::Local<v8::Context> ctx = isolate->GetCurrentContext();
  v8::Local<v8::ObjectTemplate> t = asyncClientTemplate(library);
  v8::Local<v8::Object> client = t->NewInstance(ctx).ToLocalChecked();
  auto* state = new AsyncClientState(&library, identity, flags, target, shard);
  client->SetAlignedPointerInInternalField(0, state);
  library.adopt(state, client);
  return client;
}

}  // namespace tfproxy::scripting::bindings
