#include "scripting/v8/convert.h"

#include <cmath>
#include <cstring>

#include "resp/number.h"
#include "scripting/errors.h"
#include "scripting/text.h"

namespace tfproxy::scripting::convert {
namespace {

constexpr int kMaxNesting = 100;

// Callers check lengths first (fits()); anything V8 still refuses becomes "".
v8::Local<v8::String> str(v8::Isolate* isolate, std::string_view s) {
  v8::Local<v8::String> out;
  if (s.size() > static_cast<size_t>(v8::String::kMaxLength) ||
      !v8::String::NewFromUtf8(isolate, s.data(), v8::NewStringType::kNormal,
                               static_cast<int>(s.size()))
           .ToLocal(&out)) {
    return v8::String::Empty(isolate);
  }
  return out;
}

// A UTF-8 text of this many bytes has at most as many UTF-16 units.
bool fits(std::string_view s, std::string* error) {
  if (s.size() <= static_cast<size_t>(v8::String::kMaxLength)) return true;
  *error = errors::kValueTooLong;
  return false;
}

// Setting a property of an object made here fails only when the isolate is being stopped.
bool set(v8::Local<v8::Context> ctx, v8::Local<v8::Object> o, v8::Local<v8::Value> key,
         v8::Local<v8::Value> value, std::string* error) {
  if (o->Set(ctx, key, value).FromMaybe(false)) return true;
  *error = errors::kConversionFailed;
  return false;
}

v8::Local<v8::ArrayBuffer> bytes(v8::Isolate* isolate, std::string_view s) {
  auto store = v8::ArrayBuffer::NewBackingStore(isolate, s.size());
  if (!s.empty()) std::memcpy(store->Data(), s.data(), s.size());
  return v8::ArrayBuffer::New(isolate, std::move(store));
}

// The first error value anywhere in a reply: a nested error makes the whole call throw.
const resp::Value* findError(const resp::Value& v, int depth = 0) {
  if (v.isError()) return &v;
  if (depth > 512) return nullptr;
  for (const resp::Value& e : v.elements) {
    if (const resp::Value* err = findError(e, depth + 1)) return err;
  }
  return nullptr;
}

bool toJs(v8::Isolate* isolate, v8::Local<v8::Context> ctx, const resp::Value& v, bool raw,
          v8::Local<v8::Value>* out, std::string* error) {
  switch (v.type) {
    case resp::Type::kSimpleString:
    case resp::Type::kBulkString:
      if (raw) {
        *out = bytes(isolate, v.str);
        return true;
      }
      if (!isValidUtf8(v.str)) {
        *error = errors::kNotUtf8Value;
        return false;
      }
      if (!fits(v.str, error)) return false;
      *out = str(isolate, v.str);
      return true;
    case resp::Type::kInteger:
      *out = v8::BigInt::New(isolate, v.integer);
      return true;
    case resp::Type::kDouble:
      *out = v8::Number::New(isolate, v.dbl);
      return true;
    case resp::Type::kBoolean:
      *out = v8::Boolean::New(isolate, v.boolean);
      return true;
    case resp::Type::kNull:
      *out = v8::Null(isolate);
      return true;
    case resp::Type::kBigNumber: {
      if (!isValidUtf8(v.str)) {
        *error = errors::kBigNumberNotUtf8;
        return false;
      }
      if (!fits(v.str, error)) return false;
      v8::Local<v8::Object> o =
          v8::StringObject::New(isolate, str(isolate, v.str)).As<v8::Object>();
      if (!set(ctx, o, str(isolate, "__reply_type"), str(isolate, "big_number"), error)) {
        return false;
      }
      *out = o;
      return true;
    }
    case resp::Type::kVerbatim: {
      v8::Local<v8::Object> o;
      if (raw) {
        o = bytes(isolate, v.str);
      } else {
        if (!isValidUtf8(v.str)) {
          *error = errors::kNotUtf8Value;
          return false;
        }
        if (!fits(v.str, error)) return false;
        o = v8::StringObject::New(isolate, str(isolate, v.str)).As<v8::Object>();
      }
      if (!set(ctx, o, str(isolate, "__reply_type"), str(isolate, "verbatim"), error) ||
          !set(ctx, o, str(isolate, "__format"), str(isolate, v.format), error)) {
        return false;
      }
      *out = o;
      return true;
    }
    case resp::Type::kArray:
    case resp::Type::kPush: {
      v8::Local<v8::Array> a = v8::Array::New(isolate, static_cast<int>(v.elements.size()));
      for (size_t i = 0; i < v.elements.size(); ++i) {
        v8::Local<v8::Value> e;
        if (!toJs(isolate, ctx, v.elements[i], raw, &e, error)) return false;
        if (!a->Set(ctx, static_cast<uint32_t>(i), e).FromMaybe(false)) {
          *error = errors::kConversionFailed;
          return false;
        }
      }
      *out = a;
      return true;
    }
    case resp::Type::kSet: {
      v8::Local<v8::Set> s = v8::Set::New(isolate);
      for (const resp::Value& element : v.elements) {
        v8::Local<v8::Value> e;
        if (!toJs(isolate, ctx, element, raw, &e, error)) return false;
        if (s->Add(ctx, e).IsEmpty()) return false;
      }
      *out = s;
      return true;
    }
    case resp::Type::kMap:
    case resp::Type::kAttribute: {
      v8::Local<v8::Object> o = v8::Object::New(isolate);
      for (size_t i = 0; i + 1 < v.elements.size(); i += 2) {
        const resp::Value& key = v.elements[i];
        v8::Local<v8::Value> k;
        if (key.type == resp::Type::kBulkString || key.type == resp::Type::kSimpleString) {
          // Map keys must be text, even in raw mode.
          if (!isValidUtf8(key.str)) {
            *error = errors::kBinaryMapKey;
            return false;
          }
          if (!fits(key.str, error)) return false;
          k = str(isolate, key.str);
        } else if (key.type == resp::Type::kInteger) {
          k = v8::Number::New(isolate, static_cast<double>(key.integer));
        } else {
          *error = errors::kBadMapKey;
          return false;
        }
        v8::Local<v8::Value> value;
        if (!toJs(isolate, ctx, v.elements[i + 1], raw, &value, error)) return false;
        if (!set(ctx, o, k, value, error)) return false;
      }
      *out = o;
      return true;
    }
    case resp::Type::kError:
    case resp::Type::kBulkError:
      *error = v.str;
      return false;
  }
  *error = "unknown reply type";
  return false;
}

std::string stringProperty(v8::Isolate* isolate, v8::Local<v8::Context> ctx,
                           v8::Local<v8::Object> o, const char* name, bool* present) {
  v8::Local<v8::Value> v;
  *present = false;
  if (!o->Get(ctx, str(isolate, name)).ToLocal(&v) || !v->IsString()) return {};
  *present = true;
  return utf8(isolate, v);
}

class ReplyBuilder {
 public:
  ReplyBuilder(v8::Isolate* isolate, v8::Local<v8::Context> ctx, resp::ReplyWriter& w)
      : isolate_(isolate), ctx_(ctx), w_(w) {}

