#include "tests/fakes/fake_backend.h"

#include <thread>

#include "backend/command_table.h"
#include "functions/commands.h"
#include "resp/number.h"

namespace tfproxy::fakes {
namespace {

std::string upper(std::string_view s) {
  std::string out(s);
  for (char& c : out) {
    if (c >= 'a' && c <= 'z') c = static_cast<char>(c - 32);
  }
  return out;
}

class FakeConnection final : public backend::ScriptConnection {
 public:
  FakeConnection(FakeRedis& redis, backend::Identity who) : redis_(redis), who_(std::move(who)) {}
  std::optional<std::vector<resp::Value>> run(
      int64_t db, std::span<const std::vector<std::string_view>> commands) override {
    return redis_.run(db, {commands.begin(), commands.end()}, who_);
  }
  const std::string& error() const override { return error_; }

 private:
  FakeRedis& redis_;
  backend::Identity who_;
  std::string error_;
};

}  // namespace

void FakeRedis::deny(const std::string& user, const std::string& command) {
  std::lock_guard lock(mutex_);
  denied_[user].insert(command);
}

std::string FakeRedis::get(int64_t db, const std::string& key) {
  std::lock_guard lock(mutex_);
  auto it = data_.find({db, key});
  return it == data_.end() ? std::string() : it->second;
}

std::vector<std::string> FakeRedis::log() {
  std::lock_guard lock(mutex_);
  return log_;
}

std::vector<resp::Value> FakeRedis::run(int64_t db,
                                        const std::vector<std::vector<std::string_view>>& cmds,
                                        const backend::Identity& who) {
  std::lock_guard lock(mutex_);
  std::vector<resp::Value> replies;
  std::vector<resp::Value>* queue = nullptr;  // replies of an open MULTI
  std::vector<resp::Value> queued;
  for (const auto& cmd : cmds) {
    std::string line = std::to_string(db) + " " + who.user;
    for (std::string_view word : cmd) line.append(" ").append(word);
    log_.push_back(line);
    const std::string name = upper(cmd[0]);
    if (name == "MULTI") {
      queue = &queued;
      replies.push_back(resp::Value::simple("OK"));
    } else if (name == "EXEC") {
      replies.push_back(resp::Value::array(std::move(queued)));
      queued.clear();
      queue = nullptr;
    } else if (queue != nullptr) {
      queue->push_back(one(&db, cmd));
      replies.push_back(resp::Value::simple("QUEUED"));
    } else {
      replies.push_back(one(&db, cmd));
    }
  }
  return replies;
}

resp::Value FakeRedis::one(int64_t* db, const std::vector<std::string_view>& cmd) {
  const std::string name = upper(cmd[0]);
  auto key = [&](size_t i) { return std::make_pair(*db, std::string(cmd[i])); };
  if (name == "PING") return resp::Value::simple("PONG");
  if (name == "SELECT" && cmd.size() == 2) {
    *db = resp::parseInt64(cmd[1]).value_or(0);
    return resp::Value::simple("OK");
  }
  if (name == "SET" && cmd.size() == 3) {
    data_[key(1)] = std::string(cmd[2]);
    return resp::Value::simple("OK");
  }
  if (name == "GET" && cmd.size() == 2) {
    auto it = data_.find(key(1));
    return it == data_.end() ? resp::Value::null() : resp::Value::bulk(it->second);
  }
  if (name == "DEL") {
    int64_t n = 0;
    for (size_t i = 1; i < cmd.size(); ++i) n += static_cast<int64_t>(data_.erase(key(i)));
    return resp::Value::integerValue(n);
  }
  if (name == "INCR" && cmd.size() == 2) {
    std::string& v = data_[key(1)];
    const int64_t n = resp::parseInt64(v.empty() ? "0" : v).value_or(0) + 1;
    v = std::to_string(n);
    return resp::Value::integerValue(n);
  }
  if (name == "CONFIG" && cmd.size() >= 3 && upper(cmd[1]) == "GET") {
    std::vector<resp::Value> pairs;
    if (cmd[2] == "maxmemory") {
      pairs.push_back(resp::Value::bulk("maxmemory"));
      pairs.push_back(resp::Value::bulk("0"));
    }
    return resp::Value::array(std::move(pairs));
  }
  if (name == "ACL" && cmd.size() >= 4 && upper(cmd[1]) == "DRYRUN") {
    auto user = denied_.find(std::string(cmd[2]));
    if (user != denied_.end() && user->second.count(upper(cmd[3])) > 0) {
      return resp::Value::bulk("This user has no permissions to run the '" + std::string(cmd[3]) +
                               "' command");
    }
    return resp::Value::simple("OK");
  }
  if (name == "ACL" && cmd.size() == 3 && upper(cmd[1]) == "GETUSER") {
    return resp::Value::error("NOPERM the fake backend keeps no key patterns");
  }
  return resp::Value::error("ERR unknown command '" + std::string(cmd[0]) + "'");
}

backend::ScriptConnections::Lease FakeConnections::acquire(const backend::Identity& identity,
                                                           Failure* failure, std::string* error) {
  if (down_) {
    *failure = Failure::kUnreachable;
    *error = "Connection refused";
    return {};
  }
  *failure = Failure::kNone;
  ++outstanding_;
  return Lease(this, std::make_unique<FakeConnection>(redis_, identity));
}

void FakeConnections::giveBack(std::unique_ptr<backend::ScriptConnection>) { --outstanding_; }

void FakeHost::asyncCommand(const backend::Identity& identity, int64_t db,
                            std::vector<std::string> args, bool, AsyncDone done) {
  std::thread([this, identity, db, args = std::move(args), done = std::move(done)] {
    backend::ScriptConnections::Failure failure;
    std::string error;
    auto lease = connections_.acquire(identity, &failure, &error);
    if (!lease) return done(std::nullopt, error);
    std::vector<std::string_view> command(args.begin(), args.end());
    done(lease->run(db, command), lease->error());
  }).detach();
}

bool FakeHost::deniedToScripts(std::string_view lower_name) const {
  return functions::deniedToScripts(lower_name);
}

}  // namespace tfproxy::fakes
