// Bringing the engine in line with the libraries stored in the backend: at start (restore),
// and whenever another tfproxy in front of the same Redis changed them (adopt).
#pragma once

#include "functions/library_store.h"
#include "scripting/engine.h"

namespace tfproxy::functions {

// Loads the libraries kept in the backend (design §6). One that fails to load is
// logged and skipped; it stays stored, so a fixed proxy can load it later. False when the
// store cannot be read yet (the caller retries).
bool restoreLibraries(LibraryStore& store, scripting::Engine& engine);

// Another proxy changed the stored libraries: loads, replaces and deletes until the engine
// serves what is stored; gives up as soon as `stale` says a newer change came meanwhile.
void adoptLibraries(scripting::Engine& engine, const LibraryStore::Definitions& stored,
                    const LibraryStore::Stale& stale);

}  // namespace tfproxy::functions
