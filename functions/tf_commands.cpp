#include "functions/tf_commands.h"

#include <algorithm>
#include <cctype>
#include <future>
#include <limits>
#include <span>

#include "backend/errors.h"
#include "functions/errors.h"
#include "functions/library_store.h"
#include "resp/decoder.h"
#include "resp/encoder.h"
#include "resp/errors.h"
#include "resp/number.h"
#include "scripting/errors.h"
#include "scripting/text.h"

namespace tfproxy::functions {
namespace {

std::string lower(std::string_view s) {
  std::string out(s);
  for (char& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

std::string errorReply(const ClientContext& client, std::string_view text) {
  std::string reply;
  resp::ReplyWriter(&reply, client.protocol).error(text);
  return reply;
}

// Runs `command` on the backend as the client runs its own (its user, its database). The
// reply, or nullopt with `*error` set to what the client is answered (a backend error too).
std::optional<resp::Value> runAsClient(backend::ScriptConnectionPool& connections,
                                       const ClientContext& client,
                                       std::span<const std::string_view> command,
                                       std::string* error) {
  backend::ScriptConnectionPool::Failure failure;
  std::string reason;
  auto lease = connections.acquire({client.user, client.password}, &failure, &reason);
  if (!lease) {
    *error = backend::errors::kUnavailablePrefix + reason;
    return std::nullopt;
  }
  auto reply = lease->run(client.db, command);
  if (!reply) {
    *error = errors::kPrefix + lease->error();
  } else if (reply->isError()) {
    *error = reply->str;
    reply.reset();
  }
  return reply;
}

std::string valueReply(const ClientContext& client, const resp::Value& v) {
  std::string reply;
  resp::ReplyWriter(&reply, client.protocol).value(v);
  return reply;
}

// numkeys parses like Rust's u64: an optional '+', digits (leading zeros allowed), with the
// ERR-prefixed messages of SPEC 3.0.
std::optional<uint64_t> parseNumkeys(std::string_view s, std::string* error) {
  if (s.empty()) {
    *error = errors::kEmptyInteger;
    return std::nullopt;
  }
  if (s[0] == '+') s.remove_prefix(1);
  if (s.empty()) {
    *error = errors::kInvalidDigit;
    return std::nullopt;
  }
  uint64_t v = 0;
  bool overflow = false;
  for (char c : s) {
    if (c < '0' || c > '9') {
      *error = errors::kInvalidDigit;
      return std::nullopt;
    }
    uint64_t d = static_cast<uint64_t>(c - '0');
    if (v > (std::numeric_limits<uint64_t>::max() - d) / 10) overflow = true;
    v = v * 10 + d;
  }
  if (overflow) {
    *error = errors::kIntegerTooLarge;
    return std::nullopt;
  }
  return v;
}

// The (name, value) pairs of a CONFIG GET reply as Redis sends it (RESP2 flat array or map).
std::vector<std::pair<std::string, std::string>> configPairs(const resp::Value& reply) {
  std::vector<std::pair<std::string, std::string>> out;
  for (size_t i = 0; i + 1 < reply.elements.size(); i += 2) {
    out.emplace_back(reply.elements[i].str, reply.elements[i + 1].str);
  }
  return out;
}

std::string configReply(const ClientContext& client,
                        const std::vector<std::pair<std::string, std::string>>& pairs) {
  std::string reply;
  resp::ReplyWriter w(&reply, client.protocol);
  w.mapHeader(pairs.size());
  for (const auto& [k, v] : pairs) {
    w.bulk(k);
    w.bulk(v);
  }
  return reply;
}

// A queued SELECT or AUTH that succeeded changes the state later commands run with.
void followStateChange(const std::vector<std::string>& command, ClientContext* client) {
  const std::string name = lower(command[0]);
  if (name == "select" && command.size() == 2) {
    if (auto db = resp::parseInt64(command[1])) client->db = *db;
  } else if (name == "auth" && command.size() == 2) {
    client->user = "default";
    client->password = command[1];
  } else if (name == "auth" && command.size() == 3) {
    client->user = command[1];
    client->password = command[2];
  }
}

bool isGearsName(std::string_view name) {
  return lower(name).rfind(config::GearsConfig::kPrefix, 0) == 0;
}

}  // namespace

const TfCommands::CommandSpec TfCommands::kCommands[] = {
    {"tfunction", -2, &TfCommands::tfunction},
    {"tfcall", -3, &TfCommands::tfcall},
    {"tfcallasync", -3, &TfCommands::tfcall},
    {"tconfig_get", -2, &TfCommands::tconfigGet},
    {"tconfig_set", -3, &TfCommands::tconfigSet},
    {"_rg_internals.function", -1, &TfCommands::internal},
    {"_rg_internals.update_stream_last_read_id", -1, &TfCommands::internal},
    {"config", -2, &TfCommands::config},
};

std::vector<std::pair<std::string, int>> TfCommands::interceptedCommands() {
  std::vector<std::pair<std::string, int>> n;
  for (const CommandSpec& c : kCommands) {
    if (std::string_view(c.name) != "config") n.emplace_back(c.name, c.arity);
  }
  return n;
}

bool TfCommands::interceptsConfig(const std::vector<std::string_view>& argv) {
  if (argv.size() < 3) return false;
  std::string sub = lower(argv[1]);
  if (sub == "get") {
    // Any pattern that matches one of our settings.
    for (size_t i = 2; i < argv.size(); ++i) {
      if (config::GearsConfig::patternMatchesAny(argv[i])) return true;
    }
    return false;
  }
  if (sub == "set") {
    for (size_t i = 2; i < argv.size(); i += 2) {
      if (isGearsName(argv[i])) return true;
    }
  }
  return false;
}

TfCommands::TfCommands(Services services)
    : access_(services.checks != nullptr ? *services.checks : *services.connections,
              services.proxy_identity),
      services_(services) {
  thread_ = std::thread([this] {
    std::unique_lock lock(mutex_);
    while (true) {
      cv_.wait(lock, [this] { return stopping_ || !tasks_.empty(); });
      if (stopping_) return;
      auto task = std::move(tasks_.front());
      tasks_.pop_front();
      lock.unlock();
      task();
      lock.lock();
    }
  });
}

TfCommands::~TfCommands() {
  {
    std::lock_guard lock(mutex_);
    stopping_ = true;
  }
  cv_.notify_all();
  thread_.join();
}

void TfCommands::runBlocking(std::function<void()> task) {
  if (std::this_thread::get_id() == thread_.get_id()) {
    task();
    return;
  }
  {
    std::lock_guard lock(mutex_);
    tasks_.push_back(std::move(task));
  }
  cv_.notify_one();
}

void TfCommands::run(const Args& argv, const ClientContext& client, Done done) {
  const std::string name = lower(argv[0]);
  if (name == "exec" && client.exec_prefix) {
    runBlocking([this, client, done = std::move(done)]() mutable {
      execTransaction(client, std::move(done));
    });
    return;
  }
  const CommandSpec* spec = nullptr;
  for (const CommandSpec& s : kCommands) {
    if (name == s.name) spec = &s;
  }
  if (spec == nullptr) return done(errorReply(client, resp::errors::unknownCommand(argv[0], "")));
  // As on Redis: nothing but an error before a required authentication.
  if (services_.status != nullptr && services_.status->authRequired() && client.user == "default" &&
      client.password.empty()) {
    return done(errorReply(client, errors::kNoAuth));
  }
  const int argc = static_cast<int>(argv.size());
  if ((spec->arity > 0 && argc != spec->arity) || (spec->arity < 0 && argc < -spec->arity)) {
    return done(errorReply(client, resp::errors::wrongArity(name)));
  }
  std::vector<std::string> equivalent = redisEquivalent(argv);
  if (equivalent.empty()) return (this->*spec->handler)(argv, client, std::move(done));
  std::string shown = name;
  if (name == "tfunction") shown += "|" + lower(argv[1]);
  AccessPolicy::Verdict verdict = access_.cached(client.user, equivalent, declaredKeys(argv));
  if (verdict.known) {
    if (verdict.denial) return done(errorReply(client, *verdict.denial));
    return (this->*spec->handler)(argv, client, std::move(done));
  }
  runBlocking([this, spec, argv, client, equivalent, shown, done = std::move(done)]() mutable {
    if (auto denial = access_.check(client.user, equivalent, shown, declaredKeys(argv))) {
      return done(errorReply(client, *denial));
    }
    (this->*spec->handler)(argv, client, std::move(done));
  });
}

std::vector<std::string_view> TfCommands::declaredKeys(const Args& argv) {
  const std::string name = lower(argv[0]);
  if ((name != "tfcall" && name != "tfcallasync") || argv.size() < 3) return {};
  std::string ignored;
  std::optional<uint64_t> numkeys = parseNumkeys(argv[2], &ignored);
  if (!numkeys || *numkeys > argv.size() - 3) return {};  // the handler reports it
  return {argv.begin() + 3, argv.begin() + 3 + static_cast<std::ptrdiff_t>(*numkeys)};
}

std::vector<std::string> TfCommands::redisEquivalent(const Args& argv) {
  const std::string name = lower(argv[0]);
  if (name == "tfcall" || name == "tfcallasync") return {"FCALL", "f", "0"};
  if (name == "tfunction") {
    const std::string sub = lower(argv[1]);
    if (sub == "load") return {"FUNCTION", "LOAD", "x"};
    if (sub == "delete") return {"FUNCTION", "DELETE", "x"};
    if (sub == "list") return {"FUNCTION", "LIST"};
    return {};
  }
  if (name == "tconfig_get") return {"CONFIG", "GET", "x"};
  if (name == "tconfig_set") return {"CONFIG", "SET", "x", "y"};
  if (name == "config") return {"CONFIG", lower(argv[1]) == "get" ? "GET" : "SET", "x", "y"};
  return {};
}

std::string TfCommands::runAndWait(const Args& argv, const ClientContext& client) {
  std::promise<std::string> reply;
  auto future = reply.get_future();
  run(argv, client, [&reply](std::string bytes) { reply.set_value(std::move(bytes)); });
  return future.get();
}

// The forwarded prefix runs first, by EXEC on the client's own connection (nil: a WATCHed key
// changed, and nothing else runs); then the commands queued here, in order -- functions with
// blocking not allowed, plain commands as MULTI/EXEC batches -- all inside one atomic section,
// answered as one array. SELECT and AUTH anywhere in it take effect for what follows them, and
// for the connection afterwards, as in a transaction Redis runs.
void TfCommands::execTransaction(const ClientContext& client, Done done) {
  services_.host->enterAtomicSection();
  std::promise<std::pair<std::string, ConnectionState>> prefix_reply;
  auto prefix_future = prefix_reply.get_future();
  client.exec_prefix([&prefix_reply](std::string frame, ConnectionState after) {
    prefix_reply.set_value({std::move(frame), std::move(after)});
  });
  auto [prefix_frame, after_prefix] = prefix_future.get();
  resp::Value prefix;
  if (!resp::decodeValue(prefix_frame, &prefix)) {
    prefix = resp::Value::error(errors::kMalformedExec);
  }
  if (prefix.isNull() || prefix.isError()) {
    services_.host->leaveAtomicSection();
    std::string reply;
    resp::ReplyWriter w(&reply, client.protocol);
    if (prefix.isNull()) {
      w.nullArray();
    } else {
      w.error(prefix.str);
    }
    return done(std::move(reply));
  }
  std::vector<std::string> results;
  for (const resp::Value& v : prefix.elements) {
    std::string bytes;
    resp::ReplyWriter(&bytes, client.protocol).value(v);
    results.push_back(std::move(bytes));
  }

  ClientContext inner = client;
  inner.exec_prefix = nullptr;
  inner.adopt_state = nullptr;
  inner.transaction.clear();
  inner.db = after_prefix.db;
  inner.user = after_prefix.user;
  inner.password = after_prefix.password;
  std::vector<std::vector<std::string>> batch;
  // Plain commands collected so far run as one MULTI/EXEC on a connection of the client's
  // current user, in its current database.
  auto runBatch = [&] {
    if (batch.empty()) return;
    backend::ScriptConnectionPool::Failure failure;
    std::string error;
    auto lease = services_.connections->acquire({inner.user, inner.password}, &failure, &error);
    std::vector<resp::Value> replies;
    if (lease) {
      std::vector<std::vector<std::string_view>> commands = {{"MULTI"}};
      for (const auto& cmd : batch) commands.emplace_back(cmd.begin(), cmd.end());
      commands.push_back({"EXEC"});
      auto r = lease->run(inner.db, commands);
      if (r && r->back().type == resp::Type::kArray) replies = std::move(r->back().elements);
      if (!r) error = lease->error();
    }
    for (size_t i = 0; i < batch.size(); ++i) {
      std::string bytes;
      resp::ReplyWriter w(&bytes, client.protocol);
      if (i < replies.size()) {
        w.value(replies[i]);
        if (!replies[i].isError()) {
          followStateChange(batch[i], &inner);
          if (lower(batch[i][0]) == "acl") access_.forget();
        }
      } else {
        w.error(errors::kPrefix +
                (error.empty() ? std::string(errors::kTransactionFailed) : error));
      }
      results.push_back(std::move(bytes));
    }
    batch.clear();
  };
  for (const auto& cmd : client.transaction) {
    std::vector<std::string_view> views(cmd.begin(), cmd.end());
    const std::string name = lower(cmd[0]);
    bool ours = name != "config" || interceptsConfig(views);
    ours = ours && std::any_of(std::begin(kCommands), std::end(kCommands),
                               [&](const CommandSpec& s) { return name == s.name; });
    if (!ours) {
      batch.push_back(cmd);
      continue;
    }
    runBatch();
    if (name == "tfunction" && cmd.size() > 1 &&
        (lower(cmd[1]) == "load" || lower(cmd[1]) == "delete")) {
      // Loading and deleting cannot run inside a transaction (SPEC 3.1).
      std::string bytes;
      resp::ReplyWriter(&bytes, client.protocol).error(errors::kBlockingInTransaction);
      results.push_back(std::move(bytes));
      continue;
    }
    results.push_back(runAndWait(cmd, inner));
  }
  runBatch();
  const ConnectionState final_state{inner.db, inner.user, inner.password};
  if (final_state != after_prefix && client.adopt_state) {
    std::promise<void> adopted;
    client.adopt_state(final_state, [&adopted] { adopted.set_value(); });
    adopted.get_future().wait();
  }
  services_.host->leaveAtomicSection();
  std::string reply;
  resp::ReplyWriter w(&reply, client.protocol);
  w.arrayHeader(results.size());
  for (const std::string& r : results) w.raw(r);
  done(std::move(reply));
}

void TfCommands::tfunction(const Args& argv, const ClientContext& client, Done done) {
  const std::string sub = lower(argv[1]);
  if (sub == "load") return load(argv, client, std::move(done));
  if (sub == "delete") return remove(argv, client, std::move(done));
  if (sub == "list") return list(argv, client, std::move(done));
  if (sub == "debug") return debug(argv, client, std::move(done));
  done(errorReply(client, errors::unknownSubcommand(sub)));
}

void TfCommands::load(const Args& argv, const ClientContext& client, Done done) {
  scripting::LoadRequest request;
  bool user_given = false;
  bool debug = false;
  const std::string* code = nullptr;
  for (size_t i = 2; i < argv.size(); ++i) {
    const std::string& a = argv[i];
    std::string keyword = scripting::isValidUtf8(a) ? lower(a) : std::string();
    if (keyword == "replace") {
      request.replace = true;
    } else if (keyword == "debug") {
      debug = true;
    } else if (keyword == "config" || keyword == "user") {
      if (i + 1 >= argv.size()) return done(errorReply(client, errors::kNoConfigValue));
      const std::string& value = argv[++i];
      if (keyword == "user") {
        user_given = true;
        continue;
      }
      if (!scripting::isValidUtf8(value)) {
        return done(errorReply(client, errors::kConfigNotString));
      }
      bool is_object = false;
      if (auto problem = scripting::checkJson(value, &is_object)) {
        return done(errorReply(
            client, "configuration must be a valid json, '" + value + "', " + *problem + "."));
      }
      if (!is_object) return done(errorReply(client, errors::kConfigNotObject));
      request.config = value;
    } else {
      code = &a;  // everything after the code is ignored
      break;
    }
  }
  if (code == nullptr) return done(errorReply(client, errors::kNoPayload));
  if (!scripting::isValidUtf8(*code)) return done(errorReply(client, errors::kCodeNotString));
  if (user_given) return done(errorReply(client, errors::kUserArgument));
  if (debug) {
    return done(errorReply(client, errors::kNoDebugServer));
  }
  request.code = *code;
  request.user = client.user;
  LibraryStore* store = services_.store;
  scripting::Engine::Persist persist;
  if (store != nullptr) {
    persist = [store](const scripting::LibraryDefinition* d,
                      const std::string& name) -> scripting::Engine::Outcome {
      auto failure = d != nullptr ? store->put(*d) : store->erase(name);
      if (failure) return errors::kStoreFailed + *failure;
      return std::nullopt;
    };
  }
  if (store != nullptr) store->beginChange();
  services_.engine->load(std::move(request), std::move(persist),
                         [store, client, done = std::move(done)](scripting::Engine::Outcome error) {
                           if (store != nullptr) store->endChange();
                           done(error ? errorReply(client, *error) : std::string("+OK\r\n"));
                         });
}

void TfCommands::remove(const Args& argv, const ClientContext& client, Done done) {
  if (argv.size() < 3) return done(errorReply(client, errors::kNoFunctionName));
  if (!scripting::isValidUtf8(argv[2]))
    return done(errorReply(client, scripting::errors::kNotUtf8));
  LibraryStore* store = services_.store;
  scripting::Engine::Persist persist;
  if (store != nullptr) {
    persist = [store](const scripting::LibraryDefinition*,
                      const std::string& name) -> scripting::Engine::Outcome {
      if (auto failure = store->erase(name)) {
        return errors::kRemoveFailed + *failure;
      }
      return std::nullopt;
    };
  }
  if (store != nullptr) store->beginChange();
  services_.engine->remove(
      argv[2], std::move(persist),
      [store, client, done = std::move(done)](scripting::Engine::Outcome error) {
        if (store != nullptr) store->endChange();
        done(error ? errorReply(client, *error) : std::string("+OK\r\n"));
      });
}

void TfCommands::list(const Args& argv, const ClientContext& client, Done done) {
  scripting::ListRequest request;
  for (size_t i = 2; i < argv.size(); ++i) {
    if (!scripting::isValidUtf8(argv[i])) return done(errorReply(client, errors::kBinaryOption));
    const std::string option = lower(argv[i]);
    if (option == "withcode") {
      request.with_code = true;
    } else if (option == "verbose" || option == "v") {
      request.verbosity += 1;
    } else if (option == "vv") {
      request.verbosity += 2;
    } else if (option == "vvv") {
      request.verbosity += 3;
    } else if (option == "library") {
      if (i + 1 >= argv.size()) return done(errorReply(client, errors::kNoLibraryName));
      if (!scripting::isValidUtf8(argv[i + 1])) {
        return done(errorReply(client, errors::kLibraryNameNotString));
      }
      request.library = argv[++i];
    } else {
      return done(errorReply(client, errors::unknownOption(option)));
    }
  }
  done(valueReply(client, services_.engine->list(request)));
}

void TfCommands::debug(const Args& argv, const ClientContext& client, Done done) {
  if (!services_.config->startup().enable_debug_command) {
    return done(errorReply(client, errors::kDebugDisabled));
  }
  std::vector<std::string> args(argv.begin() + 2, argv.end());
  done(valueReply(client, services_.engine->debug(args)));
}

void TfCommands::tfcall(const Args& argv, const ClientContext& client, Done done) {
  if (!scripting::isValidUtf8(argv[1]))
    return done(errorReply(client, scripting::errors::kNotUtf8));
  const std::string& target = argv[1];
  size_t dot = target.find('.');
  if (dot == std::string::npos) return done(errorReply(client, scripting::errors::kNoFunctionName));
  scripting::CallRequest request;
  request.library = target.substr(0, dot);
  std::string rest = target.substr(dot + 1);
  request.function = rest.substr(0, rest.find('.'));  // anything after a second dot is ignored
  if (!scripting::isValidUtf8(argv[2]))
    return done(errorReply(client, scripting::errors::kNotUtf8));
  std::string error;
  std::optional<uint64_t> numkeys = parseNumkeys(argv[2], &error);
  if (!numkeys) return done(errorReply(client, error));
  request.numkeys = *numkeys;
  request.args.assign(argv.begin() + 3, argv.end());
  request.identity.user = client.user;
  request.identity.password = client.password;
  request.db = client.db;
  request.protocol = client.protocol;
  request.async_call = lower(argv[0]) == "tfcallasync";
  request.in_transaction = client.in_multi;
  // Inside a proxy-run EXEC the transaction already holds the gate.
  request.section_held = client.in_multi;
  services_.engine->call(std::move(request), std::move(done));
}

void TfCommands::tconfigGet(const Args& argv, const ClientContext& client, Done done) {
  std::vector<std::string> patterns;
  for (size_t i = 1; i < argv.size(); ++i) {
    patterns.push_back(std::string(config::GearsConfig::kPrefix) + argv[i]);
  }
  configGet(patterns, /*forward=*/false, client, std::move(done));
}

void TfCommands::tconfigSet(const Args& argv, const ClientContext& client, Done done) {
  if ((argv.size() - 1) % 2 != 0) {
    return done(errorReply(client, resp::errors::wrongArity("config|set")));
  }
  std::vector<std::pair<std::string, std::string>> pairs;
  for (size_t i = 1; i + 1 < argv.size(); i += 2) {
    pairs.emplace_back(std::string(config::GearsConfig::kPrefix) + argv[i], argv[i + 1]);
  }
  configSet(pairs, client, std::move(done));
}

void TfCommands::internal(const Args&, const ClientContext& client, Done done) {
  done(errorReply(client, errors::kInternalCommand));
}

void TfCommands::config(const Args& argv, const ClientContext& client, Done done) {
  const std::string sub = lower(argv[1]);
  if (sub == "get") {
    std::vector<std::string> patterns(argv.begin() + 2, argv.end());
    // Requests naming only our settings are answered here; others merge with the backend's.
    bool forward = std::any_of(patterns.begin(), patterns.end(),
                               [](const std::string& p) { return !isGearsName(p); });
    return configGet(patterns, forward, client, std::move(done));
  }
  if ((argv.size() - 2) % 2 != 0 || argv.size() < 4) {
    return done(errorReply(client, resp::errors::wrongArity("config|set")));
  }
  std::vector<std::pair<std::string, std::string>> pairs;
  for (size_t i = 2; i + 1 < argv.size(); i += 2) pairs.emplace_back(argv[i], argv[i + 1]);
  configSet(pairs, client, std::move(done));
}

void TfCommands::configGet(const std::vector<std::string>& patterns, bool forward,
                           const ClientContext& client, Done done) {
  auto ours = services_.config->get(patterns);
  if (!forward) return done(configReply(client, ours));
  runBlocking([this, patterns, ours, client, done = std::move(done)]() mutable {
    std::vector<std::string_view> command = {"CONFIG", "GET"};
    for (const std::string& p : patterns) command.push_back(p);
    std::string error;
    auto reply = runAsClient(*services_.connections, client, command, &error);
    if (!reply) return done(errorReply(client, error));
    auto pairs = configPairs(*reply);
    for (auto& p : ours) {
      bool present = std::any_of(pairs.begin(), pairs.end(),
                                 [&](const auto& q) { return q.first == p.first; });
      if (!present) pairs.push_back(std::move(p));
    }
    done(configReply(client, pairs));
  });
}

void TfCommands::configSet(const std::vector<std::pair<std::string, std::string>>& pairs,
                           const ClientContext& client, Done done) {
  std::vector<std::pair<std::string, std::string>> ours, theirs;
  for (const auto& p : pairs) (isGearsName(p.first) ? ours : theirs).push_back(p);
  // Ours are validated first, the rest forwarded, and only then ours applied (SPEC 11.9).
  if (auto error = services_.config->set(ours, /*dry_run=*/true))
    return done(errorReply(client, *error));
  if (theirs.empty()) {
    services_.config->set(ours);
    return done("+OK\r\n");
  }
  runBlocking([this, ours, theirs, client, done = std::move(done)]() mutable {
    std::vector<std::string_view> command = {"CONFIG", "SET"};
    for (const auto& [k, v] : theirs) {
      command.push_back(k);
      command.push_back(v);
    }
    std::string error;
    if (!runAsClient(*services_.connections, client, command, &error)) {
      return done(errorReply(client, error));
    }
    services_.config->set(ours);
    done("+OK\r\n");
  });
}

}  // namespace tfproxy::functions
