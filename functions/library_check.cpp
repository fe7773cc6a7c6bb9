#include "functions/library_check.h"

#include <fstream>
#include <future>
#include <map>
#include <sstream>

#include "backend/script_connection.h"
#include "scripting/engine.h"
#include "scripting/prologue.h"

namespace tfproxy::functions {
namespace {

constexpr char kNoBackend[] = "tfproxy check runs without a backend";

// No backend: nothing a library's top-level code may do needs one, and a function never runs.
class NoConnections : public backend::ScriptConnections {
 public:
  Lease acquire(const backend::Identity&, Failure* failure, std::string* error) override {
    *failure = Failure::kUnreachable;
    *error = kNoBackend;
    return {};
  }
  void forgetUser(const std::string&) override {}
  void giveBack(std::unique_ptr<backend::ScriptConnection>) override {}
};

class OfflineHost : public scripting::Host {
 public:
  Status enterAtomicSection() override { return Status::failure(kNoBackend); }
  void leaveAtomicSection() override {}
  backend::ScriptConnections& connections() override { return connections_; }
  bool backendWritable() override { return true; }
  bool backendOutOfMemory() override { return false; }
  bool backendStateCurrent() override { return true; }
  void confirmBackendState() override {}
  void asyncCommand(const backend::Identity&, int64_t, std::vector<std::string>, bool,
                    AsyncDone done) override {
    done(std::nullopt, kNoBackend);
  }
  bool deniedToScripts(std::string_view) const override { return false; }
  void commandIssued(const std::vector<std::string>&) override {}
  void editReply(const std::vector<std::string>&, resp::Value*) const override {}
  void commandFailed(const std::string&) override {}
  void triggersChanged(std::vector<std::string>,
                       std::vector<scripting::StreamTriggerInfo>) override {}
  backend::Identity libraryIdentity(const std::string& user) override { return {user, {}}; }
  std::optional<std::string> keyspaceEventsProblem() override { return std::nullopt; }

 private:
  NoConnections connections_;
};

// "2 functions, 1 async function, ..." of what a library registered.
std::string registrations(const scripting::EngineStats::Library& l) {
  std::map<std::string, int> counts;
  for (const auto& r : l.runnables) ++counts[r.kindName()];
  std::string out;
  for (const auto& [kind, n] : counts) {
    out += (out.empty() ? "" : ", ") + std::to_string(n) + " " + kind + (n == 1 ? "" : "s");
  }
  if (!l.cluster_functions.empty()) {
    out += ", " + std::to_string(l.cluster_functions.size()) + " cluster function" +
           (l.cluster_functions.size() == 1 ? "" : "s");
  }
  return out;
}

}  // namespace

CheckResult checkLibraries(const std::vector<std::string>& files, config::GearsSettings settings) {
  CheckResult result;
  config::GearsConfig config(std::move(settings));
  OfflineHost host;
  std::unique_ptr<scripting::Engine> engine = scripting::createEngine(config, host);
  for (const std::string& file : files) {
    std::ifstream in(file, std::ios::binary);
    if (!in) {
      result.report += file + ": cannot read the file\n";
      result.ok = false;
      continue;
    }
    std::ostringstream code;
    code << in.rdbuf();
    scripting::LoadRequest request;
    request.code = code.str();
    request.user = "default";
    std::promise<Status> loaded;
    engine->load(std::move(request), nullptr, [&loaded](Status s) { loaded.set_value(s); });
    const Status status = loaded.get_future().get();
    if (!status.ok()) {
      result.report += file + ": " + status.message() + "\n";
      result.ok = false;
      continue;
    }
    std::string line = file + ": OK";
    std::string ignored;
    const std::optional<scripting::Prologue> prologue =
        scripting::parsePrologue(code.str(), &ignored);
    for (const auto& l : engine->stats().libraries) {
      if (prologue && l.name == prologue->name) {
        line += ", library '" + l.name + "': " + registrations(l);
      }
    }
    result.report += line + "\n";
  }
  engine->shutdown();
  return result;
}

}  // namespace tfproxy::functions
