// Forwarding is exact: a client cannot tell tfproxy from Redis. Each test talks to a real
// redis-server through the real tfproxy binary.
#include <gtest/gtest.h>
#include <hiredis/hiredis.h>

#include <random>
#include <thread>

#include "tests/support/client.h"
#include "tests/support/processes.h"

namespace tfproxy::testing {
namespace {

class ForwardingTest : public ::testing::TestWithParam<const char*> {
 protected:
  // One redis-server for the suite; a proxy per connection mode (--multiplex yes|no, or in front
  // of a 3-primary Redis Cluster, made when that mode's turn comes).
  static void SetUpTestSuite() { redis_ = new RedisServer(); }
  static void TearDownTestSuite() {
    delete proxy_;
    proxy_ = nullptr;
    delete redis_;
    delete cluster_;
    cluster_ = nullptr;
  }
  static bool clusterMode() { return std::string(GetParam()) == "cluster"; }
  void startProxyForMode() {
    if (proxy_ == nullptr || mode_ != GetParam()) {
      delete proxy_;
      if (clusterMode()) {
        if (cluster_ == nullptr) cluster_ = new RedisCluster(3);
        proxy_ = new Proxy({"--backend", cluster_->seed()});
      } else {
        proxy_ = new Proxy({"--backend", redis_->address(), "--multiplex", GetParam()});
      }
      mode_ = GetParam();
    }
  }
  void SetUp() override {
    startProxyForMode();
    for (uint16_t port : backendPorts()) Client(port).call({"FLUSHALL"});
  }
  // The backend's servers: the one Redis, or the cluster's primaries.
  static std::vector<uint16_t> backendPorts() {
    if (!clusterMode()) return {redis_->port()};
    std::vector<uint16_t> ports;
    for (auto& node : cluster_->nodes()) ports.push_back(node->port());
    return ports;
  }
  // `key` read on the backend directly (on its node, in front of a cluster).
  static std::string directGet(const std::string& key) {
    for (uint16_t port : backendPorts()) {
      resp::Value v = Client(port).call({"GET", key});
      if (!v.isError()) return resp::toDebugString(v);  // other nodes answer MOVED
    }
    return "no node holds it";
  }

