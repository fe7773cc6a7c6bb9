// Key space triggers (spec §4.4, 4.9, 6.13, 7) against a real redis-server through the real
// proxy: registration texts, event classes, the run before the writer's reply, atomicity with
// the write, onTriggerFired, async callbacks, statistics, upgrade, and a backend without CONFIG.
#include <gtest/gtest.h>

#include <atomic>
#include <thread>

#include "tests/support/client.h"
#include "tests/support/eventually.h"
#include "tests/support/probes.h"
#include "tests/support/processes.h"
#include "tests/support/suite.h"

namespace tfproxy::testing {
namespace {

class KeyspaceTriggersTest : public ProxySuite {
 protected:
  std::string load(const std::string& body, const std::string& name = "lib") {
    return c_->run({"TFUNCTION", "LOAD", "#!js api_version=1.0 name=" + name + "\n" + body});
  }
  std::string loadError(const std::string& body) {
    resp::Value v = c_->call({"TFUNCTION", "LOAD", "#!js api_version=1.0 name=bad\n" + body});
    EXPECT_TRUE(v.isError()) << resp::toDebugString(v);
    return v.str;
  }
  // The log list a recording trigger appends "<event>:<key>" to.
  std::vector<std::string> log(Client& c, const std::string& key = "log") {
    std::vector<std::string> out;
    for (const resp::Value& v : c.call({"LRANGE", key, "0", "-1"}).elements) out.push_back(v.str);
    return out;
  }
  // A field of the first keyspace trigger map of library `lib` (TFUNCTION LIST v).
  resp::Value triggerField(const std::string& field, const std::string& lib = "lib") {
    resp::Value list = c_->call({"TFUNCTION", "LIST", "LIBRARY", lib, "v"});
    if (list.elements.empty()) return {};
    const resp::Value& library = list.elements[0];
    for (size_t i = 0; i + 1 < library.elements.size(); i += 2) {
      if (library.elements[i].str != "keyspace_triggers") continue;
      const resp::Value& trigger = library.elements[i + 1].elements.at(0);
      for (size_t j = 0; j + 1 < trigger.elements.size(); j += 2) {
        if (trigger.elements[j].str == field) return trigger.elements[j + 1];
      }
    }
    return {};
  }
};

// Appends "<event>:<key>" to the list `log` for every key starting with "k:".
const char kRecorder[] = R"(
redis.registerKeySpaceTrigger('rec', 'k:', function(client, data) {
  client.call('rpush', 'log', data.event + ':' + data.key);
});)";

TEST_F(KeyspaceTriggersTest, RegistrationErrors) {
  EXPECT_EQ(loadError("redis.registerKeySpaceTrigger('t', 'k', 5);"),
            "Failed loading library: Third argument to 'registerKeySpaceTrigger' must be a "
            "function.");
  EXPECT_EQ(loadError("redis.registerKeySpaceTrigger('t', 'k', ()=>1, {onTriggerFired: 1});"),
            "Failed loading library: 'onTriggerFired' argument to 'registerKeySpaceTrigger' must "
            "be a function.");
  EXPECT_EQ(loadError("redis.registerKeySpaceTrigger('t', 'k', ()=>1, {onTriggerFired: async "
                      "function(){}});"),
            "Failed loading library: 'onTriggerFired' argument to 'registerKeySpaceTrigger' must "
            "be a function.");
  EXPECT_EQ(loadError("redis.registerKeySpaceTrigger('t', 5, ()=>1);"),
            "Failed loading library: Second argument to 'registerKeySpaceTrigger' must be a "
            "string or ArrayBuffer representing the prefix.");
  EXPECT_EQ(loadError("redis.registerKeySpaceTrigger('a-b', 'k', ()=>1);"),
            "Failed loading library: Unallowed key space trigger name 'a-b', Unallowed char was "
            "given '-'..");
  EXPECT_EQ(loadError("redis.registerKeySpaceTrigger('t', 'k', ()=>1); "
                      "redis.registerKeySpaceTrigger('t', 'j', ()=>1);"),
            "Failed loading library: Notification consumer already exists.");
  EXPECT_EQ(loadError("redis.registerKeySpaceTrigger('t', 'k', ()=>1, {bogus: 1});"),
            "Failed loading library: Can not convert value at position 3 into Option < "
            "NoficationConsumerOptionalArgs >. Unknown properties given: bogus..");
  EXPECT_NE(loadError("redis.registerKeySpaceTrigger('t');").find("Wrong number of arguments"),
            std::string::npos);
  // A library of triggers only is a library.
  EXPECT_EQ(load("redis.registerKeySpaceTrigger('t', 'k', ()=>1);"), "OK");
  EXPECT_NE(resp::toDebugString(c_->call({"TFUNCTION", "LIST"})).find("\"t\""), std::string::npos);
}

// The trigger ran before the writer got its reply: the next command sees its effect.
TEST_F(KeyspaceTriggersTest, SyncTriggerRunsBeforeTheReply) {
  ASSERT_EQ(load(kRecorder), "OK");
  EXPECT_EQ(c_->run({"SET", "k:a", "1"}), "OK");
  EXPECT_EQ(log(*c_), (std::vector<std::string>{"set:k:a"}));
  EXPECT_EQ(c_->run({"SET", "other", "1"}), "OK");  // no prefix match, no trigger
  EXPECT_EQ(log(*c_), (std::vector<std::string>{"set:k:a"}));
}

TEST_F(KeyspaceTriggersTest, EventClasses) {
  ASSERT_EQ(load(kRecorder), "OK");
  c_->call({"SET", "k:s", "1"});
  c_->call({"INCRBY", "k:s", "2"});
  c_->call({"APPEND", "k:s", "x"});
  c_->call({"HSET", "k:h", "f", "v"});
  c_->call({"LPUSH", "k:l", "a"});
  c_->call({"SADD", "k:t", "a"});
  c_->call({"ZADD", "k:z", "1", "a"});
  c_->call({"XADD", "k:x", "*", "f", "v"});
  c_->call({"EXPIRE", "k:h", "100"});
  c_->call({"RENAME", "k:l", "k:l2"});
  c_->call({"DEL", "k:t"});
  EXPECT_EQ(log(*c_),
            (std::vector<std::string>{"set:k:s", "incrby:k:s", "append:k:s", "hset:k:h",
                                      "lpush:k:l", "sadd:k:t", "zadd:k:z", "xadd:k:x", "expire:k:h",
                                      "rename_from:k:l", "rename_to:k:l2", "del:k:t"}));
}

// Key misses and expiry are events nobody proxied the write of: they fire as they arrive.
TEST_F(KeyspaceTriggersTest, KeyMissAndExpiry) {
  ASSERT_EQ(load(kRecorder), "OK");
  c_->call({"GET", "k:missing"});
  c_->call({"SET", "k:e", "1", "PX", "20"});
  EXPECT_TRUE(eventually([&] {
    auto l = log(*c_);
    return std::find(l.begin(), l.end(), "keymiss:k:missing") != l.end() &&
           std::find(l.begin(), l.end(), "expired:k:e") != l.end();
  })) << ::testing::PrintToString(log(*c_));
}

TEST_F(KeyspaceTriggersTest, WritesOfDirectClientsFire) {
  ASSERT_EQ(load(kRecorder), "OK");
  Client direct(redis_->port());
  direct.call({"SET", "k:direct", "1"});
  EXPECT_TRUE(eventually([&] { return log(*c_) == std::vector<std::string>{"set:k:direct"}; }))
      << ::testing::PrintToString(log(*c_));
}

// Commands issued from JavaScript fire no key space trigger (spec §6.13): a function's writes,
// and the trigger's own write to a key of its prefix.
TEST_F(KeyspaceTriggersTest, CommandsFromJavaScriptDoNotFire) {
  ASSERT_EQ(load(std::string(kRecorder) + R"(
redis.registerFunction('w', function(client) { return client.call('set', 'k:fromjs', '1'); });
redis.registerAsyncFunction('a', async function(client) {
  return await client.block(function(c) { return c.callAsync('set', 'k:async', '1'); });
});
redis.registerKeySpaceTrigger('echo', 'k:echo', function(client, data) {
  client.call('set', 'k:echo:' + data.key, '1');
});)"),
            "OK");
  EXPECT_EQ(c_->run({"TFCALL", "lib.w", "0"}), "\"OK\"");
  EXPECT_EQ(c_->run({"TFCALLASYNC", "lib.a", "0"}), "\"OK\"");
  EXPECT_EQ(c_->run({"SET", "k:echo", "1"}), "OK");
  // Only the client's own SET fired "rec" (and "echo", whose write fired nothing).
  std::this_thread::sleep_for(std::chrono::milliseconds(100));
  EXPECT_EQ(log(*c_), (std::vector<std::string>{"set:k:echo"}));
  EXPECT_EQ(c_->run({"EXISTS", "k:echo:k:echo"}), "1");
}

// While a function runs, the writes of a client of Redis itself still fire (only the keys the
// function's commands touched are its own).
TEST_F(KeyspaceTriggersTest, DirectWritesDuringAFunctionFire) {
  ASSERT_EQ(load(std::string(kRecorder) + R"(
redis.registerFunction('busy', function(client) {
  for (let i = 0; i < 3000; ++i) client.call('set', 'k:js', String(i));
  return 'done';
});)"),
            "OK");
  std::thread busy([&] {
    Client c(proxy_->port());
    EXPECT_EQ(c.run({"TFCALL", "lib.busy", "0"}), "\"done\"");
  });
  Client direct(redis_->port());
  for (int i = 0; i < 50; ++i) direct.call({"SET", "k:d" + std::to_string(i), "1"});
  busy.join();
  EXPECT_TRUE(eventually([&] { return log(*c_).size() == 50; })) << log(*c_).size();
  std::this_thread::sleep_for(std::chrono::milliseconds(100));
  const auto entries = log(*c_);
  EXPECT_EQ(entries.size(), 50u);
  EXPECT_EQ(std::count(entries.begin(), entries.end(), "set:k:js"), 0);
}

// Every database's keys; the callback runs in the event's database.
TEST_F(KeyspaceTriggersTest, EventsOfOtherDatabases) {
  ASSERT_EQ(load(R"(redis.registerKeySpaceTrigger('db', 'k:', function(client, data) {
  client.call('incr', 'count');
});)"),
            "OK");
  c_->call({"SELECT", "3"});
  EXPECT_EQ(c_->run({"SET", "k:a", "1"}), "OK");
  EXPECT_EQ(c_->run({"GET", "count"}), "\"1\"");
  c_->call({"SELECT", "0"});
  EXPECT_EQ(c_->run({"GET", "count"}), "(nil)");
}

