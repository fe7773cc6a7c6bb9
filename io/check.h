// TFPROXY_CHECK(condition): an invariant of tfproxy's own code (a session touched only on its
// worker's thread, say). When one does not hold, that is a bug, never bad input: tfproxy logs
// the condition and where, and aborts, rather than serve on in a state nobody designed.
#pragma once

namespace tfproxy::io {

[[noreturn]] void checkFailed(const char* condition, const char* file, int line);

}  // namespace tfproxy::io

#define TFPROXY_CHECK(condition) \
  ((condition) ? static_cast<void>(0) : ::tfproxy::io::checkFailed(#condition, __FILE__, __LINE__))
