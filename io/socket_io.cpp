#include "io/socket_io.h"

#include <sys/socket.h>

#include <cerrno>

namespace tfproxy::io {

IoResult readSome(int fd, Buffer* in, bool hung_up, bool* drained) {
  size_t total = 0;
  while (total < kReadBurst) {
    auto space = in->prepare();
    ssize_t n = ::recv(fd, space.data(), space.size(), 0);
    if (n > 0) {
      in->commit(static_cast<size_t>(n));
      total += static_cast<size_t>(n);
      if (!hung_up && static_cast<size_t>(n) < space.size()) {
        *drained = true;  // a short read: the socket had no more
        return IoResult::kDone;
      }
      continue;
    }
    if (n == 0) return IoResult::kClosed;
    if (errno == EINTR) continue;
    if (errno == EAGAIN || errno == EWOULDBLOCK) {
      *drained = true;
      return total > 0 ? IoResult::kDone : IoResult::kWouldBlock;
    }
    return IoResult::kError;
  }
  *drained = false;
  return IoResult::kDone;
}

IoResult writeSome(int fd, std::string* out, size_t* written) {
  while (*written < out->size()) {
    ssize_t n = ::send(fd, out->data() + *written, out->size() - *written, MSG_NOSIGNAL);
    if (n > 0) {
      *written += static_cast<size_t>(n);
      continue;
    }
    if (n < 0 && errno == EINTR) continue;
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) return IoResult::kWouldBlock;
    return IoResult::kError;
  }
  out->clear();
  *written = 0;
  if (out->capacity() > kKeepCapacity) std::string().swap(*out);
  return IoResult::kDone;
}

}  // namespace tfproxy::io
