// Async functions (spec §4.7, 4.8, 4.13, 6.1, 6.12, 9.3, 11.11): coroutines run in
// the background, block() sections are atomic and can fail the seed's ways, callAsync waits
// without holding anything, and transactions that contain functions run whole.
#include <gtest/gtest.h>

#include <atomic>
#include <thread>

#include "tests/support/client.h"
#include "tests/support/eventually.h"
#include "tests/support/processes.h"

namespace tfproxy::testing {
namespace {

using Clock = std::chrono::steady_clock;

class AsyncTest : public ::testing::Test {
 protected:
  void start(std::vector<std::string> extra = {}) {
    redis_ = std::make_unique<RedisServer>();
    std::vector<std::string> args = {"--backend", redis_->address()};
    args.insert(args.end(), extra.begin(), extra.end());
    proxy_ = std::make_unique<Proxy>(args);
    c_ = std::make_unique<Client>(proxy_->port());
  }
  void SetUp() override { start(); }
  std::string load(const std::string& code) {
    return c_->run({"TFUNCTION", "LOAD", "REPLACE", code});
  }
  // Polls `cmd` until it answers `expected` (at most 5 s); returns the last answer.
  std::string eventually(const std::vector<std::string>& cmd, const std::string& expected) {
    return eventuallyEquals([&] { return c_->run(cmd); }, expected);
  }
  std::unique_ptr<RedisServer> redis_;
  std::unique_ptr<Proxy> proxy_;
  std::unique_ptr<Client> c_;
};

const char kScan[] = R"(#!js api_version=1.0 name=scan
redis.registerAsyncFunction('count', async function(client, name){
  var count = 0, cursor = '0';
  do {
    client.block((c) => {
      var res = c.call('scan', cursor, 'COUNT', '50');
      cursor = res[0];
      res[1].forEach((k) => { if (c.call('hget', k, 'name') == name) count++; });
    });
  } while (cursor != '0');
  return count;
});)";

// A scan over many keys in small atomic steps: other clients are served between the steps.
TEST_F(AsyncTest, OthersAreServedDuringALongCoroutine) {
  std::string fill;
  for (int i = 0; i < 20000; ++i) fill += "HSET person:" + std::to_string(i) + " name tom\r\n";
  c_->send(fill);
  for (int i = 0; i < 20000; ++i) c_->read();
  ASSERT_EQ(load(kScan), "OK");
  Client scanner(proxy_->port());
  auto start = Clock::now();
  scanner.sendCommand({"TFCALLASYNC", "scan.count", "0", "tom"});
  Client other(proxy_->port());
  int64_t worst_us = 0;
  int served = 0;
  std::optional<resp::Value> result;
  while (!(result = scanner.tryRead(std::chrono::milliseconds(1)))) {
    auto t = Clock::now();
    ASSERT_EQ(other.run({"HGET", "person:1", "name"}), "\"tom\"");
    worst_us = std::max<int64_t>(
        worst_us, std::chrono::duration_cast<std::chrono::microseconds>(Clock::now() - t).count());
    ++served;
    ASSERT_LT(Clock::now() - start, std::chrono::seconds(60));
  }
  EXPECT_EQ(*result, resp::Value::integerValue(20000));
  EXPECT_GT(served, 20);
  EXPECT_LT(worst_us, 100000) << "a read waited " << worst_us << " us behind the scan";
}

// Each block() is atomic: readers never see the middle of one, even while many run.
TEST_F(AsyncTest, BlockSectionsAreAtomic) {
  ASSERT_EQ(load(R"(#!js api_version=1.0 name=bank
redis.registerAsyncFunction('shuffle', async function(client, rounds){
  for (var i = 0; i < parseInt(rounds); i++) {
    client.block((c) => {
      c.call('decr', 'a');
      for (var spin = 0; spin < 5000; spin++) {}
      c.call('incr', 'b');
    });
    await Promise.resolve();  // a gap between sections, where others run
  }
  return 'done';
});)"),
            "OK");
  c_->call({"MSET", "a", "100000", "b", "0"});
  Client mover(proxy_->port());
  mover.sendCommand({"TFCALLASYNC", "bank.shuffle", "0", "2000"});
  std::atomic<int64_t> torn{0}, reads{0};
  std::vector<std::thread> readers;
  std::atomic<bool> stop{false};
  for (int r = 0; r < 4; ++r) {
    readers.emplace_back([&] {
      Client c(proxy_->port());
      std::string batch;
      for (int i = 0; i < 50; ++i) batch += "MGET a b\r\n";
      while (!stop) {
        c.send(batch);
        for (int i = 0; i < 50; ++i) {
          resp::Value v = c.read();
          if (std::stoll(v.elements[0].str) + std::stoll(v.elements[1].str) != 100000) ++torn;
        }
        reads += 50;
      }
    });
  }
  EXPECT_EQ(resp::toDebugString(mover.read()), "\"done\"");
  stop = true;
  for (auto& t : readers) t.join();
  EXPECT_EQ(torn.load(), 0) << "of " << reads.load();
  EXPECT_GT(reads.load(), 1000);
  EXPECT_EQ(c_->run({"GET", "b"}), "\"2000\"");
}

// The function starts on a writable primary, waits (a BLPOP with a short timeout, which a role
// change also ends), and only then tries to enter a block() section.
const char kFailing[] = R"(#!js api_version=1.0 name=fail
redis.registerAsyncFunction('write_later', async function(client){
  await client.block((c) => c.callAsync('blpop', 'nothing', '0.5')).catch(() => null);
  try {
    return client.block((c) => c.call('set', 'k', 'v'));
  } catch (e) {
    return 'caught: ' + e;
  }
});
redis.registerAsyncFunction('read_later', async function(client){
  // NO_WRITES: BLPOP is a write command, so wait with a read.
  await client.block((c) => c.callAsync('xread', 'BLOCK', '500', 'STREAMS', 'nothing', '$')).catch(() => null);
  return client.block((c) => c.call('get', 'k'));
}, {flags: [redis.functionFlags.NO_WRITES]});
redis.registerAsyncFunction('del_later', async function(client){
  await client.block((c) => c.callAsync('blpop', 'nothing', '0.5')).catch(() => null);
  return client.block((c) => c.call('del', 'k'));
}, {flags: [redis.functionFlags.ALLOW_OOM]});)";

