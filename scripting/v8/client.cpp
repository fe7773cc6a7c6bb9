// The sync client (spec §4.7) and the commands it issues (spec §6.3, 11.3).
#include <cmath>

#include "backend/command_table.h"
#include "backend/errors.h"
#include "resp/number.h"
#include "scripting/errors.h"
#include "scripting/v8/bindings.h"
#include "scripting/v8/convert.h"
#include "scripting/v8/engine_impl.h"
#include "scripting/v8/library.h"

namespace tfproxy::scripting {
namespace {

// Redis 7.0 and 7.2 word ACL denials differently; JavaScript sees upstream's texts (spec §6.7).
std::string upstreamAclText(const std::string& error, const std::string& user) {
  if (error.rfind("NOPERM", 0) != 0) return error;
  if (error.find(" key") != std::string::npos) return errors::kKeyDenied;
  if (error.find(" channel") != std::string::npos) {
    return "NOPERM No permissions to access a channel";
  }
  size_t run = error.find("to run the '");
  if (run != std::string::npos) {
    return errors::noPermissions(user, error.substr(run));
  }
  return error;
}

// The decimal text of a JavaScript number, as String(n) gives it.
std::string numberText(double d) {
  if (std::isfinite(d) && d == std::trunc(d) && std::fabs(d) < 1e21) {
    return std::to_string(static_cast<long long>(d));
  }
  return resp::formatDouble(d);
}

}  // namespace

Invocation::Invocation(Library& library, backend::Identity identity, int64_t db, uint32_t flags,
                       bool block_allowed, bool section_held, uint64_t target)
    : library_(library),
      identity_(std::move(identity)),
      db_(db),
      flags_(flags),
      block_allowed_(block_allowed),
      owns_section_(!section_held),
      in_section_(section_held),
      target_(target) {}

Invocation::~Invocation() {
  lease_.reset();
  if (in_section_ && owns_section_) library_.engine().host().leaveAtomicSection();
}

Status Invocation::refusal(const std::vector<std::string>& args) const {
  EngineImpl& engine = library_.engine();
  std::string name;
  backend::toLower(args[0], &name);
  const backend::CommandInfo* info =
      engine.commands().find(args[0], args.size() > 1 ? std::string_view(args[1]) : "");
  const std::string full_name = info != nullptr ? info->name : name;
  if (!engine.allowUnsafeCommands() && (engine.host().deniedToScripts(name) ||
                                        (info != nullptr && info->has(backend::kFlag_noscript) &&
                                         !info->has(backend::kFlag_blocking)))) {
    return Status::failure(errors::notInScripts(full_name));
  }
  if ((flags_ & kNoWrites) != 0 && info != nullptr && info->has(backend::kFlag_write)) {
    return Status::failure(errors::writeNotAllowed(full_name));
  }
  if (!shard_.empty()) {
    if (auto outside = engine.host().outsideShard(shard_, args)) return Status::failure(*outside);
  }
  return {};
}

std::optional<resp::Value> Invocation::command(const std::vector<std::string>& args,
                                               std::string* error) {
  EngineImpl& engine = library_.engine();
  if (Status allowed = refusal(args); !allowed.ok()) {
    *error = allowed.message();
    return std::nullopt;
  }
  const backend::CommandInfo* info =
      engine.commands().find(args[0], args.size() > 1 ? std::string_view(args[1]) : "");
  // From the first command on, nothing else passing through the proxy runs on the backend.
  if (!in_section_) {
    if (Status entered = engine.host().enterAtomicSection(); !entered.ok()) {
      *error = entered.message();
      return std::nullopt;
    }
    in_section_ = true;
  }
  backend::ScriptConnections::Failure failure;
  std::string reason;
  if (!lease_) {
    lease_ = engine.host().connections().acquire(identity_, &failure, &reason);
    if (!lease_) {
      *error = failure == backend::ScriptConnections::Failure::kAuthentication
                   ? backend::errors::kUserGone
                   : backend::errors::kUnavailablePrefix + reason;
      return std::nullopt;
    }
  }
  lease_->setReplySpin(spin_);
  engine.host().commandIssued(args);
  std::vector<std::string_view> cmd(args.begin(), args.end());
  std::optional<resp::Value> reply;
  if (info != nullptr && info->has(backend::kFlag_blocking)) {
    // A blocking command runs its non-blocking form, exactly as inside MULTI (spec §11.3).
    std::vector<std::vector<std::string_view>> wrapped = {{"MULTI"}, cmd, {"EXEC"}};
    auto replies = lease_->run(db_, wrapped);
    if (replies) {
      const resp::Value& queued = (*replies)[1];
      const resp::Value& exec = (*replies)[2];
      if (queued.isError()) {
        reply = queued;
      } else if (exec.type == resp::Type::kArray && exec.elements.size() == 1) {
        reply = exec.elements[0];
      } else {
        reply = exec;
      }
    }
  } else {
    reply = lease_->run(db_, cmd);
  }
  if (!reply) {
    // The connection broke. If the user was deleted or disabled, Redis closed it for that.
    std::string broke = lease_->error();
    lease_ = engine.host().connections().acquire(identity_, &failure, &reason);
    *error = failure == backend::ScriptConnections::Failure::kAuthentication
                 ? std::string(backend::errors::kUserGone)
                 : std::string(backend::errors::kLost) + " (" + broke + ")";
    return std::nullopt;
  }
  if (reply->isError()) {
    engine.host().commandFailed(reply->str);
    reply->str = upstreamAclText(reply->str, identity_.user);
  } else {
    engine.host().editReply(args, &*reply);
  }
  return reply;
}

namespace bindings {
namespace {

ClientState* stateOf(const v8::FunctionCallbackInfo<v8::Value>& info) {
  return static_cast<ClientState*>(info.This()->GetAlignedPointerFromInternalField(0));
}

// Checks shared by every client member: spec §4.7 order.
Invocation* activeInvocation(const v8::FunctionCallbackInfo<v8::Value>& info) {
  ClientState* state = stateOf(info);
  if (!state->library->locked()) {
    throwString(info.GetIsolate(), errors::kNotLocked);
    return nullptr;
  }
  if (state->invocation == nullptr) {
    throwString(info.GetIsolate(), errors::kInvalidClient);
    return nullptr;
  }
  return state->invocation;
}

// Collects `client.call` arguments: a command name, then strings, String objects,
// ArrayBuffers, and (the seed's rule) numbers and BigInts as their decimal text.
bool commandArguments(const v8::FunctionCallbackInfo<v8::Value>& info,
                      std::vector<std::string>* args) {
  v8::Isolate* isolate = info.GetIsolate();
  v8::Local<v8::Context> ctx = isolate->GetCurrentContext();
  if (info.Length() < 1 || !info[0]->IsString()) {
    throwString(isolate, std::string("Can not convert value at position 0 into V8LocalUtf8. ") +
                             (info.Length() < 1 ? "Wrong number of arguments given."
                                                : "Value is not string."));
    return false;
  }
  args->push_back(convert::utf8(isolate, info[0]));
  for (int i = 1; i < info.Length(); ++i) {
    v8::Local<v8::Value> v = info[i];
    if (v->IsString()) {
      args->push_back(convert::utf8(isolate, v));
    } else if (v->IsStringObject()) {
      args->push_back(convert::utf8(isolate, v.As<v8::StringObject>()->ValueOf()));
    } else if (v->IsArrayBuffer()) {
      auto store = v.As<v8::ArrayBuffer>()->GetBackingStore();
      args->emplace_back(static_cast<const char*>(store->Data()), store->ByteLength());
    } else if (v->IsNumber()) {
      args->push_back(numberText(v.As<v8::Number>()->Value()));
    } else if (v->IsBigInt()) {
      v8::Local<v8::String> text;
      if (!v->ToString(ctx).ToLocal(&text)) return false;
      args->push_back(convert::utf8(isolate, text));
    } else {
      throwString(isolate, errors::kNotBytes);
      return false;
    }
  }
  return true;
}

void call(const v8::FunctionCallbackInfo<v8::Value>& info, bool raw) {
  Invocation* invocation = activeInvocation(info);
  if (invocation == nullptr) return;
  std::vector<std::string> args;
  if (!commandArguments(info, &args)) return;
  v8::Isolate* isolate = info.GetIsolate();
  std::string error;
  std::optional<resp::Value> reply = invocation->command(args, &error);
  if (!reply) {
    throwString(isolate, error);
    return;
  }
  v8::Local<v8::Value> result;
  if (!convert::replyToJs(isolate, isolate->GetCurrentContext(), *reply, raw, &result, &error)) {
    throwString(isolate, error);
    return;
  }
  info.GetReturnValue().Set(result);
}

// callAsync / callAsyncRaw: the command runs outside the atomic section, may block, and
// settles the returned promise in a later job (even when the reply is immediate).
void callAsync(const v8::FunctionCallbackInfo<v8::Value>& info, bool raw) {
  Invocation* invocation = activeInvocation(info);
  if (invocation == nullptr) return;
  std::vector<std::string> args;
  if (!commandArguments(info, &args)) return;
  v8::Isolate* isolate = info.GetIsolate();
  v8::Local<v8::Context> ctx = isolate->GetCurrentContext();
  if (Status allowed = invocation->refusal(args); !allowed.ok()) {
    throwString(isolate, allowed.message());
    return;
  }
  Library& library = *stateOf(info)->library;
  v8::Local<v8::Promise::Resolver> resolver;
  if (!v8::Promise::Resolver::New(ctx).ToLocal(&resolver)) return;  // being stopped
  const uint64_t id = library.addResolver(resolver);
  std::string text;
  for (const std::string& a : args) text += (text.empty() ? "" : " ") + a;
  library.addPendingCall(id, text);
  const backend::CommandInfo* command =
      library.engine().commands().find(args[0], args.size() > 1 ? std::string_view(args[1]) : "");
  const bool may_block = command == nullptr || command->has(backend::kFlag_blocking);
  std::shared_ptr<Library> lib = library.shared_from_this();
  const std::string user = invocation->identity().user;
  library.engine().host().asyncCommand(
      invocation->identity(), invocation->db(), std::move(args), may_block,
      [lib, id, raw, user](std::optional<resp::Value> reply, const std::string& error) {
        lib->removePendingCall(id);
        lib->postJob(0, [lib, id, raw, user, reply = std::move(reply), error](JsScope& scope) {
          v8::Local<v8::Promise::Resolver> r = lib->takeResolver(id);
          if (r.IsEmpty()) return;
          v8::Local<v8::Context> ctx = scope.context();
          std::string failure = error;
          v8::Local<v8::Value> value;
          if (reply) {
            resp::Value v = *reply;
            if (v.isError()) v.str = upstreamAclText(v.str, user);
            if (convert::replyToJs(scope.isolate(), ctx, v, raw, &value, &failure)) {
              settle(ctx, r, /*fulfil=*/true, value);
              return;
            }
          }
          settle(ctx, r, /*fulfil=*/false, newString(scope.isolate(), failure));
        });
      });
  info.GetReturnValue().Set(resolver->GetPromise());
}

// executeAsync(asyncFn): runs asyncFn(asyncClient) as a background job with this invocation's
// user and flags, and returns a promise of its result.
void executeAsync(const v8::FunctionCallbackInfo<v8::Value>& info) {
  v8::Isolate* isolate = info.GetIsolate();
  v8::Local<v8::Context> ctx = isolate->GetCurrentContext();
  ClientState* state = stateOf(info);
  if (state->invocation == nullptr) {
    throwString(isolate, errors::kExecuteAsyncOutOfContext);
    return;
  }
  if (info.Length() < 1 || !info[0]->IsFunction() ||
      !info[0].As<v8::Function>()->IsAsyncFunction()) {
    throwString(isolate, errors::kExecuteAsyncNotAsync);
    return;
  }
  Library& library = *state->library;
  Invocation& invocation = *state->invocation;
  v8::Local<v8::Promise::Resolver> resolver;
  if (!v8::Promise::Resolver::New(ctx).ToLocal(&resolver)) return;  // being stopped
  const uint64_t id = library.addResolver(resolver);
  auto body = std::make_shared<v8::Global<v8::Function>>(isolate, info[0].As<v8::Function>());
  const backend::Identity identity = invocation.identity();
  const uint32_t flags = invocation.flags();
  const uint64_t target = invocation.target();
  Library* lib = &library;
  library.postJob(target, [lib, id, body, identity, flags, target](JsScope& scope) {
    v8::Isolate* isolate = scope.isolate();
    v8::Local<v8::Context> ctx = scope.context();
    v8::Local<v8::Promise::Resolver> r = lib->takeResolver(id);
    v8::Local<v8::Function> fn = body->Get(isolate);
    body->Reset();
    if (r.IsEmpty()) return;
    v8::Local<v8::Value> client[1] = {asyncClient(*lib, identity, flags, target)};
    v8::TryCatch tc(isolate);
    v8::Local<v8::Value> result;
    if (fn->Call(ctx, v8::Undefined(isolate), 1, client).ToLocal(&result)) {
      settle(ctx, r, /*fulfil=*/true, result);
    } else if (tc.HasTerminated()) {
      if (target != 0) lib->replyError(target, errors::kTerminated);
    } else {
      settle(ctx, r, /*fulfil=*/false, tc.Exception());
    }
  });
  info.GetReturnValue().Set(resolver->GetPromise());
}

void setMethod(v8::Isolate* isolate, v8::Local<v8::ObjectTemplate> t, const char* name,
               v8::FunctionCallback callback) {
  t->Set(newString(isolate, name), v8::FunctionTemplate::New(isolate, callback));
}

// The sync client's template, built once per library.
v8::Local<v8::ObjectTemplate> clientTemplate(Library& library) {
  v8::Isolate* isolate = library.isolate();
  if (!library.client_template.IsEmpty()) return library.client_template.Get(isolate);
  v8::Local<v8::ObjectTemplate> t = v8::ObjectTemplate::New(isolate);
  t->SetInternalFieldCount(1);
  // Every member JavaScript can see, in one block.
  setMethod(isolate, t, "call",
            [](const v8::FunctionCallbackInfo<v8::Value>& info) { call(info, false); });
  setMethod(isolate, t, "callRaw",
            [](const v8::FunctionCallbackInfo<v8::Value>& info) { call(info, true); });
  setMethod(isolate, t, "callAsync",
            [](const v8::FunctionCallbackInfo<v8::Value>& info) { callAsync(info, false); });
  setMethod(isolate, t, "callAsyncRaw",
            [](const v8::FunctionCallbackInfo<v8::Value>& info) { callAsync(info, true); });
  setMethod(isolate, t, "executeAsync", executeAsync);
  setMethod(isolate, t, "isBlockAllowed", [](const v8::FunctionCallbackInfo<v8::Value>& info) {
    ClientState* state = stateOf(info);
    if (state->invocation == nullptr) {
      throwString(info.GetIsolate(), errors::kInvalidClient);
      return;
    }
    info.GetReturnValue().Set(state->invocation->blockAllowed());
  });
  v8::Local<v8::ObjectTemplate> redisai = v8::ObjectTemplate::New(isolate);
  setMethod(isolate, redisai, "open_model", [](const v8::FunctionCallbackInfo<v8::Value>& info) {
    throwString(info.GetIsolate(), errors::kRedisAi);
  });
  setMethod(isolate, redisai, "open_script", [](const v8::FunctionCallbackInfo<v8::Value>& info) {
    throwString(info.GetIsolate(), errors::kRedisAi);
  });
  t->Set(newString(isolate, "redisai"), redisai);
  library.client_template.Reset(isolate, t);
  return t;
}

}  // namespace

v8::Local<v8::Object> syncClient(Library& library, Function& function) {
  v8::Isolate* isolate = library.isolate();
  if (!function.client.IsEmpty()) return function.client.Get(isolate);
  v8::Local<v8::Object> client =
      clientTemplate(library)->NewInstance(isolate->GetCurrentContext()).ToLocalChecked();
  function.client_state = new ClientState{&library, nullptr};
  client->SetAlignedPointerInInternalField(0, function.client_state);
  function.client.Reset(isolate, client);
  return client;
}

v8::Local<v8::Object> blockClient(Library& library, Invocation* invocation) {
  v8::Isolate* isolate = library.isolate();
  v8::Local<v8::Object> client =
      clientTemplate(library)->NewInstance(isolate->GetCurrentContext()).ToLocalChecked();
  struct BlockClient : Library::Wrapped {
    ClientState state;
  };
  auto* owned = new BlockClient;
  owned->state = {&library, invocation};
  client->SetAlignedPointerInInternalField(0, &owned->state);
  library.adopt(owned, client);
  return client;
}

void invalidateBlockClient(v8::Local<v8::Value> client) {
  auto* state =
      static_cast<ClientState*>(client.As<v8::Object>()->GetAlignedPointerFromInternalField(0));
  state->invocation = nullptr;
}

}  // namespace bindings
}  // namespace tfproxy::scripting
