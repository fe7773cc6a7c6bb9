// JavaScript-visible objects, one file each (STYLE "one file per binding class"): the `redis`
// global (redis_api.cpp) and the sync client (client.cpp). Every error they raise is thrown as a
// plain string, as upstream does (spec §4.12).
#pragma once

#include <v8.h>

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "backend/script_connection.h"
#include "base/status.h"
#include "resp/value.h"
#include "scripting/v8/library.h"

namespace tfproxy::scripting {

namespace bindings {

// Throws `text` into JavaScript as a plain string.
void throwString(v8::Isolate* isolate, std::string_view text);
v8::Local<v8::String> newString(v8::Isolate* isolate, std::string_view utf8);
// Fulfils or rejects `resolver` with `value`. A settlement V8 refuses (only while the isolate is
// being stopped) leaves the promise pending; the stopped run answers its client.
void settle(v8::Local<v8::Context> ctx, v8::Local<v8::Promise::Resolver> resolver, bool fulfil,
            v8::Local<v8::Value> value);

// redis_api.cpp: installs `redis` on the global object of a new library.
void installRedis(Library& library, v8::Local<v8::Context> context, v8::Local<v8::Object> global);
// promise.cpp: replaces the global `Promise` (spec §4.13).
void installPromise(Library& library, v8::Local<v8::Context> context, v8::Local<v8::Object> global);

}  // namespace bindings

// One running invocation of a function: what its commands run as and what they may do, and
// the atomic section and backend connection it holds from its first command until it ends.
class Invocation {
 public:
  // `section_held`: a block() section that already holds the atomic gate. `target`: the
  // waiting client that background work started from here answers (0: none).
  Invocation(Library& library, backend::Identity identity, int64_t db, uint32_t flags,
             bool block_allowed, bool section_held = false, uint64_t target = 0);
  ~Invocation();  // leaves the atomic section if it entered it
  Invocation(const Invocation&) = delete;
  Invocation& operator=(const Invocation&) = delete;

  // Runs one command issued from JavaScript (spec §6.3, 11.3). Returns the reply (which may be
  // an error value), or nullopt with `error` set when the command was refused or the backend
  // could not be reached.
  std::optional<resp::Value> command(const std::vector<std::string>& args, std::string* error);
  // Why a command may not run from JavaScript (script mode, NO_WRITES), or nullopt.
  Status refusal(const std::vector<std::string>& args) const;
  bool blockAllowed() const { return block_allowed_; }
  uint32_t flags() const { return flags_; }
  const backend::Identity& identity() const { return identity_; }
  int64_t db() const { return db_; }
  uint64_t target() const { return target_; }
  void setTarget(uint64_t target) { target_ = target; }
  // A cluster function's run: its commands are confined to the keys of `shard` (empty: none).
  void setShard(std::string shard) { shard_ = std::move(shard); }
  // How long its commands' replies are polled for before the thread sleeps
  // (ScriptConnection::setReplySpin).
  void setReplySpin(std::chrono::microseconds spin) { spin_ = spin; }

 private:
  Library& library_;
  backend::Identity identity_;
  int64_t db_;
  uint32_t flags_;
  bool block_allowed_;
  bool owns_section_;  // entered the gate itself (not a block() section)
  bool in_section_;
  uint64_t target_;
  std::string shard_;
  std::chrono::microseconds spin_{0};
  backend::ScriptConnections::Lease lease_;
};

// The state behind a sync client object: valid while `invocation` is set.
struct ClientState {
  Library* library;
  Invocation* invocation = nullptr;
};

// The state behind an async client object (owned by the object, Library::adopt).
struct AsyncClientState : Library::Wrapped {
  AsyncClientState(Library* l, backend::Identity i, uint32_t f, uint64_t t, std::string s = {})
      : library(l), identity(std::move(i)), flags(f), target(t), shard(std::move(s)) {}
  Library* library;
  backend::Identity identity;
  uint32_t flags;
  uint64_t target;
  std::string shard;  // a cluster function's client: the shard its commands are confined to
};

namespace bindings {
// client.cpp: the sync client object of `function`, created on first use and reused.
v8::Local<v8::Object> syncClient(Library& library, Function& function);
// client.cpp: a sync client valid for one block() section; invalidate it when the section ends.
v8::Local<v8::Object> blockClient(Library& library, Invocation* invocation);
void invalidateBlockClient(v8::Local<v8::Value> client);
// async_client.cpp: an async client working for `target`'s invocation.
// `shard`: a cluster function's client, confined to that shard's keys (empty: not confined).
v8::Local<v8::Object> asyncClient(Library& library, const backend::Identity& identity,
                                  uint32_t flags, uint64_t target, const std::string& shard = {});
}  // namespace bindings

}  // namespace tfproxy::scripting
