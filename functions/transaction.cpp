// EXEC of a transaction that contains commands tfproxy runs itself (spec §11.11).
#include <future>

#include "functions/errors.h"
#include "functions/handler_support.h"
#include "functions/tf_commands.h"
#include "resp/decoder.h"

namespace tfproxy::functions {
// The forwarded prefix runs first, by EXEC on the client's own connection (nil: a WATCHed key
// changed, and nothing else runs); then the commands queued here, in order -- functions with
// blocking not allowed, plain commands as MULTI/EXEC batches -- all inside one atomic section,
// answered as one array. SELECT and AUTH anywhere in it take effect for what follows them, and
// for the connection afterwards, as in a transaction Redis runs.
void TfCommands::execTransaction(const ClientContext& client, Done done) {
  // The libraries of its functions first, then the gate: a function running elsewhere holds its
  // library while it waits for the gate (design §4). The functions then run on this thread.
  std::vector<std::string> libraries;
  for (const auto& cmd : client.transaction) {
    const CommandSpec* spec = findCommand(cmd);
    if (spec != nullptr && spec->keys == KeyRule::kNumkeys && cmd.size() > 1) {
      libraries.push_back(cmd[1].substr(0, cmd[1].find('.')));
    }
  }
  std::unique_ptr<scripting::TriggerRun> held = services_.engine->lockLibraries(libraries);
  // Its commands wait on the client's connection for the EXEC: it waits for the fleet.
  while (!services_.host->enterAtomicSection().ok()) {
  }
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
  static_cast<ConnectionState&>(inner) = after_prefix;
  inner.protocol = client.protocol;
  std::vector<std::vector<std::string>> batch;
  // Plain commands collected so far run as one MULTI/EXEC on a connection of the client's
  // current user, in its current database.
  auto runBatch = [&] {
    if (batch.empty()) return;
    backend::ScriptConnections::Failure failure;
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
          backend::StateChange::read(batch[i]).applyTo(&inner);
          // The client's own connection keeps its protocol (HELLO is not carried over).
          inner.protocol = client.protocol;
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
    if (!isOwnCommand(cmd)) {
      batch.push_back(cmd);
      continue;
    }
    runBatch();
    if (findCommand(cmd)->has(kDeniedInMulti)) {
      std::string bytes;
      resp::ReplyWriter(&bytes, client.protocol).error(errors::kBlockingInTransaction);
      results.push_back(std::move(bytes));
      continue;
    }
    results.push_back(runAndWait(cmd, inner));
  }
  runBatch();
  ConnectionState final_state = inner;
  final_state.protocol = after_prefix.protocol;
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

}  // namespace tfproxy::functions
