// Stream triggers (spec §4.5, 4.9, 8) against a real redis-server through the real proxy:
// registration texts, existing entries, the data object, the window, trimming, deletion and
// flush, upgrade, positions that survive a restart and a kill -9, and a second instance taking
// over.
#include <gtest/gtest.h>

#include <map>
#include <thread>

#include "tests/support/client.h"
#include "tests/support/eventually.h"
#include "tests/support/processes.h"
#include "tests/support/suite.h"

namespace tfproxy::testing {
namespace {

std::string library(const std::string& body, const std::string& name = "lib") {
  return "#!js api_version=1.0 name=" + name + "\n" + body;
}

// A map field of a RESP map/array of pairs.
const resp::Value* fieldOf(const resp::Value& map, const std::string& name) {
  for (size_t i = 0; i + 1 < map.elements.size(); i += 2) {
    if (map.elements[i].str == name) return &map.elements[i + 1];
  }
  return nullptr;
}

class StreamTriggersTest : public ProxySuite {
 protected:
  std::string load(const std::string& body, const std::string& name = "lib") {
    return c_->run({"TFUNCTION", "LOAD", library(body, name)});
  }
  std::string loadError(const std::string& body) {
    resp::Value v = c_->call({"TFUNCTION", "LOAD", library(body, "bad")});
    EXPECT_TRUE(v.isError()) << resp::toDebugString(v);
    return v.str;
  }
  std::vector<std::string> list(const std::string& key) {
    std::vector<std::string> out;
    for (const resp::Value& v : c_->call({"LRANGE", key, "0", "-1"}).elements) out.push_back(v.str);
    return out;
  }
  // The stream maps of the first stream trigger of `lib` (TFUNCTION LIST vv).
  resp::Value streams(const std::string& lib = "lib") {
    resp::Value l = c_->call({"TFUNCTION", "LIST", "LIBRARY", lib, "vv"});
    if (l.elements.empty()) return {};
    const resp::Value* triggers = fieldOf(l.elements[0], "stream_triggers");
    if (triggers == nullptr || triggers->elements.empty()) return {};
    const resp::Value* s = fieldOf(triggers->elements[0], "streams");
    return s ? *s : resp::Value{};
  }
};

// Records "<stream>:<id>:<fields as JSON>" in the list `seen`.
const char kRecorder[] = R"(
redis.registerStreamTrigger('rec', 's:', function(client, data) {
  client.call('rpush', 'seen', data.stream_name + ' ' + data.id[0] + '-' + data.id[1] + ' ' +
              JSON.stringify(data.record));
});)";

TEST_F(StreamTriggersTest, RegistrationErrors) {
  EXPECT_EQ(loadError("redis.registerStreamTrigger('t', 's', 5);"),
            "Failed loading library: The fifth argument to 'registerStreamTrigger' must be a "
            "function.");
  EXPECT_EQ(loadError("redis.registerStreamTrigger('t', 's', ()=>1, {window: 0});"),
            "Failed loading library: window argument must be a positive number.");
  EXPECT_NE(loadError("redis.registerStreamTrigger('t', 's', ()=>1, {window: 1.5});")
                .find("Failed getting field window, Value is not long"),
            std::string::npos);
  EXPECT_NE(loadError("redis.registerStreamTrigger('t', 's', ()=>1, {isStreamTrimmed: 1});")
                .find("Value is not a boolean"),
            std::string::npos);
  EXPECT_EQ(loadError("redis.registerStreamTrigger('t', 5, ()=>1);"),
            "Failed loading library: Second argument to 'registerStreamTrigger' must be a String "
            "or ArrayBuffer representing the prefix.");
  EXPECT_EQ(loadError("redis.registerStreamTrigger('t t', 's', ()=>1);"),
            "Failed loading library: Unallowed stream trigger name 't t', Unallowed char was "
            "given ' '..");
  EXPECT_EQ(loadError("redis.registerStreamTrigger('t', 's', ()=>1); "
                      "redis.registerStreamTrigger('t', 'x', ()=>1);"),
            "Failed loading library: Stream registration already exists.");
  // A key space trigger and a stream trigger may share a name.
  EXPECT_EQ(load("redis.registerStreamTrigger('t', 's', ()=>1); "
                 "redis.registerKeySpaceTrigger('t', 's', ()=>1);"),
            "OK");
  EXPECT_EQ(c_->call({"TFUNCTION", "LOAD", "REPLACE",
                      library("redis.registerStreamTrigger('t', 'other', ()=>1);")})
                .str,
            "Failed loading library: Can not upgrade an existing consumer with different prefix, "
            "consumer: 't', old_prefix: s, new_prefix: other..");
}

// Entries already in a stream are processed from the beginning when a trigger is loaded; an
// XADD through tfproxy is processed before its reply; the data object (spec §4.9).
TEST_F(StreamTriggersTest, ExistingEntriesThenNewOnes) {
  Client direct(redis_->port());
  direct.call({"XADD", "s:1", "1-1", "a", "1"});
  direct.call({"XADD", "s:1", "1-2", "a", "2", "a", "3"});
  direct.call({"XADD", "other", "1-1", "a", "1"});
  ASSERT_EQ(load(kRecorder), "OK");
  EXPECT_TRUE(eventually([&] { return list("seen").size() == 2; }));
  EXPECT_EQ(c_->run({"XADD", "s:1", "2-1", "b", "4"}), "\"2-1\"");
  EXPECT_EQ(list("seen"), (std::vector<std::string>{"s:1 1-1 [[\"a\",\"1\"]]",
                                                    "s:1 1-2 [[\"a\",\"2\"],[\"a\",\"3\"]]",
                                                    "s:1 2-1 [[\"b\",\"4\"]]"}));
  resp::Value s = streams();
  ASSERT_EQ(s.elements.size(), 1u) << resp::toDebugString(s);
  EXPECT_EQ(fieldOf(s.elements[0], "name")->str, "s:1");
  EXPECT_EQ(fieldOf(s.elements[0], "id_to_read_from")->str, "2-1");
  EXPECT_EQ(fieldOf(s.elements[0], "total_record_processed")->integer, 3);
  EXPECT_TRUE(fieldOf(s.elements[0], "pending_ids")->elements.empty());
}

TEST_F(StreamTriggersTest, DataTypes) {
  ASSERT_EQ(load(R"(redis.registerStreamTrigger('t', 's:', function(client, data) {
  client.call('rpush', 'seen', typeof data.id[0], typeof data.id[1],
              String(data.stream_name_raw.byteLength), String(data.record_raw[0][1].byteLength),
              String(data.record[0][1] === null));
});)"),
            "OK");
  c_->call({"XADD", "s:x", "*", "f", std::string("\xff\xfe", 2)});
  EXPECT_EQ(list("seen"), (std::vector<std::string>{"bigint", "bigint", "3", "2", "true"}));
}

