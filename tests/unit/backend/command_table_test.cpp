// The command table: built-in entries, and entries learnt from a backend's COMMAND reply for
// commands the built-in table lacks (a newer Redis, a module).
#include "backend/command_table.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

namespace tfproxy::backend {
namespace {

using resp::Value;

// A COMMAND entry as Redis 7.4 sends it over RESP3 (flags as a set, subcommands 10th).
Value entry(const std::string& name, int64_t arity, std::vector<std::string> flags, int64_t first,
            int64_t last, int64_t step, std::vector<Value> subcommands = {}) {
  std::vector<Value> flag_values;
  for (const auto& f : flags) flag_values.push_back(Value::simple(f));
  return Value::array({Value::bulk(name), Value::integerValue(arity),
                       Value::array(std::move(flag_values), resp::Type::kSet),
                       Value::integerValue(first), Value::integerValue(last),
                       Value::integerValue(step), Value::array({}), Value::array({}),
                       Value::array({}), Value::array(std::move(subcommands))});
}

TEST(CommandTableTest, BuiltInEntries) {
  const CommandTable& t = CommandTable::builtin();
  const CommandInfo* set = t.find("SET");
  ASSERT_NE(set, nullptr);
  EXPECT_STREQ(set->name, "set");
  EXPECT_EQ(set->arity, -3);
  EXPECT_TRUE(set->has(kFlag_write));
  EXPECT_TRUE(t.find("blpop")->has(kFlag_blocking));
  EXPECT_STREQ(t.find("client", "SETNAME")->name, "client|setname");
  EXPECT_STREQ(t.find("client", "nosuch")->name, "client");  // falls back to the container
  EXPECT_EQ(t.find("hexpire"), nullptr);
}

TEST(CommandTableTest, LearnsWhatTheBackendAdds) {
  const size_t before = CommandTable::builtin().all().size();
  Value reply = Value::array({
      entry("hexpire", -6, {"write", "denyoom", "fast"}, 1, 1, 1),
      entry("get", 2, {"readonly"}, 1, 1, 1),  // known: left as it is
      entry("json.set", -4, {"write", "denyoom", "module"}, 1, 1, 1),
      entry("mod.wait", 3, {"blocking", "module"}, 0, 0, 0),
      entry("newcontainer", -2, {}, 0, 0, 0,
            {entry("newcontainer|help", 2, {"loading", "stale"}, 0, 0, 0)}),
  });
  EXPECT_EQ(CommandTable::learn(reply), 5u);
  const CommandTable& t = CommandTable::builtin();
  EXPECT_EQ(t.all().size(), before + 5);
  const CommandInfo* hexpire = t.find("HEXPIRE");
  ASSERT_NE(hexpire, nullptr);
  EXPECT_EQ(hexpire->arity, -6);
  EXPECT_EQ(hexpire->flags, kFlag_write | kFlag_denyoom | kFlag_fast);
  EXPECT_EQ(hexpire->first_key, 1);
  EXPECT_TRUE(t.find("JSON.SET")->has(kFlag_write));
  EXPECT_TRUE(t.find("mod.wait")->has(kFlag_blocking));
  EXPECT_STREQ(t.find("newcontainer", "help")->name, "newcontainer|help");
  EXPECT_EQ(t.find("get")->arity, 2);
  // Learning the same reply again adds nothing.
  EXPECT_EQ(CommandTable::learn(reply), 0u);
  // Malformed entries are skipped.
  EXPECT_EQ(CommandTable::learn(Value::array({Value::bulk("x"), Value::array({})})), 0u);
}

TEST(CommandTableTest, ConnectionEffects) {
  EXPECT_EQ(connectionEffect("SELECT"), ConnectionEffect::kDatabase);
  EXPECT_EQ(connectionEffect("multi"), ConnectionEffect::kOpensTransaction);
  EXPECT_EQ(connectionEffect("Exec"), ConnectionEffect::kEndsTransaction);
  EXPECT_EQ(connectionEffect("discard"), ConnectionEffect::kEndsTransaction);
  for (const char* name : {"AUTH", "hello", "reset", "client", "quit", "subscribe", "sunsubscribe",
                           "monitor", "watch", "unwatch", "readonly", "asking", "replconf"}) {
    EXPECT_EQ(connectionEffect(name), ConnectionEffect::kOther) << name;
  }
  for (const char* name : {"get", "SET", "blpop", "flushall", "acl", "", "averyveryverylongname"}) {
    EXPECT_EQ(connectionEffect(name), ConnectionEffect::kNone) << name;
  }
}

}  // namespace
}  // namespace tfproxy::backend
