// Upstream parity outside triggers: hundreds of libraries within the default budget, start-up
// options in the module-argument form, debug commands, and the details real clients notice.
#include <gtest/gtest.h>

#include <fstream>
#include <memory>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "resp/encoder.h"
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
    if (!kSanitized) EXPECT_LT(rssKb(proxy.pid()), 40 * 1024 + kLibraries * 1024);
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
    proxy_ = std::make_unique<Proxy>(
        std::vector<std::string>{"--backend", redis_->address(), "enable-debug-command", "yes"});
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
  // SKIP drops exactly the reply of each kind of command tfproxy runs, errors included.
  const std::vector<std::vector<std::string>> ours = {
      {"TFCALL", "parity.echo", "0", "x"},
      {"TFCALLASYNC", "parity.echo", "0", "x"},
      {"TFUNCTION", "LIST"},
      {"TFUNCTION", "DELETE", "nosuch"},
      {"TFUNCTION", "DEBUG", "help"},
      {"TCONFIG_GET", "error-verbosity"},
      {"TCONFIG_SET", "error-verbosity", "1"},
      {"CONFIG", "GET", "redisgears_2.*"},
      {"CONFIG", "SET", "redisgears_2.error-verbosity", "1"},
      {"ACL", "GETUSER", "default"},
      {"ACL", "LIST"},
      {"ACL", "DRYRUN", "default", "TFCALL", "parity.echo", "0"},
      {"_rg_internals.function", "x"},
      {"TFCALL"},
  };
  for (const auto& command : ours) {
    c.sendCommand({"CLIENT", "REPLY", "SKIP"});
    c.sendCommand(command);
    c.sendCommand({"PING"});
    EXPECT_EQ(resp::toDebugString(c.read()), "PONG") << command[0];
  }
  // The transaction ran while replies were off.
  EXPECT_EQ(c.run({"TFUNCTION", "LIST", "LIBRARY", "none"}), "[]");
  c.sendCommand({"CLIENT", "REPLY", "SKIP"});
  c.sendCommand({"TFUNCTION", "LIST", "LIBRARY", "none"});
  EXPECT_EQ(c.run({"TFCALLASYNC", "parity.echo", "0", "after"}), "\"after\"");
}

// COMMAND knows the Triggers and Functions commands, merged with what the backend reports.
TEST_F(ParityFixture, CommandKnowsTheTfCommands) {
  Client c(proxy_->port());
  Client direct(redis_->port());
  const std::string info = c.run({"COMMAND", "INFO", "TFCALL", "get", "TFUNCTION", "nosuch"});
  EXPECT_EQ(info.rfind("[[\"tfcall\", -3, [module, noscript, may_replicate, no_mandatory_keys, "
                       "movablekeys], 0, 0, 0, [], [], [[\"flags\", [RW, access, update], "
                       "\"begin_search\", [\"type\", \"index\", \"spec\", [\"index\", 2]], "
                       "\"find_keys\", [\"type\", \"keynum\", \"spec\", [\"keynumidx\", 0, "
                       "\"firstkey\", 1, \"keystep\", 1]]]], []], [\"get\", 2,",
                       0),
            0u)
      << info;
  EXPECT_NE(info.find("[\"tfunction\", -2, [module, noscript, may_replicate, "
                      "no_mandatory_keys], 0, 0, 0, [], [], [], []], (nil)]"),
            std::string::npos)
      << info;
  const int64_t backend_count = direct.call({"COMMAND", "COUNT"}).integer;
  EXPECT_EQ(c.call({"COMMAND", "COUNT"}).integer, backend_count + 3);
  EXPECT_EQ(c.call({"COMMAND"}).elements.size(), static_cast<size_t>(backend_count + 3));
  EXPECT_EQ(c.call({"COMMAND", "LIST"}).elements.size(),
            direct.call({"COMMAND", "LIST"}).elements.size() + 3);
  EXPECT_EQ(c.run({"COMMAND", "LIST", "FILTERBY", "PATTERN", "tf*"}),
            "[\"tfunction\", \"tfcall\", \"tfcallasync\"]");
  EXPECT_EQ(c.run({"COMMAND", "LIST", "FILTERBY", "MODULE", "redisgears_2"}),
            "[\"tfunction\", \"tfcall\", \"tfcallasync\"]");
  EXPECT_EQ(c.run({"COMMAND", "GETKEYS", "TFCALL", "lib.f", "2", "a", "b", "c"}), "[\"a\", \"b\"]");
  EXPECT_EQ(c.run({"COMMAND", "GETKEYSANDFLAGS", "tfcallasync", "lib.f", "1", "a"}),
            "[[\"a\", [RW, access, update]]]");
  EXPECT_EQ(c.run({"COMMAND", "GETKEYS", "TFCALL", "lib.f", "0"}),
            "(error) ERR The command has no key arguments");
  EXPECT_EQ(c.run({"COMMAND", "GETKEYS", "TFCALL", "lib.f", "3", "a"}),
            "(error) ERR Invalid arguments specified for command");
  EXPECT_EQ(c.run({"COMMAND", "GETKEYS", "TFCALL", "lib.f"}),
            "(error) ERR Invalid number of arguments specified for command");
  EXPECT_EQ(c.run({"COMMAND", "GETKEYS", "TFUNCTION", "LIST"}),
            "(error) ERR The command has no key arguments");
  EXPECT_EQ(c.run({"COMMAND", "GETKEYS", "SET", "k", "v"}), "[\"k\"]");
  const std::string docs = c.run({"COMMAND", "DOCS", "TFCALL", "GET"});
  EXPECT_NE(docs.find("\"tfcall\", [\"summary\", \"Runs a JavaScript function\", \"since\", "
                      "\"2.0.0\", \"group\", \"module\", \"module\", \"redisgears_2\"]"),
            std::string::npos)
      << docs;
  EXPECT_NE(docs.find("\"get\""), std::string::npos) << docs;
  // RESP3: flags and categories are sets, docs a map.
  c.call({"HELLO", "3"});
  const std::string resp3 = c.run({"COMMAND", "INFO", "tfcallasync"});
  EXPECT_EQ(resp3.rfind("[[\"tfcallasync\", -3, set[module, ", 0), 0u) << resp3;
  EXPECT_EQ(c.call({"COMMAND", "DOCS", "tfunction"}).type, resp::Type::kMap);
}

