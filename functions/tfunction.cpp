// TFUNCTION LOAD, DELETE, LIST and DEBUG (spec §3.1-3.3, 3.5).
#include "functions/errors.h"
#include "functions/handler_support.h"
#include "functions/library_store.h"
#include "functions/tf_commands.h"
#include "scripting/errors.h"
#include "scripting/text.h"

namespace tfproxy::functions {
namespace {

// Makes a library change durable in `store` (none: nothing is stored) before it takes effect;
// a failure, named by `prefix`, vetoes it.
scripting::Engine::Persist persistTo(LibraryStore* store, const char* prefix) {
  if (store == nullptr) return {};
  return [store, prefix](const scripting::LibraryDefinition* d, const std::string& name) {
    Status stored = d != nullptr ? store->put(*d) : store->erase(name);
    return stored.ok() ? stored : Status::failure(prefix + stored.message());
  };
}

// Ends the store's change, then tells `then` the outcome.
std::function<void(Status)> endChange(LibraryStore* store, std::function<void(Status)> then) {
  return [store, then = std::move(then)](Status outcome) {
    if (store != nullptr) store->endChange();
    then(std::move(outcome));
  };
}

// The client's reply to a change: OK, or the error.
std::function<void(Status)> answer(const ClientContext& client,
                                   std::function<void(std::string)> done) {
  return [client, done = std::move(done)](Status outcome) {
    done(outcome.ok() ? std::string(kOk) : errorReply(client, outcome.message()));
  };
}

}  // namespace

void TfCommands::unknownSubcommand(const Args& argv, const ClientContext& client, Done done) {
  done(errorReply(client, errors::unknownSubcommand(lower(argv[1]))));
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
  if (debug && services_.config->startup().v8_debug_server_address.empty()) {
    return done(errorReply(client, errors::kNoDebugServer));
  }
  if (debug && services_.cluster) return done(errorReply(client, errors::kDebugInCluster));
  request.debug = debug;
  request.code = *code;
  request.user = client.user;
  loadLibrary(std::move(request), answer(client, std::move(done)));
}

void TfCommands::loadLibrary(scripting::LoadRequest request, std::function<void(Status)> done) {
  LibraryStore* store = services_.store;
  if (store != nullptr) store->beginChange();
  services_.engine->load(std::move(request), persistTo(store, errors::kStoreFailed),
                         endChange(store, std::move(done)));
}

void TfCommands::deleteLibrary(std::string name, std::function<void(Status)> done) {
  LibraryStore* store = services_.store;
  if (store != nullptr) store->beginChange();
  services_.engine->remove(std::move(name), persistTo(store, errors::kRemoveFailed),
                           endChange(store, std::move(done)));
}

void TfCommands::remove(const Args& argv, const ClientContext& client, Done done) {
  if (argv.size() < 3) return done(errorReply(client, errors::kNoFunctionName));
  if (!scripting::isValidUtf8(argv[2]))
    return done(errorReply(client, scripting::errors::kNotUtf8));
  deleteLibrary(argv[2], answer(client, std::move(done)));
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

}  // namespace tfproxy::functions
