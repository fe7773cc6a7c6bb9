// The replacement `Promise` global (spec §4.13): `new Promise(executor)` calls the executor at
// once, but resolve/reject settle the promise in a later job of the library, so a promise made
// this way is still pending when the function that made it returns.
#include "scripting/errors.h"
#include "scripting/v8/bindings.h"
#include "scripting/v8/library.h"

namespace tfproxy::scripting::bindings {
namespace {

// resolve / reject; data is the promise's resolver.
template <bool kFulfil>
void settleLater(const v8::FunctionCallbackInfo<v8::Value>& info) {
  v8::Isolate* isolate = info.GetIsolate();
  auto* library = static_cast<Library*>(isolate->GetData(0));
  if (library->deleted()) {
    throwString(isolate, errors::kLibraryDeleted);
    return;
  }
  auto resolver = std::make_shared<v8::Global<v8::Promise::Resolver>>(
      isolate, info.Data().As<v8::Promise::Resolver>());
  auto value = std::make_shared<v8::Global<v8::Value>>(
      isolate, info.Length() > 0 ? info[0] : v8::Undefined(isolate).As<v8::Value>());
  library->postJob(0, [resolver, value](JsScope& scope) {
    v8::Local<v8::Promise::Resolver> r = resolver->Get(scope.isolate());
    v8::Local<v8::Value> v = value->Get(scope.isolate());
    settle(scope.context(), r, kFulfil, v);
    resolver->Reset();
    value->Reset();
  });
}

void construct(const v8::FunctionCallbackInfo<v8::Value>& info) {
  v8::Isolate* isolate = info.GetIsolate();
  v8::Local<v8::Context> ctx = isolate->GetCurrentContext();
  if (info.Length() < 1 || !info[0]->IsFunction() ||
      info[0].As<v8::Function>()->IsAsyncFunction()) {
    throwString(isolate, errors::kBadPromiseArgument);
    return;
  }
  v8::Local<v8::Promise::Resolver> resolver;
  v8::Local<v8::Function> fulfil;
  v8::Local<v8::Function> reject;
  if (!v8::Promise::Resolver::New(ctx).ToLocal(&resolver) ||
      !v8::Function::New(ctx, settleLater<true>, resolver).ToLocal(&fulfil) ||
      !v8::Function::New(ctx, settleLater<false>, resolver).ToLocal(&reject)) {
    return;  // being stopped
  }
  v8::Local<v8::Value> settlers[2] = {fulfil, reject};
  v8::TryCatch tc(isolate);
  if (info[0].As<v8::Function>()->Call(ctx, v8::Undefined(isolate), 2, settlers).IsEmpty()) {
    // Stopped by the watchdog or the memory limit: the termination goes on unwinding by itself.
    if (tc.HasTerminated()) return;
    // A throwing executor rejects the promise, also in a later job.
    v8::Local<v8::Value> args[1] = {tc.Exception()};
    tc.Reset();
    settlers[1].As<v8::Function>()->Call(ctx, v8::Undefined(isolate), 1, args).IsEmpty();
  }
  info.GetReturnValue().Set(resolver->GetPromise());
}

}  // namespace

void installPromise(Library& library, v8::Local<v8::Context> ctx, v8::Local<v8::Object> global) {
  v8::Isolate* isolate = library.isolate();
  v8::Local<v8::Value> native;
  if (!global->Get(ctx, newString(isolate, "Promise")).ToLocal(&native) || !native->IsObject()) {
    return;
  }
  v8::Local<v8::Function> replacement =
      v8::FunctionTemplate::New(isolate, construct)->GetFunction(ctx).ToLocalChecked();
  // A superset of upstream: the engine's static helpers stay available on the replacement.
  for (const char* name : {"resolve", "reject", "all", "allSettled", "any", "race"}) {
    v8::Local<v8::Value> helper;
    if (native.As<v8::Object>()->Get(ctx, newString(isolate, name)).ToLocal(&helper) &&
        helper->IsFunction()) {
      v8::Local<v8::Value> bind;
      v8::Local<v8::Value> bound;
      v8::Local<v8::Value> this_arg[1] = {native};
      if (helper.As<v8::Object>()->Get(ctx, newString(isolate, "bind")).ToLocal(&bind) &&
          bind.As<v8::Function>()->Call(ctx, helper, 1, this_arg).ToLocal(&bound)) {
        replacement->Set(ctx, newString(isolate, name), bound).Check();
      }
    }
  }
  global->Set(ctx, newString(isolate, "Promise"), replacement).Check();
}

}  // namespace tfproxy::scripting::bindings