TEST_F(AsyncTest, BlockFailsOnAReplicaAndWhenOutOfMemory) {
  ASSERT_EQ(load(kFailing), "OK");
  Client admin(redis_->port());
  Client writer(proxy_->port()), reader(proxy_->port());
  writer.sendCommand({"TFCALLASYNC", "fail.write_later", "0"});
  reader.sendCommand({"TFCALLASYNC", "fail.read_later", "0"});
  std::this_thread::sleep_for(std::chrono::milliseconds(100));
  admin.call({"REPLICAOF", "127.0.0.1", std::to_string(freePort())});
  EXPECT_EQ(resp::toDebugString(writer.read()),
            "\"caught: Can not lock Redis, Can not lock redis for write on replica or when the "
            "\\\"avoid replication traffic\\\" option is enabled\"");
  EXPECT_EQ(resp::toDebugString(reader.read()), "(nil)");  // NO_WRITES may go on
  admin.call({"REPLICAOF", "NO", "ONE"});
  EXPECT_EQ(eventually({"TFCALLASYNC", "fail.write_later", "0"}, "\"OK\""), "\"OK\"");

  Client oom_writer(proxy_->port()), oom_deleter(proxy_->port());
  oom_writer.sendCommand({"TFCALLASYNC", "fail.write_later", "0"});
  oom_deleter.sendCommand({"TFCALLASYNC", "fail.del_later", "0"});
  std::this_thread::sleep_for(std::chrono::milliseconds(100));
  // Through tfproxy, which reads the memory state again at once.
  Client(proxy_->port()).call({"CONFIG", "SET", "maxmemory", "1"});
  EXPECT_EQ(resp::toDebugString(oom_writer.read()),
            "\"caught: Can not lock Redis, OOM Can not lock redis for write\"");
  EXPECT_EQ(resp::toDebugString(oom_deleter.read()), "1");  // ALLOW_OOM may go on
  Client(proxy_->port()).call({"CONFIG", "SET", "maxmemory", "0"});
}

