// Functions run their commands as the invoking client's ACL user, in its database: a user who
// may not SET a key cannot SET it through a function either.
#include <gtest/gtest.h>

#include "tests/support/client.h"
#include "tests/support/processes.h"

namespace tfproxy::testing {
namespace {

const char kWriter[] = R"(#!js api_version=1.0 name=writer
redis.registerFunction('set', function(client, key, value){ return client.call('set', key, value); });
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

}  // namespace
}  // namespace tfproxy::testing