// tfproxy's own keys (the library store) are not there for applications: after FLUSHALL the
// database is empty by every command that lists or counts keys.
TEST_F(ParityFixture, OwnKeysAreInvisible) {
  Client c(proxy_->port());
  Client direct(redis_->port());
  ASSERT_EQ(c.run({"FLUSHALL"}), "OK");
  ASSERT_EQ(testing::eventuallyEquals(
                [&] {
                  return direct.run({"EXISTS", "tfproxy:libraries"});
                },
                "1"),
            "1");  // the store wrote the libraries again
  EXPECT_EQ(c.run({"DBSIZE"}), "0");
  EXPECT_EQ(c.run({"KEYS", "*"}), "[]");
  EXPECT_EQ(c.run({"SCAN", "0"}), "[\"0\", []]");
  EXPECT_EQ(c.run({"SCAN", "0", "MATCH", "tfproxy:*", "COUNT", "1000", "TYPE", "hash"}),
            "[\"0\", []]");
  EXPECT_EQ(c.run({"RANDOMKEY"}), "(nil)");
  const std::string keyspace = c.call({"INFO", "keyspace"}).str;
  EXPECT_EQ(keyspace.find("db0:"), std::string::npos) << keyspace;
  EXPECT_EQ(c.call({"INFO"}).str.find("db0:"), std::string::npos);
  for (int i = 0; i < 3; ++i) c.call({"SET", "app:" + std::to_string(i), "v"});
  EXPECT_EQ(c.run({"DBSIZE"}), "3");
  EXPECT_EQ(c.call({"KEYS", "*"}).elements.size(), 3u);
  EXPECT_NE(c.call({"INFO", "keyspace"}).str.find("db0:keys=3,"), std::string::npos);
  for (int i = 0; i < 50; ++i) {
    EXPECT_EQ(c.run({"RANDOMKEY"}).rfind("\"app:", 0), 0u);
  }
  // Pipelined with other commands, in order.
  c.send("*1\r\n$6\r\nDBSIZE\r\n*1\r\n$4\r\nPING\r\n*2\r\n$4\r\nKEYS\r\n$5\r\napp:0\r\n");
  EXPECT_EQ(resp::toDebugString(c.read()), "3");
  EXPECT_EQ(resp::toDebugString(c.read()), "PONG");
  EXPECT_EQ(resp::toDebugString(c.read()), "[\"app:0\"]");
  // Another database holds none of tfproxy's keys: its replies pass unchanged.
  EXPECT_EQ(c.run({"SELECT", "1"}), "OK");
  EXPECT_EQ(c.run({"DBSIZE"}), "0");
  // The backend itself still has the store (and the fleet's keys, once its heartbeat has run
  // again since the FLUSHALL).
  EXPECT_EQ(direct.run({"MULTI"}), "OK");
  direct.call({"DBSIZE"});
  direct.call({"EXISTS", "tfproxy:libraries:{fleet}:members", "tfproxy:libraries:{fleet}:lock"});
  const resp::Value counts = direct.call({"EXEC"});
  ASSERT_EQ(counts.elements.size(), 2u);
  EXPECT_EQ(counts.elements[0].integer, 4 + counts.elements[1].integer);
}

