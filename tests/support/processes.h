// Real processes for integration tests: a redis-server and the tfproxy binary, each on a free
// loopback port with its own temporary folder, stopped when the object goes away.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <memory>
#include <optional>
#include <string>
#include <vector>

namespace tfproxy::testing {

// A free loopback TCP port (bound and released; tests tolerate the tiny race).
uint16_t freePort();

// Waits until something accepts TCP connections on `port`.
// Whether nothing is bound to `port` on 127.0.0.1 now.
bool portIsFree(uint16_t port);
bool waitForPort(uint16_t port, std::chrono::milliseconds timeout);

class ChildProcess {
 public:
  ChildProcess() = default;
  ~ChildProcess();
  ChildProcess(const ChildProcess&) = delete;
  ChildProcess& operator=(const ChildProcess&) = delete;

  // Starts argv[0] (a path) with stdout and stderr appended to `log_file`.
  void spawn(const std::vector<std::string>& argv, const std::string& log_file,
             const std::vector<std::string>& extra_env = {});
  // Sends `signo` and waits for the exit; returns the exit status (-signal if killed).
  int stop(int signo, std::chrono::milliseconds timeout = std::chrono::seconds(10));
  // Waits for an exit that is already under way.
  int wait(std::chrono::milliseconds timeout);
  bool running();
  pid_t pid() const { return pid_; }

 private:
  pid_t pid_ = -1;
  int status_ = 0;
};

// Certificates for TLS tests, made once per test program with the openssl command: a CA, a
// server certificate for localhost and 127.0.0.1 and a client certificate signed by it, and a
// second CA that signed neither.
struct TestCertificates {
  std::string dir;
  std::string ca, ca_key;
  std::string server_cert, server_key;
  std::string client_cert, client_key;
  std::string other_ca;
  // Signs a new server certificate (subject CN=`cn`, for localhost and 127.0.0.1) by the CA and
  // writes it and its key to `cert` and `key`.
  void issueServer(const std::string& cn, const std::string& cert, const std::string& key) const;
};
const TestCertificates& testCertificates();

class RedisServer {
 public:
  // Starts redis-server on a free port (or `port` if non-zero) with `extra` arguments.
  explicit RedisServer(std::vector<std::string> extra = {}, uint16_t port = 0);
  // A TLS-only redis-server (plaintext port 0) with testCertificates()' server certificate;
  // `auth_clients` as Redis' tls-auth-clients.
  struct TlsOnly {
    std::string auth_clients = "yes";
  };
  RedisServer(TlsOnly tls, std::vector<std::string> extra = {});
  ~RedisServer();

  uint16_t port() const { return port_; }
  std::string address() const { return "127.0.0.1:" + std::to_string(port_); }
  // Kills it hard (SIGKILL) to simulate a crash; restart() brings it back on the same port.
  void kill();
  void restart();
  // Freezes it (SIGSTOP: alive, connections open, nothing answered) and thaws it (SIGCONT).
  void freeze();
  void thaw();

 private:
  void launch();
  uint16_t port_;
  std::vector<std::string> extra_;
  std::optional<TlsOnly> tls_;
  std::string dir_;
  ChildProcess process_;
};

// A Redis Cluster of `primaries` primaries, each with `replicas` replicas, made with
// `redis-cli --cluster create`; ready (cluster_state:ok on every node) once constructed.
class RedisCluster {
 public:
  // `tls`: every node also has a TLS port (testCertificates()' server certificate, clients not
  // asked for one), the cluster bus and replication run over TLS, and the nodes tell clients on
  // TLS connections their TLS ports; the plaintext ports stay for the tests' own checks.
  explicit RedisCluster(int primaries = 3, int replicas = 0, bool tls = false);
  // Every node, primaries first as created.
  std::vector<std::unique_ptr<RedisServer>>& nodes() { return nodes_; }
  std::string seed() const { return nodes_.front()->address(); }
  // The first node's TLS address (a cluster made with `tls`).
  std::string tlsSeed() const { return "127.0.0.1:" + std::to_string(tls_ports_.front()); }
  // The node id of `node` (CLUSTER MYID).
  std::string nodeId(size_t node) const;
  // Waits until every node reports cluster_state:ok and agrees on the slot map.
  void waitHealthy() const;

 private:
  std::vector<std::unique_ptr<RedisServer>> nodes_;
  std::vector<uint16_t> tls_ports_;
};

class Proxy {
 public:
  // How the proxy listens: plaintext on port() (the default), or TLS only on port() (--port 0
  // --tls-port; the TLS options come with the arguments).
  enum class Listen { kPlain, kTlsOnly };
  // Starts the tfproxy binary ($TFPROXY_BINARY) listening on a free port with `args`.
  // When `wait_ready` is set, returns once the port accepts connections.
  // Without --backend, --data-dir or --ephemeral in `args`, --ephemeral is added.
  explicit Proxy(std::vector<std::string> args, bool wait_ready = true,
                 std::vector<std::string> extra_env = {}, Listen listen = Listen::kPlain);
  ~Proxy();

  uint16_t port() const { return port_; }
  // Graceful stop with SIGTERM (or another signal); returns the exit status.
  int stop(int signo = 15);
  bool running() { return process_.running(); }
  // Everything the proxy has logged so far.
  std::string log() const;
  pid_t pid() const { return process_.pid(); }

 private:
  uint16_t port_;
  std::string dir_;
  ChildProcess process_;
  bool stopped_ = false;
};

// Path of the tfproxy binary under test.
std::string proxyBinary();
// Runs `argv` to completion (killed after `timeout`); returns its exit status, its standard
// output and error in `output`.
int runToExit(const std::vector<std::string>& argv, std::string* output,
              const std::vector<std::string>& extra_env = {},
              std::chrono::seconds timeout = std::chrono::seconds(90));
// Runs the tfproxy binary to completion (for --help, bad flags); returns exit status and output.
int runProxyToExit(const std::vector<std::string>& args, std::string* output,
                   const std::vector<std::string>& extra_env = {});

}  // namespace tfproxy::testing