// With a trimming trigger and a sync callback, XADD then XLEN gives 0 (spec §8.4).
TEST_F(StreamTriggersTest, Trimming) {
  ASSERT_EQ(load(R"(redis.registerStreamTrigger('t', 's:', function(client, data) {
  client.call('incr', 'n');
}, {isStreamTrimmed: true});)"),
            "OK");
  for (int i = 0; i < 5; ++i) c_->call({"XADD", "s:t", "*", "f", "v"});
  EXPECT_EQ(c_->run({"XLEN", "s:t"}), "0");
  EXPECT_EQ(c_->run({"GET", "n"}), "\"5\"");
}

// A trimming trigger trims only what every trigger tracking the stream is done with.
TEST_F(StreamTriggersTest, TrimWaitsForEveryTrigger) {
  ASSERT_EQ(load(R"(
var held = [];
redis.registerStreamTrigger('trims', 's:', function(client, data) {}, {isStreamTrimmed: true});
redis.registerStreamTrigger('slow', 's:', async function(client, data) {
  await new Promise(function(resolve) { held.push(resolve); });
});)"),
            "OK");
  for (int i = 0; i < 3; ++i) c_->call({"XADD", "s:t", "*", "f", "v"});
  // "slow" holds its first entry: nothing from it on goes.
  EXPECT_EQ(c_->run({"XLEN", "s:t"}), "3");
}

