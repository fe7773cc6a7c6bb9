// lock-redis-timeout with both fatal-failure policies, the V8 memory limits, and load-time loops:
// hostile JavaScript gets an error and the proxy keeps serving everyone else.
#include <gtest/gtest.h>
#include <signal.h>

#include <thread>

#include "tests/support/client.h"
#include "tests/support/processes.h"

namespace tfproxy::testing {
namespace {

using Clock = std::chrono::steady_clock;

const char kHostile[] = R"(#!js api_version=1.0 name=hostile
redis.registerFunction('loop', function(client){ while (true) {} });
redis.registerFunction('promise_loop', function(client){ return new Promise(function(){ while (true) {} }); });
redis.registerFunction('loop_after_call', function(client){ client.call('set', 'touched', '1'); while (true) {} });
redis.registerFunction('slow', function(client){
  client.call('set', 'slow', 'started');
  var until = Date.now() + 800;
  while (Date.now() < until) {}
  client.call('set', 'slow', 'finished');
  return 'done';
});
redis.registerFunction('bomb', function(client){ var a = []; while (true) a.push(new Array(100000).fill(1)); });
var kept = [];
redis.registerFunction('hoard', function(client){ while (true) kept.push(new Array(100000).fill(1)); });
redis.registerFunction('ok', function(client){ return client.call('ping'); });)";

class LimitsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    redis_ = std::make_unique<RedisServer>();
    proxy_ = std::make_unique<Proxy>(std::vector<std::string>{
        "--backend", redis_->address(), "--v8-maxmemory", "60mb", "--enable-debug-command", "yes"});
    c_ = std::make_unique<Client>(proxy_->port());
    ASSERT_EQ(c_->run({"TFUNCTION", "LOAD", kHostile}), "OK");
  }
  std::unique_ptr<RedisServer> redis_;
  std::unique_ptr<Proxy> proxy_;
  std::unique_ptr<Client> c_;
};

const char kTerminated[] = "(error) Err Execution was terminated due to OOM or timeout";

TEST_F(LimitsTest, EndlessLoopIsAbortedAndTheGateReleased) {
  auto start = Clock::now();
  EXPECT_EQ(c_->run({"TFCALL", "hostile.loop", "0"}), kTerminated);
  auto took = Clock::now() - start;
  EXPECT_GE(took, std::chrono::milliseconds(450));
  EXPECT_LT(took, std::chrono::milliseconds(2000));
  // The loop that holds the gate: others wait at most until the abort, then go on.
  c_->sendCommand({"TFCALL", "hostile.loop_after_call", "0"});
  std::this_thread::sleep_for(std::chrono::milliseconds(100));
  Client other(proxy_->port());
  EXPECT_EQ(other.run({"GET", "touched"}), "\"1\"");  // writes before the abort stay
  EXPECT_EQ(resp::toDebugString(c_->read()), kTerminated);
  EXPECT_EQ(c_->run({"TFCALL", "hostile.ok", "0"}), "\"PONG\"");
  EXPECT_NE(proxy_->log().find("Aborting script with timeout error."), std::string::npos);
  // Also when the loop is a Promise executor (called synchronously, spec §4.13).
  EXPECT_EQ(c_->run({"TFCALL", "hostile.promise_loop", "0"}), kTerminated);
}

TEST_F(LimitsTest, KillPolicyKeepsAtomicity) {
  EXPECT_EQ(c_->run({"CONFIG", "SET", "redisgears_2.library-fatal-failure-policy", "kill"}), "OK");
  c_->sendCommand({"TFCALL", "hostile.slow", "0"});
  std::this_thread::sleep_for(std::chrono::milliseconds(100));
  // The function runs past the timeout and is not stopped; nobody sees its half-done state.
  Client other(proxy_->port());
  EXPECT_EQ(other.run({"GET", "slow"}), "\"finished\"");
  EXPECT_EQ(resp::toDebugString(c_->read()), "\"done\"");
  EXPECT_NE(proxy_->log().find("Fatal error policy do not allow to abort the script"),
            std::string::npos);
}

