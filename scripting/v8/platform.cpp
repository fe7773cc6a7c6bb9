#include "scripting/v8/platform.h"

#include <libplatform/libplatform.h>
#include <v8.h>

namespace tfproxy::scripting {

struct Platform::Impl {
  std::unique_ptr<v8::Platform> platform;
};

namespace {
v8::Platform* current = nullptr;
}

Platform::Platform(const std::string& flags) : impl_(new Impl) {
  v8::V8::SetFlagsFromString(flags.c_str(), flags.size());
  impl_->platform = v8::platform::NewDefaultPlatform();
  v8::V8::InitializePlatform(impl_->platform.get());
  v8::V8::Initialize();
  current = impl_->platform.get();
}

Platform::~Platform() {
  current = nullptr;
  v8::V8::Dispose();
  v8::V8::DisposePlatform();
}

void Platform::runPendingTasks(v8::Isolate* isolate) {
  if (current == nullptr) return;
  while (v8::platform::PumpMessageLoop(current, isolate,
                                       v8::platform::MessageLoopBehavior::kDoNotWait)) {
  }
}

std::string Platform::v8Version() { return v8::V8::GetVersion(); }

std::string evaluateOnce(const std::string& source) {
  std::unique_ptr<v8::ArrayBuffer::Allocator> allocator(
      v8::ArrayBuffer::Allocator::NewDefaultAllocator());
  v8::Isolate::CreateParams params;
  params.array_buffer_allocator = allocator.get();
  v8::Isolate* isolate = v8::Isolate::New(params);
  std::string result;
  {
    v8::Locker locker(isolate);
    v8::Isolate::Scope isolate_scope(isolate);
    v8::HandleScope handle_scope(isolate);
    v8::Local<v8::Context> context = v8::Context::New(isolate);
    v8::Context::Scope context_scope(context);
    v8::TryCatch try_catch(isolate);
    v8::Local<v8::String> code =
        v8::String::NewFromUtf8(isolate, source.data(), v8::NewStringType::kNormal,
                                static_cast<int>(source.size()))
            .ToLocalChecked();
    v8::Local<v8::Script> script;
    v8::Local<v8::Value> value;
    if (v8::Script::Compile(context, code).ToLocal(&script) &&
        script->Run(context).ToLocal(&value)) {
      v8::String::Utf8Value text(isolate, value);
      result = *text != nullptr ? *text : "";
    } else {
      v8::String::Utf8Value text(isolate, try_catch.Exception());
      result = *text != nullptr ? *text : "exception";
    }
  }
  isolate->Dispose();
  return result;
}

}  // namespace tfproxy::scripting
