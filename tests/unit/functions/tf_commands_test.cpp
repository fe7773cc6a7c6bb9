// The functions domain in process: the intercepted commands run against real V8 and an
// in-memory backend (tests/fakes/), with no socket and no redis-server.
#include "functions/tf_commands.h"

#include <gtest/gtest.h>

#include <chrono>
#include <future>

#include "backend/command_index.h"
#include "backend/command_table.h"
#include "functions/commands.h"
#include "functions/errors.h"
#include "resp/errors.h"
#include "scripting/errors.h"
#include "tests/fakes/fake_backend.h"

namespace tfproxy::functions {
namespace {

constexpr char kLibrary[] = R"(#!js api_version=1.0 name=lib
redis.registerFunction('hello', () => 'hello');
redis.registerFunction('setget', (client, key, value) => {
  client.call('set', key, value);
  return client.call('get', key);
});
redis.registerFunction('count', (client, key) => client.call('incr', key));
redis.registerFunction('nested', (client) => client.call('tfcall', 'lib.hello', '0'));
redis.registerAsyncFunction('later', async (client) => 'later');
)";

// One engine for the whole test program (V8 starts once per process).
class FunctionsTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    redis_ = new fakes::FakeRedis;
    connections_ = new fakes::FakeConnections(*redis_);
    host_ = new fakes::FakeHost(*connections_);
    config_ = new config::GearsConfig(config::GearsSettings{});
    engine_ = scripting::createEngine(*config_, *host_).release();
    TfCommands::Services services;
    services.engine = engine_;
    services.config = config_;
    services.connections = connections_;
    services.host = host_;
    commands_ = new TfCommands(services);
    ASSERT_EQ(run({"TFUNCTION", "LOAD", kLibrary}), "+OK\r\n");
  }

  static void TearDownTestSuite() {
    delete commands_;
    engine_->shutdown();
    delete engine_;
    delete config_;
    delete host_;
    delete connections_;
    delete redis_;
  }

  // Runs one command as `client` and returns its reply (the test fails after 5 s without one).
  static std::string run(std::vector<std::string> argv, ClientContext client = {}) {
    auto reply = std::make_shared<std::promise<std::string>>();
    auto future = reply->get_future();
    commands_->run(argv, client, [reply](std::string bytes) { reply->set_value(bytes); });
    if (future.wait_for(std::chrono::seconds(5)) != std::future_status::ready) {
      ADD_FAILURE() << "no reply to " << argv[0];
      return {};
    }
    return future.get();
  }
  static std::string error(std::string_view text) { return "-" + std::string(text) + "\r\n"; }

  static inline fakes::FakeRedis* redis_;
  static inline fakes::FakeConnections* connections_;
  static inline fakes::FakeHost* host_;
  static inline config::GearsConfig* config_;
  static inline scripting::Engine* engine_;
  static inline TfCommands* commands_;
};

// In front of a Redis Cluster, LOAD DEBUG answers upstream's refusal (with a debug address set;
// without one, the missing address is said first).
TEST_F(FunctionsTest, DebuggingIsRefusedInFrontOfACluster) {
  config::GearsSettings settings;
  settings.v8_debug_server_address = "127.0.0.1:1";
  config::GearsConfig config(settings);
  TfCommands::Services services;
  services.engine = engine_;
  services.config = &config;
  services.connections = connections_;
  services.host = host_;
  services.cluster = true;
  TfCommands cluster(services);
  std::promise<std::string> reply;
  cluster.run({"TFUNCTION", "LOAD", "DEBUG", "#!js api_version=1.0 name=d\nredis.log('x');"}, {},
              [&reply](std::string bytes) { reply.set_value(bytes); });
  EXPECT_EQ(reply.get_future().get(), error(errors::kDebugInCluster));
  EXPECT_EQ(run({"TFUNCTION", "LOAD", "DEBUG", "#!js api_version=1.0 name=d\nredis.log('x');"}),
            error(errors::kNoDebugServer));
}

TEST_F(FunctionsTest, CallsAFunction) {
  EXPECT_EQ(run({"TFCALL", "lib.hello", "0"}), "$5\r\nhello\r\n");
  EXPECT_EQ(run({"tfcallasync", "lib.later", "0"}), "$5\r\nlater\r\n");
}

TEST_F(FunctionsTest, CommandsFromJavaScriptRunAsTheClientInItsDatabase) {
  ClientContext client;
  client.db = 3;
  client.user = "alice";
  client.password = "pw";
  EXPECT_EQ(run({"TFCALL", "lib.setget", "1", "k", "v"}, client), "$1\r\nv\r\n");
  EXPECT_EQ(redis_->get(3, "k"), "v");
  EXPECT_EQ(redis_->get(0, "k"), "");
  EXPECT_EQ(redis_->log().back(), "3 alice get k");
  EXPECT_EQ(connections_->outstanding(), 0);
}

TEST_F(FunctionsTest, RepliesFollowTheClientsProtocol) {
  ClientContext resp3;
  resp3.protocol = resp::Protocol::kResp3;
  EXPECT_EQ(run({"TFCALL", "lib.count", "1", "counter3"}, resp3), ":1\r\n");
  EXPECT_EQ(run({"TFCALL", "lib.count", "1", "counter3"}), ":2\r\n");
}

