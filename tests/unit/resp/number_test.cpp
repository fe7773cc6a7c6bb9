#include "resp/number.h"

#include <gtest/gtest.h>

#include <cmath>

namespace tfproxy::resp {
namespace {

TEST(Number, ParseInt64FollowsString2ll) {
  EXPECT_EQ(parseInt64("0"), 0);
  EXPECT_EQ(parseInt64("-12"), -12);
  EXPECT_EQ(parseInt64("9223372036854775807"), INT64_MAX);
  EXPECT_EQ(parseInt64("-9223372036854775808"), INT64_MIN);
  EXPECT_FALSE(parseInt64("9223372036854775808"));
  EXPECT_FALSE(parseInt64("01"));
  EXPECT_FALSE(parseInt64("-0"));
  EXPECT_FALSE(parseInt64("+1"));
  EXPECT_FALSE(parseInt64(" 1"));
  EXPECT_FALSE(parseInt64(""));
  EXPECT_FALSE(parseInt64("-"));
}

TEST(Number, FormatDoubleIsShortest) {
  EXPECT_EQ(formatDouble(1.5), "1.5");
  EXPECT_EQ(formatDouble(1.1), "1.1");
  EXPECT_EQ(formatDouble(3.141), "3.141");
  EXPECT_EQ(formatDouble(2147483648.0), "2147483648");
  EXPECT_EQ(formatDouble(HUGE_VAL), "inf");
  EXPECT_EQ(formatDouble(-HUGE_VAL), "-inf");
  EXPECT_EQ(formatDouble(std::nan("")), "nan");
}

}  // namespace
}  // namespace tfproxy::resp