  bool write(v8::Local<v8::Value> v, int depth) {
    if (depth > kMaxNesting) return fail(errors::kNesting);
    if (v->IsBigInt()) {
      w_.integer(v.As<v8::BigInt>()->Int64Value());
      return true;
    }
    if (v->IsInt32()) {
      w_.integer(v.As<v8::Int32>()->Value());
      return true;
    }
    if (v->IsNumber()) {
      w_.dbl(v.As<v8::Number>()->Value());
      return true;
    }
    if (v->IsString()) {
      w_.bulk(utf8(isolate_, v));
      return true;
    }
    if (v->IsStringObject()) {
      v8::Local<v8::Object> o = v.As<v8::Object>();
      std::string text = utf8(isolate_, v.As<v8::StringObject>()->ValueOf());
      bool has_type = false, has_format = false;
      std::string type = stringProperty(isolate_, ctx_, o, "__reply_type", &has_type);
      if (has_type && type == "status") {
        w_.simple(text);
      } else if (has_type && type == "verbatim") {
        std::string format = stringProperty(isolate_, ctx_, o, "__format", &has_format);
        if (!has_format) format = "txt";
        if (format.size() != 3) return fail(errors::kVerbatimFormat);
        w_.verbatim(format, text);
      } else {
        w_.bulk(text);
      }
      return true;
    }
    if (v->IsArrayBuffer()) {
      auto store = v.As<v8::ArrayBuffer>()->GetBackingStore();
      w_.bulk(std::string_view(static_cast<const char*>(store->Data()), store->ByteLength()));
      return true;
    }
    if (v->IsNull()) {
      w_.null();
      return true;
    }
    if (v->IsBoolean()) {
      w_.boolean(v->IsTrue());
      return true;
    }
    if (v->IsSet()) {
      v8::Local<v8::Array> items = v.As<v8::Set>()->AsArray();
      for (uint32_t i = 0; i < items->Length(); ++i) {
        v8::Local<v8::Value> e;
        if (!items->Get(ctx_, i).ToLocal(&e)) return fail("Failed reading set element");
        if (!(e->IsInt32() || e->IsBigInt() || e->IsString() || e->IsStringObject() ||
              e->IsArrayBuffer() || e->IsBoolean())) {
          return fail(errors::kSetElement);
        }
      }
      w_.setHeader(items->Length());
      for (uint32_t i = 0; i < items->Length(); ++i) {
        v8::Local<v8::Value> e;
        if (!items->Get(ctx_, i).ToLocal(&e)) return fail("Failed reading set element");
        if (!write(e, depth + 1)) return false;
      }
      return true;
    }
    if (v->IsArray()) {
      v8::Local<v8::Array> a = v.As<v8::Array>();
      w_.arrayHeader(a->Length());
      for (uint32_t i = 0; i < a->Length(); ++i) {
        v8::Local<v8::Value> e;
        if (!a->Get(ctx_, i).ToLocal(&e)) return fail("Failed reading array element");
        if (!write(e, depth + 1)) return false;
      }
      return true;
    }
    if (v->IsObject()) {
      v8::Local<v8::Object> o = v.As<v8::Object>();
      v8::Local<v8::Array> names;
      if (!o->GetPropertyNames(
                ctx_, v8::KeyCollectionMode::kIncludePrototypes,
                static_cast<v8::PropertyFilter>(v8::ONLY_ENUMERABLE | v8::SKIP_SYMBOLS),
                v8::IndexFilter::kIncludeIndices, v8::KeyConversionMode::kKeepNumbers)
               .ToLocal(&names)) {
        return fail("Failed reading object properties");
      }
      w_.mapHeader(names->Length());
      for (uint32_t i = 0; i < names->Length(); ++i) {
        v8::Local<v8::Value> key;
        if (!names->Get(ctx_, i).ToLocal(&key)) return fail("Failed reading object properties");
        if (key->IsNumber()) {
          w_.integer(static_cast<int64_t>(key.As<v8::Number>()->Value()));
        } else {
          w_.bulk(utf8(isolate_, key));
        }
        v8::Local<v8::Value> value;
        if (!o->Get(ctx_, key).ToLocal(&value)) return fail("Failed reading object property");
        if (!write(value, depth + 1)) return false;
      }
      return true;
    }
    // undefined, symbols: String(value).
    if (v->IsSymbol()) {
      v8::Local<v8::Value> description = v.As<v8::Symbol>()->Description(isolate_);
      std::string d = description->IsUndefined() ? "" : utf8(isolate_, description);
      w_.bulk("Symbol(" + d + ")");
      return true;
    }
    w_.bulk(utf8(isolate_, v));
    return true;
  }

