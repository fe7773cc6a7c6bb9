#include "io/check.h"

#include <cstdio>
#include <cstdlib>

namespace tfproxy::io {

void checkFailed(const char* condition, const char* file, int line) {
  std::fprintf(stderr, "tfproxy: invariant violated at %s:%d: %s\n", file, line, condition);
  std::fflush(stderr);
  std::abort();
}

}  // namespace tfproxy::io
