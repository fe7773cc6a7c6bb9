// Production safety: no JavaScript allocation ends the process, async calls do not accumulate
// memory, and script connections are bounded and notice when the backend closes them.
#include <gtest/gtest.h>

#include <thread>

#include "tests/support/client.h"
#include "tests/support/probes.h"
#include "tests/support/processes.h"

namespace tfproxy::testing {
namespace {

using namespace std::chrono_literals;

const char kTerminated[] = "(error) Err Execution was terminated due to OOM or timeout";

// used_heap_size of `library` from TFUNCTION DEBUG js isolates_stats.
int64_t usedHeap(Client& c, const std::string& library) {
  resp::Value stats = c.call({"TFUNCTION", "DEBUG", "js", "isolates_stats"});
  for (size_t i = 0; i + 1 < stats.elements.size(); i += 2) {
    if (stats.elements[i].str != library) continue;
    const auto& fields = stats.elements[i + 1].elements;
    for (size_t j = 0; j + 1 < fields.size(); j += 2) {
      if (fields[j].str == "used_heap_size") return fields[j + 1].integer;
    }
  }
  return -1;
}

// Every way JavaScript can allocate without bound, one function each.
const char kAllocations[] = R"(#!js api_version=1.0 name=alloc
redis.registerFunction('fill', function(c){ return new Array(30000000).fill(1.5).length; });
redis.registerFunction('sized', function(c, n){ return new Array(parseInt(n)).length; });
redis.registerFunction('chunks', function(c){ var x = []; for (;;) x.push(new Array(3e6)); });
redis.registerFunction('big_chunks', function(c){ var x = []; for (;;) x.push(new Array(1e7)); });
redis.registerFunction('strings', function(c){ var x = []; for (;;) x.push('x'.repeat(1 << 24) + x.length); });
redis.registerAsyncFunction('async_chunks', async function(c){ var x = []; for (;;) x.push(new Array(1e7)); });
redis.registerAsyncFunction('async_map', async function(c){ var m = {}; for (var i = 0;; i++) m['k' + i] = i; });
redis.registerFunction('block_chunks', function(c){
  return c.executeAsync(async function(ac){
    return ac.block(function(bc){ var x = []; for (;;) x.push(new Array(1e7)); });
  });
});
redis.registerFunction('executor', function(c){
  return new Promise(function(resolve){ var x = []; for (;;) x.push(new Array(3e6)); });
});
redis.registerFunction('ok', function(c){ return c.call('ping'); });
)";

class HardeningTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    redis_ = new RedisServer();
    proxy_ = new Proxy({"--backend", redis_->address(), "--v8-maxmemory", "64mb",
                        "--lock-redis-timeout", "20000", "--enable-debug-command", "yes"});
  }
  static void TearDownTestSuite() {
    delete proxy_;
    delete redis_;
  }
  static RedisServer* redis_;
  static Proxy* proxy_;
};
RedisServer* HardeningTest::redis_ = nullptr;
Proxy* HardeningTest::proxy_ = nullptr;

// Each pattern ends as an error reply (or a result, when it fits), repeatedly, with the isolate
// usable after each and the memory returned. The 100-fold soak is bench/hardening_soak.py.
TEST_F(HardeningTest, NoAllocationPatternEndsTheProcess) {
  // Each bomb runs V8's collector up to the heap limit: 76-80 s for the whole test alone on two
  // cores, and one call passed the default 10 s once beside another test. What is checked here
  // is that the process lives and answers, not how fast.
  Client c(proxy_->port(), std::chrono::seconds(60));
  ASSERT_EQ(c.run({"TFUNCTION", "LOAD", kAllocations}), "OK");
  const std::vector<std::vector<std::string>> bombs = {
      {"TFCALL", "alloc.chunks", "0"},         {"TFCALL", "alloc.big_chunks", "0"},
      {"TFCALL", "alloc.strings", "0"},        {"TFCALLASYNC", "alloc.async_chunks", "0"},
      {"TFCALLASYNC", "alloc.async_map", "0"}, {"TFCALLASYNC", "alloc.block_chunks", "0"},
      {"TFCALLASYNC", "alloc.executor", "0"},  {"TFCALL", "alloc.sized", "1", "40000000"},
  };
  for (int round = 0; round < 3; ++round) {
    for (const auto& bomb : bombs) {
      std::string reply = c.run(bomb);
      if (bomb[1] == "alloc.sized") {
        // A sparse array: nothing is allocated for its length.
        EXPECT_EQ(reply, "40000000");
      } else {
        EXPECT_EQ(reply, kTerminated) << bomb[1];
      }
      ASSERT_TRUE(proxy_->running()) << bomb[1];
      EXPECT_EQ(c.run({"TFCALL", "alloc.ok", "0"}), "\"PONG\"") << "after " << bomb[1];
    }
  }
  std::string fill = c.run({"TFCALL", "alloc.fill", "0"});
  EXPECT_TRUE(fill == "30000000" || fill == kTerminated) << fill;
  EXPECT_LT(usedHeap(c, "alloc"), 16 << 20);
  EXPECT_LT(rssKb(proxy_->pid()), 1024 * 1024) << "kB after the bombs";
  EXPECT_EQ(c.run({"TFUNCTION", "DELETE", "alloc"}), "OK");
}

