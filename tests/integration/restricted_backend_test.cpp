// A backend that behaves like a managed Redis service: the admin commands renamed away (CONFIG
// kept under a name only the operator knows, as services keep it for themselves), COMMAND and
// ACL refused to the proxy's own user. tfproxy starts, forwards, runs functions and triggers,
// stores and shares libraries, and says once per refused command what it cannot do and what the
// operator can do about it; clients get the backend's own errors for what it refuses.
#include <gtest/gtest.h>

#include <unistd.h>

#include <cstdio>
#include <fstream>
#include <thread>

#include "tests/support/client.h"
#include "tests/support/eventually.h"
#include "tests/support/processes.h"

namespace tfproxy::testing {
namespace {

using namespace std::chrono_literals;

// The operator's name for CONFIG (a managed service's parameter group, in this test).
constexpr char kOperatorConfig[] = "operator-config";

std::string managedConfig() {
  char path[] = "/tmp/tfproxy-managed-XXXXXX";
  const int fd = ::mkstemp(path);
  ::close(fd);
  std::ofstream out(path);
  out << "rename-command CONFIG " << kOperatorConfig << "\n";
  for (const char* command :
       {"MODULE", "DEBUG", "MONITOR", "SHUTDOWN", "SAVE", "BGSAVE", "REPLICAOF", "SLAVEOF"}) {
    out << "rename-command " << command << " \"\"\n";
  }
  out << "user proxy on >proxy-secret ~* &* +@all -command -acl\n";
  return path;
}

size_t occurrences(const std::string& text, const std::string& what) {
  size_t n = 0;
  for (size_t at = text.find(what); at != std::string::npos; at = text.find(what, at + 1)) ++n;
  return n;
}

class RestrictedBackendTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    config_ = managedConfig();
    redis_ = new RedisServer({"--include", config_});
  }
  static void TearDownTestSuite() {
    delete redis_;
    std::remove(config_.c_str());
  }
  void SetUp() override {
    Client direct(redis_->port());
    direct.call({"FLUSHALL"});
    direct.call({kOperatorConfig, "SET", "notify-keyspace-events", ""});
  }
  static std::vector<std::string> flags() {
    return {"--backend", redis_->address(),    "--backend-user",
            "proxy",     "--backend-password", "proxy-secret"};
  }
  static inline RedisServer* redis_ = nullptr;
  static inline std::string config_;
};

TEST_F(RestrictedBackendTest, RefusedCommandsReachClientsWithTheBackendsOwnErrors) {
  Proxy proxy(flags());
  Client c(proxy.port());
  Client direct(redis_->port());
  EXPECT_EQ(c.run({"SET", "a", "1"}), "OK");
  EXPECT_EQ(c.run({"GET", "a"}), "\"1\"");
  for (const std::vector<std::string>& command :
       std::vector<std::vector<std::string>>{{"CONFIG", "GET", "maxmemory"},
                                             {"CONFIG", "SET", "maxmemory", "1"},
                                             {"MODULE", "LIST"},
                                             {"DEBUG", "SLEEP", "0"},
                                             {"MONITOR"},
                                             {"SAVE"},
                                             {"BGSAVE"},
                                             {"REPLICAOF", "NO", "ONE"},
                                             {"SHUTDOWN", "NOSAVE"}}) {
    const std::string expected = direct.run(command);
    EXPECT_EQ(expected.rfind("(error) ERR unknown command", 0), 0u) << expected;
    EXPECT_EQ(c.run(command), expected);
  }
  // Settings of tfproxy's own still answer through its CONFIG.
  EXPECT_EQ(c.run({"CONFIG", "GET", "redisgears_2.lock-redis-timeout"}),
            "[\"redisgears_2.lock-redis-timeout\", \"500\"]");
  EXPECT_EQ(c.run({"PING"}), "PONG");
  EXPECT_TRUE(proxy.running());
}

