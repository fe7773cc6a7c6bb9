// Inline requests are cut exactly where Redis cuts them: the same bytes sent to Redis directly
// and through tfproxy get the same replies and the same close, and a request Redis would refuse
// never reaches the backend connection that multiplexed clients share.
#include <gtest/gtest.h>

#include <random>
#include <thread>

#include "tests/support/client.h"
#include "tests/support/processes.h"

namespace tfproxy::testing {
namespace {

using namespace std::chrono_literals;

class InlineTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    redis_ = new RedisServer();
    // One I/O thread: every multiplexed client shares one backend connection.
    proxy_ = new Proxy({"--backend", redis_->address(), "--threads", "1"});
  }
  static void TearDownTestSuite() {
    delete proxy_;
    delete redis_;
  }

  // What a client sees after sending `pieces` (with a pause after each): the raw replies, and
  // whether the server closed the connection.
  struct Outcome {
    std::vector<std::string> replies;
    bool closed = false;
    bool operator==(const Outcome& o) const { return replies == o.replies && closed == o.closed; }
  };
  static Outcome exchange(uint16_t port, const std::vector<std::string>& pieces,
                          std::chrono::milliseconds pause) {
    Client c(port);
    for (const std::string& p : pieces) {
      try {
        c.send(p);
      } catch (const std::exception&) {
        break;  // closed by the server while we were still sending
      }
      std::this_thread::sleep_for(pause);
    }
    Outcome out;
    out.closed = c.closedByPeer(150ms);
    c.setTimeout(50ms);
    while (true) {
      try {
        out.replies.push_back(c.readRaw());
      } catch (const std::exception&) {
        break;
      }
    }
    return out;
  }
  static std::string describe(const Outcome& o) {
    std::string s = o.closed ? "closed after " : "open after ";
    for (const std::string& r : o.replies)
      s += std::to_string(r.size()) + "B:" + r.substr(0, 60) + " ";
    return s;
  }

  // Sends the same pieces to Redis and to tfproxy while bystanders pipeline through tfproxy
  // on the shared connection; the outcomes must match and no bystander may notice anything.
  void expectSameAsRedis(const std::vector<std::string>& pieces, const std::string& label,
                         std::chrono::milliseconds pause = 15ms) {
    Outcome direct = exchange(redis_->port(), pieces, pause);
    std::atomic<bool> stop{false};
    std::atomic<int> bystander_failures{0};
    std::vector<std::thread> bystanders;
    for (int i = 0; i < 4; ++i) {
      bystanders.emplace_back([&, i] {
        Client c(proxy_->port(), 2s);
        for (int round = 0; !stop; ++round) {
          std::string key = "bystander:" + std::to_string(i);
          for (int j = 0; j < 10; ++j) c.sendCommand({"SET", key, std::to_string(round * 10 + j)});
          c.sendCommand({"GET", key});
          try {
            for (int j = 0; j < 10; ++j) {
              if (resp::toDebugString(c.read()) != "OK") ++bystander_failures;
            }
            if (resp::toDebugString(c.read()) != "\"" + std::to_string(round * 10 + 9) + "\"") {
              ++bystander_failures;
            }
          } catch (const std::exception&) {
            ++bystander_failures;
            return;
          }
        }
      });
    }
    Outcome proxied = exchange(proxy_->port(), pieces, pause);
    std::this_thread::sleep_for(50ms);
    stop = true;
    for (auto& t : bystanders) t.join();
    EXPECT_TRUE(direct == proxied)
        << label << "\n  redis:   " << describe(direct) << "\n  tfproxy: " << describe(proxied);
    EXPECT_EQ(bystander_failures, 0) << label;
    EXPECT_EQ(Client(proxy_->port()).run({"PING"}), "PONG") << label;
  }

  static RedisServer* redis_;
  static Proxy* proxy_;
};
RedisServer* InlineTest::redis_ = nullptr;
Proxy* InlineTest::proxy_ = nullptr;

TEST_F(InlineTest, NulBeforeTheLineEndWaitsLikeRedis) {
  expectSameAsRedis({std::string("\0\r\n", 3)}, "NUL alone");
  expectSameAsRedis({std::string("PING\0x\r\n", 8)}, "NUL inside");
  expectSameAsRedis({"PING\r\n", std::string("ECHO a\0b\r\n", 10), "PING\r\n"},
                    "NUL after a good command, pipelined after");
  expectSameAsRedis({std::string("*1\0\r\n$4\r\nPING\r\n", 15)}, "NUL in a multibulk header");
  expectSameAsRedis({std::string("*1\r\n$4\0\r\nPING\r\n", 15)}, "NUL in a bulk header");
  // More bytes after the NUL: both refuse once more than 64 KB wait.
  expectSameAsRedis(
      {std::string("PING\0\r\n", 7), std::string(40000, 'x'), std::string(40000, 'y')},
      "NUL then 80 KB");
  // A NUL after the line end is the start of the next request.
  expectSameAsRedis({"PING\r\n" + std::string("\0", 1)}, "NUL after the line end");
}

TEST_F(InlineTest, LineLengthsAroundTheLimits) {
  // `len` bytes before '\n' ('\r' included), the line end in a later read, as Redis sees a
  // line that arrives in pieces. The pause lets Redis read the whole line before its end
  // arrives: otherwise a line just over 64 KB may reach it in one read and be accepted.
  for (size_t len :
       {16383u, 16384u, 16385u, 65535u, 65536u, 65537u, 65538u, 1048575u, 1048576u, 1048577u}) {
    std::string body = "ECHO " + std::string(len - 6, 'v') + "\r";
    expectSameAsRedis({body, "\n", "PING\r\n"}, "line of " + std::to_string(len), 60ms);
  }
}

TEST_F(InlineTest, RandomSplitsOfInlineAndMultibulkRequests) {
  std::mt19937 rng(7);
  const std::vector<std::string> requests = {
      "PING\r\n",
      "ECHO " + std::string(20000, 'q') + "\r\n",
      "SET k \"a b\"\r\nGET k\r\n",
      std::string("ECHO x\0y\r\n", 10),
      "*2\r\n$4\r\nECHO\r\n$5\r\nhello\r\n",
      "\r\n\n  \r\n",
      "ECHO " + std::string(65530, 'z') + "\r\n",
  };
  for (int round = 0; round < 8; ++round) {
    std::string input;
    for (int i = 0; i < 3; ++i) input += requests[rng() % requests.size()];
    std::vector<std::string> pieces;
    for (size_t at = 0; at < input.size();) {
      size_t n = std::min<size_t>(input.size() - at, 1 + rng() % 20000);
      pieces.push_back(input.substr(at, n));
      at += n;
    }
    expectSameAsRedis(pieces, "round " + std::to_string(round));
  }
}

}  // namespace
}  // namespace tfproxy::testing