const char kWriters[] = R"(#!js api_version=1.0 name=writers
redis.registerFunction('write', function(c){ return c.call('set', 'parity:w', '1'); });
redis.registerAsyncFunction('write_async', async function(c){
  return c.block((b) => b.call('set', 'parity:w', '2'));
});
redis.registerFunction('read', function(c){ return c.call('get', 'parity:w'); },
                       {flags: [redis.functionFlags.NO_WRITES]});)";
const char kOnReplica[] =
    "(error) Err can not run a function that might perform writes on a replica or when the "
    "\"avoid replication traffic\" option is enabled";
const char kOom[] = "(error) OOM can not run the function when out of memory";

// Role and memory are never stale when a function is refused or allowed: a refusal is
// confirmed with the backend, and a change that passes through tfproxy is read at once.
TEST_F(ParityFixture, BackendStateIsNeverStale) {
  Client c(proxy_->port());
  Client direct(redis_->port());
  ASSERT_EQ(c.run({"TFUNCTION", "LOAD", kWriters}), "OK");
  ASSERT_EQ(c.run({"SET", "parity:w", "1"}), "OK");
  const std::string nowhere = std::to_string(freePort());
  for (int round = 0; round < 3; ++round) {
    // Demoted through tfproxy: refused at once, by every kind of call.
    ASSERT_EQ(c.run({"REPLICAOF", "127.0.0.1", nowhere}), "OK");
    EXPECT_EQ(c.run({"TFCALL", "writers.write", "0"}), kOnReplica);
    EXPECT_EQ(c.run({"TFCALLASYNC", "writers.write_async", "0"}), kOnReplica);
    EXPECT_EQ(c.run({"TFCALL", "writers.read", "0"}), "\"1\"");
    EXPECT_EQ(c.run({"MULTI"}), "OK");
    EXPECT_EQ(c.run({"TFCALL", "writers.write", "0"}), "QUEUED");
    EXPECT_EQ(c.run({"EXEC"}), std::string("[") + kOnReplica + "]");
    // Promoted behind tfproxy's back (a failover): allowed at once, the refusal is confirmed.
    ASSERT_EQ(direct.run({"REPLICAOF", "NO", "ONE"}), "OK");
    EXPECT_EQ(c.run({"TFCALL", "writers.write", "0"}), "\"OK\"");
    EXPECT_EQ(c.run({"TFCALLASYNC", "writers.write_async", "0"}), "\"OK\"");

    // Out of memory through tfproxy: refused at once with upstream's text.
    ASSERT_EQ(c.run({"CONFIG", "SET", "maxmemory", "1"}), "OK");
    EXPECT_EQ(c.run({"TFCALL", "writers.write", "0"}), kOom);
    EXPECT_EQ(c.run({"TFCALLASYNC", "writers.write_async", "0"}), kOom);
    EXPECT_EQ(c.run({"MULTI"}), "OK");
    EXPECT_EQ(c.run({"TFCALL", "writers.write", "0"}), "QUEUED");
    EXPECT_EQ(c.run({"EXEC"}), std::string("[") + kOom + "]");
    // Memory freed behind tfproxy's back: allowed at once.
    ASSERT_EQ(direct.run({"CONFIG", "SET", "maxmemory", "0"}), "OK");
    EXPECT_EQ(c.run({"TFCALL", "writers.write", "0"}), "\"OK\"");
    ASSERT_EQ(c.run({"SET", "parity:w", "1"}), "OK");
  }
}

