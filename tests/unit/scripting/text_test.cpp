#include "scripting/text.h"

#include <gtest/gtest.h>

namespace tfproxy::scripting {
namespace {

TEST(Utf8, Validation) {
  EXPECT_TRUE(isValidUtf8("plain"));
  EXPECT_TRUE(isValidUtf8("\xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80"));
  EXPECT_FALSE(isValidUtf8("\xff"));
  EXPECT_FALSE(isValidUtf8("\xc3"));          // truncated
  EXPECT_FALSE(isValidUtf8("\xc0\xaf"));      // overlong
  EXPECT_FALSE(isValidUtf8("\xed\xa0\x80"));  // surrogate
}

TEST(Json, Check) {
  bool object = false;
  EXPECT_FALSE(checkJson("{\"a\": [1, 2.5e3, \"x\\n\", true, null], \"b\": {}}", &object));
  EXPECT_TRUE(object);
  EXPECT_FALSE(checkJson(" [1] ", &object));
  EXPECT_FALSE(object);
  EXPECT_EQ(checkJson("", &object), "EOF while parsing a value at line 1 column 0");
  EXPECT_EQ(checkJson("x", &object), "expected value at line 1 column 1");
  EXPECT_TRUE(checkJson("{\"a\":}", &object));
  EXPECT_TRUE(checkJson("{\"a\":1} x", &object));
  EXPECT_TRUE(checkJson("{'a':1}", &object));
}

TEST(EscapeDefault, LikeRust) {
  EXPECT_EQ(escapeDefault("hello"), "hello");
  EXPECT_EQ(escapeDefault("a\nb\t'\"\\"), "a\\nb\\t\\'\\\"\\\\");
  EXPECT_EQ(escapeDefault("\xc2\xaa"), "\\u{aa}");
  EXPECT_EQ(escapeDefault(std::string("\x01", 1)), "\\u{1}");
}

}  // namespace
}  // namespace tfproxy::scripting
