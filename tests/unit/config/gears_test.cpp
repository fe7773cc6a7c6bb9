#include "config/gears.h"

#include <gtest/gtest.h>

#include "config/glob.h"

namespace tfproxy::config {
namespace {

TEST(GearsConfig, GetByPatterns) {
  GearsConfig c{GearsSettings{}};
  auto all = c.get({"redisgears_2.*"});
  EXPECT_EQ(all.size(), 15u);
  auto one = c.get({"REDISGEARS_2.LOCK-REDIS-TIMEOUT"});
  ASSERT_EQ(one.size(), 1u);
  EXPECT_EQ(one[0],
            (std::pair<std::string, std::string>{"redisgears_2.lock-redis-timeout", "500"}));
  EXPECT_EQ(c.get({"redisgears_2.v8-maxmemory"})[0].second, "209715200");
  EXPECT_EQ(c.get({"redisgears_2.library-fatal-failure-policy"})[0].second, "Abort");
  EXPECT_EQ(c.get({"redisgears_2.v8-flags"})[0].second, "'--noexpose-wasm'");
  EXPECT_EQ(c.get({"redisgears_2.enable-debug-command"})[0].second, "no");
  EXPECT_TRUE(c.get({"maxmemory"}).empty());
  EXPECT_EQ(c.get({"*", "redisgears_2.*"}).size(), 15u);  // each at most once
}

TEST(GearsConfig, SetWithRedisErrors) {
  GearsConfig c{GearsSettings{}};
  EXPECT_TRUE(c.set({{"redisgears_2.lock-redis-timeout", "1000"}}).ok());
  EXPECT_EQ(c.lockTimeoutMs(), 1000);
  EXPECT_EQ(
      c.set({{"redisgears_2.lock-redis-timeout", "abc"}}).message(),
      "ERR CONFIG SET failed (possibly related to argument 'redisgears_2.lock-redis-timeout') "
      "- argument couldn't be parsed into an integer");
  EXPECT_EQ(
      c.set({{"redisgears_2.lock-redis-timeout", "99"}}).message(),
      "ERR CONFIG SET failed (possibly related to argument 'redisgears_2.lock-redis-timeout') "
      "- argument must be between 100 and 1000000000 inclusive");
  EXPECT_EQ(c.set({{"redisgears_2.v8-maxmemory", "100mb"}}).message(),
            "ERR CONFIG SET failed (possibly related to argument 'redisgears_2.v8-maxmemory') - "
            "can't set immutable config");
  EXPECT_EQ(c.set({{"redisgears_2.nope", "1"}}).message(),
            "ERR Unknown option or number of arguments for CONFIG SET - 'redisgears_2.nope'");
  EXPECT_TRUE(c.set({{"redisgears_2.library-fatal-failure-policy", "KILL"}}).ok());
  EXPECT_EQ(c.policy(), FatalFailurePolicy::kKill);
  EXPECT_EQ(c.get({"redisgears_2.library-fatal-failure-policy"})[0].second, "Kill");
  EXPECT_FALSE(c.set({{"redisgears_2.error-verbosity", "3"}}).ok());
}

TEST(GearsConfig, TimeoutsDependOnEachOther) {
  GearsConfig c{GearsSettings{}};
  EXPECT_TRUE(c.set({{"redisgears_2.lock-redis-timeout", "40000"}}).ok());
  EXPECT_EQ(c.loadingLockTimeoutMs(), 40000);  // raised with it
  EXPECT_EQ(c.set({{"redisgears_2.db-loading-lock-redis-timeout", "30000"}}).message(),
            "ERR CONFIG SET failed (possibly related to argument "
            "'redisgears_2.db-loading-lock-redis-timeout') - The db-loading-lock-redis-timeout "
            "value can't be less than lock-redis-timeout value.");
  // A failed multi-pair SET changes nothing.
  EXPECT_FALSE(c.set({{"redisgears_2.error-verbosity", "2"}, {"redisgears_2.nope", "1"}}).ok());
  EXPECT_EQ(c.errorVerbosity(), 1);
}

TEST(GearsConfig, StartupValidation) {
  GearsSettings s;
  EXPECT_TRUE(validateStartup(s).ok());
  s.v8_library_initial_memory_usage = 5 << 20;
  s.v8_library_initial_memory_limit = 4 << 20;
  EXPECT_EQ(validateStartup(s).message(),
            "V8 library initial initial memory usage can not bypass the initial memory limit.");
  EXPECT_EQ(effectiveV8Flags("'--noexpose-wasm'"), "--noexpose-wasm");
}

TEST(Glob, RedisPatterns) {
  EXPECT_TRUE(globMatch("redisgears_2.*", "redisgears_2.lock-redis-timeout", false));
  EXPECT_TRUE(globMatch("*timeout", "lock-redis-timeout", false));
  EXPECT_TRUE(globMatch("h?llo", "hello", false));
  EXPECT_TRUE(globMatch("h[ae]llo", "hallo", false));
  EXPECT_FALSE(globMatch("h[^e]llo", "hello", false));
  EXPECT_TRUE(globMatch("h[a-c]llo", "hbllo", false));
  EXPECT_TRUE(globMatch("HELLO", "hello", true));
  EXPECT_FALSE(globMatch("HELLO", "hello", false));
  EXPECT_TRUE(globMatch("a\\*b", "a*b", false));
}

}  // namespace
}  // namespace tfproxy::config