  static RedisServer* redis_;
  static RedisCluster* cluster_;
  static Proxy* proxy_;
  static std::string mode_;
};
RedisServer* ForwardingTest::redis_ = nullptr;
RedisCluster* ForwardingTest::cluster_ = nullptr;
Proxy* ForwardingTest::proxy_ = nullptr;
std::string ForwardingTest::mode_;

TEST_P(ForwardingTest, BasicCommands) {
  Client c(proxy_->port());
  EXPECT_EQ(c.run({"PING"}), "PONG");
  EXPECT_EQ(c.run({"SET", "k", "v"}), "OK");
  EXPECT_EQ(c.run({"GET", "k"}), "\"v\"");
  EXPECT_EQ(c.run({"GET", "missing"}), "(nil)");
  EXPECT_EQ(c.run({"INCRBY", "n", "5"}), "5");
  EXPECT_EQ(c.run({"NOSUCHCOMMAND"}).rfind("(error) ERR unknown command", 0), 0u);
  // The data really is in the backend.
  EXPECT_EQ(directGet("k"), "\"v\"");
}

// The same command sequence, run directly and through the proxy on identical fresh databases,
// yields the same bytes, in RESP2 and in RESP3.
TEST_P(ForwardingTest, RepliesAreByteForByteTheSame) {
  RedisServer twin;
  const std::vector<std::vector<std::string>> script = {
      {"SET", "s", "value"},
      {"GET", "s"},
      {"HSET", "h", "a", "1", "b", "2"},
      {"HGETALL", "h"},
      {"ZADD", "z", "1.5", "x", "2", "y"},
      {"ZRANGE", "z", "0", "-1", "WITHSCORES"},
      {"ZSCORE", "z", "x"},
      {"SADD", "set", "m"},
      {"SMEMBERS", "set"},
      {"LPUSH", "l", "a", "b"},
      {"LRANGE", "l", "0", "-1"},
      {"GET", "nothing"},
      {"HGET", "h", "zz"},
      {"INCR", "s"},
      {"XADD", "st", "1-1", "f", "v"},
      {"XRANGE", "st", "-", "+"},
      {"EXISTS", "s", "h", "nope"},
      {"TYPE", "h"},
      {"OBJECT", "ENCODING", "h"},
      {"ECHO", std::string("bin\0\r\nary", 9)},
      {"GETDEL", "s"},
      {"LPOP", "nope"},
      {"ZRANGEBYSCORE", "z", "-inf", "+inf"},
      {"HELLO", "3"},
      {"HGETALL", "h"},
      {"ZSCORE", "z", "x"},
      {"SMEMBERS", "set"},
      {"GET", "nothing"},
      {"EXISTS", "h"},
      {"XRANGE", "st", "-", "+"},
      {"HELLO", "2"},
      {"HGETALL", "h"},
  };
  Client direct(twin.port());
  Client proxied(proxy_->port());
  for (const auto& cmd : script) {
    direct.sendCommand(cmd);
    proxied.sendCommand(cmd);
    std::string a = direct.readRaw();
    std::string b = proxied.readRaw();
    if (cmd[0] == "HELLO") continue;  // the server id and client id differ
    EXPECT_EQ(a, b) << "command " << cmd[0];
  }
}

TEST_P(ForwardingTest, PipelineOfThousandsStaysInOrder) {
  Client c(proxy_->port());
  const int n = 20000;
  std::string batch;
  for (int i = 0; i < n; ++i) {
    std::string k = "key:" + std::to_string(i);
    batch += "*3\r\n$3\r\nSET\r\n$" + std::to_string(k.size()) + "\r\n" + k + "\r\n$" +
             std::to_string(std::to_string(i).size()) + "\r\n" + std::to_string(i) + "\r\n";
    batch += "*2\r\n$3\r\nGET\r\n$" + std::to_string(k.size()) + "\r\n" + k + "\r\n";
  }
  c.send(batch);
  for (int i = 0; i < n; ++i) {
    ASSERT_EQ(c.read(), resp::Value::simple("OK")) << i;
    ASSERT_EQ(c.read(), resp::Value::bulk(std::to_string(i))) << i;
  }
  // Every key landed; besides them the backend holds the fleet's membership (design §4; the
  // fleet is off in front of a cluster).
  int64_t keys = 0;
  int64_t fleet = 0;
  if (clusterMode()) {
    for (uint16_t port : backendPorts()) keys += Client(port).call({"DBSIZE"}).integer;
  } else {
    Client direct(redis_->port());
    EXPECT_EQ(direct.run({"MULTI"}), "OK");
    direct.call({"DBSIZE"});
    direct.call({"EXISTS", "tfproxy:libraries:{fleet}:members", "tfproxy:libraries:{fleet}:lock"});
    const resp::Value counts = direct.call({"EXEC"});
    ASSERT_EQ(counts.elements.size(), 2u);
    keys = counts.elements[0].integer;
    fleet = counts.elements[1].integer;
  }
  EXPECT_EQ(keys, n + fleet);
}

TEST_P(ForwardingTest, HundredMegabyteValue) {
  redisContext* ctx = redisConnect("127.0.0.1", proxy_->port());
  ASSERT_TRUE(ctx != nullptr && ctx->err == 0);
  std::string value(100 * 1024 * 1024, '\0');
  std::mt19937 rng(7);
  for (size_t i = 0; i < value.size(); i += 4096) value[i] = static_cast<char>(rng());
  auto* r = static_cast<redisReply*>(redisCommand(ctx, "SET big %b", value.data(), value.size()));
  ASSERT_NE(r, nullptr);
  EXPECT_EQ(std::string(r->str, r->len), "OK");
  freeReplyObject(r);
  r = static_cast<redisReply*>(redisCommand(ctx, "GET big"));
  ASSERT_NE(r, nullptr);
  ASSERT_EQ(r->type, REDIS_REPLY_STRING);
  EXPECT_EQ(r->len, value.size());
  EXPECT_TRUE(std::string_view(r->str, r->len) == value);
  freeReplyObject(r);
  r = static_cast<redisReply*>(redisCommand(ctx, "STRLEN big"));
  EXPECT_EQ(r->integer, static_cast<long long>(value.size()));
  freeReplyObject(r);
  redisFree(ctx);
}

TEST_P(ForwardingTest, RequestArrivingOneByteAtATime) {
  Client c(proxy_->port());
  std::string cmd =
      "*3\r\n$3\r\nSET\r\n$4\r\nslow\r\n$5\r\nbytes\r\n*2\r\n$3\r\nGET\r\n$4\r\nslow\r\n";
  for (char ch : cmd) {
    c.send(std::string(1, ch));
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  EXPECT_EQ(c.read(), resp::Value::simple("OK"));
  EXPECT_EQ(c.read(), resp::Value::bulk("bytes"));
}

TEST_P(ForwardingTest, InlineCommandsAsTypedInTelnet) {
  Client c(proxy_->port());
  c.send("PING\r\n");
  EXPECT_EQ(c.readRaw(), "+PONG\r\n");
  c.send("SET greeting \"hello world\"\r\nGET greeting\n\r\n");
  EXPECT_EQ(c.readRaw(), "+OK\r\n");
  EXPECT_EQ(c.readRaw(), "$11\r\nhello world\r\n");
}

TEST_P(ForwardingTest, Resp3RepliesThroughHello3) {
  Client c(proxy_->port());
  resp::Value hello = c.call({"HELLO", "3"});
  ASSERT_EQ(hello.type, resp::Type::kMap);
  c.call({"HSET", "h", "f", "v"});
  c.call({"ZADD", "z", "2.5", "m"});
  c.sendCommand({"HGETALL", "h"});
  EXPECT_EQ(c.readRaw(), "%1\r\n$1\r\nf\r\n$1\r\nv\r\n");
  c.sendCommand({"GET", "nothing"});
  EXPECT_EQ(c.readRaw(), "_\r\n");
  c.sendCommand({"ZSCORE", "z", "m"});
  EXPECT_EQ(c.readRaw(), ",2.5\r\n");
}

TEST_P(ForwardingTest, ManyClientsConcurrently) {
  std::vector<std::thread> threads;
  std::atomic<int> failures{0};
  for (int t = 0; t < 20; ++t) {
    threads.emplace_back([&, t] {
      Client c(proxy_->port());
      for (int i = 0; i < 200; ++i) {
        std::string k = "c" + std::to_string(t);
        if (c.call({"INCR", k}) != resp::Value::integerValue(i + 1)) ++failures;
      }
    });
  }
  for (auto& th : threads) th.join();
  EXPECT_EQ(failures, 0);
}

INSTANTIATE_TEST_SUITE_P(Modes, ForwardingTest, ::testing::Values("yes", "no", "cluster"),
                         [](const auto& info) {
                           const std::string mode = info.param;
                           return mode == "yes"  ? "Multiplexed"
                                  : mode == "no" ? "Dedicated"
                                                 : "Cluster";
                         });

}  // namespace
}  // namespace tfproxy::testing
