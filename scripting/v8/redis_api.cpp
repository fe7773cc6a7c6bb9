// The `redis` global (spec §4.1): registrations, configuration, flags, logging, versions.
#include <spdlog/spdlog.h>

#include "scripting/errors.h"
#include "scripting/prologue.h"
#include "scripting/text.h"
#include "scripting/v8/bindings.h"
#include "scripting/v8/convert.h"
#include "scripting/v8/engine_impl.h"
#include "scripting/v8/library.h"

namespace tfproxy::scripting::bindings {
namespace {

Library& libraryOf(const v8::FunctionCallbackInfo<v8::Value>& info) {
  return *static_cast<Library*>(info.Data().As<v8::External>()->Value());
}

// "Can not convert value at position <i> into <type>. <reason>." (spec §4.2)
void throwConversion(v8::Isolate* isolate, int position, std::string_view type,
                     std::string_view reason) {
  throwString(isolate, errors::conversion(position, type, reason));
}

// Reads a string parameter, throwing the generic conversion error if it is missing or not one.
bool stringArgument(const v8::FunctionCallbackInfo<v8::Value>& info, int position,
                    std::string* out) {
  v8::Isolate* isolate = info.GetIsolate();
  if (info.Length() <= position) {
    throwConversion(isolate, position, "V8LocalUtf8", "Wrong number of arguments given");
    return false;
  }
  if (!info[position]->IsString()) {
    throwConversion(isolate, position, "V8LocalUtf8", "Value is not string");
    return false;
  }
  *out = convert::utf8(isolate, info[position]);
  return true;
}

// An options object (spec §4.2): recognised fields are taken -- and removed from the caller's
// object, as upstream does -- one by one; what is left is reported as unknown. A getter or
// proxy trap that throws leaves its exception pending: parsing stops and JavaScript gets it.
class OptionsObject {
 public:
  OptionsObject(const v8::FunctionCallbackInfo<v8::Value>& info, int position,
                std::string_view type)
      : isolate_(info.GetIsolate()), position_(position), type_(type) {
    if (info.Length() <= position) return;
    if (!info[position]->IsObject()) {
      fail("Given argument must be an object");
      return;
    }
    options_ = info[position].As<v8::Object>();
  }
  // False once an error was thrown.
  bool ok() const { return !failed_; }
  // Takes field `name`; false when it is absent (null or undefined count as absent) or
  // reading it threw (ok() is false then).
  bool take(const char* name, v8::Local<v8::Value>* value) {
    if (failed_ || options_.IsEmpty()) return false;
    v8::Local<v8::Context> ctx = isolate_->GetCurrentContext();
    v8::Local<v8::String> key = newString(isolate_, name);
    if (!options_->Get(ctx, key).ToLocal(value) || options_->Delete(ctx, key).IsNothing()) {
      failed_ = true;
      return false;
    }
    return !(*value)->IsNullOrUndefined();
  }
  // Takes a string field; false when absent, or wrong (ok() is false then).
  bool takeString(const char* name, std::optional<std::string>* out) {
    v8::Local<v8::Value> value;
    if (!take(name, &value)) return false;
    if (!value->IsString()) {
      fail(std::string("Failed getting field ") + name + ", Value is not string.");
      return false;
    }
    *out = convert::utf8(isolate_, value);
    return true;
  }
  // Throws the conversion error with `reason`.
  void fail(std::string_view reason) {
    throwConversion(isolate_, position_, type_, reason);
    failed_ = true;
  }
  // After every known field was taken: fails on what is left.
  bool finish() {
    if (failed_) return false;
    if (options_.IsEmpty()) return true;
    v8::Local<v8::Context> ctx = isolate_->GetCurrentContext();
    v8::Local<v8::Array> rest;
    if (!options_->GetOwnPropertyNames(ctx).ToLocal(&rest) || rest->Length() == 0) return true;
    std::string names;
    for (uint32_t i = 0; i < rest->Length(); ++i) {
      v8::Local<v8::Value> name;
      if (!rest->Get(ctx, i).ToLocal(&name)) return false;
      if (i > 0) names += ",";
      names += convert::utf8(isolate_, name);
    }
    fail("Unknown properties given: " + names);
    return false;
  }