// An idle tfproxy sends at most one command a second to the backend for its own housekeeping
// (an INFO and a look at the library store, every two seconds each), and about as many for the
// fleet: a heartbeat a second, the fleet lock it keeps while alone renewed every two seconds,
// the backend's clock read every ten.
TEST_F(ParityFixture, IdleHousekeepingIsOneCommandASecond) {
  // The first look after the fixture's load reads the store once more (a new generation).
  std::this_thread::sleep_for(std::chrono::milliseconds(2200));
  Client monitor(redis_->port());
  ASSERT_EQ(monitor.run({"MONITOR"}), "OK");
  constexpr auto kWatch = std::chrono::seconds(6);
  const auto until = std::chrono::steady_clock::now() + kWatch;
  int housekeeping = 0;
  int fleet = 0;
  std::string seen;
  while (std::chrono::steady_clock::now() < until) {
    if (auto line = monitor.tryRead(std::chrono::milliseconds(100))) {
      ++(line->str.find(":{fleet}") != std::string::npos ||
                 line->str.find("\"TIME\"") != std::string::npos
             ? fleet
             : housekeeping);
      seen += line->str + "\n";
    }
  }
  EXPECT_LE(housekeeping, 7) << seen;  // 6 s, plus one at the window's edge
  EXPECT_GE(housekeeping, 2) << seen;  // it does look
  EXPECT_LE(fleet, 6 + 3 + 2 + 1) << seen;
  EXPECT_GE(fleet, 5) << seen;
}

// Upstream's module arguments, pasted as `<name> <value>` pairs after tfproxy's own flags, and
// the same options in the configuration file.
TEST(ParityTest, ModuleArgumentsAndConfigFile) {
  RedisServer redis;
  const std::string config = ::testing::TempDir() + "/tfproxy-parity.ini";
  {
    std::ofstream file(config);
    file << "v8-maxmemory = 120mb\nerror-verbosity = 2\n";
  }
  Proxy proxy({"--backend", redis.address(), "--config", config, "lock-redis-timeout", "800",
               "enable-debug-command", "yes", "v8-flags", "'--noexpose-wasm'", "execution-threads",
               "2"});
  Client c(proxy.port());
  EXPECT_EQ(c.run({"CONFIG", "GET", "redisgears_2.lock-redis-timeout"}),
            "[\"redisgears_2.lock-redis-timeout\", \"800\"]");
  EXPECT_EQ(c.run({"CONFIG", "GET", "redisgears_2.execution-threads"}),
            "[\"redisgears_2.execution-threads\", \"2\"]");
  EXPECT_EQ(c.run({"CONFIG", "GET", "redisgears_2.v8-maxmemory"}),
            "[\"redisgears_2.v8-maxmemory\", \"125829120\"]");
  EXPECT_EQ(c.run({"CONFIG", "GET", "redisgears_2.error-verbosity"}),
            "[\"redisgears_2.error-verbosity\", \"2\"]");
  EXPECT_EQ(c.run({"TFUNCTION", "DEBUG", "js", "isolates_strong_count"}), "0");
  // A bad value is refused at start as the flag form is.
  std::string output;
  EXPECT_NE(runProxyToExit({"--backend", redis.address(), "v8-maxmemory", "1kb"}, &output), 0);
  EXPECT_NE(output.find("v8-maxmemory"), std::string::npos) << output;
}

