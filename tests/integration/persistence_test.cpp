// Libraries are kept in the backend: a restarted proxy serves the same ones, flushes do not lose
// them, and a stored library that no longer loads is skipped, not fatal.
#include <gtest/gtest.h>

#include <thread>

#include "tests/support/client.h"
#include "tests/support/processes.h"

namespace tfproxy::testing {
namespace {

const char kLib[] = R"(#!js api_version=1.0 name=kept
redis.registerFunction('hello', function(client){ return 'still here ' + redis.config.n; });)";

std::unique_ptr<Proxy> startProxy(const RedisServer& redis) {
  return std::make_unique<Proxy>(std::vector<std::string>{"--backend", redis.address()});
}

TEST(PersistenceTest, RestartedProxyServesTheSameLibraries) {
  RedisServer redis;
  {
    auto proxy = startProxy(redis);
    Client c(proxy->port());
    ASSERT_EQ(c.run({"TFUNCTION", "LOAD", "CONFIG", "{\"n\": 7}", kLib}), "OK");
    EXPECT_EQ(proxy->stop(), 0);
  }
  auto proxy = startProxy(redis);
  Client c(proxy->port());
  EXPECT_EQ(c.run({"TFCALL", "kept.hello", "0"}), "\"still here 7\"");
  resp::Value list = c.call({"TFUNCTION", "LIST"});
  EXPECT_NE(resp::toDebugString(list).find("\"configuration\", \"{\\\"n\\\": 7}\""),
            std::string::npos);
  // DELETE is durable too.
  EXPECT_EQ(c.run({"TFUNCTION", "DELETE", "kept"}), "OK");
  EXPECT_EQ(proxy->stop(), 0);
  auto third = startProxy(redis);
  EXPECT_EQ(Client(third->port()).run({"TFCALL", "kept.hello", "0"}),
            "(error) Unknown library kept");
}

TEST(PersistenceTest, FlushesKeepLibraries) {
  RedisServer redis;
  auto proxy = startProxy(redis);
  Client c(proxy->port());
  ASSERT_EQ(c.run({"TFUNCTION", "LOAD", "CONFIG", "{\"n\": 1}", kLib}), "OK");
  c.call({"SET", "data", "1"});
  EXPECT_EQ(c.run({"FLUSHALL"}), "OK");
  EXPECT_EQ(c.run({"GET", "data"}), "(nil)");
  EXPECT_EQ(c.run({"TFCALL", "kept.hello", "0"}), "\"still here 1\"");
  // A flush sent to the backend directly is repaired within seconds as well.
  std::this_thread::sleep_for(std::chrono::milliseconds(200));
  Client(redis.port()).call({"FLUSHALL"});
  bool stored = false;
  for (int i = 0; i < 40 && !stored; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
    stored = Client(redis.port()).run({"HLEN", "tfproxy:libraries"}) == "1";
  }
  EXPECT_TRUE(stored);
  EXPECT_EQ(proxy->stop(), 0);
  auto restarted = startProxy(redis);
  EXPECT_EQ(Client(restarted->port()).run({"TFCALL", "kept.hello", "0"}), "\"still here 1\"");
}

TEST(PersistenceTest, BrokenStoredLibraryIsSkipped) {
  RedisServer redis;
  {
    auto proxy = startProxy(redis);
    Client c(proxy->port());
    ASSERT_EQ(c.run({"TFUNCTION", "LOAD", "CONFIG", "{\"n\": 2}", kLib}), "OK");
    proxy->stop();
  }
  // Someone stores a library that cannot load.
  std::string broken =
      "*4\r\n$17\r\ntfproxy-library-1\r\n$40\r\n#!js api_version=1.0 name=broken\nthrow 1\r\n"
      "$7\r\ndefault\r\n$-1\r\n";
  Client(redis.port()).call({"HSET", "tfproxy:libraries", "broken", broken});
  auto proxy = startProxy(redis);
  Client c(proxy->port());
  EXPECT_EQ(c.run({"TFCALL", "kept.hello", "0"}), "\"still here 2\"");
  EXPECT_EQ(c.run({"TFCALL", "broken.x", "0"}), "(error) Unknown library broken");
  EXPECT_NE(proxy->log().find("stored library 'broken' failed to load and is skipped"),
            std::string::npos)
      << proxy->log();
}

}  // namespace
}  // namespace tfproxy::testing
