// A Session driven through real sockets: the client end of a socket pair on one side, a
// scripted backend on loopback on the other, the session on a real worker thread. No Redis,
// no V8.
#include "server/session.h"

#include <fcntl.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <boost/asio/io_context.hpp>
#include <chrono>
#include <future>
#include <thread>

#include "backend/command_table.h"
#include "backend/errors.h"
#include "backend/link.h"
#include "backend/shared_connection.h"
#include "server/worker.h"
#include "tests/fakes/scripted_backend.h"
#include "tests/support/eventually.h"

namespace tfproxy::server {
namespace {

using namespace std::chrono_literals;
using testing::eventually;

// Answers like Redis for the commands these tests send; BLPOP never answers.
std::optional<std::string> answer(const std::vector<std::string>& argv) {
  const std::string& name = argv[0];
  if (name == "PING") return "+PONG\r\n";
  if (name == "SET") return "+OK\r\n";
  if (name == "GET") return "$" + std::to_string(argv[1].size()) + "\r\n" + argv[1] + "\r\n";
  if (name == "SELECT") return "+OK\r\n";
  if (name == "BLPOP") return std::nullopt;
  return "-ERR unknown command '" + name + "'\r\n";
}

// Answers intercepted commands from another thread, after a pause, so that their replies are
// ordered by the session and not by arrival.
class SlowHandler : public functions::InterceptHandler {
 public:
  void run(const std::vector<std::string>& argv, const functions::ClientContext& client,
           std::function<void(std::string)> done) override {
    std::thread([argv, db = client.db, done = std::move(done)] {
      std::this_thread::sleep_for(20ms);
      done("+" + argv[1] + "@db" + std::to_string(db) + "\r\n");
    }).detach();
  }
};

// Tells the worker about the gate, as the server does.
class WorkerGateListener : public backend::GateListener {
 public:
  explicit WorkerGateListener(Worker& worker) : worker_(worker) {}
  void onGateClosing() override { worker_.postGateClosing(); }
  void onGateOpened() override { worker_.postGateOpened(); }

 private:
  Worker& worker_;
};

class SessionTest : public ::testing::Test {
 protected:
  SessionTest()
      : backend_(answer), index_(backend::CommandTable::builtin()), gate_(1), worker_(0) {}

  void SetUp() override {
    config::Endpoint endpoint;
    endpoint.host = "127.0.0.1";
    endpoint.port = backend_.port();
    link_ = std::make_unique<backend::BackendLink>(io::Target{endpoint, nullptr}, 1000ms);
    ASSERT_TRUE(link_->start());
    // The link's reachability probe is the backend's first connection; counts start after it.
    ASSERT_TRUE(eventually([&] { return backend_.accepted() == 1; }));
    index_.intercept("tfcall", -3);
    services_.index = &index_;
    services_.gate = &gate_;
    services_.link = link_.get();
    services_.intercept = &handler_;
    services_.multiplex = false;  // the session's own backend connection
    gate_.setListener(&gate_listener_);
    worker_.start();
    client_ = connectClient();
    // Without multiplexing the session connects at once: counts start after that too.
    ASSERT_TRUE(eventually([&] { return backend_.accepted() == 2; }));
  }
  void TearDown() override {
    if (client_ >= 0) ::close(client_);
    std::promise<void> closed;
    worker_.loop().post([&] {
      worker_.closeAll();
      closed.set_value();
    });
    closed.get_future().wait();
    worker_.stop();
    worker_.join();
    link_->stop();
  }

  // A new session; returns the client's end of its socket pair.
  int connectClient() {
    int fds[2];
    EXPECT_EQ(::socketpair(AF_UNIX, SOCK_STREAM, 0, fds), 0);
    ::fcntl(fds[1], F_SETFL, O_NONBLOCK);
    worker_.loop().post([this, fd = fds[1]] {
      auto session = std::make_shared<Session>(worker_, io::Stream(fd), services_);
      worker_.add(session);
      session->start();
    });
    return fds[0];
  }

  void send(int fd, const std::string& bytes) {
    ASSERT_EQ(::write(fd, bytes.data(), bytes.size()), static_cast<ssize_t>(bytes.size()));
  }
  // Reads until `n` bytes came, the peer closed, or `within` passed.
  static std::string read(int fd, size_t n, std::chrono::milliseconds within = 2000ms) {
    std::string out;
    const auto deadline = std::chrono::steady_clock::now() + within;
    while (out.size() < n && std::chrono::steady_clock::now() < deadline) {
      pollfd p{fd, POLLIN, 0};
      if (::poll(&p, 1, 50) <= 0) continue;
      char buf[4096];
      ssize_t got = ::read(fd, buf, std::min(sizeof buf, n - out.size()));
      if (got <= 0) break;
      out.append(buf, static_cast<size_t>(got));
    }
    return out;
  }
  std::string exchange(const std::string& request, const std::string& expected) {
    send(client_, request);
    return read(client_, expected.size());
  }
  std::string exchange(int fd, const std::string& request, size_t n) {
    send(fd, request);
    return read(fd, n);
  }
  // True once the peer closed its end (read gives 0) within 2 s.
  static bool closedByPeer(int fd) {
    pollfd p{fd, POLLIN, 0};
    if (::poll(&p, 1, 2000) <= 0) return false;
    char c;
    return ::read(fd, &c, 1) == 0;
  }

