// Clients without connection state share a pipelined backend connection; the first command that
// needs state moves the client to its own connection without reordering anything.
#include <gtest/gtest.h>

#include <thread>

#include "tests/support/client.h"
#include "tests/support/processes.h"

namespace tfproxy::testing {
namespace {

int64_t connectedClients(uint16_t redis_port) {
  std::string info = Client(redis_port).call({"INFO", "clients"}).str;
  return std::stoll(info.substr(info.find("connected_clients:") + 18));
}

TEST(MultiplexTest, StatelessClientsShareOneBackendConnection) {
  RedisServer redis;
  Proxy proxy({"--backend", redis.address(), "--threads", "1"});
  int64_t before = connectedClients(redis.port());
  std::vector<std::unique_ptr<Client>> clients;
  for (int i = 0; i < 20; ++i) {
    clients.push_back(std::make_unique<Client>(proxy.port()));
    EXPECT_EQ(clients.back()->run({"SET", "k" + std::to_string(i), "v"}), "OK");
  }
  // One shared connection for all twenty (plus the INFO client itself).
  EXPECT_EQ(connectedClients(redis.port()), before + 1);
  // A stateful command gives that client its own connection.
  EXPECT_EQ(clients[0]->run({"SELECT", "2"}), "OK");
  EXPECT_EQ(connectedClients(redis.port()), before + 2);
}

TEST(MultiplexTest, PinningKeepsPipelineOrder) {
  RedisServer redis;
  Proxy proxy({"--backend", redis.address()});
  Client c(proxy.port());
  c.send("SET a 1\r\nSELECT 1\r\nGET a\r\nSET a 2\r\nSELECT 0\r\nGET a\r\nCLIENT ID\r\n");
  EXPECT_EQ(c.readRaw(), "+OK\r\n");
  EXPECT_EQ(c.readRaw(), "+OK\r\n");
  EXPECT_EQ(c.readRaw(), "$-1\r\n");
  EXPECT_EQ(c.readRaw(), "+OK\r\n");
  EXPECT_EQ(c.readRaw(), "+OK\r\n");
  EXPECT_EQ(c.readRaw(), "$1\r\n1\r\n");
  EXPECT_EQ(c.read().type, resp::Type::kInteger);
}

TEST(MultiplexTest, ClientIdsDifferPerClient) {
  RedisServer redis;
  Proxy proxy({"--backend", redis.address()});
  Client a(proxy.port());
  Client b(proxy.port());
  a.call({"SET", "x", "1"});
  b.call({"SET", "y", "1"});
  EXPECT_NE(a.call({"CLIENT", "ID"}), b.call({"CLIENT", "ID"}));
}

TEST(MultiplexTest, BlockingCommandAfterSharedOnesRunsInOrder) {
  RedisServer redis;
  Proxy proxy({"--backend", redis.address()});
  Client c(proxy.port());
  Client pusher(proxy.port());
  c.send("RPUSH q first\r\nBLPOP q 0\r\nBLPOP q 0\r\n");
  EXPECT_EQ(resp::toDebugString(c.read()), "1");
  EXPECT_EQ(resp::toDebugString(c.read()), "[\"q\", \"first\"]");
  pusher.call({"RPUSH", "q", "second"});
  EXPECT_EQ(resp::toDebugString(c.read()), "[\"q\", \"second\"]");
}

TEST(MultiplexTest, ManyClientsInterleaveCorrectly) {
  RedisServer redis;
  Proxy proxy({"--backend", redis.address()});
  std::vector<std::thread> threads;
  std::atomic<int> failures{0};
  for (int t = 0; t < 16; ++t) {
    threads.emplace_back([&, t] {
      Client c(proxy.port());
      std::string key = "n" + std::to_string(t);
      for (int round = 0; round < 50; ++round) {
        std::string batch;
        for (int i = 0; i < 10; ++i) batch += "INCR " + key + "\r\n";
        c.send(batch);
        for (int i = 0; i < 10; ++i) {
          if (c.read() != resp::Value::integerValue(round * 10 + i + 1)) ++failures;
        }
      }
    });
  }
  for (auto& th : threads) th.join();
  EXPECT_EQ(failures, 0);
}

TEST(MultiplexTest, StatelessClientSurvivesABackendRestart) {
  RedisServer redis;
  Proxy proxy({"--backend", redis.address()});
  Client c(proxy.port());
  EXPECT_EQ(c.run({"SET", "k", "1"}), "OK");
  redis.restart();
  // It had nothing to lose: after errors while the backend is away, it simply works again.
  bool back = false;
  for (int i = 0; i < 300 && !back; ++i) {
    back = c.run({"PING"}) == "PONG";
    if (!back) std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  EXPECT_TRUE(back);
}

}  // namespace
}  // namespace tfproxy::testing