TEST_F(KeyspaceTriggersTest, DataObjectAndBinaryPrefix) {
  ASSERT_EQ(load(R"(
redis.registerKeySpaceTrigger('bin', new Uint8Array([0xff, 0x01]).buffer, function(client, data) {
  client.call('rpush', 'log', String(data.key === null), String(data.key_raw.byteLength),
              data.event);
});)"),
            "OK");
  EXPECT_EQ(c_->run({"SET", std::string("\xff\x01z", 3), "1"}), "OK");
  EXPECT_EQ(log(*c_), (std::vector<std::string>{"true", "3", "set"}));
}

// A transaction's writes fire after EXEC, before its reply. As the proxy gets events after the
// whole transaction, onTriggerFired sees the data as the main callback does (spec §11.6): both
// read "jerry" twice.
TEST_F(KeyspaceTriggersTest, TransactionsAndOnTriggerFired) {
  ASSERT_EQ(load(R"(
redis.registerKeySpaceTrigger('main', 'x', function(client, data) {
  client.call('incr', 'main:' + client.call('hget', data.key, 'name'));
});
redis.registerKeySpaceTrigger('fired', 'x', function(client, data) {
  client.call('incr', 'fired:' + data.name);
}, {onTriggerFired: function(client, data) { data.name = client.call('hget', data.key, 'name'); }});
)"),
            "OK");
  c_->call({"MULTI"});
  c_->call({"HSET", "x", "name", "tom"});
  c_->call({"HSET", "x", "name", "jerry"});
  resp::Value exec = c_->call({"EXEC"});
  ASSERT_EQ(exec.elements.size(), 2u) << resp::toDebugString(exec);
  EXPECT_EQ(c_->run({"GET", "main:jerry"}), "\"2\"");
  EXPECT_EQ(c_->run({"GET", "fired:jerry"}), "\"2\"");
  EXPECT_EQ(c_->run({"GET", "main:tom"}), "(nil)");
}

