#include "backend/sync_connection.h"

#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "io/socket_address.h"
#include "resp/decoder.h"
#include "resp/encoder.h"

namespace tfproxy::backend {
namespace {

using Clock = std::chrono::steady_clock;

// Waits until `fd` is ready for `events` or the deadline passes. Returns false on timeout.
bool waitFor(int fd, short events, Clock::time_point deadline) {
  while (true) {
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now());
    if (left.count() <= 0) return false;
    pollfd p{fd, events, 0};
    int r = ::poll(&p, 1, static_cast<int>(left.count()));
    if (r > 0) return true;
    if (r < 0 && errno != EINTR) return false;
  }
}

}  // namespace

SyncConnection::SyncConnection(int fd, std::chrono::milliseconds timeout)
    : fd_(fd), timeout_(timeout) {}

SyncConnection::~SyncConnection() {
  if (fd_ >= 0) ::close(fd_);
}

void SyncConnection::fail(std::string reason) {
  error_ = std::move(reason);
  if (fd_ >= 0) ::close(fd_);
  fd_ = -1;
}

std::unique_ptr<SyncConnection> SyncConnection::connect(const config::Endpoint& endpoint,
                                                        std::chrono::milliseconds timeout,
                                                        std::string* error) {
  std::vector<io::SocketAddress> addresses = io::resolve(endpoint, error);
  if (addresses.empty()) return nullptr;
  const auto deadline = Clock::now() + timeout;
  std::string last_error = "no address";
  for (const io::SocketAddress& a : addresses) {
    const int family = a.storage.ss_family;
    int fd = ::socket(family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0) {
      last_error = std::strerror(errno);
      continue;
    }
    int r = ::connect(fd, reinterpret_cast<const sockaddr*>(&a.storage), a.length);
    if (r != 0 && errno == EINPROGRESS) {
      if (!waitFor(fd, POLLOUT, deadline)) {
        last_error = "connection timed out";
        ::close(fd);
        continue;
      }
      int so_error = 0;
      socklen_t len = sizeof so_error;
      ::getsockopt(fd, SOL_SOCKET, SO_ERROR, &so_error, &len);
      r = so_error == 0 ? 0 : -1;
      errno = so_error;
    }
    if (r != 0) {
      last_error = std::strerror(errno);
      ::close(fd);
      continue;
    }
    if (family != AF_UNIX) {
      int one = 1;
      ::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    }
    // From here on the socket blocks, bounded by kernel timeouts: a reply costs one recv()
    // instead of recv (EAGAIN), poll and recv.
    ::fcntl(fd, F_SETFL, ::fcntl(fd, F_GETFL) & ~O_NONBLOCK);
    auto conn = std::unique_ptr<SyncConnection>(new SyncConnection(fd, timeout));
    conn->setTimeout(timeout);
    return conn;
  }
  *error = last_error;
  return nullptr;
}

void SyncConnection::setTimeout(std::chrono::milliseconds timeout) {
  timeout_ = timeout;
  if (fd_ < 0) return;
  timeval tv{};
  tv.tv_sec = static_cast<time_t>(timeout.count() / 1000);
  tv.tv_usec = static_cast<suseconds_t>((timeout.count() % 1000) * 1000);
  ::setsockopt(fd_, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  ::setsockopt(fd_, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
}

bool SyncConnection::alive() {
  if (fd_ < 0) return false;
  char byte;
  ssize_t n = ::recv(fd_, &byte, 1, MSG_PEEK | MSG_DONTWAIT);
  if (n == 0 || (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR)) {
    fail("connection closed by the backend");
    return false;
  }
  return true;
}

bool SyncConnection::send(std::string_view bytes) {
  if (fd_ < 0) return false;
  while (!bytes.empty()) {
    ssize_t n = ::send(fd_, bytes.data(), bytes.size(), MSG_NOSIGNAL);
    if (n > 0) {
      bytes.remove_prefix(static_cast<size_t>(n));
      continue;
    }
    if (n < 0 && errno == EINTR) continue;
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
      fail("write timed out");
      return false;
    }
    fail(std::string("write failed: ") + std::strerror(errno));
    return false;
  }
  return true;
}

std::optional<resp::Value> SyncConnection::readReply() {
  if (fd_ < 0) return std::nullopt;
  while (true) {
    auto r = framer_.scan(in_);
    if (r.status == resp::ReplyFramer::Status::kComplete) {
      resp::Value v;
      bool ok = resp::decodeValue(std::string_view(in_).substr(0, r.consumed), &v);
      in_.erase(0, r.consumed);
      if (!ok) {
        fail("malformed reply");
        return std::nullopt;
      }
      return v;
    }
    if (r.status == resp::ReplyFramer::Status::kError) {
      fail(std::string("malformed reply: ") + framer_.error());
      return std::nullopt;
    }
    char buf[16384];
    ssize_t n = ::recv(fd_, buf, sizeof buf, 0);
    if (n > 0) {
      in_.append(buf, static_cast<size_t>(n));
      continue;
    }
    if (n == 0) {
      fail("connection closed by the backend");
      return std::nullopt;
    }
    if (errno == EINTR) continue;
    if (errno == EAGAIN || errno == EWOULDBLOCK) {
      fail("read timed out");
      return std::nullopt;
    }
    fail(std::string("read failed: ") + std::strerror(errno));
    return std::nullopt;
  }
}

std::optional<resp::Value> SyncConnection::call(std::span<const std::string_view> args) {
  std::string request;
  resp::encodeCommand(args, &request);
  if (!send(request)) return std::nullopt;
  return readReply();
}

std::optional<resp::Value> SyncConnection::call(std::initializer_list<std::string_view> args) {
  return call(std::span<const std::string_view>(args.begin(), args.size()));
}

}  // namespace tfproxy::backend
