#include "backend/sync_connection.h"

#include <poll.h>
#include <sys/socket.h>
#include <sys/time.h>

#include "resp/decoder.h"
#include "resp/encoder.h"

namespace tfproxy::backend {

SyncConnection::SyncConnection(io::Stream stream, std::chrono::milliseconds timeout)
    : stream_(std::move(stream)), timeout_(timeout) {}

SyncConnection::~SyncConnection() = default;

void SyncConnection::fail(std::string reason) {
  // The stream stays open until the connection goes: another thread may be sending on it.
  error_ = std::move(reason);
  broken_ = true;
}

std::unique_ptr<SyncConnection> SyncConnection::connect(const io::Target& target,
                                                        std::chrono::milliseconds timeout,
                                                        std::string* error) {
  io::Stream stream = io::connectWaiting(target, timeout, error);
  if (!stream.isOpen()) return nullptr;
  auto conn = std::unique_ptr<SyncConnection>(new SyncConnection(std::move(stream), timeout));
  conn->setTimeout(timeout);
  return conn;
}

void SyncConnection::setTimeout(std::chrono::milliseconds timeout) {
  timeout_ = timeout;
  if (broken_) return;
  timeval tv{};
  tv.tv_sec = static_cast<time_t>(timeout.count() / 1000);
  tv.tv_usec = static_cast<suseconds_t>((timeout.count() % 1000) * 1000);
  ::setsockopt(stream_.fd(), SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  ::setsockopt(stream_.fd(), SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
}

bool SyncConnection::alive() {
  if (broken_) return false;
  if (stream_.peerClosed()) {
    fail("connection closed by the backend");
    return false;
  }
  return true;
}

bool SyncConnection::waitReadable(std::chrono::milliseconds wait) {
  if (broken_ || !in_.empty() || stream_.buffered()) return true;
  pollfd p{.fd = stream_.fd(), .events = POLLIN, .revents = 0};
  return ::poll(&p, 1, static_cast<int>(wait.count())) != 0;
}

bool SyncConnection::send(std::string_view bytes) {
  if (broken_) return false;
  std::string why;
  switch (stream_.sendAll(bytes, timeout_, &why)) {
    case io::Stream::Wait::kDone:
      return true;
    case io::Stream::Wait::kTimedOut:
      fail("write timed out");
      return false;
    default:
      fail("write failed: " + why);
      return false;
  }
}

std::optional<resp::Value> SyncConnection::readReply() {
  if (broken_) return std::nullopt;
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
    size_t got = 0;
    std::string why;
    switch (stream_.receive(buf, sizeof buf, timeout_, &got, &why, spin_)) {
      case io::Stream::Wait::kDone:
        in_.append(buf, got);
        continue;
      case io::Stream::Wait::kClosed:
        fail("connection closed by the backend");
        return std::nullopt;
      case io::Stream::Wait::kTimedOut:
        fail("read timed out");
        return std::nullopt;
      case io::Stream::Wait::kFailed:
        fail("read failed: " + why);
        return std::nullopt;
    }
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