TEST_F(AsyncTest, DeletedUserFailsInsideBlock) {
  Client admin(redis_->port());
  admin.call({"ACL", "SETUSER", "temp", "on", ">pw", "~*", "+@all"});
  ASSERT_EQ(load(R"(#!js api_version=1.0 name=user
redis.registerAsyncFunction('later', async function(client){
  // Waits until the test deletes the user, then tries to write as that user.
  await client.block((c) => c.callAsync('blpop', 'go', '0')).catch(() => null);
  try {
    client.block((c) => c.call('set', 'after', 'x'));
    redis.log('write succeeded');
  } catch (e) {
    redis.log('block failed: ' + e);
  }
  return 1;
});)"),
            "OK");
  Client temp(proxy_->port());
  ASSERT_EQ(temp.run({"AUTH", "temp", "pw"}), "OK");
  temp.sendCommand({"TFCALLASYNC", "user.later", "0"});
  std::this_thread::sleep_for(std::chrono::milliseconds(200));
  admin.call({"ACL", "DELUSER", "temp"});  // also closes temp's connections
  bool logged = false;
  for (int i = 0; i < 100 && !logged; ++i) {
    logged =
        proxy_->log().find("block failed: User does not exists or disabled") != std::string::npos;
    if (!logged) std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  EXPECT_TRUE(logged) << proxy_->log();
  EXPECT_EQ(admin.run({"EXISTS", "after"}), "0");
}

TEST_F(AsyncTest, LockTimeoutAppliesToEachBlock) {
  ASSERT_EQ(load(R"(#!js api_version=1.0 name=slow
redis.registerAsyncFunction('steps', async function(client){
  for (var i = 0; i < 3; i++) {
    client.block((c) => { var until = Date.now() + 300; while (Date.now() < until) {} c.call('incr', 'steps'); });
  }
  return 'finished';
});
redis.registerAsyncFunction('stuck', async function(client){
  try {
    client.block((c) => { c.call('set', 'stuck', 'started'); while (true) {} });
  } catch (e) {}
  client.block((c) => c.call('set', 'after', 'ran'));  // never: the whole run is stopped
  return 'never';
});)"),
            "OK");
  // Three sections of 300 ms each: under the 500 ms limit every time.
  EXPECT_EQ(c_->run({"TFCALLASYNC", "slow.steps", "0"}), "\"finished\"");
  EXPECT_EQ(c_->run({"TFCALLASYNC", "slow.stuck", "0"}),
            "(error) Err Execution was terminated due to OOM or timeout");
  EXPECT_EQ(c_->run({"GET", "stuck"}), "\"started\"");
  EXPECT_EQ(c_->run({"EXISTS", "after"}), "0");
  EXPECT_EQ(c_->run({"TFCALLASYNC", "slow.steps", "0"}), "\"finished\"");
}

TEST_F(AsyncTest, DisconnectedClientsFunctionStillCompletes) {
  ASSERT_EQ(load(R"(#!js api_version=1.0 name=bg
redis.registerAsyncFunction('slow_write', async function(client){
  await client.block((c) => c.callAsync('blpop', 'go', '0'));
  client.block((c) => c.call('set', 'written', 'yes'));
  return 'ok';
});)"),
            "OK");
  {
    Client gone(proxy_->port());
    gone.sendCommand({"TFCALLASYNC", "bg.slow_write", "0"});
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }  // the client leaves while its function waits
  c_->call({"RPUSH", "go", "1"});
  EXPECT_EQ(eventually({"GET", "written"}, "\"yes\""), "\"yes\"");
  EXPECT_EQ(c_->run({"PING"}), "PONG");
}

TEST_F(AsyncTest, PendingWorkIsListed) {
  ASSERT_EQ(load(R"(#!js api_version=1.0 name=busy
redis.registerAsyncFunction('spin', async function(client, ms){
  var until = Date.now() + parseInt(ms);
  while (Date.now() < until) {}
  return 'spun';
});)"),
            "OK");
  Client a(proxy_->port()), b(proxy_->port()), d(proxy_->port());
  a.sendCommand({"TFCALLASYNC", "busy.spin", "0", "600"});
  std::this_thread::sleep_for(std::chrono::milliseconds(100));
  b.sendCommand({"TFCALLASYNC", "busy.spin", "0", "1"});
  d.sendCommand({"TFCALLASYNC", "busy.spin", "0", "1"});
  std::this_thread::sleep_for(std::chrono::milliseconds(100));
  EXPECT_NE(c_->run({"TFUNCTION", "LIST", "LIBRARY", "busy"}).find("\"pending_jobs\", 2"),
            std::string::npos)
      << c_->run({"TFUNCTION", "LIST", "LIBRARY", "busy"});
  for (Client* x : {&a, &b, &d}) EXPECT_EQ(resp::toDebugString(x->read()), "\"spun\"");
}

TEST_F(AsyncTest, ThousandsOfWaitingCallAsyncHoldNothing) {
  ASSERT_EQ(load(R"(#!js api_version=1.0 name=many
redis.registerAsyncFunction('wait', async function(client, key){
  var r = await client.block((c) => c.callAsync('blpop', key, '0'));
  return r[1];
});
redis.registerFunction('sync', function(client){ return client.call('incr', 'n'); });)"),
            "OK");
  std::vector<std::unique_ptr<Client>> waiting;
  for (int i = 0; i < 1000; ++i) {
    waiting.push_back(std::make_unique<Client>(proxy_->port()));
    waiting.back()->sendCommand({"TFCALLASYNC", "many.wait", "0", "q:" + std::to_string(i)});
  }
  Client admin(redis_->port());
  EXPECT_TRUE(testing::eventually(
      [&] {
        return admin.call({"INFO", "clients"}).str.find("blocked_clients:1000") !=
               std::string::npos;
      },
      std::chrono::seconds(30)));
  // Functions that take the gate and plain commands keep working meanwhile.
  auto start = Clock::now();
  for (int i = 0; i < 50; ++i)
    EXPECT_EQ(c_->run({"TFCALL", "many.sync", "0"}), std::to_string(i + 1));
  EXPECT_LT(Clock::now() - start, std::chrono::seconds(2));
  for (int i = 0; i < 1000; ++i)
    c_->call({"RPUSH", "q:" + std::to_string(i), "v" + std::to_string(i)});
  for (int i = 0; i < 1000; ++i) {
    EXPECT_EQ(resp::toDebugString(waiting[i]->read()), "\"v" + std::to_string(i) + "\"");
  }
}

TEST_F(AsyncTest, TurningReplicaUnblocksCallAsync) {
  ASSERT_EQ(load(R"(#!js api_version=1.0 name=rep
redis.registerAsyncFunction('wait', async function(client){
  return await client.block((c) => c.callAsync('blpop', 'never', '0'));
});)"),
            "OK");
  Client waiter(proxy_->port());
  waiter.sendCommand({"TFCALLASYNC", "rep.wait", "0"});
  std::this_thread::sleep_for(std::chrono::milliseconds(200));
  Client(redis_->port()).call({"REPLICAOF", "127.0.0.1", std::to_string(freePort())});
  resp::Value v = waiter.read();
  EXPECT_TRUE(v.isError());
  EXPECT_NE(v.str.find("instance state changed"), std::string::npos) << v.str;
  Client(redis_->port()).call({"REPLICAOF", "NO", "ONE"});
}

TEST_F(AsyncTest, PromiseReplacementSettlesLater) {
  ASSERT_EQ(load(R"(#!js api_version=1.0 name=prom
redis.registerFunction('pending', function(client){ return new Promise((r) => r(7)); });
redis.registerAsyncFunction('waited', function(client){ return new Promise((r) => r(7)); });
redis.registerAsyncFunction('rejected', function(client){ return new Promise((r, j) => j('nope')); });
redis.registerFunction('bad', function(client){ try { new Promise(async () => 1); } catch (e) { return e; } });
redis.registerFunction('statics', function(client){ return typeof Promise.resolve + ' ' + (Promise.resolve(1) instanceof Promise); });
redis.registerAsyncFunction('chain', async function(client){
  var a = await new Promise((r) => r(1));
  var b = await Promise.resolve(2);
  return a + b;
});)"),
            "OK");
  EXPECT_EQ(c_->run({"TFCALL", "prom.pending", "0"}),
            "(error) Can not block client for background execution, Blocking is not allow inside "
            "multi/exec, Lua, or within another module (RM_Call).");
  EXPECT_EQ(c_->run({"TFCALLASYNC", "prom.pending", "0"}), "7");
  EXPECT_EQ(c_->run({"TFCALLASYNC", "prom.waited", "0"}), "7");
  EXPECT_EQ(c_->run({"TFCALLASYNC", "prom.rejected", "0"}), "(error) nope");
  EXPECT_EQ(c_->run({"TFCALL", "prom.bad", "0"}), "\"Bad argument to 'Promise' function\"");
  EXPECT_EQ(c_->run({"TFCALL", "prom.statics", "0"}), "\"function false\"");
  EXPECT_EQ(c_->run({"TFCALLASYNC", "prom.chain", "0"}), "3");
}

TEST_F(AsyncTest, ClientRulesOutsideBlock) {
  ASSERT_EQ(load(R"(#!js api_version=1.0 name=rules
var saved;
redis.registerAsyncFunction('unlocked', function(client){
  saved = client;
  return client.executeAsync(async function(){
    try { saved.call('ping'); } catch (e) { return e; }
  });
});
redis.registerAsyncFunction('stale', async function(client){
  var inner;
  client.block((c) => { inner = c; });
  return client.block((c) => { try { inner.call('ping'); } catch (e) { return e; } });
});
redis.registerAsyncFunction('nested', async function(client){
  return client.block((c) => { try { client.block(() => 1); } catch (e) { return e; } });
});
redis.registerAsyncFunction('notfn', async function(client){ try { client.block(1); } catch (e) { return e; } });
redis.registerFunction('exec_sync', function(client){ try { client.executeAsync(function(){}); } catch (e) { return e; } });)"),
            "OK");
  EXPECT_EQ(c_->run({"TFCALLASYNC", "rules.unlocked", "0"}), "\"Main thread is not locked\"");
  EXPECT_EQ(c_->run({"TFCALLASYNC", "rules.stale", "0"}), "\"Used on invalid client\"");
  EXPECT_EQ(c_->run({"TFCALLASYNC", "rules.nested", "0"}), "\"Main thread is already blocked\"");
  EXPECT_EQ(c_->run({"TFCALLASYNC", "rules.notfn", "0"}),
            "\"Argument to 'block' must be a function\"");
  EXPECT_EQ(c_->run({"TFCALL", "rules.exec_sync", "0"}),
            "\"First argument to 'executeAsync' must be an async function\"");
}

TEST_F(AsyncTest, DeleteAndReplaceWithRunningCoroutines) {
  const char kWaiter[] = R"(#!js api_version=1.0 name=live
redis.registerAsyncFunction('wait', async function(client, key){
  var r = await client.block((c) => c.callAsync('blpop', key, '0'));
  return client.block((c) => 'version 1 got ' + r[1]);
});)";
  ASSERT_EQ(load(kWaiter), "OK");
  // REPLACE: work in flight finishes with the old code.
  Client a(proxy_->port());
  a.sendCommand({"TFCALLASYNC", "live.wait", "0", "qa"});
  std::this_thread::sleep_for(std::chrono::milliseconds(100));
  std::string v2 = kWaiter;
  v2.replace(v2.find("version 1"), 9, "version 2");
  ASSERT_EQ(load(v2), "OK");
  c_->call({"RPUSH", "qa", "x"});
  EXPECT_EQ(resp::toDebugString(a.read()), "\"version 1 got x\"");
  // DELETE: what would continue the coroutine is dropped, and its client told so.
  Client b(proxy_->port());
  b.sendCommand({"TFCALLASYNC", "live.wait", "0", "qb"});
  std::this_thread::sleep_for(std::chrono::milliseconds(100));
  ASSERT_EQ(c_->run({"TFUNCTION", "DELETE", "live"}), "OK");
  c_->call({"RPUSH", "qb", "y"});
  EXPECT_EQ(resp::toDebugString(b.read()),
            "(error) Promise was dropped without been resolved. Usually happened because of "
            "timeout or OOM.");
}