// onTriggerFired runs without writes; its failure skips the main callback.
TEST_F(KeyspaceTriggersTest, OnTriggerFiredCannotWrite) {
  ASSERT_EQ(load(R"(
redis.registerKeySpaceTrigger('t', 'k:', function(client, data) { client.call('incr', 'main'); },
  {onTriggerFired: function(client, data) { client.call('set', 'nope', '1'); }});)"),
            "OK");
  EXPECT_EQ(c_->run({"SET", "k:a", "1"}), "OK");
  EXPECT_EQ(c_->run({"EXISTS", "main", "nope"}), "0");
  EXPECT_NE(triggerField("last_error").str.find("was called while write is not allowed"),
            std::string::npos)
      << triggerField("last_error").str;
  EXPECT_EQ(triggerField("num_failed").integer, 1);
}

TEST_F(KeyspaceTriggersTest, AsyncCallback) {
  ASSERT_EQ(load(R"(
redis.registerKeySpaceTrigger('t', 'k:', async function(client, data) {
  await client.block(function(c) { c.call('rpush', 'log', 'async:' + data.key); });
});)"),
            "OK");
  EXPECT_EQ(c_->run({"SET", "k:a", "1"}), "OK");
  EXPECT_TRUE(eventually([&] { return log(*c_) == std::vector<std::string>{"async:k:a"}; }));
  EXPECT_TRUE(eventually([&] { return triggerField("num_success").integer == 1; }));
}

