// Upstream parity outside triggers: hundreds of libraries within the default budget, start-up
// options in the module-argument form, debug commands, and the details real clients notice.
#include <gtest/gtest.h>

#include <memory>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "tests/support/client.h"
#include "tests/support/eventually.h"
#include "tests/support/probes.h"
#include "tests/support/processes.h"

namespace tfproxy::testing {
namespace {

std::string smallLibrary(int i) {
  return "#!js api_version=1.0 name=small" + std::to_string(i) +
         "\nredis.registerFunction('f', function(c){ return " + std::to_string(i) + "; });";
}

// The default v8-maxmemory (200 MB) holds hundreds of small libraries: what counts is the heap
// each library's code keeps, not the empty isolate every library has. A restart restores them.
TEST(ParityTest, FiveHundredLibrariesWithTheDefaults) {
  constexpr int kLibraries = 500;
  RedisServer redis;
  {
    Proxy proxy({"--backend", redis.address()});
    Client c(proxy.port());
    for (int i = 0; i < kLibraries; ++i) {
      ASSERT_EQ(c.run({"TFUNCTION", "LOAD", smallLibrary(i)}), "OK") << "library " << i;
    }
    // A library that really exceeds the budget still fails, with upstream's text, and the
    // others keep working.
    EXPECT_EQ(c.run({"TFUNCTION", "LOAD",
                     "#!js api_version=1.0 name=big\nvar x = [];"
                     " for (;;) x.push(new Array(1e6).fill(0.5));"
                     "\nredis.registerFunction('f', () => 1);"}),
              "(error) Failed loading library: Err Execution was terminated due to OOM or "
              "timeout.");
    EXPECT_EQ(c.run({"TFCALL", "small0.f", "0"}), "0");
    EXPECT_EQ(c.run({"TFCALL", "small499.f", "0"}), "499");
    // Under 1 MB of resident memory per small library.
    EXPECT_LT(rssKb(proxy.pid()), 40 * 1024 + kLibraries * 1024);
    EXPECT_EQ(proxy.stop(), 0);
  }
  Proxy restarted({"--backend", redis.address()});
  Client c(restarted.port());
  EXPECT_EQ(c.call({"TFUNCTION", "LIST"}).elements.size(), size_t{kLibraries});
  EXPECT_EQ(c.run({"TFCALL", "small0.f", "0"}), "0");
  EXPECT_EQ(c.run({"TFCALL", "small499.f", "0"}), "499");
  EXPECT_EQ(c.run({"TFUNCTION", "LOAD", smallLibrary(kLibraries)}), "OK");
}

// One Redis and one tfproxy for the tests below.
class ParityFixture : public ::testing::Test {
 protected:
  void SetUp() override {
    redis_ = std::make_unique<RedisServer>();
    proxy_ = std::make_unique<Proxy>(std::vector<std::string>{"--backend", redis_->address()});
    Client c(proxy_->port());
    ASSERT_EQ(c.run({"TFUNCTION", "LOAD", "REPLACE", R"(#!js api_version=1.0 name=parity
redis.registerFunction('echo', function(c, x){ return x; });
redis.registerAsyncFunction('wait', async function(c){
  return await c.block(function(b){ return b.callAsync('blpop', 'parity:wake', '10'); });
});)"}),
              "OK");
  }
  std::unique_ptr<RedisServer> redis_;
  std::unique_ptr<Proxy> proxy_;
};

// A RESP3 push (here a pub/sub message) reaches the client at once while a TFCALLASYNC on the
// same connection waits, as Redis delivers pushes to a blocked client.
TEST_F(ParityFixture, PushesArriveWhileAFunctionWaits) {
  Client c(proxy_->port());
  c.call({"HELLO", "3"});
  EXPECT_EQ(c.run({"SUBSCRIBE", "news"}), "push[\"subscribe\", \"news\", 1]");
  c.sendCommand({"TFCALLASYNC", "parity.wait", "0"});
  std::this_thread::sleep_for(std::chrono::milliseconds(100));
  Client publisher(proxy_->port());
  EXPECT_EQ(publisher.run({"PUBLISH", "news", "hello"}), "1");
  std::optional<resp::Value> push = c.tryRead(std::chrono::seconds(2));
  ASSERT_TRUE(push.has_value()) << "the push waited for the function";
  EXPECT_EQ(resp::toDebugString(*push), "push[\"message\", \"news\", \"hello\"]");
  EXPECT_EQ(publisher.run({"LPUSH", "parity:wake", "now"}), "1");
  EXPECT_EQ(resp::toDebugString(c.read()), "[\"parity:wake\", \"now\"]");
}

// CLIENT REPLY OFF|SKIP|ON holds for the commands tfproxy runs itself as for any other.
TEST_F(ParityFixture, ClientReplyCoversInterceptedCommands) {
  Client c(proxy_->port());
  c.sendCommand({"CLIENT", "REPLY", "SKIP"});
  c.sendCommand({"TFCALL", "parity.echo", "0", "skipped"});
  c.sendCommand({"PING"});
  EXPECT_EQ(resp::toDebugString(c.read()), "PONG");
  c.sendCommand({"CLIENT", "REPLY", "OFF"});
  c.sendCommand({"TFCALL", "parity.echo", "0", "off"});
  c.sendCommand({"TFCALLASYNC", "parity.echo", "0", "off"});
  c.sendCommand({"TFUNCTION", "LIST"});
  c.sendCommand({"SET", "parity:k", "1"});
  c.sendCommand({"MULTI"});
  c.sendCommand({"TFCALL", "parity.echo", "0", "queued"});
  c.sendCommand({"EXEC"});
  c.sendCommand({"CLIENT", "REPLY", "ON"});
  EXPECT_EQ(resp::toDebugString(c.read()), "OK");
  EXPECT_EQ(c.run({"TFCALL", "parity.echo", "0", "on"}), "\"on\"");
  EXPECT_EQ(c.run({"GET", "parity:k"}), "\"1\"");
  // The transaction ran while replies were off.
  EXPECT_EQ(c.run({"TFUNCTION", "LIST", "LIBRARY", "none"}), "[]");
  c.sendCommand({"CLIENT", "REPLY", "SKIP"});
  c.sendCommand({"TFUNCTION", "LIST", "LIBRARY", "none"});
  EXPECT_EQ(c.run({"TFCALLASYNC", "parity.echo", "0", "after"}), "\"after\"");
}

}  // namespace
}  // namespace tfproxy::testing