// TFUNCTION DEBUG with upstream's reply shapes: a replaced library's isolate stays (not active)
// while a call of the old version still runs and goes once it is released; the pending
// callAsync commands of each library.
TEST(ParityTest, DebugCommands) {
  RedisServer redis;
  Proxy proxy({"--backend", redis.address(), "enable-debug-command", "yes"});
  Client c(proxy.port());
  const std::string lib = R"(#!js api_version=1.0 name=dbg
redis.registerAsyncFunction('wait', async function(c){
  return await c.block(function(b){ return b.callAsync('blpop', 'dbg:wake', '10'); });
});
redis.registerFunction('v', function(c){ return VERSION; });)";
  auto version = [&](int v) {
    std::string code = lib;
    code.replace(code.find("VERSION"), 7, std::to_string(v));
    return code;
  };
  ASSERT_EQ(c.run({"TFUNCTION", "LOAD", version(1)}), "OK");
  Client waiter(proxy.port());
  waiter.sendCommand({"TFCALLASYNC", "dbg.wait", "0"});
  EXPECT_EQ(eventuallyEquals(
                [&] {
                  return c.run({"TFUNCTION", "DEBUG", "dump_pending_async_calls"});
                },
                "[\"dbg\", [\"blpop dbg:wake 10\"]]"),
            "[\"dbg\", [\"blpop dbg:wake 10\"]]");
  ASSERT_EQ(c.run({"TFUNCTION", "LOAD", "REPLACE", version(2)}), "OK");
  EXPECT_EQ(c.run({"TFCALL", "dbg.v", "0"}), "2");
  EXPECT_EQ(c.run({"TFUNCTION", "DEBUG", "js", "isolates_aggregated_stats"}),
            "[\"active\", 1, \"not_active\", 1, \"combined_memory_limit\", 3145728]");
  EXPECT_EQ(c.run({"LPUSH", "dbg:wake", "x"}), "1");
  EXPECT_EQ(resp::toDebugString(waiter.read()), "[\"dbg:wake\", \"x\"]");
  EXPECT_EQ(eventuallyEquals(
                [&] {
                  return c.run({"TFUNCTION", "DEBUG", "js", "isolates_aggregated_stats"});
                },
                "[\"active\", 1, \"not_active\", 0, \"combined_memory_limit\", 3145728]"),
            "[\"active\", 1, \"not_active\", 0, \"combined_memory_limit\", 3145728]");
  EXPECT_EQ(c.run({"TFUNCTION", "DEBUG", "dump_pending_async_calls"}), "[\"dbg\", []]");
  EXPECT_EQ(c.run({"TFUNCTION", "DEBUG", "js", "isolates_strong_count"}), "1");
  EXPECT_EQ(c.run({"TFUNCTION", "DEBUG", "js", "isolates_gc"}), "OK");
  EXPECT_EQ(c.run({"TFUNCTION", "DEBUG", "js", "nosuch"}), "(error) Unknown subcommand 'nosuch'");
  EXPECT_EQ(c.run({"TFUNCTION", "DEBUG", "js"}), "(error) Subcommand was not provided");
  EXPECT_EQ(c.run({"TFUNCTION", "DEBUG", "lua", "x"}),
            "(error) Backend 'lua' does not exists or not yet loaded");
  const resp::Value stats = c.call({"TFUNCTION", "DEBUG", "js", "isolates_stats"});
  EXPECT_EQ(resp::toDebugString(stats).rfind("[\"dbg\", [\"", 0), 0u) << resp::toDebugString(stats);
}

