// TCONFIG_GET/SET and CONFIG GET/SET on redisgears_2.* settings (spec §3.6, §11.9).
#include <algorithm>
#include <span>

#include "backend/errors.h"
#include "functions/errors.h"
#include "functions/handler_support.h"
#include "functions/tf_commands.h"
#include "resp/errors.h"

namespace tfproxy::functions {
namespace {

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

}  // namespace

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

void TfCommands::configGetCommand(const Args& argv, const ClientContext& client, Done done) {
  std::vector<std::string> patterns(argv.begin() + 2, argv.end());
  // Requests naming only our settings are answered here; others merge with the backend's.
  const bool forward = std::any_of(patterns.begin(), patterns.end(),
                                   [](const std::string& p) { return !isGearsSetting(p); });
  configGet(patterns, forward, client, std::move(done));
}

void TfCommands::configSetCommand(const Args& argv, const ClientContext& client, Done done) {
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
  for (const auto& p : pairs) (isGearsSetting(p.first) ? ours : theirs).push_back(p);
  // Ours are validated first, the rest forwarded, and only then ours applied (spec §11.9).
  if (Status invalid = services_.config->set(ours, /*dry_run=*/true); !invalid.ok()) {
    return done(errorReply(client, invalid.message()));
  }
  if (theirs.empty()) {
    // Validated just before, but another client's SET may have changed what ours depend on.
    Status applied = services_.config->set(ours);
    return done(applied.ok() ? std::string(kOk) : errorReply(client, applied.message()));
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
    // Validated before; a concurrent SET may have changed what ours depend on since.
    if (Status failed = services_.config->set(ours); !failed.ok()) {
      return done(errorReply(client, failed.message()));
    }
    done(kOk);
  });
}

}  // namespace tfproxy::functions