TEST_F(AsyncTest, TransactionsWithFunctions) {
  ASSERT_EQ(load(R"(#!js api_version=1.0 name=tx
redis.registerFunction('get', function(client, k){ return client.call('get', k); });
redis.registerAsyncFunction('allowed', function(client){ return client.isBlockAllowed(); });
redis.registerAsyncFunction('coro', async function(client){ return 1; });)"),
            "OK");
  // Commands before and after the function run in order, all in one EXEC.
  EXPECT_EQ(c_->run({"MULTI"}), "OK");
  EXPECT_EQ(c_->run({"SET", "k", "before"}), "QUEUED");
  EXPECT_EQ(c_->run({"TFCALL", "tx.get", "1", "k"}), "QUEUED");
  EXPECT_EQ(c_->run({"SET", "k", "after"}), "QUEUED");
  EXPECT_EQ(c_->run({"TFCALLASYNC", "tx.allowed", "0"}), "QUEUED");
  EXPECT_EQ(c_->run({"TFCALLASYNC", "tx.coro", "0"}), "QUEUED");
  EXPECT_EQ(c_->run({"GET", "k"}), "QUEUED");
  EXPECT_EQ(c_->run({"EXEC"}),
            "[OK, \"before\", OK, 0, (error) Can not block client for background execution, "
            "Blocking is not allow inside multi/exec, Lua, or within another module (RM_Call)., "
            "\"after\"]");
  // The client's WATCH holds: a changed key makes EXEC answer nil and nothing runs.
  Client other(proxy_->port());
  EXPECT_EQ(c_->run({"WATCH", "w"}), "OK");
  other.call({"SET", "w", "changed"});
  EXPECT_EQ(c_->run({"MULTI"}), "OK");
  EXPECT_EQ(c_->run({"TFCALL", "tx.get", "1", "w"}), "QUEUED");
  EXPECT_EQ(c_->run({"SET", "untouched", "1"}), "QUEUED");
  EXPECT_EQ(c_->run({"EXEC"}), "(nil)");
  EXPECT_EQ(c_->run({"EXISTS", "untouched"}), "0");
  // Queuing errors discard it; loading is refused inside; DISCARD drops everything.
  EXPECT_EQ(c_->run({"MULTI"}), "OK");
  EXPECT_EQ(c_->run({"TFCALL", "tx.get"}),
            "(error) ERR wrong number of arguments for 'tfcall' command");
  EXPECT_EQ(c_->run({"EXEC"}),
            "(error) EXECABORT Transaction discarded because of previous errors.");
  EXPECT_EQ(c_->run({"MULTI"}), "OK");
  EXPECT_EQ(c_->run({"TFUNCTION", "LOAD",
                     "#!js api_version=1.0 name=x\nredis.registerFunction('f', ()=>1);"}),
            "QUEUED");
  EXPECT_EQ(c_->run({"NOSUCH", "x"}),
            "(error) ERR unknown command 'NOSUCH', with args beginning with: 'x' ");
  EXPECT_EQ(c_->run({"DISCARD"}), "OK");
  EXPECT_EQ(c_->run({"MULTI"}), "OK");
  EXPECT_EQ(c_->run({"TFUNCTION", "LOAD",
                     "#!js api_version=1.0 name=x\nredis.registerFunction('f', ()=>1);"}),
            "QUEUED");
  EXPECT_EQ(c_->run({"EXEC"}), "[(error) ERR Blocking module command called from transaction]");
  EXPECT_EQ(c_->run({"TFCALL", "x.f", "0"}), "(error) Unknown library x");
  // After a transaction the proxy ran, the client is out of MULTI again.
  EXPECT_EQ(c_->run({"TFCALLASYNC", "tx.allowed", "0"}), "1");
}

