// The atomic gate (design §4): from a function's first Redis call until it returns,
// nothing else passing through the proxy runs on the backend.
#include <gtest/gtest.h>

#include <atomic>
#include <thread>

#include "tests/support/client.h"
#include "tests/support/processes.h"

namespace tfproxy::testing {
namespace {

using Clock = std::chrono::steady_clock;

// Moves one unit from one key to the other, with JavaScript work between the two writes so a
// read that slipped in between would see the sum off by one.
const char kBank[] = R"(#!js api_version=1.0 name=bank
redis.registerFunction('move', function(client, from, to){
  client.call('decr', from);
  var spin = 0;
  for (var i = 0; i < 20000; i++) { spin += i; }
  client.call('incr', to);
  return spin > 0 ? 1 : 0;
});
redis.registerFunction('think', function(client){
  var until = Date.now() + 300;
  while (Date.now() < until) {}
  return 'thought';
});)";

TEST(AtomicityTest, ReadersNeverSeeHalfAMove) {
  RedisServer redis;
  Proxy proxy({"--backend", redis.address(), "--threads", "2"});
  Client setup(proxy.port());
  ASSERT_EQ(setup.run({"TFUNCTION", "LOAD", kBank}), "OK");
  setup.call({"MSET", "a", "1000000", "b", "0"});

  std::atomic<bool> stop{false};
  std::atomic<int64_t> moves{0};
  std::vector<std::thread> movers;
  for (int m = 0; m < 2; ++m) {
    movers.emplace_back([&, m] {
      Client c(proxy.port());
      while (!stop) {
        resp::Value r =
            c.call({"TFCALL", "bank.move", "2", m == 0 ? "a" : "b", m == 0 ? "b" : "a"});
        if (r.isError()) ADD_FAILURE() << r.str;
        ++moves;
      }
    });
  }
  // Readers pipeline MGETs (and a few in transactions) and check every reply.
  std::atomic<int64_t> reads{0};
  std::atomic<int64_t> torn{0};
  std::vector<std::thread> readers;
  for (int r = 0; r < 6; ++r) {
    readers.emplace_back([&] {
      Client c(proxy.port());
      std::string batch;
      for (int i = 0; i < 100; ++i) batch += "MGET a b\r\n";
      while (reads < 300000) {
        c.send(batch);
        for (int i = 0; i < 100; ++i) {
          resp::Value v = c.read();
          int64_t sum = std::stoll(v.elements[0].str) + std::stoll(v.elements[1].str);
          if (sum != 1000000) ++torn;
        }
        reads += 100;
      }
    });
  }
  for (auto& t : readers) t.join();
  stop = true;
  for (auto& t : movers) t.join();
  EXPECT_GE(reads.load(), 300000);
  EXPECT_GT(moves.load(), 50);
  EXPECT_EQ(torn.load(), 0) << "of " << reads.load() << " reads during " << moves.load()
                            << " moves";
}

TEST(AtomicityTest, CommandsPipelinedBeforeAFunctionRunBeforeIt) {
  RedisServer redis;
  Proxy proxy({"--backend", redis.address()});
  Client c(proxy.port());
  c.run({"TFUNCTION", "LOAD", R"(#!js api_version=1.0 name=seq
redis.registerFunction('read', function(client, k){ return client.call('get', k); });)"});
  // SET, the function and GET in one pipeline: the function sees the SET, the GET sees what
  // the function saw.
  c.send("SET k before\r\nTFCALL seq.read 1 k\r\nSET k after\r\nGET k\r\n");
  EXPECT_EQ(c.readRaw(), "+OK\r\n");
  EXPECT_EQ(c.readRaw(), "$6\r\nbefore\r\n");
  EXPECT_EQ(c.readRaw(), "+OK\r\n");
  EXPECT_EQ(c.readRaw(), "$5\r\nafter\r\n");
}

TEST(AtomicityTest, AFunctionThatNeverCallsRedisDoesNotHoldOthersBack) {
  RedisServer redis;
  Proxy proxy({"--backend", redis.address()});
  Client c(proxy.port());
  ASSERT_EQ(c.run({"TFUNCTION", "LOAD", kBank}), "OK");
  c.sendCommand({"TFCALL", "bank.think", "0"});  // 300 ms of JavaScript, no Redis call
  std::this_thread::sleep_for(std::chrono::milliseconds(50));
  Client other(proxy.port());
  auto start = Clock::now();
  for (int i = 0; i < 20; ++i) EXPECT_EQ(other.run({"PING"}), "PONG");
  EXPECT_LT(Clock::now() - start, std::chrono::milliseconds(150));
  EXPECT_EQ(resp::toDebugString(c.read()), "\"thought\"");
}

// A transaction with a function and a function of the same library called at the same time:
// the transaction holds the gate and needs the library, the function holds the library and
// waits for the gate. The transaction takes the library first, so both finish.
TEST(AtomicityTest, TransactionAndFunctionOfOneLibraryDoNotWaitForEachOther) {
  RedisServer redis;
  Proxy proxy({"--backend", redis.address()});
  Client setup(proxy.port());
  ASSERT_EQ(setup.run({"TFUNCTION", "LOAD", R"(#!js api_version=1.0 name=l
redis.registerFunction('f', function(c) { return c.call('incr', 'x'); });)"}),
            "OK");
  constexpr int kRounds = 1000;
  std::thread multi([&] {
    Client c(proxy.port(), std::chrono::seconds(5));
    for (int i = 0; i < kRounds; ++i) {
      c.call({"MULTI"});
      c.call({"TFCALL", "l.f", "0"});
      ASSERT_EQ(c.call({"EXEC"}).elements.size(), 1u);
    }
  });
  Client plain(proxy.port(), std::chrono::seconds(5));
  for (int i = 0; i < kRounds; ++i) ASSERT_FALSE(plain.call({"TFCALL", "l.f", "0"}).isError());
  multi.join();
  EXPECT_EQ(plain.run({"GET", "x"}), "\"" + std::to_string(2 * kRounds) + "\"");
}

}  // namespace
}  // namespace tfproxy::testing
