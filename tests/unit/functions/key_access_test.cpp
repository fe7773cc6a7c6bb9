// KeyAccess: the root key patterns of an ACL GETUSER reply, evaluated as Redis does for a
// command that reads and writes its keys.
#include "functions/key_access.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

namespace tfproxy::functions {
namespace {

using resp::Value;
using Verdict = KeyAccess::Verdict;

// A GETUSER reply as Redis 7 sends it over RESP3.
Value getUser(const std::string& keys, std::vector<Value> selectors = {}) {
  return Value::array(
      {Value::bulk("flags"), Value::array({Value::bulk("on")}), Value::bulk("commands"),
       Value::bulk("+@all"), Value::bulk("keys"), Value::bulk(keys), Value::bulk("channels"),
       Value::bulk(""), Value::bulk("selectors"), Value::array(std::move(selectors))},
      resp::Type::kMap);
}

Verdict check(const KeyAccess& a, std::vector<std::string> keys) { return a.readWrite(keys); }

TEST(KeyAccessTest, AllKeys) {
  KeyAccess a = KeyAccess::fromGetUser(getUser("~*"));
  EXPECT_EQ(check(a, {"anything", std::string("\0bin", 4)}), Verdict::kAllowed);
  EXPECT_EQ(check(a, {}), Verdict::kAllowed);
}

TEST(KeyAccessTest, PatternsNeedReadAndWrite) {
  KeyAccess a = KeyAccess::fromGetUser(getUser("~a:* %R~r:* %W~w:* %RW~rw:* %WR~wr:?"));
  EXPECT_EQ(check(a, {"a:1"}), Verdict::kAllowed);
  EXPECT_EQ(check(a, {"rw:1", "wr:x"}), Verdict::kAllowed);
  EXPECT_EQ(check(a, {"r:1"}), Verdict::kDenied);  // read only
  EXPECT_EQ(check(a, {"w:1"}), Verdict::kDenied);  // write only
  EXPECT_EQ(check(a, {"a:1", "secret"}), Verdict::kDenied);
  EXPECT_EQ(check(a, {"wr:xy"}), Verdict::kDenied);
  EXPECT_EQ(check(a, {}), Verdict::kAllowed);
}

TEST(KeyAccessTest, RedisGlobRules) {
  KeyAccess a = KeyAccess::fromGetUser(getUser("~user:[0-9]* ~lit\\*"));
  EXPECT_EQ(check(a, {"user:42"}), Verdict::kAllowed);
  EXPECT_EQ(check(a, {"user:x"}), Verdict::kDenied);
  EXPECT_EQ(check(a, {"lit*"}), Verdict::kAllowed);
  EXPECT_EQ(check(a, {"litx"}), Verdict::kDenied);
  EXPECT_EQ(check(a, {"USER:1"}), Verdict::kDenied);  // case-sensitive
}

TEST(KeyAccessTest, NoKeysAtAll) {
  KeyAccess a = KeyAccess::fromGetUser(getUser(""));
  EXPECT_EQ(check(a, {"k"}), Verdict::kDenied);
  EXPECT_EQ(check(KeyAccess::fromGetUser(Value::null()), {"k"}), Verdict::kDenied);
}

TEST(KeyAccessTest, SelectorsLeaveDenialsToRedis) {
  Value selector = Value::array({Value::bulk("commands"), Value::bulk("-@all +get"),
                                 Value::bulk("keys"), Value::bulk("~b:*")},
                                resp::Type::kMap);
  KeyAccess a = KeyAccess::fromGetUser(getUser("~a:*", {selector}));
  EXPECT_EQ(check(a, {"a:1"}), Verdict::kAllowed);
  EXPECT_EQ(check(a, {"b:1"}), Verdict::kAskRedis);
}

TEST(KeyAccessTest, Resp2FlatReply) {
  Value reply = Value::array(
      {Value::bulk("keys"), Value::bulk("~k*"), Value::bulk("selectors"), Value::array({})});
  KeyAccess a = KeyAccess::fromGetUser(reply);
  EXPECT_EQ(check(a, {"key"}), Verdict::kAllowed);
  EXPECT_EQ(check(a, {"other"}), Verdict::kDenied);
}

TEST(KeyAccessTest, Unrestricted) {
  EXPECT_EQ(check(KeyAccess::unrestricted(), {"anything"}), Verdict::kAllowed);
}

}  // namespace
}  // namespace tfproxy::functions