// ACL rules that name the Triggers and Functions commands work as with the module: kept by
// tfproxy, enforced per user, shown merged into Redis' answers, and stored in the backend so that
// every tfproxy in front of it, and a restarted one, enforces them.
TEST(ParityTest, AclRulesNamingTfCommands) {
  RedisServer redis;
  auto a = std::make_unique<Proxy>(std::vector<std::string>{"--backend", redis.address()});
  Proxy b({"--backend", redis.address()});
  Client admin(a->port());
  ASSERT_EQ(admin.run({"TFUNCTION", "LOAD",
                       "#!js api_version=1.0 name=lib\n"
                       "redis.registerFunction('f', function(c, k){ return 1; });"}),
            "OK");
  EXPECT_EQ(admin.run({"ACL", "SETUSER", "alice", "on", ">pass", "~cached:*", "+get", "+tfunction",
                       "+TFCALL"}),
            "OK");
  EXPECT_EQ(admin.run({"ACL", "SETUSER", "bob", "on", ">pass", "~*", "+@all", "-tfcallasync",
                       "-tfunction|delete"}),
            "OK");
  // A bad rule anywhere: Redis' error, and nothing applied.
  EXPECT_EQ(admin.run({"ACL", "SETUSER", "carol", "on", "+tfcall", "+tfunction|bogus"}),
            "(error) ERR Error in ACL SETUSER modifier '+tfunction|bogus': Unknown command or "
            "category name in ACL");
  EXPECT_EQ(admin.run({"ACL", "SETUSER", "carol", "on", "+tfcall", "+bogus"}),
            "(error) ERR Error in ACL SETUSER modifier '+bogus': Unknown command or category name "
            "in ACL");
  EXPECT_EQ(admin.run({"ACL", "GETUSER", "carol"}), "(nil)");

  const std::string alice_rules = "-@all +get +tfunction +tfcall";
  const std::string getuser = admin.run({"ACL", "GETUSER", "alice"});
  EXPECT_NE(getuser.find("\"commands\", \"" + alice_rules + "\""), std::string::npos) << getuser;
  const std::string list = admin.run({"ACL", "LIST"});
  EXPECT_NE(list.find("~cached:* resetchannels " + alice_rules + "\""), std::string::npos) << list;
  EXPECT_NE(list.find("+@all -tfcallasync -tfunction|delete\""), std::string::npos) << list;
  EXPECT_EQ(admin.run({"ACL", "DRYRUN", "alice", "TFCALL", "lib.f", "1", "cached:x"}), "OK");
  EXPECT_EQ(admin.run({"ACL", "DRYRUN", "alice", "tfcallasync", "lib.f", "0"}),
            "\"This user has no permissions to run the 'tfcallasync' command\"");
  EXPECT_EQ(admin.run({"ACL", "DRYRUN", "alice", "tfcall", "lib.f", "1", "other"}),
            "\"This user has no permissions to access the 'other' key\"");
  EXPECT_EQ(admin.run({"ACL", "DRYRUN", "bob", "TFUNCTION", "DELETE", "lib"}),
            "\"This user has no permissions to run the 'tfunction|delete' command\"");
  EXPECT_EQ(admin.run({"ACL", "DRYRUN", "bob", "TFUNCTION", "LIST"}), "OK");
  EXPECT_EQ(admin.run({"ACL", "DRYRUN", "nobody", "TFCALL", "lib.f", "0"}),
            "(error) ERR User 'nobody' not found");

  // Enforced by each tfproxy in front of the same Redis (the other one within two seconds).
  auto as = [](uint16_t port, const std::string& user) {
    auto c = std::make_unique<Client>(port);
    EXPECT_EQ(c->run({"AUTH", user, "pass"}), "OK");
    return c;
  };
  for (uint16_t port : {a->port(), b.port()}) {
    auto alice = as(port, "alice");
    auto bob = as(port, "bob");
    EXPECT_EQ(eventuallyEquals(
                  [&] {
                    return alice->run({"TFCALL", "lib.f", "1", "cached:x"});
                  },
                  "1"),
              "1");
    EXPECT_EQ(alice->run({"TFCALLASYNC", "lib.f", "0"}),
              "(error) NOPERM User alice has no permissions to run the 'tfcallasync' command");
    EXPECT_EQ(alice->run({"TFUNCTION", "LIST", "LIBRARY", "none"}), "[]");
    EXPECT_EQ(bob->run({"TFCALL", "lib.f", "0"}), "1");
    EXPECT_EQ(bob->run({"TFCALLASYNC", "lib.f", "0"}),
              "(error) NOPERM User bob has no permissions to run the 'tfcallasync' command");
    EXPECT_EQ(bob->run({"TFUNCTION", "DELETE", "lib"}),
              "(error) NOPERM User bob has no permissions to run the 'tfunction|delete' command");
  }

  // A restarted tfproxy enforces them too; DELUSER forgets them; `reset` excludes all.
  EXPECT_EQ(a->stop(), 0);
  a = std::make_unique<Proxy>(std::vector<std::string>{"--backend", redis.address()});
  Client again(a->port());
  EXPECT_EQ(as(a->port(), "bob")->run({"TFCALLASYNC", "lib.f", "0"}),
            "(error) NOPERM User bob has no permissions to run the 'tfcallasync' command");
  EXPECT_EQ(again.run({"ACL", "SETUSER", "bob", "reset", "on", ">pass", "~*", "+get"}), "OK");
  EXPECT_EQ(as(a->port(), "bob")->run({"TFCALL", "lib.f", "0"}),
            "(error) NOPERM User bob has no permissions to run the 'tfcall' command");
  EXPECT_EQ(again.run({"ACL", "DELUSER", "alice", "bob"}), "2");
  EXPECT_EQ(Client(redis.port()).run({"HEXISTS", "tfproxy:libraries", "#acl:alice"}), "0");
  EXPECT_EQ(again.run({"ACL", "SETUSER", "alice", "on", ">pass", "+@all"}), "OK");
  EXPECT_EQ(again.run({"ACL", "GETUSER", "alice"}).find("tfcall"), std::string::npos);
  EXPECT_EQ(as(a->port(), "alice")->run({"TFCALLASYNC", "lib.f", "0"}), "1");
}