TEST_F(RestrictedBackendTest, FunctionsRunAndLibrariesAreStoredAndShared) {
  Proxy first(flags());
  Client c(first.port());
  const std::string code =
      "#!js api_version=1.0 name=shop\n"
      "redis.registerFunction('take', (c, k) => {\n"
      "  const left = Number(c.call('get', k) || 0);\n"
      "  if (left <= 0) return 0;\n"
      "  c.call('set', k, String(left - 1));\n"
      "  return 1;\n"
      "});\n"
      "redis.registerAsyncFunction('count', async (c, k) => {\n"
      "  return await c.block((b) => b.call('get', k));\n"
      "});\n";
  EXPECT_EQ(c.run({"TFUNCTION", "LOAD", code}), "OK");
  EXPECT_EQ(c.run({"SET", "stock", "2"}), "OK");
  EXPECT_EQ(c.run({"TFCALL", "shop.take", "1", "stock"}), "1");
  EXPECT_EQ(c.run({"TFCALLASYNC", "shop.count", "1", "stock"}), "\"1\"");
  // Stored in the backend, under the proxy's own user.
  Client direct(redis_->port());
  EXPECT_EQ(direct.run({"HEXISTS", "tfproxy:libraries", "shop"}), "1");

  // A second instance in front of the same backend serves it, and a restarted one too.
  Proxy second(flags());
  Client c2(second.port());
  EXPECT_EQ(c2.run({"TFCALL", "shop.take", "1", "stock"}), "1");
  EXPECT_EQ(c.run({"TFCALL", "shop.take", "1", "stock"}), "0");
  first.stop();
  Proxy again(flags());
  EXPECT_EQ(Client(again.port()).run({"TFCALL", "shop.take", "1", "stock"}), "0");

  // Each refused command is said once, with what the operator can do.
  const std::string log = second.log();
  EXPECT_EQ(occurrences(log, "refuses COMMAND"), 1u) << log;
  EXPECT_NE(log.find("ACL: +command"), std::string::npos) << log;
}

TEST_F(RestrictedBackendTest, TriggersWaitForTheOperatorsFlagsThenFire) {
  Proxy proxy(flags());
  Client c(proxy.port());
  const std::string code =
      "#!js api_version=1.0 name=audit\n"
      "redis.registerKeySpaceTrigger('seen', 'order:', (c, d) => {\n"
      "  c.call('incr', 'seen');\n"
      "});\n"
      "redis.registerStreamTrigger('log', 'events:', (c, d) => {\n"
      "  c.call('incr', 'logged');\n"
      "});\n";
  EXPECT_EQ(c.run({"TFUNCTION", "LOAD", code}), "OK");
  // Stream triggers need no setting: they read the streams themselves.
  c.call({"XADD", "events:1", "*", "a", "1"});
  EXPECT_EQ(eventuallyEquals(
                [&] {
                  return c.run({"GET", "logged"});
                },
                std::string("\"1\"")),
            "\"1\"");
  // Key space events need notify-keyspace-events, which tfproxy may not set here: it says so
  // once in its log and in TFUNCTION LIST.
  EXPECT_TRUE(eventually([&] {
    return proxy.log().find("Add the flags 'KAm' to the backend's notify-keyspace-events") !=
           std::string::npos;
  }));
  EXPECT_NE(c.run({"TFUNCTION", "LIST", "vv"}).find("receives no events"), std::string::npos);
  EXPECT_EQ(c.run({"SET", "order:1", "x"}), "OK");
  EXPECT_EQ(c.run({"GET", "seen"}), "(nil)");

  // The operator sets them (the parameter group): the triggers fire, without a restart.
  Client direct(redis_->port());
  EXPECT_EQ(direct.run({kOperatorConfig, "SET", "notify-keyspace-events", "KAm"}), "OK");
  EXPECT_EQ(c.run({"SET", "order:2", "x"}), "OK");
  EXPECT_EQ(c.run({"GET", "seen"}), "\"1\"");
  EXPECT_EQ(direct.run({"SET", "order:3", "x"}), "OK");
  EXPECT_EQ(eventuallyEquals(
                [&] {
                  return c.run({"GET", "seen"});
                },
                std::string("\"2\"")),
            "\"2\"");
  EXPECT_EQ(c.run({"TFUNCTION", "LIST", "vv"}).find("receives no events"), std::string::npos);

  const std::string log = proxy.log();
  EXPECT_EQ(occurrences(log, "refuses CONFIG"), 1u) << log;
  EXPECT_EQ(occurrences(log, "ACL DRYRUN is not available"), 1u) << log;
  EXPECT_NE(log.find("allow 'acl|dryrun'"), std::string::npos) << log;
}

}  // namespace
}  // namespace tfproxy::testing
