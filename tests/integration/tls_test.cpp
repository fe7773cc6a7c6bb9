// TLS on both sides: a TLS-only redis-server (client certificates required, as Redis does by
// default) behind a TLS-only tfproxy. Everything a client does over plaintext works the same:
// pipelines, pub/sub, blocking commands, functions (sync, async, callAsync), key space and
// stream triggers, large values; certificates rotate on SIGHUP; a backend whose certificate does
// not verify is never used; client certificates are enforced as --tls-auth-clients says.
#include <gtest/gtest.h>
#include <signal.h>

#include <filesystem>
#include <fstream>
#include <thread>

#include "tests/support/client.h"
#include "tests/support/eventually.h"
#include "tests/support/probes.h"
#include "tests/support/processes.h"

namespace tfproxy::testing {
namespace {

using namespace std::chrono_literals;

ClientTls withCertificate() {
  const TestCertificates& certs = testCertificates();
  return {certs.ca, certs.client_cert, certs.client_key};
}

// tfproxy's flags for TLS on both sides, its own certificate in `cert`/`key`.
std::vector<std::string> tlsFlags(const RedisServer& redis, const std::string& cert,
                                  const std::string& key, const std::string& backend_ca) {
  const TestCertificates& certs = testCertificates();
  return {"--backend",
          "rediss://127.0.0.1:" + std::to_string(redis.port()),
          "--backend-tls-ca-cert-file",
          backend_ca,
          "--backend-tls-cert-file",
          certs.client_cert,
          "--backend-tls-key-file",
          certs.client_key,
          "--tls-cert-file",
          cert,
          "--tls-key-file",
          key,
          "--tls-ca-cert-file",
          certs.ca,
          "--tls-handshake-timeout",
          "1000"};
}

class TlsTest : public ::testing::TestWithParam<const char*> {
 protected:
  // One TLS-only Redis for the suite; a TLS-only proxy per connection mode (--multiplex).
  static void SetUpTestSuite() { redis_ = new RedisServer(RedisServer::TlsOnly{}); }
  static void TearDownTestSuite() {
    delete proxy_;
    proxy_ = nullptr;
    delete redis_;
  }
  void SetUp() override {
    if (proxy_ == nullptr || mode_ != GetParam()) {
      delete proxy_;
      const TestCertificates& certs = testCertificates();
      std::vector<std::string> flags =
          tlsFlags(*redis_, certs.server_cert, certs.server_key, certs.ca);
      flags.insert(flags.end(), {"--multiplex", GetParam()});
      proxy_ = new Proxy(flags, true, {}, Proxy::Listen::kTlsOnly);
      mode_ = GetParam();
    }
    c_ = std::make_unique<Client>(proxy_->port(), withCertificate());
    deleteLibraries(*c_);
    c_->call({"FLUSHALL"});
  }
  static inline RedisServer* redis_ = nullptr;
  static inline Proxy* proxy_ = nullptr;
  static inline std::string mode_;
  std::unique_ptr<Client> c_;
};

TEST_P(TlsTest, PipelinedCommandsAnswerInOrder) {
  std::string batch;
  for (int i = 0; i < 2000; ++i) {
    const std::string key = "k" + std::to_string(i);
    batch += "*3\r\n$3\r\nSET\r\n$" + std::to_string(key.size()) + "\r\n" + key + "\r\n$" +
             std::to_string(std::to_string(i).size()) + "\r\n" + std::to_string(i) + "\r\n";
    batch += "*2\r\n$3\r\nGET\r\n$" + std::to_string(key.size()) + "\r\n" + key + "\r\n";
  }
  c_->send(batch);
  for (int i = 0; i < 2000; ++i) {
    ASSERT_EQ(resp::toDebugString(c_->read()), "OK");
    ASSERT_EQ(resp::toDebugString(c_->read()), "\"" + std::to_string(i) + "\"");
  }
}

TEST_P(TlsTest, TenMegabyteValueRoundTrips) {
  std::string value(10 * 1024 * 1024, 'x');
  for (size_t i = 0; i < value.size(); i += 4093) value[i] = static_cast<char>('a' + i % 26);
  EXPECT_EQ(c_->run({"SET", "big", value}), "OK");
  const resp::Value got = c_->call({"GET", "big"});
  EXPECT_EQ(got.str.size(), value.size());
  EXPECT_TRUE(got.str == value);
}

TEST_P(TlsTest, PubSubMessagesArrive) {
  Client sub(proxy_->port(), withCertificate());
  sub.sendCommand({"SUBSCRIBE", "news"});
  EXPECT_EQ(resp::toDebugString(sub.read()), "[\"subscribe\", \"news\", 1]");
  EXPECT_EQ(c_->run({"PUBLISH", "news", "hello"}), "1");
  EXPECT_EQ(resp::toDebugString(sub.read()), "[\"message\", \"news\", \"hello\"]");
}

TEST_P(TlsTest, BlockingCommandWaitsAndWakes) {
  Client waiter(proxy_->port(), withCertificate());
  waiter.sendCommand({"BLPOP", "queue", "10"});
  std::this_thread::sleep_for(100ms);
  EXPECT_FALSE(waiter.tryRead(50ms).has_value());
  EXPECT_EQ(c_->run({"LPUSH", "queue", "job"}), "1");
  EXPECT_EQ(resp::toDebugString(waiter.read()), "[\"queue\", \"job\"]");
}

TEST_P(TlsTest, FunctionsSyncAsyncAndTriggersRunOverTls) {
  const std::string code =
      "#!js api_version=1.0 name=lib\n"
      "redis.registerFunction('incr', (c, k) => c.call('incr', k));\n"
      "redis.registerAsyncFunction('later', async (c, k) => {\n"
      "  return await c.block((b) => b.call('incr', k));\n"
      "});\n"
      "redis.registerAsyncFunction('via_async', async (c, k) => {\n"
      "  return await c.block((b) => b.callAsync('incr', k));\n"
      "});\n"
      "redis.registerKeySpaceTrigger('seen', 'watched:', (c, d) => {\n"
      "  c.call('incr', 'events');\n"
      "});\n"
      "redis.registerStreamTrigger('log', 'stream:', (c, d) => {\n"
      "  c.call('incr', 'records');\n"
      "});\n";
  EXPECT_EQ(c_->run({"TFUNCTION", "LOAD", code}), "OK");
  EXPECT_EQ(c_->run({"TFCALL", "lib.incr", "1", "n"}), "1");
  EXPECT_EQ(c_->run({"TFCALLASYNC", "lib.later", "1", "n"}), "2");
  EXPECT_EQ(c_->run({"TFCALLASYNC", "lib.via_async", "1", "n"}), "3");
  // A write through tfproxy and one straight to Redis both fire the key space trigger: the
  // notification connection is a TLS connection too.
  EXPECT_EQ(c_->run({"SET", "watched:1", "a"}), "OK");
  EXPECT_EQ(c_->run({"GET", "events"}), "\"1\"");
  Client direct(redis_->port(), withCertificate());
  EXPECT_EQ(direct.run({"SET", "watched:2", "b"}), "OK");
  EXPECT_EQ(eventuallyEquals(
                [&] {
                  return c_->run({"GET", "events"});
                },
                std::string("\"2\"")),
            "\"2\"");
  EXPECT_EQ(c_->run({"XADD", "stream:1", "*", "f", "v"}).size() > 0, true);
  EXPECT_EQ(eventuallyEquals(
                [&] {
                  return c_->run({"GET", "records"});
                },
                std::string("\"1\"")),
            "\"1\"");
}

// A short function runs on the I/O thread once it showed itself short (no trigger loaded), and
// there it polls the TLS connection for Redis' replies: small ones, and one of a megabyte that
// arrives as many TLS records.
TEST_P(TlsTest, FunctionsOnTheIoThreadReadTheirRepliesOverTls) {
  EXPECT_EQ(c_->run({"TFUNCTION", "LOAD",
                     "#!js api_version=1.0 name=io\n"
                     "redis.registerFunction('get', (c, k) => c.call('get', k));\n"
                     "redis.registerFunction('rw', (c, k) => {\n"
                     "  c.call('set', k, 'x');\n"
                     "  return c.call('incr', k + ':n');\n"
                     "});\n"}),
            "OK");
  const std::string big(1 << 20, 'b');
  EXPECT_EQ(c_->run({"SET", "big", big}), "OK");
  EXPECT_EQ(c_->run({"SET", "small", "s"}), "OK");
  bool on_io_thread = false;
  for (int i = 0; i < 50 && !on_io_thread; ++i) {
    const uint64_t before = ioThreadCalls(*c_);
    EXPECT_EQ(c_->run({"TFCALL", "io.get", "1", "small"}), "\"s\"");
    on_io_thread = ioThreadCalls(*c_) > before;
    if (!on_io_thread) std::this_thread::sleep_for(20ms);
  }
  ASSERT_TRUE(on_io_thread);
  const uint64_t before = ioThreadCalls(*c_);
  for (int i = 0; i < 20; ++i) {
    EXPECT_EQ(c_->run({"TFCALL", "io.get", "1", "small"}), "\"s\"");
    EXPECT_EQ(c_->run({"TFCALL", "io.rw", "1", "k"}), std::to_string(i + 1));
  }
  EXPECT_EQ(c_->call({"TFCALL", "io.get", "1", "big"}).str, big);
  // Most run there. Only "some" is asserted: on a loaded machine a preempted run can pass 10 ms
  // and send the function to the script threads for 10 s (io_thread_runs_test, BoundedSoak).
  EXPECT_GT(ioThreadCalls(*c_), before);
}

TEST_P(TlsTest, TransactionsAndStatefulCommandsWork) {
  EXPECT_EQ(c_->run({"WATCH", "w"}), "OK");
  EXPECT_EQ(c_->run({"MULTI"}), "OK");
  EXPECT_EQ(c_->run({"SET", "w", "1"}), "QUEUED");
  EXPECT_EQ(c_->run({"EXEC"}), "[OK]");
  EXPECT_EQ(c_->run({"SELECT", "1"}), "OK");
  EXPECT_EQ(c_->run({"SET", "in1", "x"}), "OK");
  EXPECT_EQ(c_->run({"SELECT", "0"}), "OK");
  EXPECT_EQ(c_->run({"EXISTS", "in1"}), "0");
}

INSTANTIATE_TEST_SUITE_P(Modes, TlsTest, ::testing::Values("yes", "no"));

// Client certificates, handshakes, rotation and verification: each test its own proxy.
class TlsEdgeTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() { redis_ = new RedisServer(RedisServer::TlsOnly{}); }
  static void TearDownTestSuite() { delete redis_; }
  static inline RedisServer* redis_ = nullptr;
};

TEST_F(TlsEdgeTest, ClientCertificatesAsTlsAuthClientsSays) {
  const TestCertificates& certs = testCertificates();
  const ClientTls no_certificate{certs.ca, "", ""};
  {
    Proxy proxy(tlsFlags(*redis_, certs.server_cert, certs.server_key, certs.ca), true, {},
                Proxy::Listen::kTlsOnly);
    EXPECT_THROW(Client(proxy.port(), no_certificate), std::runtime_error);
    EXPECT_EQ(Client(proxy.port(), withCertificate()).run({"PING"}), "PONG");
    // A refused handshake is the client's problem: the proxy serves on.
    EXPECT_EQ(Client(proxy.port(), withCertificate()).run({"SET", "a", "1"}), "OK");
  }
  for (const char* mode : {"no", "optional"}) {
    std::vector<std::string> flags =
        tlsFlags(*redis_, certs.server_cert, certs.server_key, certs.ca);
    flags.insert(flags.end(), {"--tls-auth-clients", mode});
    Proxy proxy(flags, true, {}, Proxy::Listen::kTlsOnly);
    EXPECT_EQ(Client(proxy.port(), no_certificate).run({"PING"}), "PONG") << mode;
    EXPECT_EQ(Client(proxy.port(), withCertificate()).run({"PING"}), "PONG") << mode;
  }
}

TEST_F(TlsEdgeTest, PlaintextAndTlsListenersSideBySide) {
  const TestCertificates& certs = testCertificates();
  const uint16_t tls_port = freePort();
  std::vector<std::string> flags = tlsFlags(*redis_, certs.server_cert, certs.server_key, certs.ca);
  flags.insert(flags.end(), {"--tls-port", std::to_string(tls_port)});
  Proxy proxy(flags);
  ASSERT_TRUE(waitForPort(tls_port, 10s));
  Client plain(proxy.port());
  Client secure(tls_port, withCertificate());
  EXPECT_EQ(plain.run({"SET", "both", "1"}), "OK");
  EXPECT_EQ(secure.run({"GET", "both"}), "\"1\"");
  // A plaintext client on the TLS port gets nothing it could misread, and is dropped.
  Client confused(tls_port);
  confused.sendCommand({"PING"});
  EXPECT_TRUE(confused.closedByPeer(5s));
}

TEST_F(TlsEdgeTest, StalledHandshakeIsDropped) {
  const TestCertificates& certs = testCertificates();
  Proxy proxy(tlsFlags(*redis_, certs.server_cert, certs.server_key, certs.ca), true, {},
              Proxy::Listen::kTlsOnly);
  Client silent(proxy.port());  // TCP only: never starts the handshake
  const auto start = std::chrono::steady_clock::now();
  EXPECT_TRUE(silent.closedByPeer(10s));
  EXPECT_LT(std::chrono::steady_clock::now() - start, 5s);  // --tls-handshake-timeout 1000
  EXPECT_EQ(Client(proxy.port(), withCertificate()).run({"PING"}), "PONG");
}

TEST_F(TlsEdgeTest, CertificatesRotateOnSighupWithoutDroppingConnections) {
  const TestCertificates& certs = testCertificates();
  const std::string dir = certs.dir + "/rotation";
  std::filesystem::create_directories(dir);
  const std::string cert = dir + "/server.crt";
  const std::string key = dir + "/server.key";
  certs.issueServer("first", cert, key);
  Proxy proxy(tlsFlags(*redis_, cert, key, certs.ca), true, {}, Proxy::Listen::kTlsOnly);
  Client before(proxy.port(), withCertificate());
  EXPECT_NE(before.peerSubject().find("CN=first"), std::string::npos) << before.peerSubject();
  EXPECT_EQ(before.run({"SET", "r", "1"}), "OK");

  certs.issueServer("second", cert, key);
  ::kill(proxy.pid(), SIGHUP);
  EXPECT_TRUE(eventually([&] { return proxy.log().find("reloaded") != std::string::npos; }));
  Client after(proxy.port(), withCertificate());
  EXPECT_NE(after.peerSubject().find("CN=second"), std::string::npos) << after.peerSubject();
  // The connection made before the rotation goes on with its own session.
  EXPECT_EQ(before.run({"GET", "r"}), "\"1\"");
  EXPECT_EQ(after.run({"GET", "r"}), "\"1\"");

  // A broken file on the next SIGHUP keeps the certificate in use.
  std::ofstream(key) << "not a key";
  ::kill(proxy.pid(), SIGHUP);
  EXPECT_TRUE(eventually([&] { return proxy.log().find("not reloaded") != std::string::npos; }));
  EXPECT_NE(Client(proxy.port(), withCertificate()).peerSubject().find("CN=second"),
            std::string::npos);
}

TEST_F(TlsEdgeTest, BackendWithUnverifiableCertificateIsNeverUsed) {
  const TestCertificates& certs = testCertificates();
  // The backend's certificate is signed by a CA the proxy is not told to trust.
  Proxy proxy(tlsFlags(*redis_, certs.server_cert, certs.server_key, certs.other_ca), true, {},
              Proxy::Listen::kTlsOnly);
  Client c(proxy.port(), withCertificate());
  const std::string reply = c.run({"SET", "never", "1"});
  EXPECT_EQ(reply.rfind("(error) ERR tfproxy: backend unavailable: ", 0), 0u) << reply;
  EXPECT_NE(reply.find("certificate verify failed"), std::string::npos) << reply;
  EXPECT_NE(proxy.log().find("certificate verify failed"), std::string::npos);
  EXPECT_EQ(Client(redis_->port(), withCertificate()).run({"EXISTS", "never"}), "0");
}

TEST_F(TlsEdgeTest, BackendNameMustMatchItsCertificate) {
  const TestCertificates& certs = testCertificates();
  std::vector<std::string> flags = tlsFlags(*redis_, certs.server_cert, certs.server_key, certs.ca);
  flags.insert(flags.end(), {"--backend-tls-server-name", "redis.example.com"});
  Proxy wrong_name(flags, true, {}, Proxy::Listen::kTlsOnly);
  const std::string reply = Client(wrong_name.port(), withCertificate()).run({"PING"});
  EXPECT_NE(reply.find("certificate verify failed"), std::string::npos) << reply;

  // The certificate names localhost: a backend reached as localhost verifies.
  flags = tlsFlags(*redis_, certs.server_cert, certs.server_key, certs.ca);
  flags[1] = "rediss://localhost:" + std::to_string(redis_->port());
  Proxy by_name(flags, true, {}, Proxy::Listen::kTlsOnly);
  EXPECT_EQ(Client(by_name.port(), withCertificate()).run({"PING"}), "PONG");
}

// The suite's bounded soak (bench/tls_soak.py runs it for minutes): clients that leave in every
// state -- mid-handshake, after a reply, with replies owed -- leave no descriptor, and memory
// stays flat across reloads.
TEST_F(TlsEdgeTest, BoundedSoakLeavesNoDescriptorsOrMemoryBehind) {
  const TestCertificates& certs = testCertificates();
  Proxy proxy(tlsFlags(*redis_, certs.server_cert, certs.server_key, certs.ca), true, {},
              Proxy::Listen::kTlsOnly);
  auto churn = [&](int rounds) {
    for (int i = 0; i < rounds; ++i) {
      switch (i % 4) {
        case 0: {
          Client c(proxy.port(), withCertificate());
          ASSERT_EQ(c.run({"SET", "soak", std::to_string(i)}), "OK");
          break;
        }
        case 1: {
          Client c(proxy.port(), withCertificate());
          std::string batch;
          for (int j = 0; j < 50; ++j) batch += "*2\r\n$3\r\nGET\r\n$4\r\nsoak\r\n";
          c.send(batch);  // leaves with replies owed
          break;
        }
        case 2: {
          Client half(proxy.port());  // leaves before its handshake
          half.send(std::string("\x16\x03\x01\x00\x10", 5));
          break;
        }
        default: {
          Client c(proxy.port(), withCertificate());
          c.sendCommand({"BLPOP", "never", "0"});  // leaves while blocked
          break;
        }
      }
    }
  };
  churn(200);  // warm up: pools, the allocator, OpenSSL's tables
  ASSERT_TRUE(
      eventually([&] { return Client(proxy.port(), withCertificate()).run({"PING"}) == "PONG"; }));
  std::this_thread::sleep_for(500ms);
  const int fds_before = openFds(proxy.pid());
  const int64_t rss_before = rssKb(proxy.pid());
  for (int reload = 0; reload < 4; ++reload) {
    churn(200);
    ::kill(proxy.pid(), SIGHUP);
  }
  // No growth (a connection of the warm-up may still have been closing when counted).
  EXPECT_TRUE(eventually([&] { return openFds(proxy.pid()) <= fds_before; }))
      << openFds(proxy.pid()) << " descriptors, " << fds_before << " before";
  if (!kSanitized) {
    const int64_t grown = rssKb(proxy.pid()) - rss_before;
    EXPECT_LT(grown, 8 * 1024) << "kB after 800 TLS clients and 4 reloads";
  }
  EXPECT_EQ(Client(proxy.port(), withCertificate()).run({"GET", "soak"}).size() > 0, true);
}

TEST_F(TlsEdgeTest, BadTlsSettingsStopTfproxyWithAClearError) {
  const TestCertificates& certs = testCertificates();
  std::string out;
  EXPECT_EQ(runProxyToExit({"--port", "0"}, &out), 2);
  EXPECT_NE(out.find("--port 0 turns the plaintext listener off"), std::string::npos) << out;
  EXPECT_EQ(runProxyToExit({"--tls-port", "1", "--tls-cert-file", certs.server_cert,
                            "--tls-key-file", certs.server_key},
                           &out),
            2);
  EXPECT_NE(out.find("needs --tls-ca-cert-file"), std::string::npos) << out;
  EXPECT_EQ(
      runProxyToExit({"--backend", "127.0.0.1:1", "--backend-tls-insecure", "--port", "1"}, &out),
      2);
  EXPECT_NE(out.find("need TLS towards the backend"), std::string::npos) << out;
  EXPECT_EQ(runProxyToExit({"--backend", "rediss://127.0.0.1:1", "--backend-tls-ca-cert-file",
                            "/nonexistent/ca.crt", "--port", std::to_string(freePort())},
                           &out),
            1);
  EXPECT_NE(out.find("cannot load CA certificates from /nonexistent/ca.crt"), std::string::npos)
      << out;
}

}  // namespace
}  // namespace tfproxy::testing