// An async callback keeps up to `window` entries in flight (spec §8.4).
TEST_F(StreamTriggersTest, AsyncWindow) {
  ASSERT_EQ(load(R"(
var release = [];
redis.registerStreamTrigger('t', 's:', async function(client, data) {
  await client.block(function(c) { c.call('incr', 'started'); });
  await new Promise(function(resolve) { release.push(resolve); });
  await client.block(function(c) { c.call('incr', 'done'); });
}, {window: 3});
redis.registerFunction('release', function() { var n = release.length; release.forEach(function(r) { r(); }); release = []; return n; });
)"),
            "OK");
  for (int i = 0; i < 10; ++i) c_->call({"XADD", "s:w", "*", "f", std::to_string(i)});
  EXPECT_EQ(eventuallyEquals(
                [&] {
                  return c_->run({"GET", "started"});
                },
                std::string("\"3\"")),
            "\"3\"");
  std::this_thread::sleep_for(std::chrono::milliseconds(200));
  EXPECT_EQ(c_->run({"GET", "started"}), "\"3\"");
  resp::Value s = streams();
  ASSERT_EQ(s.elements.size(), 1u);
  EXPECT_EQ(fieldOf(s.elements[0], "pending_ids")->elements.size(), 3u);
  // Released, the next ones go, three at a time.
  EXPECT_TRUE(eventually([&] {
    c_->call({"TFCALL", "lib.release", "0"});
    return c_->run({"GET", "done"}) == "\"10\"";
  }));
}

// Deleting a stream drops its state; FLUSHALL drops every stream's (spec §8.5).
TEST_F(StreamTriggersTest, DeletionAndFlush) {
  ASSERT_EQ(load(kRecorder), "OK");
  c_->call({"XADD", "s:d", "*", "f", "v"});
  c_->call({"XADD", "s:e", "*", "f", "v"});
  EXPECT_EQ(streams().elements.size(), 2u);
  c_->call({"DEL", "s:d"});
  EXPECT_TRUE(eventually([&] { return streams().elements.size() == 1; }));
  c_->call({"FLUSHALL"});
  EXPECT_TRUE(eventually([&] { return streams().elements.empty(); }));
  // A new stream of the same name starts from its beginning.
  c_->call({"XADD", "s:d", "1-1", "f", "again"});
  EXPECT_EQ(list("seen").back(), "s:d 1-1 [[\"f\",\"again\"]]");
}

// REPLACE keeps the positions: nothing is processed again; a removed trigger loaded again
// starts from the beginning (spec §8.8).
TEST_F(StreamTriggersTest, UpgradeAndRemoval) {
  ASSERT_EQ(load(kRecorder), "OK");
  c_->call({"XADD", "s:u", "*", "f", "1"});
  c_->call({"XADD", "s:u", "*", "f", "2"});
  ASSERT_EQ(list("seen").size(), 2u);
  ASSERT_EQ(c_->run({"TFUNCTION", "LOAD", "REPLACE", library(kRecorder)}), "OK");
  c_->call({"XADD", "s:u", "*", "f", "3"});
  EXPECT_EQ(list("seen").size(), 3u);
  EXPECT_EQ(fieldOf(streams().elements.at(0), "total_record_processed")->integer, 3);
  ASSERT_EQ(c_->run({"TFUNCTION", "DELETE", "lib"}), "OK");
  c_->call({"DEL", "seen"});
  ASSERT_EQ(load(kRecorder), "OK");
  EXPECT_TRUE(eventually([&] { return list("seen").size() == 3; })) << list("seen").size();
}