// Failures never change the writer's reply; they are counted and kept (spec §7.2, 7.5), and an
// upgrade keeps the statistics (spec §7.4).
TEST_F(KeyspaceTriggersTest, StatisticsAndUpgrade) {
  ASSERT_EQ(load(R"(
redis.registerKeySpaceTrigger('t', 'k:', function(client, data) {
  if (data.key == 'k:bad') throw 'boom';
}, {description: 'desc'});)"),
            "OK");
  EXPECT_EQ(c_->run({"SET", "k:good", "1"}), "OK");
  EXPECT_EQ(c_->run({"SET", "k:bad", "1"}), "OK");
  EXPECT_EQ(triggerField("num_trigger").integer, 2);
  EXPECT_EQ(triggerField("num_finished").integer, 2);
  EXPECT_EQ(triggerField("num_success").integer, 1);
  EXPECT_EQ(triggerField("num_failed").integer, 1);
  EXPECT_EQ(triggerField("last_error").str, "boom");
  EXPECT_EQ(triggerField("description").str, "desc");
  // Level 0 lists the names.
  resp::Value list = c_->call({"TFUNCTION", "LIST"});
  EXPECT_NE(resp::toDebugString(list).find("\"t\""), std::string::npos);

  ASSERT_EQ(c_->run({"TFUNCTION", "LOAD", "REPLACE",
                     "#!js api_version=1.0 name=lib\n"
                     "redis.registerKeySpaceTrigger('t', 'k:', function(client, data) {});"}),
            "OK");
  EXPECT_EQ(triggerField("num_trigger").integer, 2);
  EXPECT_EQ(triggerField("last_error").str, "boom");
  EXPECT_EQ(c_->run({"SET", "k:good", "2"}), "OK");
  EXPECT_EQ(triggerField("num_success").integer, 2);
  EXPECT_TRUE(triggerField("description").isNull());
}

// Triggers are visited in registration order across libraries.
TEST_F(KeyspaceTriggersTest, RegistrationOrderAcrossLibraries) {
  ASSERT_EQ(load("redis.registerKeySpaceTrigger('one', 'k:', (c, d) => c.call('rpush', 'log', "
                 "'b1')); redis.registerKeySpaceTrigger('two', 'k:', (c, d) => c.call('rpush', "
                 "'log', 'b2'));",
                 "libb"),
            "OK");
  ASSERT_EQ(load("redis.registerKeySpaceTrigger('one', 'k:', (c, d) => c.call('rpush', 'log', "
                 "'a1'));",
                 "liba"),
            "OK");
  EXPECT_EQ(c_->run({"SET", "k:a", "1"}), "OK");
  EXPECT_EQ(log(*c_), (std::vector<std::string>{"b1", "b2", "a1"}));
  ASSERT_EQ(c_->run({"TFUNCTION", "DELETE", "libb"}), "OK");
  EXPECT_EQ(c_->run({"SET", "k:a", "2"}), "OK");
  EXPECT_EQ(log(*c_), (std::vector<std::string>{"b1", "b2", "a1", "a1"}));
}

// A reader through the proxy never sees a write without its trigger's effect.
TEST_F(KeyspaceTriggersTest, AtomicWithTheWrite) {
  ASSERT_EQ(load(R"(redis.registerKeySpaceTrigger('mirror', 'a:', function(client, data) {
  client.call('set', 'b:' + data.key.substring(2), client.call('get', data.key));
});)"),
            "OK");
  c_->call({"SET", "a:x", "0"});
  std::atomic<bool> stop{false};
  std::atomic<int> torn{0};
  std::atomic<int> reads{0};
  std::thread reader([&] {
    Client r(proxy_->port());
    while (!stop) {
      resp::Value v = r.call({"MGET", "a:x", "b:x"});
      if (v.elements.size() != 2 || v.elements[0].str != v.elements[1].str) ++torn;
      ++reads;
    }
  });
  Client w(proxy_->port());
  for (int i = 1; i <= 500; ++i) w.call({"SET", "a:x", std::to_string(i)});
  stop = true;
  reader.join();
  EXPECT_GT(reads.load(), 0);
  EXPECT_EQ(torn.load(), 0);
  EXPECT_EQ(w.run({"GET", "b:x"}), "\"500\"");
}

