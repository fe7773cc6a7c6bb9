// Atomicity across a fleet (design §4): three tfproxy instances in front of one redis-server
// share one gate. A function, a block() section, or a MULTI with TFCALL through any of them is
// atomic against the clients of all of them; an instance that dies or stops answering holds the
// others up only until its membership (or the lock it held) expires.
#include <gtest/gtest.h>
#include <signal.h>

#include <atomic>
#include <memory>
#include <thread>
#include <vector>

#include "tests/support/client.h"
#include "tests/support/eventually.h"
#include "tests/support/fleet_library.h"
#include "tests/support/probes.h"
#include "tests/support/processes.h"

namespace tfproxy::testing {
namespace {

using Clock = std::chrono::steady_clock;
using std::chrono::milliseconds;

constexpr int kLeaseMs = 1000;

std::unique_ptr<Proxy> startInstance(const RedisServer& redis) {
  return std::make_unique<Proxy>(std::vector<std::string>{"--backend", redis.address(),
                                                          "--fleet-lease", std::to_string(kLeaseMs),
                                                          "--lock-redis-timeout", "10000"});
}

class FleetTest : public ::testing::Test {
 protected:
  void SetUp() override {
    for (int i = 0; i < 3; ++i) proxies_.push_back(startInstance(redis_));
    Client setup(proxies_[0]->port());
    ASSERT_EQ(setup.run({"TFUNCTION", "LOAD", kFleetLibrary}), "OK");
    for (auto& p : proxies_) waitForLibrary(p->port());
  }

  static void waitForLibrary(uint16_t port) {
    Client c(port);
    ASSERT_TRUE(eventually([&] { return c.call({"TFUNCTION", "LIST"}).elements.size() == 1; }));
  }

  uint16_t port(size_t i) const { return proxies_[i]->port(); }

