// Every example of the user's seed document (shared/seed/sync_async.md), run as written, gives
// the result the document shows -- through tfproxy in front of one Redis and in front of a
// 3-primary Redis Cluster. The data is set up as each example assumes.
#include <gtest/gtest.h>

#include <thread>

#include "tests/support/client.h"
#include "tests/support/processes.h"
#include "tests/support/seed_examples.h"

namespace tfproxy::testing {
namespace {

class SeedTest : public ::testing::TestWithParam<const char*> {
 protected:
  // Each mode's backend and tfproxy are made when its first test comes, and kept.
  static void TearDownTestSuite() {
    for (Proxy** p : {&redis_proxy_, &cluster_proxy_}) {
      delete *p;
      *p = nullptr;
    }
    delete redis_;
    redis_ = nullptr;
    delete cluster_;
    cluster_ = nullptr;
  }
  void SetUp() override {
    if (std::string(GetParam()) == "cluster") {
      if (cluster_proxy_ == nullptr) {
        cluster_ = new RedisCluster(3);
        cluster_proxy_ = new Proxy({"--backend", cluster_->seed()});
      }
      proxy_ = cluster_proxy_;
    } else {
      if (redis_proxy_ == nullptr) {
        redis_ = new RedisServer();
        redis_proxy_ = new Proxy({"--backend", redis_->address()});
      }
      proxy_ = redis_proxy_;
    }
    c_ = std::make_unique<Client>(proxy_->port());
    c_->call({"FLUSHALL"});
  }
  std::string load(const std::string& code) {
    return c_->run({"TFUNCTION", "LOAD", "REPLACE", code});
  }
  // The hashes the counting examples scan (every key is one, as the examples assume): five
  // named tom, two named jerry.
  void hashes() {
    for (int i = 0; i < 5; ++i) c_->call({"HSET", "person:" + std::to_string(i), "name", "tom"});
    c_->call({"HSET", "person:5", "name", "jerry"});
    c_->call({"HSET", "person:6", "name", "jerry"});
  }

  static RedisServer* redis_;
  static RedisCluster* cluster_;
  static Proxy* redis_proxy_;
  static Proxy* cluster_proxy_;
  Proxy* proxy_ = nullptr;  // this test's
  std::unique_ptr<Client> c_;
};
RedisServer* SeedTest::redis_ = nullptr;
RedisCluster* SeedTest::cluster_ = nullptr;
Proxy* SeedTest::redis_proxy_ = nullptr;
Proxy* SeedTest::cluster_proxy_ = nullptr;

TEST_P(SeedTest, CoroutineReturnsTest) {
  ASSERT_EQ(load(R"(#!js api_version=1.0 name=lib

redis.registerAsyncFunction('test', async function(){
    return 'test';
});)"),
            "OK");
  EXPECT_EQ(c_->run({"TFCALLASYNC", "lib.test", "0"}), "\"test\"");
}

TEST_P(SeedTest, BlockRunsPing) {
  ASSERT_EQ(load(R"(#!js api_version=1.0 name=lib

redis.registerFunction('test', async function(client){
    return client.block(function(redis_client){
        return redis_client.call('ping');
    });
});)"),
            "OK");
  // The seed shows: 127.0.0.1:6379> TFCALLASYNC lib.test 0  ->  "PONG"
  EXPECT_EQ(c_->run({"TFCALLASYNC", "lib.test", "0"}), "\"PONG\"");
  EXPECT_EQ(c_->run({"TFCALL", "lib.test", "0"}),
            "(error) The function is declared as async and was called while blocking was not "
            "allowed; note that you cannot invoke async functions from within Lua or MULTI, and "
            "you must use TFCALLASYNC instead.");
}

const char kSyncScan[] = R"(#!js api_version=1.0 name=lib

redis.registerFunction('test', function(client, expected_name){
    var count = 0;
    var cursor = '0';
    do{
        var res = client.call('scan', cursor);
        cursor = res[0];
        var keys = res[1];
        keys.forEach((key) => {
            if (client.call('hget', key, 'name') == expected_name) {
                count += 1;
            }
        });
    } while(cursor != '0');
    return count;
});)";

const char kAsyncScan[] = R"(#!js api_version=1.0 name=lib

redis.registerAsyncFunction('test', async function(async_client, expected_name){
    var count = 0;
    var cursor = '0';
    do{
        async_client.block((client)=>{
            var res = client.call('scan', cursor);
            cursor = res[0];
            var keys = res[1];
            keys.forEach((key) => {
                if (client.call('hget', key, 'name') == expected_name) {
                    count += 1;
                }
            });
        });
    } while(cursor != '0');
    return count;
});)";

