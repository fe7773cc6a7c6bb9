// Bad input gets a Redis-style error, only the offending client is closed, and nothing can make
// the proxy hold unbounded memory.
#include <gtest/gtest.h>

#include <random>
#include <thread>

#include "tests/support/client.h"
#include "tests/support/probes.h"
#include "tests/support/processes.h"

namespace tfproxy::testing {
namespace {

class RobustnessTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    redis_ = new RedisServer();
    proxy_ = new Proxy({"--backend", redis_->address(), "--proto-max-bulk-len", "1mb",
                        "--client-query-buffer-limit", "4mb"});
  }
  static void TearDownTestSuite() {
    delete proxy_;
    delete redis_;
  }
  static RedisServer* redis_;
  static Proxy* proxy_;
};
RedisServer* RobustnessTest::redis_ = nullptr;
Proxy* RobustnessTest::proxy_ = nullptr;

TEST_F(RobustnessTest, MalformedRequestGetsProtocolErrorAndOnlyThatClientCloses) {
  Client bystander(proxy_->port());
  bystander.call({"SET", "safe", "1"});
  Client bad(proxy_->port());
  bad.send("*2\r\n$3\r\nGET\r\n?4\r\nsafe\r\n");
  EXPECT_EQ(resp::toDebugString(bad.read()), "(error) ERR Protocol error: expected '$', got '?'");
  EXPECT_TRUE(bad.closedByPeer());
  EXPECT_EQ(bystander.run({"GET", "safe"}), "\"1\"");
}

TEST_F(RobustnessTest, ProtocolErrorTexts) {
  const std::vector<std::pair<std::string, std::string>> cases = {
      {"*1\r\n$-5\r\n", "ERR Protocol error: invalid bulk length"},
      {"*abc\r\n", "ERR Protocol error: invalid multibulk length"},
      {"SET k \"open\r\n", "ERR Protocol error: unbalanced quotes in request"},
      {"*1\r\n$2000000\r\n", "ERR Protocol error: invalid bulk length"},  // > proto-max-bulk-len
  };
  for (const auto& [input, error] : cases) {
    Client c(proxy_->port());
    c.send(input);
    resp::Value v = c.read();
    EXPECT_TRUE(v.isError()) << input;
    EXPECT_EQ(v.str, error) << input;
    EXPECT_TRUE(c.closedByPeer()) << input;
  }
}

TEST_F(RobustnessTest, EndlessGarbageIsCutOff) {
  Client c(proxy_->port());
  std::string garbage(128 * 1024, 'g');  // no line ending
  c.send(garbage);
  resp::Value v = c.read();
  EXPECT_EQ(v.str, "ERR Protocol error: too big inline request");
  EXPECT_TRUE(c.closedByPeer());
}

TEST_F(RobustnessTest, QueryBufferLimitClosesTheClient) {
  // A multibulk with a million small arguments never completes within the 4 MB limit.
  Client c(proxy_->port());
  std::string header = "*1000000\r\n";
  c.send(header);
  std::string arg = "$1\r\nx\r\n";
  std::string chunk;
  for (int i = 0; i < 100000; ++i) chunk += arg;  // 700 KB
  bool closed = false;
  try {
    for (int i = 0; i < 20 && !closed; ++i) {
      c.send(chunk);
      closed = c.closedByPeer(std::chrono::milliseconds(10));
    }
  } catch (const std::exception&) {
    closed = true;  // the proxy closed while we were still sending
  }
  EXPECT_TRUE(closed || c.closedByPeer());
  EXPECT_EQ(Client(proxy_->port()).run({"PING"}), "PONG");
}

TEST_F(RobustnessTest, HugeAnnouncedLengthsDoNotAllocate) {
  int64_t before = rssKb(proxy_->pid());
  std::vector<std::unique_ptr<Client>> clients;
  for (int i = 0; i < 50; ++i) {
    clients.push_back(std::make_unique<Client>(proxy_->port()));
    clients.back()->send("*2\r\n$3\r\nSET\r\n$1000000\r\nabc");  // 1 MB announced, 3 bytes sent
  }
  std::this_thread::sleep_for(std::chrono::milliseconds(200));
  int64_t after = rssKb(proxy_->pid());
  EXPECT_LT(after - before, 20 * 1024) << "RSS grew from " << before << " to " << after << " kB";
  EXPECT_EQ(Client(proxy_->port()).run({"PING"}), "PONG");
}

TEST_F(RobustnessTest, RandomBytesNeverCrashTheProxy) {
  std::mt19937 rng(42);
  for (int i = 0; i < 300; ++i) {
    Client c(proxy_->port());
    std::string junk(std::uniform_int_distribution<int>(1, 300)(rng), '\0');
    for (char& ch : junk) {
      // Biased towards RESP punctuation so the parser goes deep.
      static const char kAlphabet[] = "*$\r\n0123456789-+:PINGSETx \"'\\";
      ch = std::uniform_int_distribution<int>(0, 3)(rng) == 0
               ? static_cast<char>(rng())
               : kAlphabet[std::uniform_int_distribution<size_t>(0, sizeof kAlphabet - 2)(rng)];
    }
    c.send(junk);
    c.closedByPeer(std::chrono::milliseconds(5));
  }
  EXPECT_TRUE(proxy_->running());
  EXPECT_EQ(Client(proxy_->port()).run({"PING"}), "PONG");
}

