// The ACL rules that name tfproxy's commands: which rules are kept, how they combine, and how
// they are shown and stored.
#include "functions/acl_rules.h"

#include <gtest/gtest.h>

namespace tfproxy::functions {
namespace {

std::vector<std::string> rules(std::initializer_list<const char*> list) {
  return {list.begin(), list.end()};
}

TEST(AclRules, SplitKeepsOursAndForwardsTheRest) {
  const auto r = rules({"on", ">pw", "~k*", "+GET", "+TFCALL", "-tfunction|Delete", "+@all",
                        "nocommands", "+tfcallasync", "-@read"});
  AclRules::Split split = AclRules::split(r);
  EXPECT_TRUE(split.error.empty());
  EXPECT_EQ(split.forwarded, rules({"on", ">pw", "~k*", "+GET", "+@all", "nocommands", "-@read"}));
  EXPECT_EQ(split.ours,
            rules({"+tfcall", "-tfunction|delete", "+@all", "nocommands", "+tfcallasync"}));
  EXPECT_EQ(AclRules::split(rules({"+tfunction|nosuch"})).error,
            "ERR Error in ACL SETUSER modifier '+tfunction|nosuch': Unknown command or category "
            "name in ACL");
  EXPECT_FALSE(AclRules::split(rules({"+tfcall|x"})).error.empty());
  // Commands tfproxy runs but COMMAND does not list are Redis' business.
  EXPECT_EQ(AclRules::split(rules({"+tconfig_get"})).forwarded, rules({"+tconfig_get"}));
}

TEST(AclRules, LaterRulesWinAndUnnamedCommandsFallBack) {
  AclRules acl;
  EXPECT_EQ(acl.allows("u", "tfcall"), std::nullopt);
  acl.apply("u", rules({"+tfunction", "-tfunction|delete"}));
  EXPECT_EQ(acl.allows("u", "tfunction|load"), true);
  EXPECT_EQ(acl.allows("u", "tfunction|delete"), false);
  EXPECT_EQ(acl.allows("u", "tfcall"), std::nullopt);
  acl.apply("u", rules({"+tfunction|delete"}));
  EXPECT_EQ(acl.allows("u", "tfunction|delete"), true);
  acl.apply("u", rules({"-@all", "+tfcall"}));
  EXPECT_EQ(acl.allows("u", "tfunction|load"), false);
  EXPECT_EQ(acl.allows("u", "tfcall"), true);
  EXPECT_EQ(acl.stored("u"), "-@all +tfcall");  // shortened at the all-or-nothing rule
  EXPECT_EQ(acl.shown("u"), "+tfcall");
  acl.apply("u", rules({"reset"}));
  EXPECT_EQ(acl.allows("u", "tfcall"), false);
  EXPECT_EQ(acl.shown("u"), "");
  acl.forget("u");
  EXPECT_EQ(acl.allows("u", "tfcall"), std::nullopt);
}

TEST(AclRules, StoredFormRoundTrips) {
  AclRules acl;
  acl.apply("a", rules({"+@all", "-tfcallasync"}));
  acl.apply("b", rules({"+tfcall"}));
  AclRules other;
  other.replaceAll(acl.all());
  EXPECT_EQ(other.all(), acl.all());
  EXPECT_EQ(other.allows("a", "tfcallasync"), false);
  EXPECT_EQ(other.allows("a", "tfcall"), true);
}

}  // namespace
}  // namespace tfproxy::functions
