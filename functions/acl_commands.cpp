// ACL SETUSER, GETUSER, LIST, DELUSER, LOAD, and DRYRUN of tfproxy's commands: the client's
// command goes to Redis as the client sent it (Redis checks the client's rights and every
// other rule), without the rules that name tfproxy's commands; those are kept by tfproxy
// (acl_rules.h), stored with the libraries, and merged into what Redis answers.
#include <spdlog/spdlog.h>

#include <fstream>
#include <iterator>
#include <sstream>

#include "functions/errors.h"
#include "functions/handler_support.h"
#include "functions/library_store.h"
#include "functions/tf_commands.h"
#include "resp/errors.h"

namespace tfproxy::functions {
namespace {

std::vector<std::string_view> views(const std::vector<std::string>& argv) {
  return {argv.begin(), argv.end()};
}

// The user an ACL LIST line describes ("user alice on ... -@all +get").
std::string_view listedUser(std::string_view line) {
  if (line.rfind("user ", 0) != 0) return {};
  line.remove_prefix(5);
  return line.substr(0, line.find(' '));
}

}  // namespace

Status TfCommands::setUser(const std::string& user, const AclRules::Split& split,
                           const ClientContext& client, std::optional<resp::Value>* reply) {
  std::vector<std::string_view> command = {"ACL", "SETUSER", user};
  command.insert(command.end(), split.forwarded.begin(), split.forwarded.end());
  std::string error;
  *reply = runAsClient(*services_.connections, client, command, &error);
  if (!*reply) return Status::failure(error);  // Redis refused: nothing is applied
  if (services_.acl != nullptr && !split.ours.empty()) {
    if (services_.store != nullptr) services_.store->beginChange();
    services_.acl->apply(user, split.ours);
    if (services_.store != nullptr) {
      if (Status stored = services_.store->putAcl(user, *services_.acl->stored(user));
          !stored.ok()) {
        spdlog::warn("the ACL rules of user '{}' were not stored: {}", user, stored.message());
      }
      services_.store->endChange();
    }
  }
  access_.forget();
  return {};
}

void TfCommands::aclSetuser(const Args& argv, const ClientContext& client, Done done) {
  AclRules::Split split = AclRules::split(std::span(argv).subspan(3));
  if (!split.error.empty()) return done(errorReply(client, split.error));
  runBlocking(
      [this, user = argv[2], split = std::move(split), client, done = std::move(done)]() mutable {
        std::optional<resp::Value> reply;
        Status set = setUser(user, split, client, &reply);
        done(set.ok() ? valueReply(client, *reply) : errorReply(client, set.message()));
      });
}

Status TfCommands::applyAclFile(const ClientContext& client) {
  std::ifstream file(services_.acl_file);
  if (!file) return Status::failure(errors::aclFileUnreadable(services_.acl_file));
  // Every line is checked before any is applied, as Redis loads an ACL file.
  std::vector<std::pair<std::string, AclRules::Split>> users;
  std::string line;
  for (int number = 1; std::getline(file, line); ++number) {
    std::istringstream words(line);
    std::vector<std::string> tokens{std::istream_iterator<std::string>(words),
                                    std::istream_iterator<std::string>()};
    if (tokens.empty()) continue;
    if (tokens[0] != "user" || tokens.size() < 2) {
      return Status::failure(errors::aclFileBadLine(services_.acl_file, number));
    }
    std::vector<std::string> rules = {"reset"};
    rules.insert(rules.end(), tokens.begin() + 2, tokens.end());
    AclRules::Split split = AclRules::split(rules);
    if (!split.error.empty()) return Status::failure(split.error);
    users.emplace_back(tokens[1], std::move(split));
  }
  for (const auto& [user, split] : users) {
    std::optional<resp::Value> reply;
    if (Status set = setUser(user, split, client, &reply); !set.ok()) return set;
  }
  return {};
}

Status TfCommands::loadAclFile(const backend::Identity& identity) {
  ClientContext as;
  as.user = identity.user;
  as.password = identity.password;
  return applyAclFile(as);
}

void TfCommands::forwardAsClient(const Args& argv, const ClientContext& client, Done done,
                                 std::function<void(resp::Value*)> after) {
  runBlocking([this, argv, client, done = std::move(done), after = std::move(after)]() mutable {
    std::string error;
    auto reply = runAsClient(*services_.connections, client, views(argv), &error);
    if (!reply) return done(errorReply(client, error));
    after(&*reply);
    done(valueReply(client, *reply));
  });
}

void TfCommands::aclGetuser(const Args& argv, const ClientContext& client, Done done) {
  forwardAsClient(argv, client, std::move(done), [this, user = argv[2]](resp::Value* reply) {
    const std::string ours = services_.acl != nullptr ? services_.acl->shown(user) : "";
    // "commands" in the map (RESP3) or flat array (RESP2) Redis answers.
    for (size_t i = 0; !ours.empty() && i + 1 < reply->elements.size(); i += 2) {
      if (reply->elements[i].str != "commands") continue;
      std::string& commands = reply->elements[i + 1].str;
      commands += (commands.empty() ? "" : " ") + ours;
    }
  });
}

void TfCommands::aclList(const Args& argv, const ClientContext& client, Done done) {
  forwardAsClient(argv, client, std::move(done), [this](resp::Value* reply) {
    for (resp::Value& line : reply->elements) {
      const std::string ours =
          services_.acl != nullptr ? services_.acl->shown(std::string(listedUser(line.str))) : "";
      if (!ours.empty()) line.str += " " + ours;
    }
  });
}

void TfCommands::aclDeluser(const Args& argv, const ClientContext& client, Done done) {
  forwardAsClient(argv, client, std::move(done), [this, argv](resp::Value*) {
    std::vector<std::string> forgotten;
    for (size_t i = 2; services_.acl != nullptr && i < argv.size(); ++i) {
      if (services_.acl->stored(argv[i])) forgotten.push_back(argv[i]);
      services_.acl->forget(argv[i]);
    }
    if (services_.store != nullptr && !forgotten.empty()) {
      if (Status erased = services_.store->eraseAcl(forgotten); !erased.ok()) {
        spdlog::warn("the ACL rules of deleted users were not removed: {}", erased.message());
      }
    }
    access_.forget();
  });
}

void TfCommands::aclLoad(const Args& argv, const ClientContext& client, Done done) {
  if (services_.acl_file.empty()) {
    return forwardAsClient(argv, client, std::move(done),
                           [this](resp::Value*) { access_.forget(); });
  }
  runBlocking([this, client, done = std::move(done)]() mutable {
    Status loaded = applyAclFile(client);
    done(loaded.ok() ? std::string(kOk) : errorReply(client, loaded.message()));
  });
}

// ACL DRYRUN <user> <one of ours> [args...]: as Redis answers for its own commands -- OK, or a
// bulk string saying what the user may not do.
void TfCommands::aclDryrun(const Args& argv, const ClientContext& client, Done done) {
  runBlocking([this, argv, client, done = std::move(done)]() mutable {
    const std::string& user = argv[2];
    // The client's right to run ACL DRYRUN, and that the user exists, are Redis' to judge.
    std::string error;
    const std::vector<std::string_view> probe = {"ACL", "DRYRUN", user, "PING"};
    if (!runAsClient(*services_.connections, client, probe, &error)) {
      return done(errorReply(client, error));
    }
    const Args call(argv.begin() + 3, argv.end());
    const CommandSpec* spec = findCommand(call);
    if (!spec->arityMatches(call.size())) {
      return done(errorReply(client, resp::errors::wrongArity(spec->fullName())));
    }
    auto denial = [&](const std::string& text) {
      std::string out;
      resp::ReplyWriter(&out, client.protocol).bulk(text);
      done(std::move(out));
    };
    const std::vector<std::string> equivalent = spec->aclCommand();
    if (!equivalent.empty() && !access_.permitted(user, spec->fullName(), equivalent).ok()) {
      return denial(errors::dryRunDenied(spec->fullName()));
    }
    for (std::string_view key : declaredKeys(*spec, call)) {
      if (!access_.check(user, spec->fullName(), equivalent, {key}).ok()) {
        return denial(errors::dryRunKeyDenied(key));
      }
    }
    done(kOk);
  });
}

}  // namespace tfproxy::functions
