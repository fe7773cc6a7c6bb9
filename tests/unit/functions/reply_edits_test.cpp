// The plans of the replies tfproxy edits: what is sent besides the client's command, and what
// the client gets from the replies -- well-formed ones edited, anything else passed on.
#include "functions/reply_edits.h"

#include <gtest/gtest.h>

#include "resp/decoder.h"

namespace tfproxy::functions {
namespace {

using resp::Value;

class ReplyEditsTest : public ::testing::Test {
 protected:
  // Plans `argv` for a RESP2 client in db 0; false if it is forwarded unedited.
  bool plan(std::vector<std::string_view> argv, ReplyEdit* edit, int64_t db = 0,
            resp::Protocol protocol = resp::Protocol::kResp2) {
    backend::ConnectionState state;
    state.db = db;
    state.protocol = protocol;
    return edits_.plan(argv, state, edit);
  }
  static std::string shown(const std::string& bytes) {
    Value v;
    EXPECT_TRUE(resp::decodeValue(bytes, &v)) << bytes;
    return resp::toDebugString(v);
  }
  static std::string text(const std::string& bytes) {
    Value v;
    EXPECT_TRUE(resp::decodeValue(bytes, &v)) << bytes;
    return v.str;
  }
  static Value keys(std::vector<std::string> names) {
    std::vector<Value> out;
    for (auto& n : names) out.push_back(Value::bulk(n));
    return Value::array(std::move(out));
  }
  ReplyEdits edits_{{"tfproxy:libraries"}};
};

TEST_F(ReplyEditsTest, KeyListsLeaveTheStoreOut) {
  ReplyEdit edit;
  ASSERT_TRUE(plan({"KEYS", "*"}, &edit));
  EXPECT_TRUE(edit.extra.empty());
  EXPECT_EQ(shown(edit.merge({keys({"a", "tfproxy:libraries", "b"})})), "[\"a\", \"b\"]");
  EXPECT_EQ(shown(edit.merge({Value::error("NOPERM no")})), "(error) NOPERM no");

  ReplyEdit scan;
  ASSERT_TRUE(plan({"scan", "0", "MATCH", "*", "COUNT", "10"}, &scan, /*db=*/3));
  EXPECT_EQ(shown(scan.merge({Value::array({Value::bulk("17"), keys({"tfproxy:libraries"})})})),
            "[\"17\", []]");
}

TEST_F(ReplyEditsTest, CountsSubtractTheStore) {
  ReplyEdit edit;
  ASSERT_TRUE(plan({"DBSIZE"}, &edit));
  ASSERT_EQ(edit.extra.size(), 1u);
  EXPECT_EQ(edit.extra[0], (std::vector<std::string>{"EXISTS", "tfproxy:libraries"}));
  EXPECT_EQ(shown(edit.merge({Value::integerValue(5), Value::integerValue(1)})), "4");
  // EXISTS refused (the user's key patterns): the count passes as Redis gave it.
  EXPECT_EQ(shown(edit.merge({Value::integerValue(5), Value::error("NOPERM")})), "5");

  ReplyEdit info;
  ASSERT_TRUE(plan({"INFO"}, &info));
  std::string keyspace = "# Keyspace\r\ndb0:keys=1,expires=0,avg_ttl=0\r\ndb1:keys=2,expires=0\r\n";
  EXPECT_EQ(text(info.merge({Value::bulk(keyspace), Value::integerValue(1)})),
            "# Keyspace\r\ndb1:keys=2,expires=0\r\n");
  keyspace = "# Keyspace\r\ndb0:keys=7,expires=0,avg_ttl=0\r\n";
  EXPECT_EQ(text(info.merge({Value::bulk(keyspace), Value::integerValue(1)})),
            "# Keyspace\r\ndb0:keys=6,expires=0,avg_ttl=0\r\n");
  ReplyEdit other;
  EXPECT_FALSE(plan({"INFO", "memory"}, &other));
  EXPECT_FALSE(plan({"INFO", "keyspace"}, &other, /*db=*/2));
}

TEST_F(ReplyEditsTest, RandomKeyNeverNamesTheStore) {
  ReplyEdit edit;
  ASSERT_TRUE(plan({"RANDOMKEY"}, &edit));
  const size_t replies = 1 + edit.extra.size();
  auto with = [&](std::vector<Value> tail) {
    std::vector<Value> all = {Value::bulk("tfproxy:libraries")};
    all.insert(all.end(), tail.begin(), tail.end());
    EXPECT_EQ(all.size(), replies);
    return shown(edit.merge(all));
  };
  const Value store = Value::bulk("tfproxy:libraries");
  const Value empty_page = Value::array({Value::bulk("0"), keys({"tfproxy:libraries"})});
  // Only the store is there: nil.
  EXPECT_EQ(with({Value::integerValue(1), Value::integerValue(1), store, store, store, empty_page}),
            "(nil)");
  // Another pick, or the SCAN page, gives one of the others.
  EXPECT_EQ(with({Value::integerValue(2), Value::integerValue(1), store, Value::bulk("k"), store,
                  empty_page}),
            "\"k\"");
  EXPECT_EQ(with({Value::integerValue(2), Value::integerValue(1), store, store, store,
                  Value::array({Value::bulk("0"), keys({"tfproxy:libraries", "only"})})}),
            "\"only\"");
  // Redis did not pick the store: its answer as it is.
  EXPECT_EQ(shown(edit.merge({Value::bulk("x"), Value::integerValue(2), Value::integerValue(1),
                              store, store, store, empty_page})),
            "\"x\"");
}

TEST_F(ReplyEditsTest, CommandMergesTheTfCommands) {
  ReplyEdit count;
  ASSERT_TRUE(plan({"COMMAND", "COUNT"}, &count));
  EXPECT_EQ(shown(count.merge({Value::integerValue(240)})), "243");
  ReplyEdit info;
  ASSERT_TRUE(plan({"command", "info", "get", "tfcall"}, &info));
  const std::string merged = shown(info.merge({Value::array({keys({"get"}), Value::null()})}));
  EXPECT_EQ(merged.rfind("[[\"get\"], [\"tfcall\", -3, ", 0), 0u) << merged;
  ReplyEdit untouched;
  EXPECT_FALSE(plan({"COMMAND", "INFO", "get"}, &untouched));
  EXPECT_FALSE(plan({"COMMAND", "GETKEYS", "SET", "k", "v"}, &untouched));
  ReplyEdit getkeys;
  ASSERT_TRUE(plan({"COMMAND", "GETKEYS", "tfcall", "l.f", "2", "a", "b"}, &getkeys));
  EXPECT_EQ(shown(getkeys.local_reply), "[\"a\", \"b\"]");
  // RESP3: the merge answers in the client's protocol.
  ReplyEdit docs;
  ASSERT_TRUE(plan({"COMMAND", "DOCS", "TFCALL"}, &docs, 0, resp::Protocol::kResp3));
  Value map = Value::array({}, resp::Type::kMap);
  EXPECT_EQ(docs.merge({map})[0], '%');
}

}  // namespace
}  // namespace tfproxy::functions