TEST_P(SeedTest, SyncAndCoroutineScansAgree) {
  hashes();
  ASSERT_EQ(load(kSyncScan), "OK");
  EXPECT_EQ(c_->run({"TFCALL", "lib.test", "0", "tom"}), "5");
  EXPECT_EQ(c_->run({"TFCALL", "lib.test", "0", "jerry"}), "2");
  ASSERT_EQ(load(kAsyncScan), "OK");
  EXPECT_EQ(c_->run({"TFCALLASYNC", "lib.test", "0", "tom"}), "5");
  EXPECT_EQ(c_->run({"TFCALLASYNC", "lib.test", "0", "jerry"}), "2");
}

const char kCachedCoroutine[] = R"(#!js api_version=1.0 name=lib

redis.registerAsyncFunction('test', async function(async_client, expected_name){
    // check the cache first
    var cached_value = async_client.block((client)=>{
        return client.call('get', expected_name + '_count');
    });

    if (cached_value != null) {
        return cached_value;
    }


    var count = 0;
    var cursor = '0';
    do{
        async_client.block((client)=>{
            var res = client.call('scan', cursor);
            cursor = res[0];
            var keys = res[1];
            keys.forEach((key) => {
                if (client.call('hget', key, 'name') == expected_name) {
                    count += 1;
                }
            });
        });
    } while(cursor != '0');

    // set count to the cache wil 5 seconds expiration
    async_client.block((client)=>{
        client.call('set', expected_name + '_count', count);
        client.call('expire', expected_name + '_count', 5);
    });

    return count;
});)";

const char kStartSyncMoveAsync[] = R"(#!js api_version=1.0 name=lib

redis.registerAsyncFunction('test', function(client, expected_name){
    // check the cache first
    var cached_value = client.call('get', expected_name + '_count');
    if (cached_value != null) {
        return cached_value;
    }

    // cache is not set, move to background
    return client.executeAsync(async function(async_client) {
        var count = 0;
        var cursor = '0';
        do{
            async_client.block((client)=>{
                var res = client.call('scan', cursor);
                cursor = res[0];
                var keys = res[1];
                keys.forEach((key) => {
                    if (client.call('hget', key, 'name') == expected_name) {
                        count += 1;
                    }
                });
            });
        } while(cursor != '0');

        // set count to the cache wil 5 seconds expiration
        async_client.block((client)=>{
            client.call('set', expected_name + '_count', count);
            client.call('expire', expected_name + '_count', 5);
        });

        return count;
    });
});)";

TEST_P(SeedTest, CachedCoroutine) {
  hashes();
  ASSERT_EQ(load(kCachedCoroutine), "OK");
  // First call computes (an integer) and caches it for 5 seconds.
  EXPECT_EQ(c_->run({"TFCALLASYNC", "lib.test", "0", "tom"}), "5");
  EXPECT_EQ(c_->run({"GET", "tom_count"}), "\"5\"");
  resp::Value ttl = c_->call({"TTL", "tom_count"});
  EXPECT_GT(ttl.integer, 0);
  EXPECT_LE(ttl.integer, 5);
  // A cache hit returns the cached string, even if the data changed meanwhile.
  c_->call({"HSET", "person:7", "name", "tom"});
  EXPECT_EQ(c_->run({"TFCALLASYNC", "lib.test", "0", "tom"}), "\"5\"");
}

TEST_P(SeedTest, StartSyncAndMoveAsync) {
  hashes();
  ASSERT_EQ(load(kStartSyncMoveAsync), "OK");
  EXPECT_EQ(c_->run({"TFCALLASYNC", "lib.test", "0", "tom"}), "5");
  EXPECT_EQ(c_->run({"TTL", "tom_count"}).size(), 1u);  // 1..5 seconds left
  // The cache hit answers without leaving the synchronous call -- so even TFCALL gets it,
  // while a miss under TFCALL cannot wait for the background work.
  EXPECT_EQ(c_->run({"TFCALLASYNC", "lib.test", "0", "tom"}), "\"5\"");
  c_->call({"DEL", "tom_count"});  // the scans below expect hashes only
  EXPECT_EQ(c_->run({"TFCALL", "lib.test", "0", "jerry"}),
            "(error) The function is declared as async and was called while blocking was not "
            "allowed; note that you cannot invoke async functions from within Lua or MULTI, and "
            "you must use TFCALLASYNC instead.");
  EXPECT_EQ(c_->run({"TFCALLASYNC", "lib.test", "0", "jerry"}), "2");
}