  fakes::ScriptedBackend backend_;
  std::unique_ptr<backend::BackendLink> link_;
  backend::CommandIndex index_;
  backend::Gate gate_;
  Worker worker_;
  WorkerGateListener gate_listener_{worker_};
  SlowHandler handler_;
  SessionServices services_;
  int client_ = -1;
};

TEST_F(SessionTest, ForwardsAndAnswersInOrder) {
  const std::string expected = "+PONG\r\n+OK\r\n$1\r\nk\r\n";
  EXPECT_EQ(
      exchange("PING\r\n*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$1\r\nv\r\n*2\r\n$3\r\nGET\r\n$1\r\nk\r\n",
               expected),
      expected);
  EXPECT_EQ(backend_.received(), (std::vector<std::string>{"PING", "SET k v", "GET k"}));
}

TEST_F(SessionTest, InterceptedRepliesKeepTheirPlaceAndSeeTheDatabase) {
  const std::string expected = "+OK\r\n+PONG\r\n+lib.f@db2\r\n$1\r\nx\r\n";
  EXPECT_EQ(exchange("SELECT 2\r\nPING\r\nTFCALL lib.f 0\r\nGET x\r\n", expected), expected);
  // The intercepted command never reached the backend.
  EXPECT_EQ(backend_.received(), (std::vector<std::string>{"SELECT 2", "PING", "GET x"}));
}

TEST_F(SessionTest, ByteAtATimeInputIsTheSameCommand) {
  const std::string request = "*2\r\n$3\r\nGET\r\n$3\r\nabc\r\n";
  for (char c : request) {
    send(client_, std::string(1, c));
    std::this_thread::sleep_for(1ms);
  }
  EXPECT_EQ(read(client_, 9), "$3\r\nabc\r\n");
}

TEST_F(SessionTest, QuitAnswersThenCloses) {
  EXPECT_EQ(exchange("PING\r\nQUIT\r\nPING\r\n", "+PONG\r\n+OK\r\n"), "+PONG\r\n+OK\r\n");
  EXPECT_TRUE(closedByPeer(client_));
  EXPECT_EQ(backend_.received(), (std::vector<std::string>{"PING"}));
}

TEST_F(SessionTest, ProtocolErrorIsAnsweredThenTheConnectionCloses) {
  const std::string reply =
      exchange("*1\r\n$x\r\n", "-ERR Protocol error: invalid bulk length\r\n");
  EXPECT_EQ(reply.rfind("-ERR Protocol error", 0), 0u) << reply;
  EXPECT_TRUE(closedByPeer(client_));
}

TEST_F(SessionTest, ClientLeavingReleasesItsBackendConnectionEvenWhileBlocked) {
  send(client_, "BLPOP list 0\r\n");
  ASSERT_TRUE(eventually([&] { return backend_.received().size() == 1; }));
  EXPECT_EQ(backend_.open(), 1);
  ::close(client_);
  client_ = -1;
  EXPECT_TRUE(eventually([&] { return backend_.open() == 0; }));
}

TEST_F(SessionTest, BackendGoingAwayAnswersTheOwedReplyWithAnErrorAndCloses) {
  send(client_, "BLPOP list 0\r\n");
  ASSERT_TRUE(eventually([&] { return backend_.received().size() == 1; }));
  backend_.closeAll();
  const std::string expected = "-" + std::string(backend::errors::kLost) + "\r\n";
  EXPECT_EQ(read(client_, expected.size()), expected);
  EXPECT_TRUE(closedByPeer(client_));
}

TEST_F(SessionTest, ClosedGateHoldsCommandsUntilItOpens) {
  EXPECT_EQ(exchange("PING\r\n", "+PONG\r\n"), "+PONG\r\n");
  gate_.lockExclusive();  // nothing in flight: closes at once
  send(client_, "GET held\r\n");
  EXPECT_EQ(read(client_, 1, 200ms), "");  // held while the gate is closed
  EXPECT_EQ(backend_.received().size(), 1u);
  gate_.unlockExclusive();
  EXPECT_EQ(read(client_, 10), "$4\r\nheld\r\n");
}

TEST_F(SessionTest, MultiplexedClientsShareOneConnectionUntilTheyUseState) {
  // Sessions read their services on the worker's thread: changed there too.
  std::promise<void> set;
  worker_.loop().post([&] {
    services_.multiplex = true;
    worker_.setShared(std::make_shared<backend::SharedConnection>(worker_.loop(), *link_));
    set.set_value();
  });
  set.get_future().wait();
  const int opened_before = backend_.accepted();
  std::vector<int> clients;
  for (int i = 0; i < 5; ++i) clients.push_back(connectClient());
  for (int i = 0; i < 5; ++i) {
    EXPECT_EQ(exchange(clients[i], "GET k" + std::to_string(i) + "\r\n", 8),
              "$2\r\nk" + std::to_string(i) + "\r\n");
  }
  EXPECT_EQ(backend_.accepted() - opened_before, 1);  // one shared connection for all five
  // SELECT needs the client's own connection: it moves there first, then the command goes.
  EXPECT_EQ(exchange(clients[0], "SELECT 1\r\nGET x\r\n", 12), "+OK\r\n$1\r\nx\r\n");
  EXPECT_EQ(backend_.accepted() - opened_before, 2);
  for (int fd : clients) ::close(fd);
}

TEST_F(SessionTest, ManySessionsOnOneWorkerStayApart) {
  std::vector<int> clients;
  for (int i = 0; i < 20; ++i) clients.push_back(connectClient());
  for (int i = 0; i < 20; ++i) send(clients[i], "GET k" + std::to_string(i) + "\r\n");
  for (int i = 0; i < 20; ++i) {
    const std::string key = "k" + std::to_string(i);
    const std::string expected = "$" + std::to_string(key.size()) + "\r\n" + key + "\r\n";
    EXPECT_EQ(read(clients[i], expected.size()), expected);
    ::close(clients[i]);
  }
}

}  // namespace
}  // namespace tfproxy::server
