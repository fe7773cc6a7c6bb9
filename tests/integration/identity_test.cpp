// Functions run their commands as the invoking client's ACL user, in its database: a user who
// may not SET a key cannot SET it through a function either.
#include <gtest/gtest.h>

#include <thread>

#include "tests/support/client.h"
#include "tests/support/eventually.h"
#include "tests/support/processes.h"

namespace tfproxy::testing {
namespace {

const char kWriter[] = R"(#!js api_version=1.0 name=writer
redis.registerFunction('set', function(client, key, value){ return client.call('set', key, value); });
redis.registerFunction('noop', function(client){ return 'ran'; });
redis.registerAsyncFunction('noop_async', async function(client){ return 'ran'; });
redis.registerFunction('whoami', function(client){
  try { client.call('acl', 'whoami'); } catch (e) { return e; }
});)";

TEST(IdentityTest, AclRestrictionsHoldThroughFunctions) {
  RedisServer redis;
  Proxy proxy({"--backend", redis.address()});
  Client admin(redis.port());
  ASSERT_EQ(admin.run({"ACL", "SETUSER", "alice", "on", ">alicepw", "~allowed:*", "+@all"}), "OK");
  ASSERT_EQ(
      admin.run({"ACL", "SETUSER", "reader", "on", ">readerpw", "~*", "+@read", "+acl", "+fcall"}),
      "OK");
  Client loader(proxy.port());
  ASSERT_EQ(loader.run({"TFUNCTION", "LOAD", kWriter}), "OK");

  Client alice(proxy.port());
  ASSERT_EQ(alice.run({"AUTH", "alice", "alicepw"}), "OK");
  EXPECT_EQ(alice.run({"TFCALL", "writer.set", "1", "allowed:1", "x"}), "\"OK\"");
  EXPECT_EQ(alice.run({"TFCALL", "writer.set", "1", "secret", "x"}),
            "(error) NOPERM No permissions to access a key");
  // ACL is a no-script command: refused from JavaScript whoever calls.
  EXPECT_EQ(alice.run({"TFCALL", "writer.whoami", "0"}),
            "\"ERR command 'acl|whoami' is not allowed on script mode\"");
  EXPECT_EQ(admin.run({"EXISTS", "secret"}), "0");

  Client reader(proxy.port());
  ASSERT_EQ(reader.run({"HELLO", "3", "AUTH", "reader", "readerpw"}).substr(0, 1), "{");
  EXPECT_EQ(reader.run({"TFCALL", "writer.set", "1", "any", "x"}),
            "(error) NOPERM User reader has no permissions to run the 'set' command");
  EXPECT_EQ(admin.run({"EXISTS", "any"}), "0");

  // A client that did not authenticate runs as default, which may write anywhere.
  EXPECT_EQ(loader.run({"TFCALL", "writer.set", "1", "secret", "x"}), "\"OK\"");
}

// TFCALL's declared keys are checked up front, as FCALL's are: the user must be able to read and
// write each of them, whether or not the function touches them.
TEST(IdentityTest, DeclaredKeysNeedReadWriteAccess) {
  RedisServer redis;
  Proxy proxy({"--backend", redis.address()});
  Client admin(redis.port());
  ASSERT_EQ(admin.run({"ACL", "SETUSER", "alice", "on", ">pw", "~allowed:*", "+@all"}), "OK");
  ASSERT_EQ(admin.run({"ACL", "SETUSER", "reader", "on", ">pw", "%R~*", "+@all"}), "OK");
  ASSERT_EQ(admin.run({"ACL", "SETUSER", "sel", "on", ">pw", "~a:*", "+@all", "(~b:* +@all)",
                       "(~c:* +get)"}),
            "OK");
  Client loader(proxy.port());
  ASSERT_EQ(loader.run({"TFUNCTION", "LOAD", kWriter}), "OK");
  const std::string denied = "(error) NOPERM No permissions to access a key";

  Client alice(proxy.port());
  ASSERT_EQ(alice.run({"AUTH", "alice", "pw"}), "OK");
  EXPECT_EQ(alice.run({"TFCALL", "writer.noop", "1", "allowed:1"}), "\"ran\"");
  EXPECT_EQ(alice.run({"TFCALL", "writer.noop", "1", "secret"}), denied);
  EXPECT_EQ(alice.run({"TFCALL", "writer.noop", "2", "allowed:1", "secret"}), denied);
  EXPECT_EQ(alice.run({"TFCALLASYNC", "writer.noop_async", "1", "secret"}), denied);
  EXPECT_EQ(alice.run({"TFCALL", "writer.noop", "0", "secret"}), "\"ran\"");  // an argument
  // numkeys errors are the function call's own, as before.
  EXPECT_EQ(alice.run({"TFCALL", "writer.noop", "5", "secret"}),
            "(error) Not enough arguments was given, expected at least 5 arguments, got 1 "
            "arguments.");

  Client reader(proxy.port());
  ASSERT_EQ(reader.run({"AUTH", "reader", "pw"}), "OK");
  EXPECT_EQ(reader.run({"TFCALL", "writer.noop", "1", "k"}), denied);  // read is not enough
  EXPECT_EQ(reader.run({"TFCALL", "writer.noop", "0"}), "\"ran\"");

  // Selectors: a key one of them grants for FCALL is allowed; one granted only for GET is not.
  Client sel(proxy.port());
  ASSERT_EQ(sel.run({"AUTH", "sel", "pw"}), "OK");
  EXPECT_EQ(sel.run({"TFCALL", "writer.noop", "1", "a:1"}), "\"ran\"");
  EXPECT_EQ(sel.run({"TFCALL", "writer.noop", "1", "b:1"}), "\"ran\"");
  EXPECT_EQ(sel.run({"TFCALL", "writer.noop", "1", "c:1"}), denied);
  EXPECT_EQ(sel.run({"TFCALL", "writer.noop", "1", "d:1"}), denied);

  // ACL changes made through the proxy take effect at once...
  Client proxied_admin(proxy.port());
  ASSERT_EQ(proxied_admin.run({"ACL", "SETUSER", "alice", "~secret:*"}), "OK");
  EXPECT_EQ(alice.run({"TFCALL", "writer.noop", "1", "secret:1"}), "\"ran\"");
  ASSERT_EQ(proxied_admin.run({"ACL", "SETUSER", "alice", "resetkeys", "~allowed:*"}), "OK");
  EXPECT_EQ(alice.run({"TFCALL", "writer.noop", "1", "secret:1"}), denied);
  // ...and those made on the backend directly within a second or so.
  ASSERT_EQ(admin.run({"ACL", "SETUSER", "alice", "~secret"}), "OK");
  std::string reply;
  for (int i = 0; i < 40 && reply != "\"ran\""; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
    reply = alice.run({"TFCALL", "writer.noop", "1", "secret"});
  }
  EXPECT_EQ(reply, "\"ran\"");
}

TEST(IdentityTest, RequirePassBackend) {
  RedisServer redis({"--requirepass", "s3cret"});
  Proxy proxy({"--backend", redis.address(), "--backend-password", "s3cret"});
  Client c(proxy.port());
  // Nothing before authentication: the proxy's own commands included.
  EXPECT_EQ(c.run({"TFCALL", "x.y", "0"}), "(error) NOAUTH Authentication required.");
  EXPECT_EQ(c.run({"TFUNCTION", "LOAD", kWriter}), "(error) NOAUTH Authentication required.");
  EXPECT_EQ(c.run({"SET", "k", "v"}).rfind("(error) NOAUTH", 0), 0u);
  EXPECT_EQ(c.run({"AUTH", "s3cret"}), "OK");
  EXPECT_EQ(c.run({"TFUNCTION", "LOAD", kWriter}), "OK");
  EXPECT_EQ(c.run({"TFCALL", "writer.set", "1", "k", "v"}), "\"OK\"");
  EXPECT_EQ(
      Client(proxy.port()).run({"TFCALL", "writer.set", "1", "k", "v"}).rfind("(error) NOAUTH", 0),
      0u);
}

// Who may run the proxy's commands: the users allowed to run the matching Redis Functions
// commands (FCALL, FUNCTION LOAD/DELETE/LIST).
TEST(IdentityTest, AccessPolicyFollowsRedisFunctionsPermissions) {
  RedisServer redis;
  Proxy proxy({"--backend", redis.address()});
  Client admin(redis.port());
  ASSERT_EQ(admin.run({"ACL", "SETUSER", "caller", "on", ">pw", "~*", "+@all", "-function"}), "OK");
  ASSERT_EQ(admin.run({"ACL", "SETUSER", "nobody", "on", ">pw", "~*", "+get"}), "OK");
  Client loader(proxy.port());
  ASSERT_EQ(loader.run({"TFUNCTION", "LOAD", kWriter}), "OK");

  Client caller(proxy.port());
  caller.call({"AUTH", "caller", "pw"});
  EXPECT_EQ(caller.run({"TFCALL", "writer.set", "1", "k", "v"}), "\"OK\"");
  EXPECT_EQ(caller.run({"TFUNCTION", "LOAD", "REPLACE", kWriter}),
            "(error) NOPERM User caller has no permissions to run the 'tfunction|load' command");
  EXPECT_EQ(caller.run({"TFUNCTION", "DELETE", "writer"}),
            "(error) NOPERM User caller has no permissions to run the 'tfunction|delete' command");

  Client nobody(proxy.port());
  nobody.call({"AUTH", "nobody", "pw"});
  EXPECT_EQ(nobody.run({"TFCALL", "writer.set", "1", "k", "v"}),
            "(error) NOPERM User nobody has no permissions to run the 'tfcall' command");
  EXPECT_EQ(nobody.run({"TFUNCTION", "LIST"}),
            "(error) NOPERM User nobody has no permissions to run the 'tfunction|list' command");
}

// spec §3.4 steps 5 and 6: on a replica, and when the backend is out of memory, only functions
// flagged for it run.
TEST(BackendStateTest, ReplicaAndOutOfMemoryChecks) {
  RedisServer redis;
  Proxy proxy({"--backend", redis.address()});
  Client c(proxy.port());
  ASSERT_EQ(c.run({"TFUNCTION", "LOAD", R"(#!js api_version=1.0 name=state
redis.registerFunction('write', function(client){ return client.call('set', 'k', 'v'); });
redis.registerFunction('read', function(client){ return client.call('get', 'k'); },
  {flags: [redis.functionFlags.NO_WRITES]});
redis.registerFunction('oom_ok', function(client){ return client.call('del', 'k'); },
  {flags: [redis.functionFlags.ALLOW_OOM]});)"}),
            "OK");
  auto eventually = [&](const std::vector<std::string>& cmd, const std::string& expected) {
    return testing::eventuallyEquals([&] { return c.run(cmd); }, expected);
  };
  Client admin(redis.port());
  admin.call({"REPLICAOF", "127.0.0.1", std::to_string(freePort())});
  EXPECT_EQ(eventually({"TFCALL", "state.write", "0"},
                       "(error) Err can not run a function that might perform writes on a replica "
                       "or when the \"avoid replication traffic\" option is enabled"),
            "(error) Err can not run a function that might perform writes on a replica or when "
            "the \"avoid replication traffic\" option is enabled");
  EXPECT_EQ(c.run({"TFCALL", "state.read", "0"}), "(nil)");
  admin.call({"REPLICAOF", "NO", "ONE"});
  EXPECT_EQ(eventually({"TFCALL", "state.write", "0"}, "\"OK\""), "\"OK\"");

  admin.call({"CONFIG", "SET", "maxmemory", "1"});
  EXPECT_EQ(eventually({"TFCALL", "state.write", "0"},
                       "(error) OOM can not run the function when out of memory"),
            "(error) OOM can not run the function when out of memory");
  EXPECT_EQ(c.run({"TFCALL", "state.oom_ok", "0"}), "1");
  EXPECT_EQ(c.run({"TFCALL", "state.read", "0"}), "(nil)");
  admin.call({"CONFIG", "SET", "maxmemory", "0"});
  EXPECT_EQ(eventually({"TFCALL", "state.write", "0"}, "\"OK\""), "\"OK\"");
}

}  // namespace
}  // namespace tfproxy::testing
