// Command line and configuration file (CLI11). `--config FILE` reads the same settings from an
// INI/TOML file: `port = 6390`, `backend = "10.0.0.5:6379"`.
#pragma once

#include <string>

#include "base/status.h"
#include "config/options.h"

namespace tfproxy::config {

struct CliResult {
  // Set when the process should exit at once (help, version, or a bad value).
  bool exit = false;
  int exit_code = 0;
  // Text for stdout (help, version) or stderr (errors: one line naming the flag).
  std::string output;
  ProxyOptions options;
};

CliResult parseCommandLine(int argc, const char* const* argv);

// The embedded default's data folder when --data-dir is not given: tfproxy-data in
// $XDG_DATA_HOME, else in ~/.local/share, else in the working folder.
std::string defaultDataDir();

// The listeners and TLS settings fit together (a listener exists, certificates are named where
// needed, backend TLS options have TLS to apply to).
Status validateTls(const ProxyOptions& options);

}  // namespace tfproxy::config
