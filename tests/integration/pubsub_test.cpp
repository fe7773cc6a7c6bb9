// Pub/sub, RESP3 pushes and MONITOR pass through exactly.
#include <gtest/gtest.h>

#include <thread>

#include "tests/support/client.h"
#include "tests/support/processes.h"

namespace tfproxy::testing {
namespace {

class PubSubTest : public ::testing::TestWithParam<const char*> {
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
  void SetUp() override { startProxyForMode(); }
  static RedisServer* redis_;
  static Proxy* proxy_;
  static std::string mode_;
};
RedisServer* PubSubTest::redis_ = nullptr;
Proxy* PubSubTest::proxy_ = nullptr;
std::string PubSubTest::mode_;

std::string next(Client& c) { return resp::toDebugString(c.read()); }

TEST_P(PubSubTest, SubscribePublishUnsubscribe) {
  Client sub(proxy_->port());
  Client pub(proxy_->port());
  sub.sendCommand({"SUBSCRIBE", "news", "sport"});
  EXPECT_EQ(next(sub), "[\"subscribe\", \"news\", 1]");
  EXPECT_EQ(next(sub), "[\"subscribe\", \"sport\", 2]");
  EXPECT_EQ(pub.run({"PUBLISH", "news", "hello"}), "1");
  EXPECT_EQ(next(sub), "[\"message\", \"news\", \"hello\"]");
  // Only the allowed commands work in RESP2 subscribed mode, as on Redis.
  sub.sendCommand({"GET", "x"});
  EXPECT_EQ(next(sub),
            "(error) ERR Can't execute 'get': only (P|S)SUBSCRIBE / (P|S)UNSUBSCRIBE / PING / "
            "QUIT / RESET are allowed in this context");
  sub.sendCommand({"PING"});
  EXPECT_EQ(next(sub), "[\"pong\", \"\"]");
  sub.sendCommand({"PSUBSCRIBE", "sp*"});
  EXPECT_EQ(next(sub), "[\"psubscribe\", \"sp*\", 3]");
  EXPECT_EQ(pub.run({"PUBLISH", "sport", "goal"}), "2");
  EXPECT_EQ(next(sub), "[\"message\", \"sport\", \"goal\"]");
  EXPECT_EQ(next(sub), "[\"pmessage\", \"sp*\", \"sport\", \"goal\"]");
  sub.sendCommand({"UNSUBSCRIBE"});
  EXPECT_EQ(next(sub).find("unsubscribe"), 2u);
  EXPECT_EQ(next(sub).find("unsubscribe"), 2u);
  sub.sendCommand({"PUNSUBSCRIBE"});
  EXPECT_EQ(next(sub), "[\"punsubscribe\", \"sp*\", 0]");
  // Back to normal mode: ordinary commands work again.
  EXPECT_EQ(sub.run({"SET", "after", "1"}), "OK");
}

TEST_P(PubSubTest, ShardChannels) {
  Client sub(proxy_->port());
  Client pub(proxy_->port());
  sub.sendCommand({"SSUBSCRIBE", "orders"});
  EXPECT_EQ(next(sub), "[\"ssubscribe\", \"orders\", 1]");
  EXPECT_EQ(pub.run({"SPUBLISH", "orders", "o1"}), "1");
  EXPECT_EQ(next(sub), "[\"smessage\", \"orders\", \"o1\"]");
  sub.sendCommand({"SUNSUBSCRIBE"});
  EXPECT_EQ(next(sub), "[\"sunsubscribe\", \"orders\", 0]");
  EXPECT_EQ(sub.run({"PING"}), "PONG");
}

TEST_P(PubSubTest, Resp3SubscriberKeepsRunningCommands) {
  Client sub(proxy_->port());
  Client pub(proxy_->port());
  sub.call({"HELLO", "3"});
  sub.sendCommand({"SUBSCRIBE", "ch"});
  EXPECT_EQ(next(sub), "push[\"subscribe\", \"ch\", 1]");
  pub.call({"SET", "k", "v"});
  EXPECT_EQ(pub.run({"PUBLISH", "ch", "m1"}), "1");
  sub.sendCommand({"GET", "k"});
  EXPECT_EQ(next(sub), "push[\"message\", \"ch\", \"m1\"]");
  EXPECT_EQ(next(sub), "\"v\"");
}

TEST_P(PubSubTest, Resp3ClientTrackingInvalidation) {
  Client c(proxy_->port());
  Client writer(proxy_->port());
  c.call({"HELLO", "3"});
  writer.call({"SET", "tracked", "1"});
  EXPECT_EQ(c.run({"CLIENT", "TRACKING", "ON"}), "OK");
  EXPECT_EQ(c.run({"GET", "tracked"}), "\"1\"");
  writer.call({"SET", "tracked", "2"});
  EXPECT_EQ(next(c), "push[\"invalidate\", [\"tracked\"]]");
}

TEST_P(PubSubTest, MonitorSeesOtherClients) {
  Client mon(proxy_->port());
  EXPECT_EQ(mon.run({"MONITOR"}), "OK");
  Client other(proxy_->port());
  other.call({"SET", "watched-key", "1"});
  bool seen = false;
  for (int i = 0; i < 20 && !seen; ++i) {
    std::string line = mon.read().str;
    seen = line.find("\"watched-key\"") != std::string::npos;
  }
  EXPECT_TRUE(seen);
  // The monitor's own commands still get their replies among the monitor lines.
  mon.sendCommand({"PING"});
  bool pong = false;
  for (int i = 0; i < 20 && !pong; ++i) pong = mon.read().str == "PONG";
  EXPECT_TRUE(pong);
  mon.sendCommand({"RESET"});
  bool reset = false;
  for (int i = 0; i < 20 && !reset; ++i) reset = mon.read().str == "RESET";
  EXPECT_TRUE(reset);
  EXPECT_EQ(mon.run({"SET", "after-monitor", "1"}), "OK");
}

INSTANTIATE_TEST_SUITE_P(Modes, PubSubTest, ::testing::Values("yes", "no"), [](const auto& info) {
  return std::string(info.param) == "yes" ? "Multiplexed" : "Dedicated";
});

}  // namespace
}  // namespace tfproxy::testing
