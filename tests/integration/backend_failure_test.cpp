// A dead backend never makes a client hang: errors come at once, and service resumes when the
// backend is back. Tested by killing and restarting a real redis-server.
#include <gtest/gtest.h>

#include <stdlib.h>

#include <filesystem>
#include <thread>

#include "tests/support/client.h"
#include "tests/support/processes.h"

namespace tfproxy::testing {
namespace {

using Clock = std::chrono::steady_clock;

// Retries PING on fresh connections until it answers PONG.
bool waitUntilServing(uint16_t port, std::chrono::seconds timeout) {
  auto deadline = Clock::now() + timeout;
  while (Clock::now() < deadline) {
    try {
      Client c(port, std::chrono::seconds(2));
      if (c.run({"PING"}) == "PONG") return true;
    } catch (const std::exception&) {
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  return false;
}

TEST(BackendFailureTest, UnreachableAtStartThenComesBack) {
  uint16_t backend_port = freePort();
  Proxy proxy({"--backend", "127.0.0.1:" + std::to_string(backend_port)});
  // Clients get an error reply at once, never a hang.
  {
    Client c(proxy.port(), std::chrono::seconds(3));
    auto start = Clock::now();
    resp::Value v = c.call({"PING"});
    EXPECT_TRUE(v.isError());
    EXPECT_NE(v.str.find("backend unavailable"), std::string::npos) << v.str;
    EXPECT_LT(Clock::now() - start, std::chrono::seconds(1));
    EXPECT_TRUE(c.call({"GET", "k"}).isError());
  }
  EXPECT_NE(proxy.log().find("unreachable"), std::string::npos) << proxy.log();
  // The backend appears: new clients work again.
  RedisServer redis({}, backend_port);
  EXPECT_TRUE(waitUntilServing(proxy.port(), std::chrono::seconds(15)));
  Client c(proxy.port());
  EXPECT_EQ(c.run({"SET", "back", "yes"}), "OK");
  EXPECT_NE(proxy.log().find("reachable again"), std::string::npos) << proxy.log();
}

TEST(BackendFailureTest, DiesMidTrafficThenComesBack) {
  RedisServer redis;
  Proxy proxy({"--backend", redis.address()});
  Client blocked(proxy.port());
  blocked.sendCommand({"BLPOP", "q", "0"});
  Client busy(proxy.port());
  busy.call({"SET", "k", "1"});
  std::this_thread::sleep_for(std::chrono::milliseconds(100));

  redis.kill();
  // The blocked client gets an error reply, then its connection closes.
  resp::Value v = blocked.read();
  EXPECT_TRUE(v.isError());
  EXPECT_NE(v.str.find("connection to the backend lost"), std::string::npos) << v.str;
  EXPECT_TRUE(blocked.closedByPeer());
  // An idle client learns on its next command: closed (state would be lost otherwise).
  bool failed = false;
  try {
    busy.sendCommand({"GET", "k"});
    failed = busy.closedByPeer() || busy.read().isError();
  } catch (const std::exception&) {
    failed = true;
  }
  EXPECT_TRUE(failed);
  // New clients meanwhile get errors, not hangs.
  {
    Client c(proxy.port(), std::chrono::seconds(5));
    EXPECT_TRUE(c.call({"PING"}).isError());
  }
  redis.restart();
  EXPECT_TRUE(waitUntilServing(proxy.port(), std::chrono::seconds(15)));
  EXPECT_TRUE(proxy.running());
}

TEST(BackendFailureTest, PipelineInFlightWhenTheBackendDies) {
  RedisServer redis;
  Proxy proxy({"--backend", redis.address()});
  Client c(proxy.port());
  // DEBUG SLEEP keeps a reply pending while the backend dies.
  c.sendCommand({"DEBUG", "SLEEP", "2"});
  c.sendCommand({"PING"});
  std::this_thread::sleep_for(std::chrono::milliseconds(200));
  redis.kill();
  EXPECT_TRUE(c.read().isError());
  EXPECT_TRUE(c.read().isError());
  EXPECT_TRUE(c.closedByPeer());
}

// A backend on a Unix socket: forwarding, functions and the proxy's own connections all use it,
// and a restarted backend is found again.
TEST(BackendFailureTest, UnixSocketBackend) {
  char dir[] = "/tmp/tfproxy-unix-XXXXXX";
  ASSERT_NE(::mkdtemp(dir), nullptr);
  const std::string path = std::string(dir) + "/redis.sock";
  RedisServer redis({"--unixsocket", path, "--unixsocketperm", "700"});
  Proxy proxy({"--backend", "unix:" + path});
  Client c(proxy.port());
  EXPECT_EQ(c.run({"SET", "k", "v"}), "OK");
  std::string info = c.call({"CLIENT", "INFO"}).str;
  EXPECT_NE(info.find("laddr=" + path), std::string::npos) << info;
  ASSERT_EQ(c.run({"TFUNCTION", "LOAD",
                   "#!js api_version=1.0 name=u\nredis.registerFunction('get', "
                   "function(client, k){ return client.call('get', k); });"}),
            "OK");
  EXPECT_EQ(c.run({"TFCALL", "u.get", "1", "k"}), "\"v\"");
  EXPECT_EQ(Client(redis.port()).run({"HEXISTS", "tfproxy:libraries", "u"}), "1");

  redis.kill();
  EXPECT_TRUE(Client(proxy.port(), std::chrono::seconds(3)).call({"PING"}).isError());
  redis.restart();
  EXPECT_TRUE(waitUntilServing(proxy.port(), std::chrono::seconds(15)));
  EXPECT_EQ(Client(proxy.port()).run({"TFCALL", "u.get", "1", "k"}), "(nil)");
  EXPECT_NE(proxy.log().find("unix:" + path), std::string::npos) << proxy.log();
  std::filesystem::remove_all(dir);
}

// A frozen backend (SIGSTOP: connections accepted, nothing answered) holds nobody forever.
// With --backend-timeout a forwarded command answers an error once the time is up and the
// connection is replaced; commands tfproxy answers itself wait at most for their bounded
// internal checks; blocking commands are never cut.
TEST(BackendFailureTest, FrozenBackendWithBackendTimeout) {
  RedisServer redis;
  Proxy proxy({"--backend", redis.address(), "--backend-timeout", "300"});
  Client setup(proxy.port());
  ASSERT_EQ(setup.run({"TFUNCTION", "LOAD",
                       "#!js api_version=1.0 name=local\nredis.registerFunction('f', () => 1);"}),
            "OK");
  {
    // A blocking command outlives the timeout.
    Client c(proxy.port());
    auto start = Clock::now();
    EXPECT_EQ(c.run({"BLPOP", "frozen:list", "1"}), "(nil)");
    EXPECT_GE(Clock::now() - start, std::chrono::milliseconds(900));
  }
  Client pinned(proxy.port());
  ASSERT_EQ(pinned.run({"SELECT", "1"}), "OK");
  redis.freeze();
  auto start = Clock::now();
  Client shared(proxy.port(), std::chrono::seconds(5));
  EXPECT_EQ(shared.run({"GET", "k"}), "(error) ERR tfproxy: backend timed out");
  EXPECT_EQ(pinned.run({"GET", "k"}), "(error) ERR tfproxy: backend timed out");
  auto took = Clock::now() - start;
  EXPECT_GE(took, std::chrono::milliseconds(250));
  EXPECT_LT(took, std::chrono::milliseconds(2500));
  Client own(proxy.port(), std::chrono::seconds(5));
  start = Clock::now();
  EXPECT_EQ(own.run({"TFCALL", "local.f", "0"}), "1");
  EXPECT_EQ(own.run({"CONFIG", "GET", "redisgears_2.lock-redis-timeout"}),
            "[\"redisgears_2.lock-redis-timeout\", \"500\"]");
  EXPECT_LT(Clock::now() - start, std::chrono::milliseconds(2500));
  redis.thaw();
  EXPECT_TRUE(waitUntilServing(proxy.port(), std::chrono::seconds(5)));
  EXPECT_EQ(Client(proxy.port()).run({"SET", "k", "v"}), "OK");
}

TEST(BackendFailureTest, FrozenBackendWithoutTimeoutStillAnswersOwnCommands) {
  RedisServer redis;
  Proxy proxy({"--backend", redis.address()});
  Client c(proxy.port(), std::chrono::seconds(10));
  ASSERT_EQ(c.run({"TFUNCTION", "LOAD",
                   "#!js api_version=1.0 name=local\nredis.registerFunction('f', () => 1);"}),
            "OK");
  redis.freeze();
  auto start = Clock::now();
  EXPECT_EQ(c.run({"TFCALL", "local.f", "0"}), "1");
  EXPECT_NE(c.run({"TFUNCTION", "LIST"}).find("local"), std::string::npos);
  EXPECT_LT(Clock::now() - start, std::chrono::milliseconds(6000));
  redis.thaw();
  EXPECT_TRUE(waitUntilServing(proxy.port(), std::chrono::seconds(5)));
}

}  // namespace
}  // namespace tfproxy::testing