TEST_F(LimitsTest, MemoryBombIsStoppedAndTheProxyLivesOn) {
  c_->run({"CONFIG", "SET", "redisgears_2.lock-redis-timeout", "20000"});
  EXPECT_EQ(c_->run({"TFCALL", "hostile.bomb", "0"}), kTerminated);
  EXPECT_TRUE(proxy_->running());
  EXPECT_EQ(c_->run({"TFCALL", "hostile.ok", "0"}), "\"PONG\"");
  // A library that keeps what it allocates stays over the budget: calls are refused until it
  // is gone.
  EXPECT_EQ(c_->run({"TFCALL", "hostile.hoard", "0"}), kTerminated);
  EXPECT_EQ(c_->run({"TFCALL", "hostile.ok", "0"}),
            "(error) JS engine reached OOM state and can not run any more code");
  EXPECT_EQ(c_->run({"TFUNCTION", "LOAD",
                     "#!js api_version=1.0 name=other\nredis.registerFunction('f', ()=>1);"}),
            "(error) Failed to compile library: JS engine reached OOM state and can not run any "
            "more code");
  EXPECT_EQ(c_->run({"TFUNCTION", "DELETE", "hostile"}), "OK");
  bool recovered = false;
  for (int i = 0; i < 50 && !recovered; ++i) {
    recovered =
        c_->run({"TFUNCTION", "LOAD",
                 "#!js api_version=1.0 name=other\nredis.registerFunction('f', ()=>1);"}) == "OK";
    if (!recovered) std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  EXPECT_TRUE(recovered);
  EXPECT_EQ(c_->run({"TFCALL", "other.f", "0"}), "1");
}

TEST_F(LimitsTest, EndlessLoopAtLoadTime) {
  auto start = Clock::now();
  EXPECT_EQ(c_->run({"TFUNCTION", "LOAD", "#!js api_version=1.0 name=forever\nwhile (true) {}"}),
            "(error) Failed loading library: Err Execution was terminated due to OOM or timeout.");
  EXPECT_LT(Clock::now() - start, std::chrono::milliseconds(2000));
  EXPECT_EQ(c_->run({"TFCALL", "hostile.ok", "0"}), "\"PONG\"");
}

// Background JavaScript has no time limit (as upstream), so an endless loop in a coroutine keeps
// its script thread busy. TFUNCTION LOAD and DELETE still answer, and deleting or replacing the
// library stops the loop once it exceeds lock-redis-timeout: everything else runs again.
TEST_F(LimitsTest, EndlessBackgroundLoopEndsWithItsLibrary) {
  const std::string spin = R"(#!js api_version=1.0 name=spin
redis.registerAsyncFunction('forever', async function(client){ while (true) {} });)";
  ASSERT_EQ(c_->run({"TFUNCTION", "LOAD", spin}), "OK");
  Client stuck(proxy_->port(), std::chrono::seconds(10));
  stuck.sendCommand({"TFCALLASYNC", "spin.forever", "0"});
  std::this_thread::sleep_for(std::chrono::milliseconds(200));
  // The only script thread spins; loading and deleting do not wait for it.
  const std::string other = R"(#!js api_version=1.0 name=other
redis.registerFunction('one', function(){ return 1; });)";
  auto start = Clock::now();
  EXPECT_EQ(c_->run({"TFUNCTION", "LOAD", other}), "OK");
  EXPECT_EQ(c_->run({"TFUNCTION", "DELETE", "spin"}), "OK");
  EXPECT_LT(Clock::now() - start, std::chrono::seconds(2));
  // The loop is stopped once past lock-redis-timeout; its caller is told, the others served.
  EXPECT_EQ(resp::toDebugString(stuck.read()), kTerminated);
  EXPECT_EQ(c_->run({"TFCALL", "other.one", "0"}), "1");
  EXPECT_NE(proxy_->log().find("background JavaScript of a deleted or replaced library ran for"),
            std::string::npos);

  // Replacing the library stops the old version's loop the same way.
  ASSERT_EQ(c_->run({"TFUNCTION", "LOAD", spin}), "OK");
  stuck.sendCommand({"TFCALLASYNC", "spin.forever", "0"});
  std::this_thread::sleep_for(std::chrono::milliseconds(200));
  const std::string fixed = R"(#!js api_version=1.0 name=spin
redis.registerAsyncFunction('forever', async function(client){ return 'fixed'; });)";
  EXPECT_EQ(c_->run({"TFUNCTION", "LOAD", "REPLACE", fixed}), "OK");
  EXPECT_EQ(resp::toDebugString(stuck.read()), kTerminated);
  EXPECT_EQ(c_->run({"TFCALLASYNC", "spin.forever", "0"}), "\"fixed\"");
}

// SIGTERM while a coroutine loops forever: tfproxy still exits, with status 0.
TEST_F(LimitsTest, ShutdownStopsEndlessBackgroundJavaScript) {
  ASSERT_EQ(c_->run({"TFUNCTION", "LOAD", R"(#!js api_version=1.0 name=spin
redis.registerAsyncFunction('forever', async function(client){ while (true) {} });)"}),
            "OK");
  Client stuck(proxy_->port(), std::chrono::seconds(10));
  stuck.sendCommand({"TFCALLASYNC", "spin.forever", "0"});
  std::this_thread::sleep_for(std::chrono::milliseconds(200));
  auto start = Clock::now();
  EXPECT_EQ(proxy_->stop(SIGTERM), 0);
  EXPECT_LT(Clock::now() - start, std::chrono::seconds(8));
}

}  // namespace
}  // namespace tfproxy::testing
