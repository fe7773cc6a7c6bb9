// The conversion tables between RESP and JavaScript (spec §5), in one place.
#pragma once

#include <v8.h>

#include <string>

#include "resp/encoder.h"
#include "resp/value.h"

namespace tfproxy::scripting::convert {

// A command's reply to a JavaScript value (spec §5.1). `raw` keeps strings as ArrayBuffers.
// Returns false with `error` set when the reply (or anything nested in it) is an error, or a
// value cannot be converted; the caller throws `error`.
bool replyToJs(v8::Isolate* isolate, v8::Local<v8::Context> context, const resp::Value& reply,
               bool raw, v8::Local<v8::Value>* out, std::string* error);

// A function's result to a reply for the client's protocol (spec §5.2). Returns false with
// `error` set (nothing written) when the value cannot be converted.
bool jsToReply(v8::Isolate* isolate, v8::Local<v8::Context> context, v8::Local<v8::Value> value,
               resp::ReplyWriter& writer, std::string* error);

// An exception or rejection reason as an error text (spec §5.3); verbosity 2 uses the stack.
std::string errorText(v8::Isolate* isolate, v8::Local<v8::Context> context,
                      v8::Local<v8::Value> exception, int64_t verbosity);

// Where a compile error is: " at <library>:<line>:<column>" (the prologue is line 1), and at
// verbosity 2 the source line after a '|'; "" when V8 gave no position.
std::string compileErrorPlace(v8::Isolate* isolate, v8::Local<v8::Context> context,
                              v8::Local<v8::Message> message, int64_t verbosity);

// JavaScript string <-> UTF-8.
std::string utf8(v8::Isolate* isolate, v8::Local<v8::Value> value);

}  // namespace tfproxy::scripting::convert