// A client that leaves releases everything at once, whatever it was doing: waiting for a reply
// that never comes, after a protocol error, in the middle of a request.
TEST_F(RobustnessTest, ClientsThatLeaveReleaseTheirDescriptorsAndBackendConnections) {
  Client(proxy_->port()).run({"PING"});
  std::this_thread::sleep_for(std::chrono::milliseconds(100));
  const int fds_before = openFds(proxy_->pid());
  const int backend_before = connectedClients(redis_->port());
  for (int round = 0; round < 20; ++round) {
    {
      // A reply owed that never comes, then a malformed request, then gone.
      Client c(proxy_->port());
      c.sendCommand({"BLPOP", "robustness:nokey", "0"});
      std::this_thread::sleep_for(std::chrono::milliseconds(5));
      c.send("*1\r\n?x\r\n");
    }
    {
      // The same without authentication or any command: a NUL line, then an unbalanced quote.
      Client c(proxy_->port());
      c.send(std::string("\x11\x00\n'\n", 5));
    }
    {
      // Half a request.
      Client c(proxy_->port());
      c.send("*3\r\n$3\r\nSET\r\n$1\r\nk");
    }
  }
  bool settled = false;
  int fds = 0;
  int backend = 0;
  for (int i = 0; i < 100 && !settled; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
    fds = openFds(proxy_->pid());
    backend = connectedClients(redis_->port());
    settled = fds <= fds_before && backend <= backend_before;
  }
  EXPECT_TRUE(settled) << "descriptors " << fds_before << " -> " << fds << ", backend clients "
                       << backend_before << " -> " << backend;
  EXPECT_EQ(Client(proxy_->port()).run({"PING"}), "PONG");
}

// Over --maxclients new clients get Redis' error and are closed; those connected keep working.
TEST(ClientLimits, MaxclientsRefusesWithRedisError) {
  RedisServer redis;
  Proxy proxy({"--backend", redis.address(), "--maxclients", "5"});
  std::vector<std::unique_ptr<Client>> clients;
  for (int i = 0; i < 5; ++i) {
    clients.push_back(std::make_unique<Client>(proxy.port()));
    ASSERT_EQ(clients.back()->run({"PING"}), "PONG");
  }
  Client extra(proxy.port());
  EXPECT_EQ(resp::toDebugString(extra.read()), "(error) ERR max number of clients reached");
  EXPECT_TRUE(extra.closedByPeer());
  EXPECT_EQ(clients[0]->run({"PING"}), "PONG");
  clients.pop_back();
  bool admitted = false;
  for (int i = 0; i < 50 && !admitted; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
    Client again(proxy.port());
    admitted = again.run({"PING"}) == "PONG";
  }
  EXPECT_TRUE(admitted) << "a slot freed by a leaving client is given to the next one";
}

// Out of descriptors the acceptor pauses and warns once, instead of spinning and flooding the
// log; connected clients are served throughout and new ones are taken when descriptors free up.
TEST(ClientLimits, DescriptorExhaustionBacksOff) {
  RedisServer redis;
  Proxy proxy({"--backend", redis.address()});
  Client first(proxy.port());
  ASSERT_EQ(first.run({"PING"}), "PONG");
  const int fds = openFds(proxy.pid());
  std::string cmd =
      "prlimit --pid " + std::to_string(proxy.pid()) + " --nofile=" + std::to_string(fds + 4) + ":";
  ASSERT_EQ(std::system(cmd.c_str()), 0);
  std::vector<std::unique_ptr<Client>> flood;
  for (int i = 0; i < 40; ++i) flood.push_back(std::make_unique<Client>(proxy.port()));
  std::this_thread::sleep_for(std::chrono::milliseconds(1500));
  EXPECT_EQ(first.run({"PING"}), "PONG");
  std::string log = proxy.log();
  size_t warnings = 0;
  for (size_t at = log.find("accept failed"); at != std::string::npos;
       at = log.find("accept failed", at + 1)) {
    ++warnings;
  }
  EXPECT_GE(warnings, 1u);
  EXPECT_LE(warnings, 2u) << "the warning is rate-limited";
  flood.clear();
  cmd = "prlimit --pid " + std::to_string(proxy.pid()) + " --nofile=4096:";
  ASSERT_EQ(std::system(cmd.c_str()), 0);
  Client later(proxy.port());
  EXPECT_EQ(later.run({"PING"}), "PONG");
}

}  // namespace
}  // namespace tfproxy::testing
