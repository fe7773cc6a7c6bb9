#include "functions/tf_commands.h"

#include <future>

#include "backend/errors.h"
#include "functions/errors.h"
#include "functions/handler_support.h"
#include "resp/errors.h"

namespace tfproxy::functions {

// Runs `command` on the backend as the client runs its own (its user, its database). The
// reply, or nullopt with `*error` set to what the client is answered (a backend error too).
std::optional<resp::Value> runAsClient(backend::ScriptConnections& connections,
                                       const ClientContext& client,
                                       std::span<const std::string_view> command,
                                       std::string* error) {
  backend::ScriptConnections::Failure failure;
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

TfCommands::TfCommands(Services services)
    : access_(services.checks != nullptr ? *services.checks : *services.connections,
              services.proxy_identity, services.acl),
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
  if (client.exec_prefix && backend::equalsLower(argv[0], "exec")) {
    runBlocking([this, client, done = std::move(done)]() mutable {
      execTransaction(client, std::move(done));
    });
    return;
  }
  const CommandSpec* own = findCommand(argv[0]);
  if (own == nullptr) return done(errorReply(client, resp::errors::unknownCommand(argv[0], "")));
  // As on Redis: nothing but an error before a required authentication.
  if (services_.status != nullptr && services_.status->authRequired() && client.user == "default" &&
      client.password.empty()) {
    return done(errorReply(client, errors::kNoAuth));
  }
  if (!own->arityMatches(argv.size())) {
    return done(errorReply(client, resp::errors::wrongArity(own->name)));
  }
  const CommandSpec* spec = findCommand(argv);
  if (!spec->arityMatches(argv.size())) {
    return done(errorReply(client, resp::errors::wrongArity(spec->fullName())));
  }
  std::vector<std::string> equivalent = spec->aclCommand();
  if (equivalent.empty()) return (this->*spec->handler)(argv, client, std::move(done));
  AccessPolicy::Verdict verdict =
      access_.cached(client.user, spec->fullName(), equivalent, declaredKeys(*spec, argv));
  if (verdict.known) {
    if (!verdict.access.ok()) return done(errorReply(client, verdict.access.message()));
    return (this->*spec->handler)(argv, client, std::move(done));
  }
  runBlocking([this, spec, argv, client, equivalent, done = std::move(done)]() mutable {
    Status allowed =
        access_.check(client.user, spec->fullName(), equivalent, declaredKeys(*spec, argv));
    if (!allowed.ok()) return done(errorReply(client, allowed.message()));
    (this->*spec->handler)(argv, client, std::move(done));
  });
}

void TfCommands::runAs(std::vector<std::string> argv, ClientContext client, Done done) {
  runBlocking([this, argv = std::move(argv), client = std::move(client),
               done = std::move(done)]() mutable {
    backend::ScriptConnections::Failure failure;
    std::string error;
    auto lease = services_.checks->acquire({client.user, client.password}, &failure, &error);
    if (!lease) {
      return done(errorReply(client, failure == backend::ScriptConnections::Failure::kAuthentication
                                         ? error
                                         : errors::kPrefix + error));
    }
    lease.reset();
    run(argv, client, std::move(done));
  });
}

std::string TfCommands::runAndWait(const Args& argv, const ClientContext& client) {
  std::promise<std::string> reply;
  auto future = reply.get_future();
  run(argv, client, [&reply](std::string bytes) { reply.set_value(std::move(bytes)); });
  return future.get();
}

}  // namespace tfproxy::functions
