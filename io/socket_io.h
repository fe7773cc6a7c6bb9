// Non-blocking socket reads and writes for the edge-triggered event loops of tfproxy.
#pragma once

#include <cstddef>
#include <string>

#include "io/buffer.h"

namespace tfproxy::io {

enum class IoResult { kDone, kWouldBlock, kClosed, kError };

// Input read from one socket in one go (bounds memory before limits are checked).
inline constexpr size_t kReadBurst = 1024 * 1024;
// Output buffers above this size are given back once sent.
inline constexpr size_t kKeepCapacity = 1024 * 1024;

// Reads what `fd` has (at most kReadBurst) into `in`; kDone means it may have more. A short read
// counts as drained (`*drained`) unless the peer hung up: then its close sits behind the data and
// no further edge announces it, so reading goes on until recv says 0 (kClosed).
IoResult readSome(int fd, Buffer* in, bool hung_up, bool* drained);

// Sends the unsent part of `out` (from `*written` on); once all is sent clears it. kWouldBlock
// leaves the rest for the writable edge; errno tells the reason of kError.
IoResult writeSome(int fd, std::string* out, size_t* written);

}  // namespace tfproxy::io