// --aclfile: users in Redis' ACL file format, rules naming tfproxy's commands included, applied
// at start and again by ACL LOAD through tfproxy.
TEST(ParityTest, AclFile) {
  RedisServer redis;
  const std::string path = ::testing::TempDir() + "/tfproxy-parity.acl";
  auto write = [&](const std::string& text) { std::ofstream(path) << text; };
  write("user default on nopass ~* &* +@all\nuser dave on >pw ~* +@all -tfcall\n");
  Proxy proxy({"--backend", redis.address(), "--aclfile", path});
  Client admin(proxy.port());
  ASSERT_EQ(admin.run({"TFUNCTION", "LOAD",
                       "#!js api_version=1.0 name=lib\n"
                       "redis.registerFunction('f', function(c){ return 1; });"}),
            "OK");
  Client dave(proxy.port());
  ASSERT_EQ(dave.run({"AUTH", "dave", "pw"}), "OK");
  EXPECT_EQ(dave.run({"TFCALL", "lib.f", "0"}),
            "(error) NOPERM User dave has no permissions to run the 'tfcall' command");
  EXPECT_EQ(dave.run({"TFCALLASYNC", "lib.f", "0"}), "1");
  write("user default on nopass ~* &* +@all\nuser dave on >pw ~* -@all +tfcall\n");
  EXPECT_EQ(admin.run({"ACL", "LOAD"}), "OK");
  EXPECT_EQ(dave.run({"TFCALL", "lib.f", "0"}), "1");
  EXPECT_EQ(dave.run({"TFCALLASYNC", "lib.f", "0"}),
            "(error) NOPERM User dave has no permissions to run the 'tfcallasync' command");
  // A bad file changes nothing.
  write("user dave on >pw -@all\nnonsense\n");
  EXPECT_EQ(admin.run({"ACL", "LOAD"}),
            "(error) ERR " + path + ":2: line should start with user keyword");
  EXPECT_EQ(dave.run({"TFCALL", "lib.f", "0"}), "1");
}

// Bounded soak (bench/soak.py runs the long one): edited replies and ACL rules under load, and
// a library replaced many times, leave memory, isolates and descriptors where they were.
TEST_F(ParityFixture, EditedRepliesAndReplacementsDoNotAccumulate) {
  Client c(proxy_->port());
  ASSERT_EQ(c.run({"ACL", "SETUSER", "soak", "on", ">pw", "~*", "+@all", "-tfcallasync"}), "OK");
  auto load = [&](int rounds) {
    std::string batch;
    const std::vector<std::vector<std::string>> commands = {{"DBSIZE"},
                                                            {"SCAN", "0"},
                                                            {"COMMAND", "INFO", "TFCALL"},
                                                            {"ACL", "GETUSER", "soak"},
                                                            {"KEYS", "nothing*"}};
    for (int i = 0; i < rounds; ++i) {
      for (const auto& command : commands) {
        std::vector<std::string_view> args(command.begin(), command.end());
        resp::encodeCommand(args, &batch);
      }
      if (i % 100 == 99) {
        c.send(batch);
        batch.clear();
        for (int r = 0; r < 100 * static_cast<int>(commands.size()); ++r) {
          ASSERT_FALSE(c.read().isError());
        }
      }
    }
    for (int i = 0; i < rounds / 10; ++i) {
      ASSERT_EQ(c.run({"TFUNCTION", "LOAD", "REPLACE", R"(#!js api_version=1.0 name=parity
redis.registerFunction('echo', function(c, x){ return x; });)"}),
                "OK");
    }
  };
  load(1000);  // warm up: allocator pools, caches
  const int64_t rss_before = rssKb(proxy_->pid());
  const int fds_before = openFds(proxy_->pid());
  load(4000);
  EXPECT_LT(rssKb(proxy_->pid()) - rss_before, 8 * 1024);
  EXPECT_LE(openFds(proxy_->pid()), fds_before + 2);
  EXPECT_EQ(eventuallyEquals(
                [&] {
                  return c.run({"TFUNCTION", "DEBUG", "js", "isolates_strong_count"});
                },
                "1"),
            "1");
}

}  // namespace
}  // namespace tfproxy::testing
