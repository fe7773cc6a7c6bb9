// Real clients through tfproxy: the same scenario -- plain commands, a pipeline, MULTI, pub/sub,
// TFUNCTION LOAD of a file, TFCALL, TFCALLASYNC, errors -- through redis-cli (RESP2 and RESP3),
// redis-py, node-redis (4 in RESP2, 5 in RESP3), ioredis (their scripts in tests/clients and
// tests/node) and hiredis (in this file), in front of a real Redis.
#include <gtest/gtest.h>
#include <hiredis/hiredis.h>

#include <fstream>
#include <memory>
#include <sstream>

#include "tests/support/client.h"
#include "tests/support/processes.h"

namespace tfproxy::testing {
namespace {

const std::string kSource = TFPROXY_SOURCE_DIR;

class ClientsTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    redis_ = new RedisServer();
    proxy_ = new Proxy({"--backend", redis_->address()});
  }
  static void TearDownTestSuite() {
    delete proxy_;
    delete redis_;
  }

  // Runs a scenario script with the proxy's port; its output ends in "ok" when every step
  // answered as expected, and names each step that did not otherwise.
  static void runScenario(const std::vector<std::string>& command) {
    std::vector<std::string> argv = command;
    argv.push_back(std::to_string(proxy_->port()));
    std::string out;
    EXPECT_EQ(runToExit(argv, &out), 0) << out;
    EXPECT_NE(out.find("ok\n"), std::string::npos) << out;
  }

  static RedisServer* redis_;
  static Proxy* proxy_;
};
RedisServer* ClientsTest::redis_ = nullptr;
Proxy* ClientsTest::proxy_ = nullptr;

TEST_F(ClientsTest, RedisCli) { runScenario({"bash", kSource + "/tests/clients/redis_cli.sh"}); }

TEST_F(ClientsTest, RedisPy) {
  runScenario({"/usr/bin/python3", kSource + "/tests/clients/redis_py.py"});
}

TEST_F(ClientsTest, NodeRedis) {
  runScenario({"node", kSource + "/tests/node/node_redis_scenario.mjs"});
}

// node-redis 5 with RESP: 3 (HELLO 3): maps stay maps, a function's object arrives as one.
TEST_F(ClientsTest, NodeRedisResp3) {
  runScenario({"node", kSource + "/tests/node/node_redis_resp3_scenario.mjs"});
}

TEST_F(ClientsTest, Ioredis) {
  runScenario({"node", kSource + "/tests/node/ioredis_scenario.mjs"});
}

// hiredis, as C programs use it: blocking calls, a pipeline of appended commands, a subscriber.
TEST_F(ClientsTest, Hiredis) {
  auto connect = [] {
    redisContext* c = redisConnect("127.0.0.1", proxy_->port());
    EXPECT_TRUE(c != nullptr && c->err == 0);
    return std::unique_ptr<redisContext, void (*)(redisContext*)>(c, redisFree);
  };
  auto c = connect();
  using Reply = std::unique_ptr<redisReply, void (*)(void*)>;
  auto command = [&](redisContext* ctx, auto... args) {
    return Reply(static_cast<redisReply*>(redisCommand(ctx, args...)), freeReplyObject);
  };
  EXPECT_EQ(std::string(command(c.get(), "PING")->str), "PONG");
  EXPECT_EQ(std::string(command(c.get(), "SET %s %s", "hi:k", "v")->str), "OK");
  EXPECT_EQ(std::string(command(c.get(), "GET %s", "hi:k")->str), "v");
  command(c.get(), "DEL hi:n");
  for (int i = 0; i < 100; ++i) redisAppendCommand(c.get(), "INCR hi:n");
  long long last = 0;
  for (int i = 0; i < 100; ++i) {
    void* raw = nullptr;
    ASSERT_EQ(redisGetReply(c.get(), &raw), REDIS_OK);
    Reply r(static_cast<redisReply*>(raw), freeReplyObject);
    last = r->integer;
  }
  EXPECT_EQ(last, 100);
  command(c.get(), "MULTI");
  command(c.get(), "SET hi:m 1");
  command(c.get(), "INCR hi:m");
  Reply exec = command(c.get(), "EXEC");
  ASSERT_EQ(exec->type, REDIS_REPLY_ARRAY);
  ASSERT_EQ(exec->elements, 2u);
  EXPECT_EQ(exec->element[1]->integer, 2);

  auto subscriber = connect();
  command(subscriber.get(), "SUBSCRIBE hi:channel");
  EXPECT_EQ(command(c.get(), "PUBLISH hi:channel hello")->integer, 1);
  void* raw = nullptr;
  ASSERT_EQ(redisGetReply(subscriber.get(), &raw), REDIS_OK);
  Reply message(static_cast<redisReply*>(raw), freeReplyObject);
  ASSERT_EQ(message->elements, 3u);
  EXPECT_EQ(std::string(message->element[2]->str), "hello");

  std::ifstream file(kSource + "/tests/clients/scenario.js");
  std::stringstream code;
  code << file.rdbuf();
  const std::string text = code.str();
  EXPECT_EQ(
      std::string(command(c.get(), "TFUNCTION LOAD REPLACE %b", text.data(), text.size())->str),
      "OK");
  EXPECT_EQ(std::string(command(c.get(), "TFCALL clients.greet 1 hi:greeting hiredis")->str),
            "hello hiredis");
  command(c.get(), "DEL hi:later");
  EXPECT_EQ(command(c.get(), "TFCALLASYNC clients.later 1 hi:later")->integer, 1);
  Reply missing = command(c.get(), "TFCALL clients.missing 0");
  EXPECT_EQ(missing->type, REDIS_REPLY_ERROR);
  EXPECT_EQ(std::string(missing->str), "Unknown function missing");
  Reply thrown = command(c.get(), "TFCALL clients.fail 0");
  EXPECT_EQ(thrown->type, REDIS_REPLY_ERROR);
  EXPECT_EQ(std::string(thrown->str), "failed on purpose");
  Reply shape = command(c.get(), "TFCALL clients.shape 0");
  ASSERT_EQ(shape->elements, 4u);
  EXPECT_EQ(shape->element[3]->integer, 42);
}

}  // namespace
}  // namespace tfproxy::testing