// The flags triggers need are set, keeping the operator's, and set again after a CONFIG SET
// through tfproxy took them away.
TEST_F(KeyspaceTriggersTest, NotifyFlagsKeptAndRestored) {
  Client direct(redis_->port());
  direct.call({"CONFIG", "SET", "notify-keyspace-events", "Ex"});
  c_->call({"SET", "k:x", "1"});  // loads nothing: the flags stay the operator's
  ASSERT_EQ(load(kRecorder), "OK");
  auto flags = [&] {
    return direct.call({"CONFIG", "GET", "notify-keyspace-events"}).elements[1].str;
  };
  // The operator's E stays; K, m and every class are added (Redis writes the classes as A).
  std::string now = flags();
  for (char c : std::string("EKmA")) EXPECT_NE(now.find(c), std::string::npos) << now;
  EXPECT_EQ(c_->run({"CONFIG", "SET", "notify-keyspace-events", ""}), "OK");
  EXPECT_TRUE(eventually([&] {
    now = flags();
    return now.find('K') != std::string::npos && now.find('m') != std::string::npos;
  })) << now;
  c_->call({"SET", "k:after", "1"});
  EXPECT_EQ(log(*c_), (std::vector<std::string>{"set:k:after"}));
}

// The bounded soak (bench/soak.py runs the long one): sync and async triggers fired by writes
// through tfproxy and by a client of Redis itself leave memory and descriptors flat.
TEST_F(KeyspaceTriggersTest, BoundedSoak) {
  ASSERT_EQ(load(R"(
redis.registerKeySpaceTrigger('sync', 'k:', function(c, d) { c.call('incr', 'n:' + d.hit); },
  {onTriggerFired: function(c, d) { d.hit = d.event; }});
redis.registerKeySpaceTrigger('async', 'a:', async function(c, d) {
  await c.block(function(bc) { bc.call('incr', 'n:async'); });
});)"),
            "OK");
  Client direct(redis_->port());
  auto round = [&](int n) {
    for (int i = 0; i < n; ++i) {
      const std::string k = std::to_string(i % 100);
      c_->call({"SET", "k:" + k, "1"});
      c_->call({"SET", "a:" + k, "1"});
      direct.call({"SET", "k:" + k, "2"});
    }
  };
  round(1000);  // warm: connections, isolate, caches
  EXPECT_TRUE(eventually([&] { return c_->run({"GET", "n:async"}) == "\"1000\""; }));
  const int64_t rss_before = rssKb(proxy_->pid());
  const int fds_before = openFds(proxy_->pid());
  round(5000);
  EXPECT_TRUE(eventually([&] {
    return c_->run({"GET", "n:async"}) == "\"6000\"";
  })) << c_->run({"GET", "n:async"});
  EXPECT_TRUE(eventually([&] {
    return c_->run({"GET", "n:set"}) == "\"12000\"";
  })) << c_->run({"GET", "n:set"});
  const int64_t rss_after = rssKb(proxy_->pid());
  if (!kSanitized) {
    EXPECT_LT(rss_after - rss_before, 16 * 1024) << rss_before << " -> " << rss_after << " kB";
  }
  EXPECT_LE(openFds(proxy_->pid()), fds_before + 2);
}

// Eviction is an event nobody proxied: it fires as it arrives.
TEST(KeyspaceTriggersEvictionTest, EvictedKeysFire) {
  RedisServer redis({"--maxmemory-policy", "allkeys-random"});
  Proxy proxy({"--backend", redis.address()});
  Client c(proxy.port());
  ASSERT_EQ(c.run({"TFUNCTION", "LOAD",
                   "#!js api_version=1.0 name=lib\nredis.registerKeySpaceTrigger('t', 'k:', "
                   "function(client, data) { if (data.event == 'evicted') "
                   "client.call('incr', 'evicted'); });"}),
            "OK");
  Client direct(redis.port());
  const std::string value(10000, 'v');
  for (int i = 0; i < 200; ++i) direct.call({"SET", "k:" + std::to_string(i), value});
  const std::string used = direct.call({"INFO", "memory"}).str;
  const size_t at = used.find("used_memory:");
  ASSERT_NE(at, std::string::npos);
  const int64_t bytes = std::stoll(used.substr(at + 12));
  // A limit below what is in use: Redis evicts keys at the next write.
  direct.call({"CONFIG", "SET", "maxmemory", std::to_string(bytes - 500000)});
  direct.call({"SET", "other", "1"});
  EXPECT_TRUE(eventually([&] {
    return !c.call({"GET", "evicted"}).str.empty() || !direct.call({"GET", "evicted"}).str.empty();
  })) << "no evicted event fired";
}

