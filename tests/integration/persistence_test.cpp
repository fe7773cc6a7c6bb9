// Libraries are kept in the backend: a restarted proxy serves the same ones, flushes do not lose
// them, and a stored library that no longer loads is skipped, not fatal.
#include <gtest/gtest.h>

#include <map>
#include <set>
#include <thread>

#include "tests/support/client.h"
#include "tests/support/eventually.h"
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
    stored = Client(redis.port()).run({"HEXISTS", "tfproxy:libraries", "kept"}) == "1";
  }
  EXPECT_TRUE(stored);
  EXPECT_EQ(proxy->stop(), 0);
  auto restarted = startProxy(redis);
  EXPECT_EQ(Client(restarted->port()).run({"TFCALL", "kept.hello", "0"}), "\"still here 1\"");
}

// Polls `cmd` on `port` until it answers `expected` (at most 5 s); returns the last answer.
std::string eventually(int port, const std::vector<std::string>& cmd, const std::string& expected) {
  Client c(port);
  return testing::eventuallyEquals([&] { return c.run(cmd); }, expected);
}

// Several proxies in front of one Redis (sidecars) serve the same libraries: a load, replace or
// delete through one reaches the others within seconds, and none brings a deleted one back.
TEST(PersistenceTest, ProxiesOfOneRedisShareLibraries) {
  RedisServer redis;
  auto a = startProxy(redis);
  auto b = startProxy(redis);
  Client ca(a->port());
  Client cb(b->port());
  const std::vector<std::string> hello = {"TFCALL", "kept.hello", "0"};
  ASSERT_EQ(ca.run({"TFUNCTION", "LOAD", "CONFIG", "{\"n\": 1}", kLib}), "OK");
  EXPECT_EQ(eventually(b->port(), hello, "\"still here 1\""), "\"still here 1\"");

  ASSERT_EQ(cb.run({"TFUNCTION", "LOAD", "REPLACE", "CONFIG", "{\"n\": 2}", kLib}), "OK");
  EXPECT_EQ(eventually(a->port(), hello, "\"still here 2\""), "\"still here 2\"");

  ASSERT_EQ(ca.run({"TFUNCTION", "DELETE", "kept"}), "OK");
  EXPECT_EQ(eventually(b->port(), hello, "(error) Unknown library kept"),
            "(error) Unknown library kept");
  std::this_thread::sleep_for(std::chrono::milliseconds(2500));  // a few guard rounds
  EXPECT_EQ(ca.run(hello), "(error) Unknown library kept");
  EXPECT_EQ(cb.run(hello), "(error) Unknown library kept");
  EXPECT_EQ(Client(redis.port()).run({"HEXISTS", "tfproxy:libraries", "kept"}), "0");
  EXPECT_NE(b->log().find("library 'kept' deleted (removed from the store by another tfproxy)"),
            std::string::npos)
      << b->log();
}

// What a proxy serves: library name -> configuration, from TFUNCTION LIST.
std::map<std::string, std::string> served(int port) {
  std::map<std::string, std::string> out;
  resp::Value list = Client(port).call({"TFUNCTION", "LIST"});
  for (const resp::Value& lib : list.elements) {
    std::string name, configuration;
    for (size_t i = 0; i + 1 < lib.elements.size(); i += 2) {
      if (lib.elements[i].str == "name") name = lib.elements[i + 1].str;
      if (lib.elements[i].str == "configuration") configuration = lib.elements[i + 1].str;
    }
    out[name] = configuration;
  }
  return out;
}

// Loads, replaces and deletes through two proxies at once: afterwards both serve what is stored.
TEST(PersistenceTest, ConcurrentChangesThroughTwoProxiesConverge) {
  RedisServer redis;
  auto a = startProxy(redis);
  auto b = startProxy(redis);
  auto churn = [](int port, const std::string& name) {
    Client c(port);
    const std::string code = "#!js api_version=1.0 name=" + name +
                             "\nredis.registerFunction('f', function(){ return 1; });";
    for (int i = 0; i < 60; ++i) {
      if (i % 7 == 6) {
        c.call({"TFUNCTION", "DELETE", name});
      } else {
        c.call(
            {"TFUNCTION", "LOAD", "REPLACE", "CONFIG", "{\"n\": " + std::to_string(i) + "}", code});
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
  };
  std::thread t1(churn, a->port(), "one");
  std::thread t2(churn, b->port(), "two");
  std::thread t3(churn, a->port(), "three");
  std::thread t4(churn, b->port(), "three");
  t1.join();
  t2.join();
  t3.join();
  t4.join();
  std::map<std::string, std::string> on_a, on_b;
  testing::eventually(
      [&] {
        on_a = served(a->port());
        on_b = served(b->port());
        return on_a == on_b;
      },
      std::chrono::milliseconds(5000), std::chrono::milliseconds(100));
  EXPECT_EQ(on_a, on_b);
  EXPECT_EQ(on_a.at("one"), "{\"n\": 59}");
  EXPECT_EQ(on_a.at("two"), "{\"n\": 59}");
  EXPECT_EQ(on_a.count("three"), 1u);
  // And what they serve is what is stored.
  resp::Value stored = Client(redis.port()).call({"HKEYS", "tfproxy:libraries"});
  std::set<std::string> stored_names;
  for (const resp::Value& v : stored.elements) {
    if (v.str[0] != '#') stored_names.insert(v.str);
  }
  EXPECT_EQ(stored_names, (std::set<std::string>{"one", "two", "three"}));
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