// SELECT and AUTH in a transaction with functions take effect for the commands after them --
// forwarded, queued by the proxy, and functions alike -- and for the connection afterwards.
TEST_F(AsyncTest, StateChangesInsideProxyRunTransactions) {
  ASSERT_EQ(load(R"(#!js api_version=1.0 name=txs
redis.registerFunction('get', function(client, k){ return client.call('get', k); });
redis.registerFunction('touch', function(client){ return client.call('set', 'private', '1'); });)"),
            "OK");
  Client redis(redis_->port());
  redis.call({"SELECT", "3"});
  redis.call({"SET", "where", "three"});
  redis.call({"SELECT", "4"});
  redis.call({"SET", "where", "four"});
  ASSERT_EQ(redis.run({"ACL", "SETUSER", "txuser", "on", ">pw", "~w*", "+@all"}), "OK");

  // Plain transaction: the SELECT applies once EXEC ran it; functions after it follow.
  EXPECT_EQ(c_->run({"MULTI"}), "OK");
  EXPECT_EQ(c_->run({"SELECT", "3"}), "QUEUED");
  EXPECT_EQ(c_->run({"EXEC"}), "[OK]");
  EXPECT_EQ(c_->run({"TFCALL", "txs.get", "1", "where"}), "\"three\"");
  // DISCARD drops a queued SELECT.
  EXPECT_EQ(c_->run({"MULTI"}), "OK");
  EXPECT_EQ(c_->run({"SELECT", "4"}), "QUEUED");
  EXPECT_EQ(c_->run({"DISCARD"}), "OK");
  EXPECT_EQ(c_->run({"TFCALL", "txs.get", "1", "where"}), "\"three\"");

  // SELECT before the first function (forwarded) and after it (queued by the proxy).
  EXPECT_EQ(c_->run({"MULTI"}), "OK");
  EXPECT_EQ(c_->run({"SELECT", "4"}), "QUEUED");
  EXPECT_EQ(c_->run({"TFCALL", "txs.get", "1", "where"}), "QUEUED");
  EXPECT_EQ(c_->run({"SET", "written", "in4"}), "QUEUED");
  EXPECT_EQ(c_->run({"SELECT", "5"}), "QUEUED");
  EXPECT_EQ(c_->run({"SET", "written", "in5"}), "QUEUED");
  EXPECT_EQ(c_->run({"TFCALL", "txs.get", "1", "written"}), "QUEUED");
  EXPECT_EQ(c_->run({"AUTH", "txuser", "pw"}), "QUEUED");
  EXPECT_EQ(c_->run({"TFCALL", "txs.touch", "0"}), "QUEUED");  // txuser may not write it
  EXPECT_EQ(c_->run({"EXEC"}),
            "[OK, \"four\", OK, OK, OK, \"in5\", OK, "
            "(error) NOPERM No permissions to access a key]");
  // The connection stays in database 5, as txuser, like after a transaction Redis ran.
  EXPECT_EQ(c_->run({"GET", "written"}), "\"in5\"");
  EXPECT_EQ(c_->run({"TFCALL", "txs.get", "1", "written"}), "\"in5\"");
  EXPECT_EQ(c_->run({"ACL", "WHOAMI"}), "\"txuser\"");
  redis.call({"SELECT", "4"});
  EXPECT_EQ(redis.run({"GET", "written"}), "\"in4\"");
  EXPECT_EQ(c_->run({"TFCALL", "txs.touch", "0"}), "(error) NOPERM No permissions to access a key");
}

TEST(AsyncParallelTest, DifferentLibrariesRunInParallel) {
  RedisServer redis;
  Proxy proxy({"--backend", redis.address(), "--execution-threads", "2"});
  Client c(proxy.port());
  for (const char* name : {"one", "two"}) {
    ASSERT_EQ(c.run({"TFUNCTION", "LOAD",
                     std::string("#!js api_version=1.0 name=") + name +
                         "\nredis.registerAsyncFunction('spin', async function(){ var u = "
                         "Date.now() + 400; while (Date.now() < u) {} return 'spun'; });"}),
              "OK");
  }
  Client a(proxy.port()), b(proxy.port());
  auto start = Clock::now();
  a.sendCommand({"TFCALLASYNC", "one.spin", "0"});
  b.sendCommand({"TFCALLASYNC", "two.spin", "0"});
  EXPECT_EQ(resp::toDebugString(a.read()), "\"spun\"");
  EXPECT_EQ(resp::toDebugString(b.read()), "\"spun\"");
  // Serially they would take 800 ms.
  EXPECT_LT(Clock::now() - start, std::chrono::milliseconds(700));
}

}  // namespace
}  // namespace tfproxy::testing