 private:
  v8::Isolate* isolate_;
  int position_;
  std::string_view type_;
  v8::Local<v8::Object> options_;
  bool failed_ = false;
};

struct FunctionOptions {
  std::optional<std::string> description;
  // Flag values as given; nullopt for one that is not a string. Checked after the callback
  // (spec §4.3 order).
  std::vector<std::optional<std::string>> flags;
};

// The optional options object of registerFunction (spec §4.2, 4.3).
bool functionOptions(const v8::FunctionCallbackInfo<v8::Value>& info, FunctionOptions* out) {
  OptionsObject options(info, 2, "Option < NativeFunctionOptionalArgs >");
  options.takeString("description", &out->description);
  v8::Local<v8::Value> flags;
  if (options.take("flags", &flags)) {
    if (!flags->IsArray()) {
      options.fail("Failed getting field flags, Value is not an array.");
      return false;
    }
    v8::Isolate* isolate = info.GetIsolate();
    v8::Local<v8::Context> ctx = isolate->GetCurrentContext();
    v8::Local<v8::Array> list = flags.As<v8::Array>();
    for (uint32_t i = 0; i < list->Length(); ++i) {
      v8::Local<v8::Value> f;
      if (!list->Get(ctx, i).ToLocal(&f)) return false;
      if (f->IsString()) {
        out->flags.emplace_back(convert::utf8(isolate, f));
      } else {
        out->flags.emplace_back(std::nullopt);
      }
    }
  }
  return options.finish();
}

// A trigger's prefix: a string's UTF-8 bytes or an ArrayBuffer's bytes; false for anything else.
bool prefixBytes(v8::Isolate* isolate, v8::Local<v8::Value> value, std::string* out) {
  if (value->IsString()) {
    *out = convert::utf8(isolate, value);
    return true;
  }
  if (value->IsArrayBuffer()) {
    auto store = value.As<v8::ArrayBuffer>()->GetBackingStore();
    out->assign(static_cast<const char*>(store->Data()), store->ByteLength());
    return true;
  }
  return false;
}

// The arguments every trigger registration starts with: at load time, a name, a prefix and a
// callback present (their types are checked later, in upstream's order).
bool triggerArguments(const v8::FunctionCallbackInfo<v8::Value>& info, const char* out_of_context,
                      std::string* name) {
  v8::Isolate* isolate = info.GetIsolate();
  if (!libraryOf(info).registering()) {
    throwString(isolate, out_of_context);
    return false;
  }
  if (!stringArgument(info, 0, name)) return false;
  for (int position : {1, 2}) {
    if (info.Length() <= position) {
      throwConversion(isolate, position, "V8LocalValue", "Wrong number of arguments given");
      return false;
    }
  }
  return true;
}

// redis.registerKeySpaceTrigger(name, prefix, callback, {description, onTriggerFired})
// (spec §4.4): checks in upstream's order.
void registerKeySpaceTrigger(const v8::FunctionCallbackInfo<v8::Value>& info) {
  v8::Isolate* isolate = info.GetIsolate();
  Library& library = libraryOf(info);
  std::string name;
  if (!triggerArguments(info, errors::kKeySpaceTriggerOutOfContext, &name)) return;
  OptionsObject options(info, 3, "Option < NoficationConsumerOptionalArgs >");
  std::optional<std::string> description;
  options.takeString("description", &description);
  v8::Local<v8::Value> on_fired;
  const bool has_on_fired = options.take("onTriggerFired", &on_fired);
  if (!options.finish()) return;
  if (!info[2]->IsFunction()) {
    throwString(isolate, errors::kKeySpaceTriggerNotFunction);
    return;
  }
  if (has_on_fired && (!on_fired->IsFunction() || on_fired.As<v8::Function>()->IsAsyncFunction())) {
    throwString(isolate, errors::kOnTriggerFiredNotFunction);
    return;
  }
  std::string prefix;
  if (!prefixBytes(isolate, info[1], &prefix)) {
    throwString(isolate, errors::kKeySpaceTriggerBadPrefix);
    return;
  }
  if (auto problem = nameProblem(name)) {
    throwString(isolate, errors::badKeySpaceTriggerName(name, *problem));
    return;
  }
  if (library.findKeyspaceTrigger(name) != nullptr) {
    throwString(isolate, errors::kKeySpaceTriggerExists);
    return;
  }
  auto trigger = std::make_unique<KeyspaceTrigger>();
  trigger->name = name;
  trigger->prefix = std::move(prefix);
  v8::Local<v8::Function> callback = info[2].As<v8::Function>();
  trigger->callback.Reset(isolate, callback);
  trigger->is_coroutine = callback->IsAsyncFunction();
  if (has_on_fired) trigger->on_fired.Reset(isolate, on_fired.As<v8::Function>());
  trigger->description = std::move(description);
  trigger->stats->label = library.name() + "." + trigger->name;
  trigger->stats->slow_log = &library.engine().slowLog();
  library.keyspaceTriggers().push_back(std::move(trigger));
}

void registerFunction(const v8::FunctionCallbackInfo<v8::Value>& info, bool async) {
  v8::Isolate* isolate = info.GetIsolate();
  Library& library = libraryOf(info);
  if (!library.registering()) {
    throwString(isolate, errors::kRegisterOutOfContext);
    return;
  }
  std::string name;
  if (!stringArgument(info, 0, &name)) return;
  if (info.Length() < 2) {
    throwConversion(isolate, 1, "V8LocalValue", "Wrong number of arguments given");
    return;
  }
  FunctionOptions options;
  if (!functionOptions(info, &options)) return;
  if (!info[1]->IsFunction()) {
    throwString(isolate, errors::kRegisterFunctionNotFunction);
    return;
  }
  v8::Local<v8::Function> callback = info[1].As<v8::Function>();
  uint32_t flags = 0;
  for (const auto& flag : options.flags) {
    if (!flag) {
      throwString(isolate, errors::kFlagNotString);
      return;
    }
    if (*flag == "no-writes") {
      flags |= kNoWrites;
    } else if (*flag == "allow-oom") {
      flags |= kAllowOom;
    } else if (*flag == "raw-arguments") {
      flags |= kRawArguments;
    } else {
      throwString(isolate, errors::unknownFlag(*flag));
      return;
    }
  }
  if (auto problem = nameProblem(name)) {
    throwString(isolate, errors::badFunctionName(name, *problem));
    return;
  }
  if (library.findFunction(name) != nullptr) {
    throwString(isolate, errors::functionExists(name));
    return;
  }
  auto f = std::make_unique<Function>();
  f->name = name;
  f->callback.Reset(isolate, callback);
  // An `async function` is a coroutine even when given to registerFunction (the seed's rule):
  // it behaves exactly as if registered with registerAsyncFunction.
  f->is_coroutine = callback->IsAsyncFunction();
  f->is_async = async || f->is_coroutine;
  f->flags = flags;
  f->description = options.description;
  library.functions().push_back(std::move(f));
}

// A prefix as the upgrade error shows it.
std::string shownPrefix(const std::string& prefix) {
  return isValidUtf8(prefix) ? prefix : std::string(errors::kBinaryData);
}

// redis.registerStreamTrigger(name, prefix, callback, {description, window, isStreamTrimmed})
// (spec §4.5): checks in upstream's order.
void registerStreamTrigger(const v8::FunctionCallbackInfo<v8::Value>& info) {
  v8::Isolate* isolate = info.GetIsolate();
  Library& library = libraryOf(info);
  std::string name;
  if (!triggerArguments(info, errors::kStreamTriggerOutOfContext, &name)) return;
  OptionsObject options(info, 3, "Option < StreamTriggerOptionalArgs >");
  std::optional<std::string> description;
  options.takeString("description", &description);
  int64_t window = 1;
  v8::Local<v8::Value> value;
  if (options.take("window", &value)) {
    if (value->IsInt32()) {
      window = value.As<v8::Int32>()->Value();
    } else if (value->IsBigInt()) {
      window = value.As<v8::BigInt>()->Int64Value();
    } else {
      options.fail("Failed getting field window, Value is not long.");
    }
  }
  bool trim = false;
  if (options.take("isStreamTrimmed", &value)) {
    if (value->IsBoolean()) {
      trim = value->BooleanValue(isolate);
    } else {
      options.fail("Failed getting field isStreamTrimmed, Value is not a boolean.");
    }
  }
  if (!options.finish()) return;
  if (!info[2]->IsFunction()) {
    throwString(isolate, errors::kStreamTriggerNotFunction);
    return;
  }
  if (window < 1) {
    throwString(isolate, errors::kStreamWindowNotPositive);
    return;
  }
  std::string prefix;
  if (!prefixBytes(isolate, info[1], &prefix)) {
    throwString(isolate, errors::kStreamTriggerBadPrefix);
    return;
  }
  if (auto problem = nameProblem(name)) {
    throwString(isolate, errors::badStreamTriggerName(name, *problem));
    return;
  }
  if (library.findStreamTrigger(name) != nullptr) {
    throwString(isolate, errors::kStreamTriggerExists);
    return;
  }
  auto trigger = std::make_unique<StreamTrigger>();
  // An upgrade keeps the trigger's streams, which a prefix change would orphan (spec §8.8).
  if (library.predecessor()) {
    if (const StreamTrigger* old = library.predecessor()->findStreamTrigger(name)) {
      if (old->prefix != prefix) {
        throwString(isolate, errors::streamPrefixChanged(name, shownPrefix(old->prefix),
                                                         shownPrefix(prefix)));
        return;
      }
      trigger->state = old->state;
    }
  }
  trigger->name = name;
  trigger->prefix = std::move(prefix);
  v8::Local<v8::Function> callback = info[2].As<v8::Function>();
  trigger->callback.Reset(isolate, callback);
  trigger->is_coroutine = callback->IsAsyncFunction();
  trigger->description = std::move(description);
  trigger->window = window;
  trigger->trim = trim;
  library.streamTriggers().push_back(std::move(trigger));
}

// redis.registerClusterFunction(name, async fn) (spec §4.6): checks in upstream's order.
void registerClusterFunction(const v8::FunctionCallbackInfo<v8::Value>& info) {
  v8::Isolate* isolate = info.GetIsolate();
  Library& library = libraryOf(info);
  if (!library.registering()) {
    throwString(isolate, errors::kClusterFunctionOutOfContext);
    return;
  }
  std::string name;
  if (!stringArgument(info, 0, &name)) return;
  if (info.Length() < 2 || !info[1]->IsFunction()) {
    throwString(isolate, errors::kClusterFunctionNotFunction);
    return;
  }
  if (!info[1].As<v8::Function>()->IsAsyncFunction()) {
    throwString(isolate, errors::kRemoteNotAsync);
    return;
  }
  if (auto problem = nameProblem(name)) {
    throwString(isolate, errors::badClusterFunctionName(name, *problem));
    return;
  }
  auto& functions = library.clusterFunctions();
  if (functions.count(name) != 0) {
    throwString(isolate, errors::remoteExists(name));
    return;
  }
  functions[name].Reset(isolate, info[1].As<v8::Function>());
}

// Each line names the library, and the function or trigger that logged it when one runs.
void log(const v8::FunctionCallbackInfo<v8::Value>& info) {
  std::string message;
  if (!stringArgument(info, 0, &message)) return;
  const Library& library = libraryOf(info);
  const std::string* running = library.running();
  spdlog::info("<redisgears_2> {}{}{}: {}", library.name(), running != nullptr ? "." : "",
               running != nullptr ? *running : std::string(), escapeDefault(message));
}

void setMethod(v8::Isolate* isolate, v8::Local<v8::Context> ctx, v8::Local<v8::Object> target,
               const char* name, v8::FunctionCallback callback, v8::Local<v8::Value> data) {
  v8::Local<v8::Function> fn =
      v8::FunctionTemplate::New(isolate, callback, data)->GetFunction(ctx).ToLocalChecked();
  target->Set(ctx, newString(isolate, name), fn).Check();
}

}  // namespace

void throwString(v8::Isolate* isolate, std::string_view text) {
  isolate->ThrowException(newString(isolate, text));
}

v8::Local<v8::String> newString(v8::Isolate* isolate, std::string_view utf8) {
  v8::Local<v8::String> s;
  // Texts made here are names and messages; one over V8's string limit becomes "".
  if (utf8.size() > static_cast<size_t>(v8::String::kMaxLength) ||
      !v8::String::NewFromUtf8(isolate, utf8.data(), v8::NewStringType::kNormal,
                               static_cast<int>(utf8.size()))
           .ToLocal(&s)) {
    return v8::String::Empty(isolate);
  }
  return s;
}

void settle(v8::Local<v8::Context> ctx, v8::Local<v8::Promise::Resolver> resolver, bool fulfil,
            v8::Local<v8::Value> value) {
  v8::Maybe<bool> done = fulfil ? resolver->Resolve(ctx, value) : resolver->Reject(ctx, value);
  static_cast<void>(done.FromMaybe(false));
}

void installRedis(Library& library, v8::Local<v8::Context> ctx, v8::Local<v8::Object> global) {
  v8::Isolate* isolate = library.isolate();
  v8::Local<v8::External> data = v8::External::New(isolate, &library);
  v8::Local<v8::Object> redis = v8::Object::New(isolate);

  // Every member JavaScript can see, in one block.
  setMethod(
      isolate, ctx, redis, "registerFunction",
      [](const v8::FunctionCallbackInfo<v8::Value>& info) { registerFunction(info, false); }, data);
  setMethod(
      isolate, ctx, redis, "registerAsyncFunction",
      [](const v8::FunctionCallbackInfo<v8::Value>& info) { registerFunction(info, true); }, data);
  setMethod(isolate, ctx, redis, "registerKeySpaceTrigger", registerKeySpaceTrigger, data);
  setMethod(isolate, ctx, redis, "registerStreamTrigger", registerStreamTrigger, data);
  setMethod(isolate, ctx, redis, "registerClusterFunction", registerClusterFunction, data);
  setMethod(isolate, ctx, redis, "log", log, data);
  setMethod(
      isolate, ctx, redis, "v8Version",
      [](const v8::FunctionCallbackInfo<v8::Value>& info) {
        info.GetReturnValue().Set(newString(info.GetIsolate(), v8::V8::GetVersion()));
      },
      data);
  setMethod(
      isolate, ctx, redis, "apiVersion",
      [](const v8::FunctionCallbackInfo<v8::Value>& info) {
        // Every 1.x library gets the newest 1.x API (spec §2.3).
        info.GetReturnValue().Set(newString(info.GetIsolate(), "1.1"));
      },
      data);

  v8::Local<v8::Object> flags = v8::Object::New(isolate);
  flags->Set(ctx, newString(isolate, "NO_WRITES"), newString(isolate, "no-writes")).Check();
  flags->Set(ctx, newString(isolate, "ALLOW_OOM"), newString(isolate, "allow-oom")).Check();
  flags->Set(ctx, newString(isolate, "RAW_ARGUMENTS"), newString(isolate, "raw-arguments")).Check();
  redis->Set(ctx, newString(isolate, "functionFlags"), flags).Check();

  v8::Local<v8::Value> config = v8::Object::New(isolate);
  if (library.config()) {
    v8::Local<v8::Value> parsed;
    if (v8::JSON::Parse(ctx, newString(isolate, *library.config())).ToLocal(&parsed)) {
      config = parsed;
    }
  }
  redis->Set(ctx, newString(isolate, "config"), config).Check();

  v8::Local<v8::Object> redisai = v8::Object::New(isolate);
  setMethod(
      isolate, ctx, redisai, "create_tensor",
      [](const v8::FunctionCallbackInfo<v8::Value>& info) {
        throwString(info.GetIsolate(), errors::kRedisAi);
      },
      data);
  redis->Set(ctx, newString(isolate, "redisai"), redisai).Check();

  global->Set(ctx, newString(isolate, "redis"), redis).Check();
}

}  // namespace tfproxy::scripting::bindings