  const std::string& error() const { return error_; }

 private:
  bool fail(std::string_view e) {
    error_ = std::string(e);
    return false;
  }
  v8::Isolate* isolate_;
  v8::Local<v8::Context> ctx_;
  resp::ReplyWriter& w_;
  std::string error_;
};

}  // namespace

std::string utf8(v8::Isolate* isolate, v8::Local<v8::Value> value) {
  v8::String::Utf8Value text(isolate, value);
  if (*text == nullptr) return {};
  return std::string(*text, static_cast<size_t>(text.length()));
}

bool replyToJs(v8::Isolate* isolate, v8::Local<v8::Context> context, const resp::Value& reply,
               bool raw, v8::Local<v8::Value>* out, std::string* error) {
  if (const resp::Value* e = findError(reply)) {
    *error = e->str;
    return false;
  }
  v8::EscapableHandleScope scope(isolate);
  v8::Local<v8::Value> result;
  if (!toJs(isolate, context, reply, raw, &result, error)) return false;
  *out = scope.Escape(result);
  return true;
}

bool jsToReply(v8::Isolate* isolate, v8::Local<v8::Context> context, v8::Local<v8::Value> value,
               resp::ReplyWriter& writer, std::string* error) {
  std::string buffer;
  resp::ReplyWriter scratch(&buffer, writer.protocol());
  ReplyBuilder builder(isolate, context, scratch);
  v8::HandleScope scope(isolate);
  if (!builder.write(value, 0)) {
    *error = builder.error();
    return false;
  }
  writer.raw(buffer);
  return true;
}

std::string compileErrorPlace(v8::Isolate* isolate, v8::Local<v8::Context> context,
                              v8::Local<v8::Message> message, int64_t verbosity) {
  if (message.IsEmpty()) return {};
  const int line = message->GetLineNumber(context).FromMaybe(0);
  if (line <= 0) return {};
  std::string out = " at " + utf8(isolate, message->GetScriptResourceName()) + ":" +
                    std::to_string(line) + ":" + std::to_string(message->GetStartColumn() + 1);
  v8::Local<v8::String> source;
  if (verbosity >= 2 && message->GetSourceLine(context).ToLocal(&source)) {
    std::string text = utf8(isolate, source);
    // One line of a reply: long lines are cut around the error.
    constexpr size_t kShown = 120;
    if (text.size() > kShown) {
      const size_t column = static_cast<size_t>(message->GetStartColumn());
      const size_t from = column > kShown / 2 ? column - kShown / 2 : 0;
      text = text.substr(from, kShown);
    }
    for (char& c : text) {
      if (c == '\r' || c == '\n') c = ' ';
    }
    out += "|" + text;
  }
  return out;
}

std::string errorText(v8::Isolate* isolate, v8::Local<v8::Context> context,
                      v8::Local<v8::Value> exception, int64_t verbosity) {
  if (exception.IsEmpty()) return "Unknown error";
  if (verbosity >= 2 && exception->IsObject()) {
    v8::Local<v8::Value> stack;
    if (exception.As<v8::Object>()->Get(context, str(isolate, "stack")).ToLocal(&stack) &&
        stack->IsString()) {
      std::string s = utf8(isolate, stack);
      for (char& c : s) {
        if (c == '\n') c = '|';
      }
      return s;
    }
  }
  v8::TryCatch guard(isolate);
  v8::Local<v8::String> text;
  if (!exception->ToString(context).ToLocal(&text)) return "Unknown error";
  return utf8(isolate, text);
}

}  // namespace tfproxy::scripting::convert