TEST_F(FunctionsTest, ArgumentErrorsUseUpstreamTexts) {
  EXPECT_EQ(run({"TFCALL", "lib.hello"}), error(resp::errors::wrongArity("tfcall")));
  EXPECT_EQ(run({"TFCALL", "nodot", "0"}), error(scripting::errors::kNoFunctionName));
  EXPECT_EQ(run({"TFCALL", "lib.hello", "x"}), error(errors::kInvalidDigit));
  EXPECT_EQ(run({"TFCALL", "lib.hello", ""}), error(errors::kEmptyInteger));
  EXPECT_EQ(run({"TFUNCTION", "NOPE"}), error(errors::unknownSubcommand("nope")));
  EXPECT_EQ(run({"TFUNCTION", "LOAD"}), error(errors::kNoPayload));
  EXPECT_EQ(run({"_rg_internals.function"}), error(errors::kInternalCommand));
}

TEST_F(FunctionsTest, JavaScriptMayNotCallTfCommands) {
  const std::string reply = run({"TFCALL", "lib.nested", "0"});
  EXPECT_NE(reply.find("command 'tfcall' is not allowed on script mode"), std::string::npos)
      << reply;
}

TEST_F(FunctionsTest, DeniedUserGetsRedisNoPermissionText) {
  redis_->deny("mallory", "FCALL");
  ClientContext mallory;
  mallory.user = "mallory";
  EXPECT_EQ(run({"TFCALL", "lib.hello", "0"}, mallory),
            error(scripting::errors::noPermissions("mallory", "to run the 'tfcall' command")));
  redis_->deny("mallory", "FUNCTION");
  EXPECT_EQ(
      run({"TFUNCTION", "LIST"}, mallory),
      error(scripting::errors::noPermissions("mallory", "to run the 'tfunction|list' command")));
}

TEST_F(FunctionsTest, TransactionRunsQueuedCommandsInOrderInsideOneSection) {
  ClientContext client;
  client.in_multi = true;
  client.transaction = {{"SET", "tx", "1"},
                        {"TFCALL", "lib.count", "1", "tx"},
                        {"TFUNCTION", "DELETE", "lib"},
                        {"SELECT", "2"},
                        {"TFCALL", "lib.setget", "1", "tx", "two"}};
  client.exec_prefix = [](auto on_reply) { on_reply("*0\r\n", ConnectionState{}); };
  ConnectionState adopted;
  client.adopt_state = [&adopted](ConnectionState state, std::function<void()> done) {
    adopted = state;
    done();
  };
  EXPECT_EQ(run({"EXEC"}, client),
            "*5\r\n+OK\r\n:2\r\n" + error(errors::kBlockingInTransaction) + "+OK\r\n$3\r\ntwo\r\n");
  EXPECT_EQ(redis_->get(0, "tx"), "2");
  EXPECT_EQ(redis_->get(2, "tx"), "two");
  EXPECT_EQ(adopted.db, 2);  // the client's own connection follows the SELECT
}

TEST_F(FunctionsTest, UnreachableBackendIsAnErrorNotAHang) {
  connections_->setUnreachable(true);
  const std::string reply = run({"TFCALL", "lib.setget", "1", "a", "b"});
  connections_->setUnreachable(false);
  EXPECT_EQ(reply.rfind("-", 0), 0u) << reply;
  EXPECT_EQ(run({"TFCALL", "lib.hello", "0"}), "$5\r\nhello\r\n");
}

TEST(CommandTableTest, EveryFactComesFromTheTable) {
  backend::CommandIndex index(backend::CommandTable::builtin());
  registerIntercepts(index);
  for (const CommandSpec& spec : commandSpecs()) {
    if (!spec.sub.empty()) continue;
    const backend::CommandEntry& entry = index.lookup(spec.name);
    EXPECT_EQ(entry.kind, spec.has(kConditional) ? backend::CommandKind::kConditional
                                                 : backend::CommandKind::kIntercepted)
        << spec.name;
    EXPECT_EQ(deniedToScripts(spec.name), spec.has(kNoScript)) << spec.name;
  }
  EXPECT_TRUE(isOwnCommand({"CONFIG", "GET", "redisgears_2.lock-redis-timeout"}));
  EXPECT_FALSE(isOwnCommand({"CONFIG", "GET", "maxmemory"}));
  EXPECT_TRUE(isOwnCommand({"config", "set", "REDISGEARS_2.lock-redis-timeout", "1"}));
  EXPECT_EQ(findCommand(std::vector<std::string>{"tfunction", "Load", "x"})->fullName(),
            "tfunction|load");
  EXPECT_EQ(findCommand(std::vector<std::string>{"TFUNCTION", "nope"})->fullName(), "tfunction");
  EXPECT_EQ(findCommand("get"), nullptr);
  const CommandSpec& tfcall = *findCommand("tfcall");
  EXPECT_EQ(declaredKeys(tfcall, {"TFCALL", "l.f", "2", "a", "b", "c"}),
            (std::vector<std::string_view>{"a", "b"}));
  EXPECT_TRUE(declaredKeys(tfcall, {"TFCALL", "l.f", "3", "a"}).empty());
}

}  // namespace
}  // namespace tfproxy::functions
