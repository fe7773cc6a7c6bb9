// The embedded default backend: a private redis-server listening on a Unix socket in a private
// temporary folder, started when no --backend is given and stopped when tfproxy exits. Its data
// lives in a data folder (AOF and RDB, kept across restarts; one tfproxy at a time, held by a
// lock file), or with --ephemeral in the temporary folder, deleted on exit.
#pragma once

#include <sys/types.h>

#include <memory>
#include <string>

#include "config/options.h"

namespace tfproxy::backend {

class EmbeddedServer {
 public:
  // Starts `binary` (a name looked up on PATH, or a path) and waits until it answers PING.
  // `data_dir` (created if missing) keeps its data; empty: ephemeral. Returns nullptr with
  // `error` set to an actionable message on failure (another tfproxy using the data folder
  // among them).
  static std::unique_ptr<EmbeddedServer> start(const std::string& binary,
                                               const std::string& data_dir, std::string* error);

  // Stops the server (SIGTERM, then SIGKILL after a grace period) and removes its folder.
  ~EmbeddedServer();

  const config::Endpoint& endpoint() const { return endpoint_; }
  pid_t pid() const { return pid_; }

 private:
  EmbeddedServer() = default;
  pid_t pid_ = -1;
  config::Endpoint endpoint_;
  std::string dir_;   // the private temporary folder (socket, and the data when ephemeral)
  int lock_fd_ = -1;  // holds the data folder's lock file
};

// Finds an executable on PATH (or checks a path containing '/'). Empty if not found.
std::string findExecutable(const std::string& name);

}  // namespace tfproxy::backend
