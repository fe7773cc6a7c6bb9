#include "backend/embedded_server.h"

#include <fcntl.h>
#include <signal.h>
#include <sys/file.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <thread>
#include <vector>

#include "backend/sync_connection.h"

namespace tfproxy::backend {
namespace {

bool waitExited(pid_t pid, std::chrono::milliseconds timeout) {
  auto deadline = std::chrono::steady_clock::now() + timeout;
  while (std::chrono::steady_clock::now() < deadline) {
    int status = 0;
    pid_t r = ::waitpid(pid, &status, WNOHANG);
    if (r == pid || (r < 0 && errno == ECHILD)) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  return false;
}

}  // namespace

std::string findExecutable(const std::string& name) {
  if (name.find('/') != std::string::npos) {
    return ::access(name.c_str(), X_OK) == 0 ? name : std::string();
  }
  const char* path = std::getenv("PATH");
  std::string dirs = path != nullptr ? path : "/usr/local/bin:/usr/bin:/bin";
  size_t start = 0;
  while (start <= dirs.size()) {
    size_t end = dirs.find(':', start);
    if (end == std::string::npos) end = dirs.size();
    std::string dir = dirs.substr(start, end - start);
    if (dir.empty()) dir = ".";
    std::string candidate = dir + "/" + name;
    if (::access(candidate.c_str(), X_OK) == 0) return candidate;
    start = end + 1;
  }
  return {};
}

std::unique_ptr<EmbeddedServer> EmbeddedServer::start(const std::string& binary,
                                                      const std::string& data_dir,
                                                      std::string* error) {
  std::string exe = findExecutable(binary);
  if (exe.empty()) {
    *error = "'" + binary +
             "' was not found on PATH. Install Redis (Debian: apt-get install redis-server) "
             "or pass --backend HOST:PORT to use a running Redis";
    return nullptr;
  }
  std::unique_ptr<EmbeddedServer> server(new EmbeddedServer);
  if (!data_dir.empty()) {
    std::error_code ec;
    std::filesystem::create_directories(data_dir, ec);
    if (ec) {
      *error = "cannot create the data folder " + data_dir + ": " + ec.message();
      return nullptr;
    }
    // One tfproxy per data folder: a second redis-server on the same files would corrupt them.
    const std::string lock_path = data_dir + "/tfproxy.lock";
    server->lock_fd_ = ::open(lock_path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0600);
    if (server->lock_fd_ < 0) {
      *error = "cannot open " + lock_path + ": " + std::strerror(errno);
      return nullptr;
    }
    if (::flock(server->lock_fd_, LOCK_EX | LOCK_NB) != 0) {
      char holder[32] = {};
      const ssize_t n = ::pread(server->lock_fd_, holder, sizeof holder - 1, 0);
      *error =
          "another tfproxy" +
          (n > 0 ? " (pid " + std::string(holder, static_cast<size_t>(n)) + ")" : std::string()) +
          " uses the data folder " + data_dir +
          "; stop it, or give this one another --data-dir (or --ephemeral)";
      return nullptr;
    }
    const std::string pid = std::to_string(::getpid());
    if (::ftruncate(server->lock_fd_, 0) != 0 ||
        ::pwrite(server->lock_fd_, pid.data(), pid.size(), 0) < 0) {
      // The lock holds without the pid; the pid only names the holder in the error above.
    }
  }
  char dir_template[] = "/tmp/tfproxy-XXXXXX";
  if (::mkdtemp(dir_template) == nullptr) {
    *error = std::string("cannot create a temporary folder: ") + std::strerror(errno);
    return nullptr;
  }
  server->dir_ = dir_template;

  // Redis listens on a Unix socket in the private folder only: no TCP port that other local
  // users could reach, none that could be taken before redis-server binds it. With a data
  // folder it persists as Redis does by default, plus the AOF (fsync every second).
  const std::string socket_path = server->dir_ + "/redis.sock";
  const std::string& data = data_dir.empty() ? server->dir_ : data_dir;
  const std::string log_file = data + "/redis.log";
  std::vector<std::string> args = {exe,
                                   "--port",
                                   "0",
                                   "--unixsocket",
                                   socket_path,
                                   "--unixsocketperm",
                                   "700",
                                   "--dir",
                                   data,
                                   "--save",
                                   data_dir.empty() ? "" : "3600 1 300 100 60 10000",
                                   "--appendonly",
                                   data_dir.empty() ? "no" : "yes",
                                   "--appendfsync",
                                   "everysec",
                                   "--daemonize",
                                   "no",
                                   "--logfile",
                                   log_file};
  pid_t pid = ::fork();
  if (pid < 0) {
    *error = std::string("fork failed: ") + std::strerror(errno);
    return nullptr;
  }
  if (pid == 0) {
    // Own process group: a terminal's Ctrl-C reaches tfproxy, which then stops this server
    // after in-flight replies are done. If tfproxy dies, the server goes with it.
    ::setpgid(0, 0);
    ::prctl(PR_SET_PDEATHSIG, SIGTERM);
    std::vector<char*> argv;
    for (auto& a : args) argv.push_back(a.data());
    argv.push_back(nullptr);
    ::execv(exe.c_str(), argv.data());
    ::_exit(127);
  }
  server->pid_ = pid;
  server->endpoint_.unix_path = socket_path;

  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  while (std::chrono::steady_clock::now() < deadline) {
    int status = 0;
    if (::waitpid(pid, &status, WNOHANG) == pid) {
      server->pid_ = -1;
      break;
    }
    std::string ignored;
    auto conn = SyncConnection::connect(io::Target{server->endpoint_, nullptr},
                                        std::chrono::milliseconds(200), &ignored);
    if (conn) {
      auto reply = conn->call({"PING"});
      if (reply && reply->str == "PONG") return server;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  if (server->pid_ > 0) {
    ::kill(server->pid_, SIGKILL);
    waitExited(server->pid_, std::chrono::seconds(2));
    server->pid_ = -1;
  }
  *error = "the embedded redis-server did not start; see its log in " + log_file;
  if (data_dir.empty()) server->dir_.clear();  // keep the log for inspection
  return nullptr;
}

EmbeddedServer::~EmbeddedServer() {
  if (pid_ > 0) {
    ::kill(pid_, SIGTERM);
    if (!waitExited(pid_, std::chrono::seconds(5))) {
      ::kill(pid_, SIGKILL);
      waitExited(pid_, std::chrono::seconds(2));
    }
  }
  if (!dir_.empty()) {
    std::error_code ec;
    std::filesystem::remove_all(dir_, ec);
  }
  if (lock_fd_ >= 0) ::close(lock_fd_);  // releases the data folder
}

}  // namespace tfproxy::backend