// JavaScript that throws where tfproxy reads its values (getters, proxy traps) gets its own
// exception back; nothing it does makes V8 abort the process.
TEST_F(HardeningTest, ThrowingGettersAndTrapsAreErrorsNotCrashes) {
  Client c(proxy_->port());
  EXPECT_EQ(c.run({"TFUNCTION", "LOAD", R"(#!js api_version=1.0 name=traps1
var flags = ['no-writes'];
Object.defineProperty(flags, 0, {get() { throw 'flag getter'; }});
redis.registerFunction('f', () => 1, {flags: flags});
)"}),
            "(error) Failed loading library: flag getter.");
  EXPECT_EQ(c.run({"TFUNCTION", "LOAD", R"(#!js api_version=1.0 name=traps2
redis.registerFunction('f', () => 1, new Proxy({}, {deleteProperty() { throw 'delete trap'; }}));
)"}),
            "(error) Failed loading library: delete trap.");
  EXPECT_EQ(c.run({"TFUNCTION", "LOAD", R"(#!js api_version=1.0 name=traps3
redis.registerFunction('f', () => 1, new Proxy({}, {get() { throw 'get trap'; }}));
)"}),
            "(error) Failed loading library: get trap.");
  ASSERT_EQ(c.run({"TFUNCTION", "LOAD", R"(#!js api_version=1.0 name=traps
redis.registerFunction('set', function(c){
  var s = new Set([1]);
  return new Proxy(s, {});
});
redis.registerFunction('obj', function(c){
  return new Proxy({a: 1}, {ownKeys() { throw 'keys trap'; }});
});
redis.registerAsyncFunction('remote', async function(c){ return await c.runOnKey('k', 'nothing'); });
)"}),
            "OK");
  EXPECT_TRUE(c.call({"TFCALL", "traps.obj", "0"}).isError());
  c.run({"TFCALL", "traps.set", "0"});
  EXPECT_EQ(c.run({"TFCALLASYNC", "traps.remote", "0"}),
            "(error) Remote function nothing does not exists on library traps");
  EXPECT_TRUE(proxy_->running());
  EXPECT_EQ(c.run({"PING"}), "PONG");
  EXPECT_EQ(c.run({"TFUNCTION", "DELETE", "traps"}), "OK");
}

// ArrayBuffers live outside the V8 heap; they have their own budget (v8-maxmemory in all).
TEST_F(HardeningTest, ArrayBuffersHaveABudget) {
  Client c(proxy_->port());
  ASSERT_EQ(c.run({"TFUNCTION", "LOAD", R"(#!js api_version=1.0 name=buffers
redis.registerFunction('huge', function(c){ return new ArrayBuffer(2 ** 32).byteLength; });
redis.registerFunction('many', function(c){ var x = []; for (;;) x.push(new Uint8Array(8 << 20).fill(1)); });
redis.registerFunction('small', function(c){ return new Uint8Array(1000).length; });
)"}),
            "OK");
  for (int i = 0; i < 3; ++i) {
    EXPECT_EQ(c.run({"TFCALL", "buffers.huge", "0"}),
              "(error) RangeError: Array buffer allocation failed");
    EXPECT_EQ(c.run({"TFCALL", "buffers.many", "0"}),
              "(error) RangeError: Array buffer allocation failed");
    EXPECT_EQ(c.run({"TFCALL", "buffers.small", "0"}), "1000");
  }
  EXPECT_LT(rssKb(proxy_->pid()), 1024 * 1024);
  EXPECT_EQ(c.run({"TFUNCTION", "DELETE", "buffers"}), "OK");
}

TEST_F(HardeningTest, LoadTimeAllocationFailsTheLoadOnly) {
  Client c(proxy_->port());
  for (int i = 0; i < 3; ++i) {
    EXPECT_EQ(
        c.run({"TFUNCTION", "LOAD",
               "#!js api_version=1.0 name=loadbomb\nvar x = []; for (;;) x.push(new Array(1e7));"
               "\nredis.registerFunction('f', () => 1);"}),
        "(error) Failed loading library: Err Execution was terminated due to OOM or timeout.");
    EXPECT_TRUE(proxy_->running());
  }
  EXPECT_EQ(c.run({"TFUNCTION", "LOAD",
                   "#!js api_version=1.0 name=after\nredis.registerFunction('f', () => 1);"}),
            "OK");
  EXPECT_EQ(c.run({"TFCALL", "after.f", "0"}), "1");
  EXPECT_EQ(c.run({"TFUNCTION", "DELETE", "after"}), "OK");
}

// Every async shape, many calls: the library's heap and the process stay flat.
TEST_F(HardeningTest, AsyncCallsDoNotAccumulate) {
  Client c(proxy_->port());
  ASSERT_EQ(c.run({"TFUNCTION", "LOAD", R"(#!js api_version=1.0 name=shapes
redis.registerAsyncFunction('coroutine', async function(c){ return 1; });
redis.registerAsyncFunction('blocked', async function(c){ return c.block(function(bc){ return bc.call('ping'); }); });
redis.registerFunction('background', function(c){ return c.executeAsync(async function(ac){ return 1; }); });
redis.registerAsyncFunction('waits', async function(c){ return await c.block(function(bc){ return bc.callAsync('ping'); }); });
redis.registerFunction('sync', function(c){ return [c.call('ping'), {a: 1}]; });
)"}),
            "OK");
  const std::vector<std::string> shapes = {"coroutine", "blocked", "background", "waits", "sync"};
  auto burst = [&](int calls) {
    for (const std::string& shape : shapes) {
      std::string command = shape == "sync" ? "TFCALL" : "TFCALLASYNC";
      for (int i = 0; i < calls; i += 100) {
        for (int j = 0; j < 100; ++j) c.sendCommand({command, "shapes." + shape, "0"});
        for (int j = 0; j < 100; ++j) {
          resp::Value v = c.read();
          ASSERT_FALSE(v.isError()) << shape << ": " << v.str;
        }
      }
    }
    c.run({"TFUNCTION", "DEBUG", "js", "isolates_gc"});
    std::this_thread::sleep_for(100ms);
    c.run({"TFCALL", "shapes.sync", "0"});  // refreshes the heap figures after the collection
  };
  burst(2000);  // warm up: code caches, pools, allocator arenas
  const int64_t heap_before = usedHeap(c, "shapes");
  const int64_t rss_before = rssKb(proxy_->pid());
  burst(10000);
  const int64_t heap_after = usedHeap(c, "shapes");
  const int64_t rss_after = rssKb(proxy_->pid());
  // Before the fix each async call kept ~3.5 KB: 40,000 of them would be 140 MB.
  EXPECT_LT(heap_after - heap_before, 2 << 20) << heap_before << " -> " << heap_after;
  EXPECT_LT(rss_after - rss_before, 16 * 1024) << rss_before << " -> " << rss_after << " kB";
  EXPECT_EQ(c.run({"TFUNCTION", "DELETE", "shapes"}), "OK");
}

// Script and callAsync connections are pooled per user, but only so many stay idle, and one the
// backend closed (its user deleted) is closed by the proxy too instead of lingering in
// CLOSE-WAIT.
TEST_F(HardeningTest, ScriptConnectionsAreBounded) {
  Client admin(redis_->port());
  Client c(proxy_->port());
  ASSERT_EQ(c.run({"TFUNCTION", "LOAD", R"(#!js api_version=1.0 name=who
redis.registerFunction('f', (c) => c.call('ping'));
redis.registerAsyncFunction('g', async (c) => await c.block((bc) => bc.callAsync('ping')));
)"}),
            "OK");
  const int backend_before = connectedClients(redis_->port());
  const int fds_before = openFds(proxy_->pid());
  const int users = 150;
  for (int i = 0; i < users; ++i) {
    std::string user = "pooluser" + std::to_string(i);
    admin.call({"ACL", "SETUSER", user, "on", ">pw", "+@all", "~*"});
    Client u(proxy_->port());
    ASSERT_EQ(u.run({"AUTH", user, "pw"}), "OK");
    ASSERT_EQ(u.run({"TFCALL", "who.f", "0"}), "\"PONG\"");
    ASSERT_EQ(u.run({"TFCALLASYNC", "who.g", "0"}), "\"PONG\"");
  }
  std::this_thread::sleep_for(200ms);
  const int backend_peak = connectedClients(redis_->port());
  // Idle connections are capped at 64 for the sync pool and 64 for callAsync's.
  EXPECT_LE(backend_peak - backend_before, 2 * 64 + 4);
  for (int i = 0; i < users; ++i) admin.call({"ACL", "DELUSER", "pooluser" + std::to_string(i)});
  bool settled = false;
  int fds = 0;
  for (int i = 0; i < 60 && !settled; ++i) {
    std::this_thread::sleep_for(100ms);
    fds = openFds(proxy_->pid());
    settled = fds <= fds_before;
  }
  EXPECT_TRUE(settled) << "descriptors " << fds_before << " -> " << fds;
  EXPECT_EQ(c.run({"TFCALL", "who.f", "0"}), "\"PONG\"");
  EXPECT_EQ(c.run({"TFUNCTION", "DELETE", "who"}), "OK");
}

}  // namespace
}  // namespace tfproxy::testing
