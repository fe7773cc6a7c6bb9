#include "functions/library_store.h"

#include <spdlog/spdlog.h>

#include "backend/cluster_routing.h"
#include "backend/slot_map.h"
#include "backend/sync_connection.h"
#include "resp/decoder.h"
#include "resp/encoder.h"

namespace tfproxy::functions {
namespace {

// A stored library: a RESP array [format, code, user, config-or-null].
constexpr char kFormat[] = "tfproxy-library-1";
// Not a valid library name, so it cannot clash with one.
constexpr char kGenerationField[] = "#generation";
// Fields of users' ACL rules: not valid library names either.
constexpr std::string_view kAclFieldPrefix = "#acl:";
// How often the guard looks at the store: one HGET. With the backend status' INFO at the same
// interval, an idle tfproxy sends one command a second.
constexpr std::chrono::seconds kGuardInterval{2};

std::string encode(const scripting::LibraryDefinition& d) {
  std::string out;
  resp::ReplyWriter w(&out, resp::Protocol::kResp2);
  w.arrayHeader(4);
  w.bulk(kFormat);
  w.bulk(d.code);
  w.bulk(d.user);
  if (d.config) {
    w.bulk(*d.config);
  } else {
    w.null();
  }
  return out;
}

std::optional<scripting::LibraryDefinition> decode(const std::string& name,
                                                   const std::string& blob) {
  resp::Value v;
  if (!resp::decodeValue(blob, &v) || v.elements.size() != 4 || v.elements[0].str != kFormat) {
    return std::nullopt;
  }
  scripting::LibraryDefinition d;
  d.name = name;
  d.code = v.elements[1].str;
  d.user = v.elements[2].str;
  if (!v.elements[3].isNull()) d.config = v.elements[3].str;
  return d;
}

}  // namespace

LibraryStore::LibraryStore(io::Target target, std::string user, std::string password,
                           std::string key, AclRules* acl)
    : target_(std::move(target)),
      user_(std::move(user)),
      password_(std::move(password)),
      key_(std::move(key)),
      acl_(acl) {}

LibraryStore::~LibraryStore() { stop(); }

Status LibraryStore::run(const std::vector<std::string>& command, std::string* reply_text,
                         int64_t* integer, bool* not_null) {
  int redirects = 0;
  for (int attempt = 0; attempt < 2; ++attempt) {
    if (!conn_ || conn_->broken()) {
      std::string error;
      conn_ = backend::SyncConnection::connect(target_, std::chrono::milliseconds(2000), &error);
      if (!conn_) return Status::failure("cannot connect to the backend: " + error);
      conn_->setTimeout(std::chrono::seconds(10));
      if (!user_.empty() || !password_.empty()) {
        auto auth = conn_->call({"AUTH", user_.empty() ? "default" : user_, password_});
        if (!auth || auth->isError()) {
          conn_.reset();
          return Status::failure("cannot authenticate as the proxy's backend user: " +
                                 (auth ? auth->str : std::string("no reply")));
        }
      }
    }
    std::vector<std::string_view> args(command.begin(), command.end());
    auto reply = conn_->call(args);
    if (!reply) continue;  // the connection broke: once more on a new one
    if (reply->isError()) {
      // In front of a cluster the store's key moved to another primary (design §9): the
      // command did not run; it runs there, and so do the next ones.
      auto redirect = backend::parseRedirect(reply->str);
      auto endpoint =
          redirect && !redirect->ask ? backend::parseNodeAddress(redirect->address) : std::nullopt;
      if (endpoint && ++redirects <= backend::kMaxRedirects) {
        target_.endpoint = *endpoint;
        conn_.reset();
        --attempt;
        continue;
      }
      return Status::failure(reply->str);
    }
    if (reply_text != nullptr) *reply_text = reply->str;
    if (integer != nullptr) *integer = reply->integer;
    if (not_null != nullptr) *not_null = !reply->isNull();
    return {};
  }
  return Status::failure("the backend connection broke");
}

std::optional<LibraryStore::Definitions> LibraryStore::readAll(std::string* generation,
                                                               std::string* error) {
  // The generation first: libraries read after it are at least as new.
  if (Status read = run({"HGET", key_, kGenerationField}, generation); !read.ok()) {
    *error = read.message();
    return std::nullopt;
  }
  auto reply = conn_->call({"HGETALL", key_});
  if (!reply || reply->isError()) {
    *error = reply ? reply->str : conn_->error();
    return std::nullopt;
  }
  Definitions out;
  AclRules::Stored acl;
  for (size_t i = 0; i + 1 < reply->elements.size(); i += 2) {
    const std::string& name = reply->elements[i].str;
    if (name == kGenerationField) continue;
    if (name.rfind(kAclFieldPrefix, 0) == 0) {
      acl[name.substr(kAclFieldPrefix.size())] = reply->elements[i + 1].str;
      continue;
    }
    auto d = decode(name, reply->elements[i + 1].str);
    if (!d) {
      spdlog::error("stored library '{}' in {} is unreadable; skipped", name, key_);
      continue;
    }
    out.push_back(std::move(*d));
  }
  if (acl_ != nullptr && changes_in_flight_.load() == 0) acl_->replaceAll(acl);
  return out;
}

std::optional<LibraryStore::Definitions> LibraryStore::loadAll(std::string* error) {
  std::lock_guard lock(mutex_);
  return readAll(&seen_generation_, error);
}

void LibraryStore::bump() {
  // The change itself is stored; other proxies notice it at the next generation change, or
  // when their guard finds the libraries differ.
  if (Status bumped = run({"HINCRBY", key_, kGenerationField, "1"}); !bumped.ok()) {
    spdlog::warn("library store: the generation in {} was not raised ({})", key_, bumped.message());
  }
}

Status LibraryStore::put(const scripting::LibraryDefinition& d) {
  std::lock_guard lock(mutex_);
  Status stored = run({"HSET", key_, d.name, encode(d)});
  if (stored.ok()) bump();
  return stored;
}

Status LibraryStore::putAcl(const std::string& user, const std::string& rules) {
  std::lock_guard lock(mutex_);
  Status stored = run({"HSET", key_, std::string(kAclFieldPrefix) + user, rules});
  if (stored.ok()) bump();
  return stored;
}

Status LibraryStore::eraseAcl(const std::vector<std::string>& users) {
  std::lock_guard lock(mutex_);
  std::vector<std::string> command = {"HDEL", key_};
  for (const std::string& u : users) command.push_back(std::string(kAclFieldPrefix) + u);
  Status erased = run(command);
  if (erased.ok()) bump();
  return erased;
}

Status LibraryStore::erase(const std::string& name) {
  std::lock_guard lock(mutex_);
  Status erased = run({"HDEL", key_, name});
  if (erased.ok()) bump();
  return erased;
}

void LibraryStore::startGuard(std::function<Definitions()> current,
                              std::function<void(const Definitions&, const Stale&)> adopt) {
  current_ = std::move(current);
  adopt_ = std::move(adopt);
  guard_thread_ = std::thread([this] { guard(); });
}

void LibraryStore::notifyFlush() {
  {
    std::lock_guard lock(guard_mutex_);
    flushed_ = true;
  }
  guard_cv_.notify_all();
}

void LibraryStore::stop() {
  {
    std::lock_guard lock(guard_mutex_);
    stopping_ = true;
  }
  guard_cv_.notify_all();
  if (guard_thread_.joinable()) guard_thread_.join();
}

void LibraryStore::guard() {
  std::unique_lock guard_lock(guard_mutex_);
  while (!stopping_) {
    guard_cv_.wait_for(guard_lock, kGuardInterval, [this] { return stopping_ || flushed_; });
    if (stopping_) return;
    flushed_ = false;
    guard_lock.unlock();
    check();
    guard_lock.lock();
  }
}

// One round of the guard: re-store after a flush, or adopt another proxy's changes.
void LibraryStore::check() {
  const uint64_t changes_before = changes_done_.load();
  Definitions libraries = current_();
  std::optional<Definitions> stored;
  {
    std::lock_guard lock(mutex_);
    // Every change sets the generation: without it the key is gone (flushed, evicted).
    std::string generation;
    bool present = false;
    if (!run({"HGET", key_, kGenerationField}, &generation, nullptr, &present).ok()) {
      return;  // unreachable: next round
    }
    if (!present) {
      const AclRules::Stored acl = acl_ != nullptr ? acl_->all() : AclRules::Stored{};
      if (libraries.empty() && acl.empty()) return;
      for (const auto& d : libraries) {
        if (!run({"HSET", key_, d.name, encode(d)}).ok()) return;  // next round again
      }
      for (const auto& [user, rules] : acl) {
        if (!run({"HSET", key_, std::string(kAclFieldPrefix) + user, rules}).ok()) return;
      }
      bump();
      spdlog::info("stored {} libraries again under '{}' (the key was flushed or evicted)",
                   libraries.size(), key_);
      return;
    }
    if ((generation == seen_generation_ && !adopt_again_) || changes_in_flight_.load() > 0) {
      return;
    }
    std::string error;
    stored = readAll(&generation, &error);
    if (!stored) return;
    seen_generation_ = generation;
    adopt_again_ = false;
  }
  const Stale stale = [this, changes_before] {
    return changes_in_flight_.load() > 0 || changes_done_.load() != changes_before;
  };
  if (!stale()) adopt_(*stored, stale);
  if (stale()) {
    std::lock_guard lock(mutex_);
    adopt_again_ = true;
  }
}

}  // namespace tfproxy::functions
