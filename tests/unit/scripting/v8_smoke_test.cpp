#include <gtest/gtest.h>

#include "scripting/v8/platform.h"

namespace tfproxy::scripting {
namespace {

// V8 from Debian's libnode links and runs: an isolate evaluates 1+1.
TEST(V8, EvaluatesOnePlusOne) {
  Platform platform("--noexpose-wasm");
  EXPECT_EQ(evaluateOnce("1+1"), "2");
  EXPECT_EQ(evaluateOnce("throw new TypeError('x')"), "TypeError: x");
  EXPECT_EQ(Platform::v8Version().rfind("10.2", 0), 0u) << Platform::v8Version();
}

}  // namespace
}  // namespace tfproxy::scripting