TEST_P(SeedTest, RegisterFunctionWithPromiseCannotWait) {
  // "If we had used registerFunction, Triggers and functions would not have allowed the
  // function to block the client": under TFCALL the returned promise cannot be waited for.
  hashes();
  std::string code = kStartSyncMoveAsync;
  code.replace(code.find("registerAsyncFunction"), 21, "registerFunction");
  ASSERT_EQ(load(code), "OK");
  EXPECT_EQ(c_->run({"TFCALL", "lib.test", "0", "tom"}),
            "(error) Can not block client for background execution, Blocking is not allow inside "
            "multi/exec, Lua, or within another module (RM_Call).");
  // The background work it started still runs to the end and fills the cache.
  bool cached = false;
  for (int i = 0; i < 100 && !cached; ++i) {
    cached = c_->run({"GET", "tom_count"}) == "\"5\"";
    if (!cached) std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  EXPECT_TRUE(cached);
}

TEST_P(SeedTest, IsBlockAllowed) {
  ASSERT_EQ(load(R"(#!js api_version=1.0 name=lib
redis.registerAsyncFunction('allowed', function(client){ return client.isBlockAllowed(); });)"),
            "OK");
  EXPECT_EQ(c_->run({"TFCALLASYNC", "lib.allowed", "0"}), "1");
  EXPECT_EQ(c_->run({"MULTI"}), "OK");
  EXPECT_EQ(c_->run({"TFCALLASYNC", "lib.allowed", "0"}), "QUEUED");
  EXPECT_EQ(c_->run({"EXEC"}), "[0]");
}

TEST_P(SeedTest, MyBlpopWaitsWhileOthersPush) {
  ASSERT_EQ(load(kSeedMyBlpop), "OK");
  Client waiter(proxy_->port());
  waiter.sendCommand({"TFCALLASYNC", "lib.my_blpop", "1", "queue", "wanted"});
  std::this_thread::sleep_for(std::chrono::milliseconds(100));
  EXPECT_FALSE(waiter.tryRead(std::chrono::milliseconds(50)).has_value());
  // While it waits it is listed, and other clients are served.
  EXPECT_NE(c_->run({"TFUNCTION", "LIST", "LIBRARY", "lib"}).find("\"blpop queue 0\""),
            std::string::npos);
  EXPECT_EQ(c_->run({"RPUSH", "queue", "other"}), "1");
  EXPECT_EQ(c_->run({"RPUSH", "queue", "another"}), "1");
  EXPECT_FALSE(waiter.tryRead(std::chrono::milliseconds(100)).has_value());
  EXPECT_EQ(c_->run({"RPUSH", "queue", "wanted"}), "1");
  EXPECT_EQ(resp::toDebugString(waiter.read()), "[\"queue\", \"wanted\"]");
  EXPECT_EQ(c_->run({"LLEN", "queue"}), "0");
  EXPECT_NE(c_->run({"TFUNCTION", "LIST", "LIBRARY", "lib"}).find("\"pending_async_calls\", []"),
            std::string::npos);
}

TEST_P(SeedTest, CallAsyncRawKeepsBytes) {
  ASSERT_EQ(load(R"(#!js api_version=1.0 name=lib
redis.registerAsyncFunction('raw', async function(client, key) {
    var v = await client.block((c) => c.callAsyncRaw('blpop', key, '0'));
    return [v[0] instanceof ArrayBuffer, new Uint8Array(v[1])[0]];
});)"),
            "OK");
  c_->call({"RPUSH", "bin", std::string("\xff", 1)});
  EXPECT_EQ(c_->run({"TFCALLASYNC", "lib.raw", "1", "bin"}), "[1, 255]");
}

INSTANTIATE_TEST_SUITE_P(Backends, SeedTest, ::testing::Values("redis", "cluster"),
                         [](const auto& info) {
                           return std::string(info.param) == "cluster" ? "Cluster" : "Redis";
                         });

}  // namespace
}  // namespace tfproxy::testing
