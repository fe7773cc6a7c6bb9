// A backend on a loopback port whose answers a test writes (tests only): it parses each
// command, records it, and sends what the test's function returns for it, or nothing (a
// command that blocks). For driving the edge (sessions) through real sockets without Redis.
#pragma once

#include <atomic>
#include <functional>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

namespace tfproxy::fakes {

class ScriptedBackend {
 public:
  // The reply bytes for a command (its words), or nullopt to leave it unanswered.
  using Answer = std::function<std::optional<std::string>(const std::vector<std::string>& argv)>;
  explicit ScriptedBackend(Answer answer);
  ~ScriptedBackend();

  uint16_t port() const { return port_; }
  // Every command received, as its words joined by spaces.
  std::vector<std::string> received();
  // Connections accepted so far, and those still open.
  int accepted() const { return accepted_; }
  int open() const { return open_; }
  // Closes every open connection (a backend restart, as the clients see it).
  void closeAll() { close_all_ = true; }

 private:
  void serve();
  Answer answer_;
  int listen_fd_ = -1;
  int wake_[2] = {-1, -1};
  uint16_t port_ = 0;
  std::mutex mutex_;
  std::vector<std::string> received_;
  std::atomic<int> accepted_{0};
  std::atomic<int> open_{0};
  std::atomic<bool> close_all_{false};
  std::atomic<bool> stop_{false};
  std::thread thread_;
};

}  // namespace tfproxy::fakes