// Streams of other databases are followed too; the callback runs in the stream's database.
TEST_F(StreamTriggersTest, OtherDatabases) {
  ASSERT_EQ(load(R"(redis.registerStreamTrigger('t', 's:', function(client, data) {
  client.call('incr', 'n');
});)"),
            "OK");
  c_->call({"SELECT", "2"});
  c_->call({"XADD", "s:db", "*", "f", "v"});
  EXPECT_EQ(c_->run({"GET", "n"}), "\"1\"");
  c_->call({"SELECT", "0"});
}

// Failures are kept and processing goes on (no retry).
TEST_F(StreamTriggersTest, FailuresDoNotStop) {
  ASSERT_EQ(load(R"(redis.registerStreamTrigger('t', 's:', function(client, data) {
  if (data.record[0][1] == 'bad') throw 'bad entry';
  client.call('incr', 'n');
});)"),
            "OK");
  c_->call({"XADD", "s:f", "*", "f", "bad"});
  c_->call({"XADD", "s:f", "*", "f", "good"});
  EXPECT_EQ(c_->run({"GET", "n"}), "\"1\"");
  resp::Value s = streams();
  EXPECT_EQ(fieldOf(s.elements.at(0), "last_error")->str, "bad entry");
  EXPECT_EQ(fieldOf(s.elements.at(0), "total_record_processed")->integer, 2);
}

// Counts per entry how often the trigger saw it: "processed" hash, field = entry ID.
const char kCounter[] = R"(
redis.registerStreamTrigger('count', 'backlog', function(client, data) {
  client.call('hincrby', 'processed', data.id[0] + '-' + data.id[1], '1');
});)";

// A restart resumes after the last acknowledged entry; a kill -9 in the middle of a large
// backlog delivers every entry at least once and at most the window's worth twice.
TEST(StreamTriggersRestartTest, KillInTheMiddleOfABacklog) {
  RedisServer redis;
  Client direct(redis.port());
  constexpr int kEntries = 100000;
  {
    std::string pipeline;
    for (int i = 1; i <= kEntries; ++i) {
      pipeline += "*5\r\n$4\r\nXADD\r\n$7\r\nbacklog\r\n$" +
                  std::to_string(2 + std::to_string(i).size()) + "\r\n1-" + std::to_string(i) +
                  "\r\n$1\r\nf\r\n$1\r\nv\r\n";
    }
    direct.send(pipeline);
    for (int i = 0; i < kEntries; ++i) direct.read();
  }
  auto proxy = std::make_unique<Proxy>(std::vector<std::string>{"--backend", redis.address()});
  {
    Client c(proxy->port());
    ASSERT_EQ(c.run({"TFUNCTION", "LOAD", library(kCounter)}), "OK");
  }
  auto processed = [&] { return direct.call({"HLEN", "processed"}).integer; };
  ASSERT_TRUE(eventually([&] { return processed() > 20000; }, std::chrono::seconds(60)));
  proxy->stop(9);
  proxy.reset();
  const int64_t at_kill = processed();
  ASSERT_LT(at_kill, kEntries) << "the backlog was done before the kill";
  proxy = std::make_unique<Proxy>(std::vector<std::string>{"--backend", redis.address()});
  ASSERT_TRUE(eventually([&] { return processed() == kEntries; }, std::chrono::seconds(120)))
      << processed();
  // Every entry once, at most one (the window) twice.
  resp::Value counts = direct.call({"HGETALL", "processed"});
  int twice = 0;
  for (size_t i = 1; i < counts.elements.size(); i += 2) {
    const std::string& n = counts.elements[i].str;
    ASSERT_TRUE(n == "1" || n == "2") << counts.elements[i - 1].str << " seen " << n;
    if (n == "2") ++twice;
  }
  EXPECT_LE(twice, 1);
  // A graceful restart repeats nothing.
  EXPECT_EQ(proxy->stop(), 0);
  proxy.reset();
  proxy = std::make_unique<Proxy>(std::vector<std::string>{"--backend", redis.address()});
  Client c(proxy->port());
  c.call({"XADD", "backlog", "2-1", "f", "v"});
  EXPECT_EQ(direct.call({"HGET", "processed", "2-1"}).str, "1") << proxy->log();
  int64_t total = 0;
  counts = direct.call({"HGETALL", "processed"});
  for (size_t i = 1; i < counts.elements.size(); i += 2)
    total += std::stoll(counts.elements[i].str);
  EXPECT_EQ(total, kEntries + twice + 1);
}

