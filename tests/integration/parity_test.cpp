// Upstream parity outside triggers: hundreds of libraries within the default budget, start-up
// options in the module-argument form, debug commands, and the details real clients notice.
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "tests/support/client.h"
#include "tests/support/eventually.h"
#include "tests/support/probes.h"
#include "tests/support/processes.h"

namespace tfproxy::testing {
namespace {

std::string smallLibrary(int i) {
  return "#!js api_version=1.0 name=small" + std::to_string(i) +
         "\nredis.registerFunction('f', function(c){ return " + std::to_string(i) + "; });";
}

// The default v8-maxmemory (200 MB) holds hundreds of small libraries: what counts is the heap
// each library's code keeps, not the empty isolate every library has. A restart restores them.
TEST(ParityTest, FiveHundredLibrariesWithTheDefaults) {
  constexpr int kLibraries = 500;
  RedisServer redis;
  {
    Proxy proxy({"--backend", redis.address()});
    Client c(proxy.port());
    for (int i = 0; i < kLibraries; ++i) {
      ASSERT_EQ(c.run({"TFUNCTION", "LOAD", smallLibrary(i)}), "OK") << "library " << i;
    }
    // A library that really exceeds the budget still fails, with upstream's text, and the
    // others keep working.
    EXPECT_EQ(c.run({"TFUNCTION", "LOAD",
                     "#!js api_version=1.0 name=big\nvar x = [];"
                     " for (;;) x.push(new Array(1e6).fill(0.5));"
                     "\nredis.registerFunction('f', () => 1);"}),
              "(error) Failed loading library: Err Execution was terminated due to OOM or "
              "timeout.");
    EXPECT_EQ(c.run({"TFCALL", "small0.f", "0"}), "0");
    EXPECT_EQ(c.run({"TFCALL", "small499.f", "0"}), "499");
    // Under 1 MB of resident memory per small library.
    EXPECT_LT(rssKb(proxy.pid()), 40 * 1024 + kLibraries * 1024);
    EXPECT_EQ(proxy.stop(), 0);
  }
  Proxy restarted({"--backend", redis.address()});
  Client c(restarted.port());
  EXPECT_EQ(c.call({"TFUNCTION", "LIST"}).elements.size(), size_t{kLibraries});
  EXPECT_EQ(c.run({"TFCALL", "small0.f", "0"}), "0");
  EXPECT_EQ(c.run({"TFCALL", "small499.f", "0"}), "499");
  EXPECT_EQ(c.run({"TFUNCTION", "LOAD", smallLibrary(kLibraries)}), "OK");
}

}  // namespace
}  // namespace tfproxy::testing
