// `tfproxy check FILE...`: compiles and registers libraries offline -- no backend, no listener --
// and reports each file's outcome as TFUNCTION LOAD would answer it (compile errors with their
// place). A CI lint for people who write functions.
#pragma once

#include <string>
#include <vector>

#include "config/gears.h"

namespace tfproxy::functions {

struct CheckResult {
  std::string report;  // one line per file
  bool ok = true;      // every file loaded
};

// Loads each file in order into one engine, as TFUNCTION LOAD without REPLACE would (two files
// naming the same library fail as the second load would). `settings` are the Triggers and
// Functions settings the libraries would run with (error-verbosity, memory limits).
CheckResult checkLibraries(const std::vector<std::string>& files, config::GearsSettings settings);

}  // namespace tfproxy::functions