// A backend restart with persistence on: the streams, the library and the positions come back
// with the data, and processing goes on after the last entry, nothing twice.
TEST(StreamTriggersRestartTest, BackendRestartWithPersistence) {
  RedisServer redis({"--appendonly", "yes", "--appendfsync", "always"});
  Proxy proxy({"--backend", redis.address()});
  {
    Client c(proxy.port());
    ASSERT_EQ(c.run({"TFUNCTION", "LOAD", library(kCounter)}), "OK");
    for (int i = 1; i <= 50; ++i) c.call({"XADD", "backlog", "1-" + std::to_string(i), "f", "v"});
  }
  redis.restart();  // SIGKILL, then the same port and directory
  Client direct(redis.port());
  // Once the data is loaded again.
  ASSERT_EQ(eventuallyEquals(
                [&] {
                  return direct.call({"HLEN", "processed"}).integer;
                },
                int64_t{50}),
            50);
  for (int i = 51; i <= 60; ++i) {
    direct.call({"XADD", "backlog", "1-" + std::to_string(i), "f", "v"});
  }
  EXPECT_TRUE(eventually(
      [&] {
        return direct.call({"HLEN", "processed"}).integer == 60;
      },
      std::chrono::seconds(20)))
      << direct.call({"HLEN", "processed"}).integer << "\n"
      << proxy.log();
  resp::Value counts = direct.call({"HGETALL", "processed"});
  for (size_t i = 1; i < counts.elements.size(); i += 2) {
    EXPECT_EQ(counts.elements[i].str, "1") << counts.elements[i - 1].str;
  }
}

// Two instances: one reads the streams (the lease holder); when it dies the other takes over
// from the acknowledged positions.
TEST(StreamTriggersFleetTest, SecondInstanceTakesOver) {
  RedisServer redis;
  Client direct(redis.port());
  auto a = std::make_unique<Proxy>(std::vector<std::string>{"--backend", redis.address()});
  Client ca(a->port());
  ASSERT_EQ(ca.run({"TFUNCTION", "LOAD", library(kCounter)}), "OK");
  auto b = std::make_unique<Proxy>(std::vector<std::string>{"--backend", redis.address()});
  Client cb(b->port());
  ASSERT_TRUE(eventually([&] { return cb.call({"TFUNCTION", "LIST"}).elements.size() == 1; }));
  for (int i = 1; i <= 100; ++i)
    direct.call({"XADD", "backlog", "1-" + std::to_string(i), "f", "v"});
  ASSERT_TRUE(eventually([&] { return direct.call({"HLEN", "processed"}).integer == 100; }));
  // Killed once the last record's position is acknowledged: a record whose trigger ran but whose
  // acknowledgement the kill cut off is delivered again (at least once), which is not what this
  // test is about.
  ASSERT_TRUE(eventually([&] {
    const resp::Value acked = direct.call({"HVALS", "tfproxy:libraries:streams"});
    return acked.elements.size() == 1 && acked.elements[0].str == "1-100";
  })) << resp::toDebugString(direct.call({"HGETALL", "tfproxy:libraries:streams"}));
  a->stop(9);
  a.reset();
  for (int i = 101; i <= 200; ++i)
    direct.call({"XADD", "backlog", "1-" + std::to_string(i), "f", "v"});
  EXPECT_TRUE(eventually(
      [&] {
        return direct.call({"HLEN", "processed"}).integer == 200;
      },
      std::chrono::seconds(20)))
      << direct.call({"HLEN", "processed"}).integer;
  resp::Value counts = direct.call({"HGETALL", "processed"});
  int more = 0;
  for (size_t i = 1; i < counts.elements.size(); i += 2) more += counts.elements[i].str != "1";
  EXPECT_EQ(more, 0);
}

}  // namespace
}  // namespace tfproxy::testing