  RedisServer redis_;
  std::vector<std::unique_ptr<Proxy>> proxies_;
};

// A read-modify-write function through all three instances at once never sells more than the
// stock: each read and the write after it are one section for the whole fleet.
TEST_F(FleetTest, ReadModifyWriteThroughThreeInstancesNeverOversells) {
  constexpr int kStock = 600;
  Client direct(redis_.port());
  direct.call({"SET", "stock", std::to_string(kStock)});
  std::atomic<int> taken{0};
  std::vector<std::thread> buyers;
  for (size_t i = 0; i < 6; ++i) {
    buyers.emplace_back([&, i] {
      Client c(port(i % 3));
      while (true) {
        resp::Value r = c.call({"TFCALL", "fleet.take", "0"});
        if (r.isError()) {
          ADD_FAILURE() << r.str;
          return;
        }
        if (r.integer == 0) return;
        ++taken;
      }
    });
  }
  for (auto& t : buyers) t.join();
  EXPECT_EQ(taken.load(), kStock);
  EXPECT_EQ(direct.run({"MGET", "stock", "sold"}), "[\"0\", \"600\"]");
}

// Readers through any instance never see half of a two-write section: a function, a block(),
// and a MULTI with TFCALL, each through a different instance.
TEST_F(FleetTest, ReadersNeverSeeHalfASectionOfAnotherInstance) {
  Client direct(redis_.port());
  direct.call({"MSET", "a", "0", "b", "0"});
  std::atomic<bool> stop{false};
  std::atomic<int> writes{0};
  std::atomic<int> reads{0};
  std::atomic<int> torn{0};
  std::vector<std::thread> threads;
  threads.emplace_back([&] {
    Client c(port(0));
    while (!stop) {
      if (c.run({"TFCALL", "fleet.pair", "0"}) == "1") ++writes;
    }
  });
  threads.emplace_back([&] {
    Client c(port(1));
    while (!stop) {
      c.call({"MULTI"});
      c.call({"TFCALL", "fleet.pair", "0"});
      if (c.run({"EXEC"}) == "[1]") ++writes;
    }
  });
  threads.emplace_back([&] {
    Client c(port(2));
    while (!stop) {
      if (c.run({"TFCALLASYNC", "fleet.pair_block", "0"}) == "1") ++writes;
    }
  });
  for (size_t i = 0; i < 3; ++i) {
    threads.emplace_back([&, i] {
      Client c(port(i));
      while (!stop) {
        resp::Value v = c.call({"MGET", "a", "b"});
        if (v.elements.size() != 2 || v.elements[0].str != v.elements[1].str) ++torn;
        ++reads;
      }
    });
  }
  std::this_thread::sleep_for(std::chrono::seconds(3));
  stop = true;
  for (auto& t : threads) t.join();
  EXPECT_EQ(torn.load(), 0) << "of " << reads.load() << " reads";
  EXPECT_GT(writes.load(), 30);
  EXPECT_GT(reads.load(), 100);
  const resp::Value last = direct.call({"MGET", "a", "b"});
  EXPECT_EQ(last.elements[0].str, last.elements[1].str);
}

// An instance killed in the middle of a section: until then, readers through the others wait
// (they see nothing of it); once the lock it held expires, they go on -- seeing what the dead
// section had written, as nothing can undo it.
TEST_F(FleetTest, HolderKilledMidSectionReleasesByExpiry) {
  Client direct(redis_.port());
  direct.call({"MSET", "a", "0", "b", "0"});
  Client writer(port(0));
  writer.sendCommand({"TFCALL", "fleet.slow_pair", "0", "5000"});
  ASSERT_EQ(eventuallyEquals([&] { return direct.call({"GET", "a"}).str; }, std::string("1")), "1");
  Client reader(port(1));
  reader.sendCommand({"MGET", "a", "b"});
  EXPECT_FALSE(reader.tryRead(milliseconds(500))) << "a reader saw the middle of a section";
  const auto killed = Clock::now();
  proxies_[0]->stop(SIGKILL);
  std::optional<resp::Value> seen = reader.tryRead(milliseconds(kLeaseMs + 3000));
  ASSERT_TRUE(seen);
  EXPECT_GE(Clock::now() - killed, milliseconds(kLeaseMs / 4));  // it waited for the expiry
  EXPECT_EQ(resp::toDebugString(*seen), "[\"1\", \"0\"]");
  // The survivors run sections among themselves.
  Client other(port(2));
  EXPECT_EQ(other.run({"TFCALL", "fleet.pair", "0"}), "1");
  EXPECT_EQ(reader.run({"TFCALL", "fleet.pair", "0"}), "1");
  EXPECT_EQ(direct.run({"MGET", "a", "b"}), "[\"3\", \"2\"]");
}

// A member that stops answering (its process stopped, or its connection cut) holds a section up
// only until its membership expires, and forwards nothing when it wakes until it is back in
// step -- readers through it never see half of a section that ran meanwhile.
TEST_F(FleetTest, SilentMemberDropsOutAfterItsMembershipExpires) {
  Client direct(redis_.port());
  direct.call({"MSET", "a", "0", "b", "0"});
  ::kill(proxies_[2]->pid(), SIGSTOP);
  const auto start = Clock::now();
  Client c0(port(0));
  EXPECT_EQ(c0.run({"TFCALL", "fleet.pair", "0"}), "1");
  const auto waited = Clock::now() - start;
  EXPECT_LT(waited, milliseconds(kLeaseMs + 3000));
  // While a long section runs through instance 0, instance 2 wakes up.
  Client slow(port(0));
  slow.sendCommand({"TFCALL", "fleet.slow_pair", "0", "1500"});
  ASSERT_EQ(eventuallyEquals([&] { return direct.call({"GET", "a"}).str; }, std::string("2")), "2");
  Client reader(port(2), std::chrono::seconds(20));
  reader.sendCommand({"MGET", "a", "b"});
  ::kill(proxies_[2]->pid(), SIGCONT);
  resp::Value seen = reader.read();
  EXPECT_EQ(resp::toDebugString(seen), "[\"2\", \"2\"]");
  EXPECT_EQ(resp::toDebugString(slow.read()), "1");
  EXPECT_EQ(reader.run({"TFCALL", "fleet.pair", "0"}), "1");
}

// Readers and writers through all three instances while each runs without the others for a
// moment: every fleet connection is cut at once, twice.
TEST_F(FleetTest, CutFleetConnectionsNeverShowHalfASection) {
  Client direct(redis_.port());
  direct.call({"MSET", "a", "0", "b", "0"});
  std::atomic<bool> stop{false};
  std::atomic<int> torn{0};
  std::atomic<int> writes{0};
  std::vector<std::thread> threads;
  for (size_t i = 0; i < 3; ++i) {
    threads.emplace_back([&, i] {
      Client c(port(i), std::chrono::seconds(20));
      while (!stop) {
        if (c.run({"TFCALL", "fleet.pair", "0"}) == "1") ++writes;
      }
    });
    threads.emplace_back([&, i] {
      Client c(port(i), std::chrono::seconds(20));
      while (!stop) {
        resp::Value v = c.call({"MGET", "a", "b"});
        if (v.elements.size() != 2 || v.elements[0].str != v.elements[1].str) ++torn;
      }
    });
  }
  for (int round = 0; round < 2; ++round) {
    std::this_thread::sleep_for(milliseconds(700));
    const std::string clients = direct.call({"CLIENT", "LIST"}).str;
    int cut = 0;
    for (size_t at = clients.find("name=tfproxy-fleet"); at != std::string::npos;
         at = clients.find("name=tfproxy-fleet", at + 1)) {
      const size_t line = clients.rfind('\n', at);
      const size_t id = clients.find("id=", line == std::string::npos ? 0 : line);
      direct.call({"CLIENT", "KILL", "ID", clients.substr(id + 3, clients.find(' ', id) - id - 3)});
      ++cut;
    }
    EXPECT_EQ(cut, 3);
  }
  const int before = writes.load();
  std::this_thread::sleep_for(milliseconds(2000));
  stop = true;
  for (auto& t : threads) t.join();
  EXPECT_EQ(torn.load(), 0);
  EXPECT_GT(writes.load(), before) << "sections went on after the cuts";
  const resp::Value last = direct.call({"MGET", "a", "b"});
  EXPECT_EQ(last.elements[0].str, last.elements[1].str);
}

// A rolling restart under load: each instance in turn is replaced by a new one (which joins)
// and then stopped (which leaves); readers never see half a section.
TEST_F(FleetTest, RollingRestartUnderLoad) {
  Client direct(redis_.port());
  direct.call({"MSET", "a", "0", "b", "0"});
  std::atomic<bool> stop{false};
  std::atomic<int> torn{0};
  std::atomic<int> writes{0};
  std::vector<std::atomic<uint16_t>> ports(3);
  for (size_t i = 0; i < 3; ++i) ports[i] = port(i);
  // A client follows its slot to the instance that replaced the one it used.
  auto loop = [&](size_t slot, auto body) {
    while (!stop) {
      try {
        const uint16_t used = ports[slot];
        Client c(used, std::chrono::seconds(20));
        while (!stop && ports[slot] == used) body(c);
      } catch (const std::exception&) {
        std::this_thread::sleep_for(milliseconds(20));  // its instance stopped under it
      }
    }
  };
  std::vector<std::thread> threads;
  for (size_t i = 0; i < 3; ++i) {
    threads.emplace_back(loop, i, [&](Client& c) {
      resp::Value r = c.call({"TFCALL", "fleet.pair", "0"});
      if (r.type == resp::Type::kInteger && r.integer == 1) ++writes;
    });
    threads.emplace_back(loop, i, [&](Client& c) {
      resp::Value v = c.call({"MGET", "a", "b"});
      if (v.isError()) return;
      if (v.elements.size() != 2 || v.elements[0].str != v.elements[1].str) ++torn;
    });
  }
  for (size_t i = 0; i < 3; ++i) {
    std::this_thread::sleep_for(milliseconds(500));
    auto replacement = startInstance(redis_);
    waitForLibrary(replacement->port());
    ports[i] = replacement->port();
    std::swap(proxies_[i], replacement);
    EXPECT_EQ(replacement->stop(), 0);
  }
  const int before = writes.load();
  std::this_thread::sleep_for(milliseconds(1000));
  stop = true;
  for (auto& t : threads) t.join();
  EXPECT_EQ(torn.load(), 0);
  EXPECT_GT(writes.load(), before);
  const resp::Value last = direct.call({"MGET", "a", "b"});
  EXPECT_EQ(last.elements[0].str, last.elements[1].str);
}

// Bounded soak: thousands of sections through two instances, each closing the others, leave
// no descriptor, memory, backend connection or membership behind.
TEST_F(FleetTest, ManySectionsLeaveNothingBehind) {
  Client direct(redis_.port());
  auto run = [&](int sections) {
    std::vector<std::thread> threads;
    for (size_t i = 0; i < 2; ++i) {
      threads.emplace_back([&, i] {
        Client c(port(i));
        constexpr int kBatch = 50;
        for (int done = 0; done < sections; done += kBatch) {
          for (int k = 0; k < kBatch; ++k) c.sendCommand({"TFCALL", "fleet.pair", "0"});
          for (int k = 0; k < kBatch; ++k) ASSERT_EQ(resp::toDebugString(c.read()), "1");
        }
      });
    }
    for (auto& t : threads) t.join();
  };
  auto clients = [&] {
    const std::string info = direct.call({"INFO", "clients"}).str;
    return std::stoi(info.substr(info.find("connected_clients:") + 18));
  };
  run(300);  // warm-up: connections, pools, V8
  std::this_thread::sleep_for(milliseconds(300));
  std::vector<int> fds_before;
  std::vector<int64_t> rss_before;
  for (auto& p : proxies_) {
    fds_before.push_back(openFds(p->pid()));
    rss_before.push_back(rssKb(p->pid()));
  }
  const int clients_before = clients();
  run(3000);
  for (size_t i = 0; i < proxies_.size(); ++i) {
    const pid_t pid = proxies_[i]->pid();
    EXPECT_TRUE(eventually([&] { return openFds(pid) <= fds_before[i]; }))
        << "instance " << i << ": " << openFds(pid) << " descriptors, " << fds_before[i]
        << " before";
    if (!kSanitized) {
      EXPECT_LT(rssKb(pid) - rss_before[i], 8 * 1024) << "kB grown, instance " << i;
    }
  }
  EXPECT_TRUE(eventually([&] { return clients() <= clients_before; }))
      << clients() << " backend clients, " << clients_before << " before";
  EXPECT_EQ(direct.run({"ZCARD", "tfproxy:libraries:{fleet}:members"}), "3");
  EXPECT_EQ(direct.run({"MGET", "a", "b"}), "[\"6600\", \"6600\"]");
}

// A backend user that may not touch the fleet's keys: tfproxy says so and takes no part (its
// functions are atomic against its own clients only), rather than stop forwarding.
TEST(FleetAccessTest, UserWithoutTheFleetKeysStandsAside) {
  RedisServer redis;
  Client direct(redis.port());
  ASSERT_EQ(direct.run({"ACL", "SETUSER", "proxy", "on", ">pw", "~tfproxy:libraries", "~k*", "&*",
                        "+@all"}),
            "OK");
  Proxy proxy(
      {"--backend", redis.address(), "--backend-user", "proxy", "--backend-password", "pw"});
  Client c(proxy.port());
  EXPECT_TRUE(eventually([&] { return c.run({"SET", "k", "1"}) == "OK"; }));
  ASSERT_EQ(c.run({"TFUNCTION", "LOAD", kFleetLibrary}), "OK");
  EXPECT_EQ(c.run({"TFCALL", "fleet.pair", "0"}), "1");
  EXPECT_TRUE(eventually([&] {
    return proxy.log().find("may not take part in the fleet") != std::string::npos;
  })) << proxy.log();
}

// The backend gone: a function that calls Redis answers an error within about a lease instead
// of waiting for the fleet, and runs again once the backend is back.
TEST(FleetAccessTest, FunctionAnswersAnErrorWhileOutOfStep) {
  RedisServer redis;
  auto proxy = startInstance(redis);
  Client c(proxy->port(), std::chrono::seconds(20));
  ASSERT_EQ(c.run({"TFUNCTION", "LOAD", kFleetLibrary}), "OK");
  ASSERT_EQ(c.run({"TFCALL", "fleet.pair", "0"}), "1");
  redis.kill();
  const auto start = Clock::now();
  resp::Value reply = c.call({"TFCALL", "fleet.pair", "0"});
  EXPECT_TRUE(reply.isError()) << resp::toDebugString(reply);
  EXPECT_LT(Clock::now() - start, milliseconds(kLeaseMs * 5));
  redis.restart();
  EXPECT_TRUE(eventually(
      [&] {
        return Client(proxy->port()).run({"TFCALL", "fleet.pair", "0"}) == "1";
      },
      milliseconds(20000), milliseconds(200)));
}

}  // namespace
}  // namespace tfproxy::testing
