#include "tests/support/processes.h"

#include "tests/support/client.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <stdexcept>
#include <thread>

namespace tfproxy::testing {

using Clock = std::chrono::steady_clock;

namespace {

std::string makeTempDir() {
  char tmpl[] = "/tmp/tfproxy-test-XXXXXX";
  if (::mkdtemp(tmpl) == nullptr) throw std::runtime_error("mkdtemp failed");
  return tmpl;
}

}  // namespace

uint16_t freePort() {
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof addr;
  ::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr);
  ::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len);
  ::close(fd);
  return ntohs(addr.sin_port);
}

bool portIsFree(uint16_t port) {
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = htons(port);
  const bool free = ::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0;
  ::close(fd);
  return free;
}

bool waitForPort(uint16_t port, std::chrono::milliseconds timeout) {
  auto deadline = Clock::now() + timeout;
  while (Clock::now() < deadline) {
    int fd = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    addr.sin_port = htons(port);
    bool ok = ::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0;
    ::close(fd);
    if (ok) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  return false;
}

ChildProcess::~ChildProcess() {
  if (pid_ > 0) stop(SIGKILL, std::chrono::seconds(5));
}

void ChildProcess::spawn(const std::vector<std::string>& argv, const std::string& log_file,
                         const std::vector<std::string>& extra_env) {
  pid_t pid = ::fork();
  if (pid < 0) throw std::runtime_error("fork failed");
  if (pid == 0) {
    ::prctl(PR_SET_PDEATHSIG, SIGKILL);
    int fd = ::open(log_file.c_str(), O_WRONLY | O_CREAT | O_APPEND, 0644);
    if (fd >= 0) {
      ::dup2(fd, 1);
      ::dup2(fd, 2);
      ::close(fd);
    }
    for (const std::string& e : extra_env) ::putenv(const_cast<char*>(e.c_str()));
    std::vector<char*> args;
    for (const std::string& a : argv) args.push_back(const_cast<char*>(a.c_str()));
    args.push_back(nullptr);
    ::execvp(args[0], args.data());
    ::_exit(127);
  }
  pid_ = pid;
}

bool ChildProcess::running() {
  if (pid_ <= 0) return false;
  int status = 0;
  pid_t r = ::waitpid(pid_, &status, WNOHANG);
  if (r == pid_) {
    status_ = status;
    pid_ = -1;
    return false;
  }
  return true;
}

int ChildProcess::wait(std::chrono::milliseconds timeout) {
  auto deadline = Clock::now() + timeout;
  while (pid_ > 0 && Clock::now() < deadline) {
    if (!running()) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  if (pid_ > 0) {
    ::kill(pid_, SIGKILL);
    ::waitpid(pid_, &status_, 0);
    pid_ = -1;
    return -SIGKILL;
  }
  if (WIFEXITED(status_)) return WEXITSTATUS(status_);
  if (WIFSIGNALED(status_)) return -WTERMSIG(status_);
  return -1;
}

int ChildProcess::stop(int signo, std::chrono::milliseconds timeout) {
  if (pid_ <= 0) return WIFEXITED(status_) ? WEXITSTATUS(status_) : -1;
  ::kill(pid_, signo);
  return wait(timeout);
}

RedisServer::RedisServer(std::vector<std::string> extra, uint16_t port)
    : port_(port == 0 ? freePort() : port), extra_(std::move(extra)), dir_(makeTempDir()) {
  launch();
}

RedisServer::RedisServer(TlsOnly tls, std::vector<std::string> extra)
    : port_(freePort()), extra_(std::move(extra)), tls_(std::move(tls)), dir_(makeTempDir()) {
  launch();
}

namespace {

void run(const std::string& command) {
  if (std::system((command + " >/dev/null 2>&1").c_str()) != 0) {
    throw std::runtime_error("failed: " + command);
  }
}

}  // namespace

void TestCertificates::issueServer(const std::string& cn, const std::string& cert,
                                   const std::string& key) const {
  const std::string csr = cert + ".csr";
  run("openssl req -newkey rsa:2048 -nodes -keyout " + key + " -out " + csr + " -subj /CN=" + cn);
  run("openssl x509 -req -in " + csr + " -CA " + ca + " -CAkey " + ca_key +
      " -CAcreateserial -days 3650 -out " + cert + " -extfile " + dir + "/san.cnf");
}

const TestCertificates& testCertificates() {
  static const TestCertificates certs = [] {
    TestCertificates c;
    c.dir = makeTempDir();
    c.ca = c.dir + "/ca.crt";
    c.ca_key = c.dir + "/ca.key";
    c.server_cert = c.dir + "/server.crt";
    c.server_key = c.dir + "/server.key";
    c.client_cert = c.dir + "/client.crt";
    c.client_key = c.dir + "/client.key";
    c.other_ca = c.dir + "/other-ca.crt";
    std::ofstream(c.dir + "/san.cnf") << "subjectAltName=DNS:localhost,IP:127.0.0.1\n";
    run("openssl req -x509 -newkey rsa:2048 -nodes -days 3650 -subj /CN=tfproxy-test-ca -keyout " +
        c.ca_key + " -out " + c.ca);
    run("openssl req -x509 -newkey rsa:2048 -nodes -days 3650 -subj /CN=other-ca -keyout " + c.dir +
        "/other-ca.key -out " + c.other_ca);
    c.issueServer("localhost", c.server_cert, c.server_key);
    const std::string csr = c.dir + "/client.csr";
    run("openssl req -newkey rsa:2048 -nodes -subj /CN=client -keyout " + c.client_key + " -out " +
        csr);
    run("openssl x509 -req -in " + csr + " -CA " + c.ca + " -CAkey " + c.ca_key +
        " -CAcreateserial -days 3650 -out " + c.client_cert);
    return c;
  }();
  return certs;
}

RedisServer::~RedisServer() {
  process_.stop(SIGKILL);
  std::error_code ec;
  std::filesystem::remove_all(dir_, ec);
}

void RedisServer::launch() {
  std::vector<std::string> argv = {"redis-server",
                                   "--port",
                                   tls_ ? "0" : std::to_string(port_),
                                   "--bind",
                                   "127.0.0.1",
                                   "--save",
                                   "",
                                   "--appendonly",
                                   "no",
                                   "--dir",
                                   dir_,
                                   "--enable-debug-command",
                                   "yes"};
  if (tls_) {
    const TestCertificates& certs = testCertificates();
    argv.insert(argv.end(),
                {"--tls-port", std::to_string(port_), "--tls-cert-file", certs.server_cert,
                 "--tls-key-file", certs.server_key, "--tls-ca-cert-file", certs.ca,
                 "--tls-auth-clients", tls_->auth_clients});
  }
  argv.insert(argv.end(), extra_.begin(), extra_.end());
  process_.spawn(argv, dir_ + "/redis.log");
  if (!waitForPort(port_, std::chrono::seconds(10))) {
    throw std::runtime_error("redis-server did not start on port " + std::to_string(port_));
  }
}

void RedisServer::freeze() { ::kill(process_.pid(), SIGSTOP); }

void RedisServer::thaw() { ::kill(process_.pid(), SIGCONT); }

void RedisServer::kill() { process_.stop(SIGKILL); }

void RedisServer::restart() {
  process_.stop(SIGKILL);
  launch();
}

std::string proxyBinary() {
  const char* path = std::getenv("TFPROXY_BINARY");
  return path != nullptr ? path : "tfproxy";
}

Proxy::Proxy(std::vector<std::string> args, bool wait_ready, std::vector<std::string> extra_env,
             Listen listen)
    : port_(freePort()), dir_(makeTempDir()) {
  const std::string port = std::to_string(port_);
  std::vector<std::string> argv =
      listen == Listen::kTlsOnly
          ? std::vector<std::string>{proxyBinary(), "--port", "0", "--tls-port", port}
          : std::vector<std::string>{proxyBinary(), "--port", port};
  // The embedded default keeps its data in the user's data folder: tests that start one (no
  // --backend) get a throw-away one unless they name a folder (or a config file may).
  auto given = [&](std::string_view flag) {
    for (const std::string& a : args) {
      if (a == flag || a.rfind(std::string(flag) + "=", 0) == 0) return true;
    }
    for (const std::string& e : extra_env) {
      if (e.rfind("TFPROXY_BACKEND=", 0) == 0 && flag == "--backend") return true;
    }
    return false;
  };
  if (!given("--backend") && !given("--data-dir") && !given("--ephemeral") && !given("--config")) {
    argv.emplace_back("--ephemeral");  // before the arguments: they may end in module pairs
  }
  argv.insert(argv.end(), args.begin(), args.end());
  process_.spawn(argv, dir_ + "/tfproxy.log", extra_env);
  if (wait_ready && !waitForPort(port_, std::chrono::seconds(20))) {
    throw std::runtime_error("tfproxy did not start; log:\n" + log());
  }
}

Proxy::~Proxy() {
  // A proxy that died on its own (a crash, a violated invariant) fails the test that ran it,
  // even when the test did not notice.
  const bool died = !stopped_ && !process_.running();
  if (!stopped_) process_.stop(SIGKILL);
  // A sanitizer build reports memory errors, undefined behaviour and data races in the log;
  // each fails the test that ran this proxy, even where the proxy went on serving.
  const std::string text = log();
  if (died || text.find("ERROR: AddressSanitizer") != std::string::npos ||
      text.find("ERROR: LeakSanitizer") != std::string::npos ||
      text.find("WARNING: ThreadSanitizer") != std::string::npos ||
      text.find("runtime error:") != std::string::npos ||
      text.find("invariant violated") != std::string::npos) {
    ADD_FAILURE() << "tfproxy " << (died ? "died" : "reported an error") << "; its log:\n" << text;
  }
  std::error_code ec;
  std::filesystem::remove_all(dir_, ec);
}

int Proxy::stop(int signo) {
  stopped_ = true;
  return process_.stop(signo, std::chrono::seconds(20));
}

std::string Proxy::log() const {
  std::ifstream in(dir_ + "/tfproxy.log");
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

int runProxyToExit(const std::vector<std::string>& args, std::string* output,
                   const std::vector<std::string>& extra_env) {
  std::vector<std::string> argv = {proxyBinary()};
  argv.insert(argv.end(), args.begin(), args.end());
  return runToExit(argv, output, extra_env, std::chrono::seconds(20));
}

int runToExit(const std::vector<std::string>& argv, std::string* output,
              const std::vector<std::string>& extra_env, std::chrono::seconds timeout) {
  std::string dir = makeTempDir();
  ChildProcess child;
  child.spawn(argv, dir + "/out.log", extra_env);
  int status = child.wait(timeout);
  std::ifstream in(dir + "/out.log");
  std::stringstream ss;
  ss << in.rdbuf();
  *output = ss.str();
  std::error_code ec;
  std::filesystem::remove_all(dir, ec);
  return status;
}

RedisCluster::RedisCluster(int primaries, int replicas, bool tls) {
  const int total = primaries * (1 + replicas);
  const TestCertificates* certs = tls ? &testCertificates() : nullptr;
  std::string create = "redis-cli --cluster create";
  if (tls) create = "redis-cli --tls --cacert " + certs->ca + " --cluster create";
  // The cluster bus listens on port + 10000: both must be free and below 65536.
  auto busablePort = [] {
    uint16_t port = freePort();
    while (port > 55535 || !portIsFree(static_cast<uint16_t>(port + 10000))) port = freePort();
    return port;
  };
  for (int i = 0; i < total; ++i) {
    // A port another test program takes between being found free and being bound makes the
    // node fail to start: it starts again on other ports.
    for (int attempt = 1;; ++attempt) {
      const uint16_t port = busablePort();
      std::vector<std::string> args = {"--cluster-enabled", "yes", "--cluster-config-file",
                                       "nodes.conf", "--cluster-node-timeout", "1000",
                                       // A replica may always take over (tests kill primaries).
                                       "--cluster-replica-validity-factor", "0"};
      uint16_t tls_port = 0;
      if (tls) {
        tls_port = busablePort();
        while (tls_port == port) tls_port = busablePort();
        args.insert(args.end(), {"--tls-port", std::to_string(tls_port), "--tls-cluster", "yes",
                                 "--tls-replication", "yes", "--tls-cert-file", certs->server_cert,
                                 "--tls-key-file", certs->server_key, "--tls-ca-cert-file",
                                 certs->ca, "--tls-auth-clients", "no"});
      }
      try {
        nodes_.push_back(std::make_unique<RedisServer>(std::move(args), port));
      } catch (const std::exception&) {
        if (attempt == 3) throw;
        continue;
      }
      if (tls) tls_ports_.push_back(tls_port);
      create += tls ? " 127.0.0.1:" + std::to_string(tls_port) : " " + nodes_.back()->address();
      break;
    }
  }
  create += " --cluster-replicas " + std::to_string(replicas) + " --cluster-yes";
  run(create);
  waitHealthy();
}

std::string RedisCluster::nodeId(size_t node) const {
  Client c(nodes_[node]->port());
  return c.call({"CLUSTER", "MYID"}).str;
}

void RedisCluster::waitHealthy() const {
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(30);
  while (std::chrono::steady_clock::now() < deadline) {
    bool ok = true;
    std::string first_slots;
    for (const auto& node : nodes_) {
      Client c(node->port());
      if (c.call({"CLUSTER", "INFO"}).str.find("cluster_state:ok") == std::string::npos) {
        ok = false;
        break;
      }
      // Every node agrees on the owners (CLUSTER SLOTS lists replicas in no fixed order, so
      // compare the ranges and primaries only).
      std::string slots;
      for (const resp::Value& range : c.call({"CLUSTER", "SLOTS"}).elements) {
        slots += std::to_string(range.elements[0].integer) + "-" +
                 std::to_string(range.elements[1].integer) + "@" +
                 std::to_string(range.elements[2].elements[1].integer) + ",";
      }
      std::vector<std::string> sorted;
      std::stringstream split(slots);
      for (std::string item; std::getline(split, item, ',');) sorted.push_back(item);
      std::sort(sorted.begin(), sorted.end());
      slots.clear();
      for (const auto& item : sorted) slots += item + ",";
      if (first_slots.empty()) first_slots = slots;
      if (slots != first_slots) {
        ok = false;
        break;
      }
    }
    if (ok) return;
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  // What each node thinks, for the failure's message.
  std::string views;
  for (const auto& node : nodes_) {
    Client c(node->port());
    views += "\n-- node " + std::to_string(node->port()) + ":\n" +
             c.call({"CLUSTER", "INFO"}).str.substr(0, 40) + "\n" +
             c.call({"CLUSTER", "NODES"}).str;
  }
  throw std::runtime_error("the cluster did not become healthy within 30 s" + views);
}

}  // namespace tfproxy::testing