// A backend that refuses CONFIG (managed services): the trigger is shown as receiving no events.
TEST(KeyspaceTriggersManagedTest, ConfigRefusedIsShown) {
  RedisServer redis({"--rename-command", "CONFIG", ""});
  Proxy proxy({"--backend", redis.address()});
  Client c(proxy.port());
  ASSERT_EQ(c.run({"TFUNCTION", "LOAD",
                   "#!js api_version=1.0 name=lib\nredis.registerKeySpaceTrigger('t', 'k:', "
                   "function(client, data) { client.call('incr', 'n'); });"}),
            "OK");
  std::string shown;
  EXPECT_TRUE(eventually([&] {
    resp::Value list = c.call({"TFUNCTION", "LIST", "v"});
    shown = resp::toDebugString(list);
    return shown.find("notify-keyspace-events") != std::string::npos;
  })) << shown;
}

// Several instances in front of one Redis: each event fires each trigger once. A write's
// events are its instance's; events nobody proxied are the lease holder's, and the lease moves
// when its holder dies.
TEST(KeyspaceTriggersFleetTest, EachEventFiresOnce) {
  RedisServer redis;
  auto a = std::make_unique<Proxy>(std::vector<std::string>{"--backend", redis.address()});
  auto b = std::make_unique<Proxy>(std::vector<std::string>{"--backend", redis.address()});
  Client ca(a->port());
  Client cb(b->port());
  Client direct(redis.port());
  ASSERT_EQ(ca.run({"TFUNCTION", "LOAD", R"(#!js api_version=1.0 name=lib
redis.registerKeySpaceTrigger('count', 'k:', function(client, data) { client.call('incr', 'n'); });
redis.registerFunction('js', function(client) { return client.call('set', 'k:js', '1'); });)"}),
            "OK");
  // The second instance adopts the library from the store.
  ASSERT_TRUE(eventually([&] { return cb.call({"TFUNCTION", "LIST"}).elements.size() == 1; }));
  auto n = [&] { return direct.call({"GET", "n"}).str; };
  for (int i = 0; i < 50; ++i) {
    ASSERT_EQ(ca.run({"SET", "k:a" + std::to_string(i), "1"}), "OK");
    ASSERT_EQ(cb.run({"SET", "k:b" + std::to_string(i), "1"}), "OK");
  }
  EXPECT_EQ(n(), "100");
  for (int i = 0; i < 20; ++i) direct.call({"SET", "k:d" + std::to_string(i), "1"});
  EXPECT_EQ(eventuallyEquals(n, std::string("120")), "120");
  // A function's write through either instance fires nothing anywhere.
  EXPECT_EQ(cb.run({"TFCALL", "lib.js", "0"}), "\"OK\"");
  EXPECT_EQ(ca.run({"TFCALL", "lib.js", "0"}), "\"OK\"");
  std::this_thread::sleep_for(std::chrono::milliseconds(300));
  EXPECT_EQ(n(), "120");

  // The lease holder dies: the other instance takes over the events nobody proxied.
  const std::string holder = direct.call({"GET", "tfproxy:libraries:lease"}).str;
  ASSERT_FALSE(holder.empty());
  Proxy* survivor = b.get();
  // Which one holds it is not known from outside: kill one, and if the survivor did not hold
  // it, it takes over once the dead one's lease expires.
  a->stop(9);
  a.reset();
  Client cs(survivor->port());
  direct.call({"SET", "k:after", "1"});
  EXPECT_TRUE(eventually(
      [&] {
        direct.call({"SET", "k:again", "1"});
        return std::stoll(n()) > 120;
      },
      std::chrono::milliseconds(15000), std::chrono::milliseconds(500)))
      << n();
  EXPECT_EQ(cs.run({"SET", "k:through", "1"}), "OK");
}

}  // namespace
}  // namespace tfproxy::testing
