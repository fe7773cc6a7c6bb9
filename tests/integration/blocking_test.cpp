// Blocking commands wait without holding up anyone else, and a client that leaves releases its
// backend connection at once.
#include <gtest/gtest.h>

#include <thread>

#include "tests/support/client.h"
#include "tests/support/eventually.h"
#include "tests/support/processes.h"

namespace tfproxy::testing {
namespace {

using Clock = std::chrono::steady_clock;

class BlockingTest : public ::testing::TestWithParam<const char*> {
 protected:
  // One redis-server for the suite; a proxy per connection mode (--multiplex yes|no).
  static void SetUpTestSuite() { redis_ = new RedisServer(); }
  static void TearDownTestSuite() {
    delete proxy_;
    proxy_ = nullptr;
    delete redis_;
  }
  void startProxyForMode() {
    if (proxy_ == nullptr || mode_ != GetParam()) {
      delete proxy_;
      proxy_ = new Proxy({"--backend", redis_->address(), "--multiplex", GetParam()});
      mode_ = GetParam();
    }
  }
  void SetUp() override {
    startProxyForMode();
    Client(redis_->port()).call({"FLUSHALL"});
  }

  static int64_t clientsInfo(const std::string& field) {
    std::string info = Client(redis_->port()).call({"INFO", "clients"}).str;
    size_t at = info.find(field + ":");
    return std::stoll(info.substr(at + field.size() + 1));
  }
  static int64_t blockedClients() { return clientsInfo("blocked_clients"); }
  static bool waitBlocked(int64_t n) {
    return testing::eventually([n] { return blockedClients() == n; });
  }
  static RedisServer* redis_;
  static Proxy* proxy_;
  static std::string mode_;
};
RedisServer* BlockingTest::redis_ = nullptr;
Proxy* BlockingTest::proxy_ = nullptr;
std::string BlockingTest::mode_;

TEST_P(BlockingTest, BlpopWaitsWhileOthersAreServed) {
  Client blocked(proxy_->port());
  blocked.sendCommand({"BLPOP", "queue", "0"});
  ASSERT_TRUE(waitBlocked(1));
  Client other(proxy_->port());
  for (int i = 0; i < 100; ++i) {
    auto start = Clock::now();
    EXPECT_EQ(other.run({"INCR", "counter"}), std::to_string(i + 1));
    EXPECT_LT(Clock::now() - start, std::chrono::milliseconds(200));
  }
  EXPECT_FALSE(blocked.tryRead(std::chrono::milliseconds(50)).has_value());
  EXPECT_EQ(other.run({"RPUSH", "queue", "job"}), "1");
  EXPECT_EQ(resp::toDebugString(blocked.read()), "[\"queue\", \"job\"]");
}

TEST_P(BlockingTest, XreadBlockAndWait) {
  Client reader(proxy_->port());
  reader.sendCommand({"XREAD", "BLOCK", "0", "STREAMS", "events", "$"});
  ASSERT_TRUE(waitBlocked(1));
  Client writer(proxy_->port());
  EXPECT_EQ(writer.run({"XADD", "events", "5-1", "kind", "click"}), "\"5-1\"");
  EXPECT_EQ(resp::toDebugString(reader.read()),
            "[[\"events\", [[\"5-1\", [\"kind\", \"click\"]]]]]");
  // WAIT with no replicas returns 0 after its timeout, without blocking others.
  auto start = Clock::now();
  reader.sendCommand({"WAIT", "1", "300"});
  EXPECT_EQ(writer.run({"PING"}), "PONG");
  EXPECT_LT(Clock::now() - start, std::chrono::milliseconds(250));
  EXPECT_EQ(resp::toDebugString(reader.read()), "0");
}

TEST_P(BlockingTest, ManyBlockedClientsDoNotHoldUpOthers) {
  std::vector<std::unique_ptr<Client>> waiting;
  for (int i = 0; i < 200; ++i) {
    waiting.push_back(std::make_unique<Client>(proxy_->port()));
    waiting.back()->sendCommand({"BLPOP", "never:" + std::to_string(i), "0"});
  }
  ASSERT_TRUE(waitBlocked(200));
  Client other(proxy_->port());
  auto start = Clock::now();
  for (int i = 0; i < 200; ++i) other.call({"SET", "k", std::to_string(i)});
  EXPECT_LT(Clock::now() - start, std::chrono::seconds(2));
  waiting.clear();
  EXPECT_TRUE(waitBlocked(0));
}

TEST_P(BlockingTest, DisconnectWhileBlockedReleasesTheBackendConnection) {
  Client(proxy_->port()).call({"PING"});  // the shared connection, if any, exists from here on
  int64_t before = clientsInfo("connected_clients");
  {
    Client blocked(proxy_->port());
    blocked.sendCommand({"BLPOP", "queue", "0"});
    ASSERT_TRUE(waitBlocked(1));
  }  // the client goes away
  EXPECT_TRUE(waitBlocked(0));
  // Its backend connection is gone, and an LPUSH is not eaten by a dead BLPOP.
  Client(proxy_->port()).call({"RPUSH", "queue", "kept"});
  EXPECT_EQ(Client(redis_->port()).run({"LLEN", "queue"}), "1");
  // The RPUSH client's own backend connection (--multiplex no) closes after it did.
  EXPECT_TRUE(eventually([&] { return clientsInfo("connected_clients") <= before; }))
      << clientsInfo("connected_clients") << " > " << before;
}

INSTANTIATE_TEST_SUITE_P(Modes, BlockingTest, ::testing::Values("yes", "no"), [](const auto& info) {
  return std::string(info.param) == "yes" ? "Multiplexed" : "Dedicated";
});

}  // namespace
}  // namespace tfproxy::testing
