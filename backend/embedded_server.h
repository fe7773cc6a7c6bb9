// The embedded default backend: a private redis-server listening on a Unix socket in a
// temporary folder that also holds its data, started when no --backend is given and stopped
// when tfproxy exits.
#pragma once

#include <sys/types.h>

#include <memory>
#include <string>

#include "config/options.h"

namespace tfproxy::backend {

class EmbeddedServer {
 public:
  // Starts `binary` (a name looked up on PATH, or a path) and waits until it answers PING.
  // Returns nullptr with `error` set to an actionable message on failure.
  static std::unique_ptr<EmbeddedServer> start(const std::string& binary, std::string* error);

  // Stops the server (SIGTERM, then SIGKILL after a grace period) and removes its folder.
  ~EmbeddedServer();

  const config::Endpoint& endpoint() const { return endpoint_; }
  pid_t pid() const { return pid_; }

 private:
  EmbeddedServer() = default;
  pid_t pid_ = -1;
  config::Endpoint endpoint_;
  std::string dir_;
};

// Finds an executable on PATH (or checks a path containing '/'). Empty if not found.
std::string findExecutable(const std::string& name);

}  // namespace tfproxy::backend
