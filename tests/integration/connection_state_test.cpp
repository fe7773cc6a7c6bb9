// Per-connection state behaves as on Redis: transactions, databases, ACL users, names, QUIT and
// RESET. Every client has its own backend connection.
#include <gtest/gtest.h>

#include "tests/support/client.h"
#include "tests/support/processes.h"

namespace tfproxy::testing {
namespace {

class ConnectionStateTest : public ::testing::TestWithParam<const char*> {
 protected:
  // One redis-server for the suite; a proxy per connection mode (--multiplex yes|no).
  static void SetUpTestSuite() { redis_ = new RedisServer(); }
  static void TearDownTestSuite() {
    delete proxy_;
    proxy_ = nullptr;
    delete redis_;
  }
  void startProxyForMode() {
    if (proxy_ == nullptr || mode_ != GetParam()) {
      delete proxy_;
      proxy_ = new Proxy({"--backend", redis_->address(), "--multiplex", GetParam()});
      mode_ = GetParam();
    }
  }
  void SetUp() override {
    startProxyForMode();
    Client admin(redis_->port());
    admin.call({"FLUSHALL"});
    admin.call({"ACL", "DELUSER", "alice", "bob"});
  }
  static RedisServer* redis_;
  static Proxy* proxy_;
  static std::string mode_;
};
RedisServer* ConnectionStateTest::redis_ = nullptr;
Proxy* ConnectionStateTest::proxy_ = nullptr;
std::string ConnectionStateTest::mode_;

TEST_P(ConnectionStateTest, MultiExec) {
  Client c(proxy_->port());
  EXPECT_EQ(c.run({"MULTI"}), "OK");
  EXPECT_EQ(c.run({"SET", "a", "1"}), "QUEUED");
  EXPECT_EQ(c.run({"INCR", "a"}), "QUEUED");
  EXPECT_EQ(c.run({"EXEC"}), "[OK, 2]");
  EXPECT_EQ(c.run({"MULTI"}), "OK");
  EXPECT_EQ(c.run({"SET", "a", "100"}), "QUEUED");
  EXPECT_EQ(c.run({"DISCARD"}), "OK");
  EXPECT_EQ(c.run({"GET", "a"}), "\"2\"");
  // A queuing error aborts the transaction, as on Redis.
  EXPECT_EQ(c.run({"MULTI"}), "OK");
  EXPECT_EQ(c.run({"GET"}), "(error) ERR wrong number of arguments for 'get' command");
  EXPECT_EQ(c.run({"EXEC"}), "(error) EXECABORT Transaction discarded because of previous errors.");
}

TEST_P(ConnectionStateTest, WatchSeesAnotherClientsWrite) {
  Client c(proxy_->port());
  Client other(proxy_->port());
  c.call({"SET", "w", "1"});
  EXPECT_EQ(c.run({"WATCH", "w"}), "OK");
  EXPECT_EQ(other.run({"SET", "w", "2"}), "OK");
  c.call({"MULTI"});
  c.call({"SET", "w", "3"});
  EXPECT_EQ(c.run({"EXEC"}), "(nil)");
  EXPECT_EQ(c.run({"GET", "w"}), "\"2\"");
  // Without interference it commits.
  c.call({"WATCH", "w"});
  c.call({"MULTI"});
  c.call({"SET", "w", "4"});
  EXPECT_EQ(c.run({"EXEC"}), "[OK]");
}

TEST_P(ConnectionStateTest, SelectIsPerConnection) {
  Client a(proxy_->port());
  Client b(proxy_->port());
  EXPECT_EQ(a.run({"SELECT", "5"}), "OK");
  a.call({"SET", "where", "db5"});
  b.call({"SET", "where", "db0"});
  EXPECT_EQ(a.run({"GET", "where"}), "\"db5\"");
  EXPECT_EQ(b.run({"GET", "where"}), "\"db0\"");
  EXPECT_EQ(a.run({"SELECT", "99"}), "(error) ERR DB index is out of range");
  EXPECT_EQ(a.run({"GET", "where"}), "\"db5\"");
}

TEST_P(ConnectionStateTest, AclUsersKeepTheirRestrictions) {
  Client admin(redis_->port());
  ASSERT_EQ(admin.run({"ACL", "SETUSER", "alice", "on", ">alicepw", "~app:*", "+get", "+set"}),
            "OK");
  Client c(proxy_->port());
  EXPECT_EQ(c.run({"AUTH", "alice", "wrong"}),
            "(error) WRONGPASS invalid username-password pair or user is disabled.");
  EXPECT_EQ(c.run({"AUTH", "alice", "alicepw"}), "OK");
  EXPECT_EQ(c.run({"SET", "app:1", "x"}), "OK");
  EXPECT_EQ(c.run({"GET", "app:1"}), "\"x\"");
  // Denials are the backend's own, word for word (their wording depends on the Redis version).
  Client direct(redis_->port());
  direct.call({"AUTH", "alice", "alicepw"});
  for (const std::vector<std::string>& cmd : std::vector<std::vector<std::string>>{
           {"SET", "other", "x"}, {"DEL", "app:1"}, {"ACL", "WHOAMI"}}) {
    resp::Value through = c.call(cmd);
    EXPECT_TRUE(through.isError()) << cmd[0];
    EXPECT_EQ(through.str.rfind("NOPERM", 0), 0u) << through.str;
    EXPECT_EQ(through, direct.call(cmd)) << cmd[0];
  }
  EXPECT_EQ(c.run({"GET", "other"}).rfind("(error) NOPERM", 0), 0u);
  // Another client through the proxy is still the default user.
  EXPECT_EQ(Client(proxy_->port()).run({"ACL", "WHOAMI"}), "\"default\"");
}

TEST_P(ConnectionStateTest, Hello3WithAuth) {
  Client admin(redis_->port());
  admin.call({"ACL", "SETUSER", "bob", "on", ">bobpw", "~*", "+@all"});
  Client c(proxy_->port());
  resp::Value bad = c.call({"HELLO", "3", "AUTH", "bob", "nope"});
  EXPECT_TRUE(bad.isError());
  EXPECT_EQ(bad.str, "WRONGPASS invalid username-password pair or user is disabled.");
  resp::Value hello = c.call({"HELLO", "3", "AUTH", "bob", "bobpw", "SETNAME", "bobs"});
  ASSERT_EQ(hello.type, resp::Type::kMap);
  c.sendCommand({"ACL", "WHOAMI"});
  EXPECT_EQ(c.readRaw(), "$3\r\nbob\r\n");
  c.sendCommand({"CLIENT", "GETNAME"});
  EXPECT_EQ(c.readRaw(), "$4\r\nbobs\r\n");
}

TEST_P(ConnectionStateTest, ClientNameAndIdArePerConnection) {
  Client a(proxy_->port());
  Client b(proxy_->port());
  EXPECT_EQ(a.run({"CLIENT", "SETNAME", "first"}), "OK");
  EXPECT_EQ(b.run({"CLIENT", "SETNAME", "second"}), "OK");
  EXPECT_EQ(a.run({"CLIENT", "GETNAME"}), "\"first\"");
  EXPECT_EQ(b.run({"CLIENT", "GETNAME"}), "\"second\"");
  resp::Value id_a = a.call({"CLIENT", "ID"});
  resp::Value id_b = b.call({"CLIENT", "ID"});
  ASSERT_EQ(id_a.type, resp::Type::kInteger);
  EXPECT_NE(id_a.integer, id_b.integer);
  EXPECT_EQ(a.call({"CLIENT", "ID"}), id_a);
  // The backend sees a connection named "first" with that id.
  std::string list = Client(redis_->port()).call({"CLIENT", "LIST"}).str;
  EXPECT_NE(list.find("id=" + std::to_string(id_a.integer) + " "), std::string::npos);
  EXPECT_NE(list.find("name=first"), std::string::npos);
}

TEST_P(ConnectionStateTest, QuitRepliesOkAndCloses) {
  Client c(proxy_->port());
  c.send("PING\r\nQUIT\r\nPING\r\n");
  EXPECT_EQ(c.readRaw(), "+PONG\r\n");
  EXPECT_EQ(c.readRaw(), "+OK\r\n");
  EXPECT_TRUE(c.closedByPeer());
}

TEST_P(ConnectionStateTest, ResetRestoresAFreshConnection) {
  Client admin(redis_->port());
  admin.call({"ACL", "SETUSER", "bob", "on", ">bobpw", "~*", "+@all"});
  Client c(proxy_->port());
  c.call({"HELLO", "3", "AUTH", "bob", "bobpw"});
  c.call({"SELECT", "3"});
  c.call({"SET", "in3", "x"});
  c.call({"MULTI"});
  EXPECT_EQ(c.run({"RESET"}), "RESET");
  c.sendCommand({"GET", "in3"});
  EXPECT_EQ(c.readRaw(), "$-1\r\n");  // db 0 again, and RESP2 again
  EXPECT_EQ(c.run({"ACL", "WHOAMI"}), "\"default\"");
}

INSTANTIATE_TEST_SUITE_P(Modes, ConnectionStateTest, ::testing::Values("yes", "no"),
                         [](const auto& info) {
                           return std::string(info.param) == "yes" ? "Multiplexed" : "Dedicated";
                         });

}  // namespace
}  // namespace tfproxy::testing
