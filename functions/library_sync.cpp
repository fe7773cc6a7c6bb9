#include "functions/library_sync.h"

#include <spdlog/spdlog.h>

#include <future>
#include <map>

namespace tfproxy::functions {
namespace {

// Loads a stored library (without storing it again) and waits for the outcome.
Status loadStored(scripting::Engine& engine, const scripting::LibraryDefinition& d,
                  bool restoring) {
  scripting::LoadRequest request;
  request.code = d.code;
  request.config = d.config;
  request.user = d.user;
  request.replace = !restoring;
  request.restoring = restoring;
  std::promise<Status> outcome;
  engine.load(request, nullptr, [&](Status o) { outcome.set_value(o); });
  return outcome.get_future().get();
}

}  // namespace

bool restoreLibraries(LibraryStore& store, scripting::Engine& engine) {
  std::string error;
  auto stored = store.loadAll(&error);
  if (!stored) {
    spdlog::warn("cannot read the stored libraries yet ({}); retrying", error);
    return false;
  }
  for (const scripting::LibraryDefinition& d : *stored) {
    if (Status loaded = loadStored(engine, d, /*restoring=*/true); !loaded.ok()) {
      spdlog::error("stored library '{}' failed to load and is skipped: {}", d.name,
                    loaded.message());
    } else {
      spdlog::info("loaded stored library '{}'", d.name);
    }
  }
  return true;
}

void adoptLibraries(scripting::Engine& engine, const LibraryStore::Definitions& stored,
                    const LibraryStore::Stale& stale) {
  std::map<std::string, const scripting::LibraryDefinition*> loaded_by_name;
  const auto loaded = engine.definitions();
  for (const auto& d : loaded) loaded_by_name[d.name] = &d;
  for (const auto& d : stored) {
    auto it = loaded_by_name.find(d.name);
    if (it != loaded_by_name.end()) {
      const scripting::LibraryDefinition& mine = *it->second;
      loaded_by_name.erase(it);
      if (mine.code == d.code && mine.config == d.config && mine.user == d.user) continue;
    }
    if (stale()) return;
    if (Status adopted = loadStored(engine, d, /*restoring=*/false); !adopted.ok()) {
      spdlog::error("library '{}' changed in the store but failed to load: {}", d.name,
                    adopted.message());
    } else {
      spdlog::info("library '{}' loaded from the store (changed by another tfproxy)", d.name);
    }
  }
  for (const auto& [name, definition] : loaded_by_name) {
    if (stale()) return;
    std::promise<Status> outcome;
    engine.remove(name, nullptr, [&](Status o) { outcome.set_value(o); });
    if (outcome.get_future().get().ok()) {
      spdlog::info("library '{}' deleted (removed from the store by another tfproxy)", name);
    }
  }
}

}  // namespace tfproxy::functions
