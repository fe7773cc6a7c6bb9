#include "io/stream.h"

#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <poll.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <climits>
#include <cstring>

#include "io/event_loop.h"
#include "io/socket_address.h"

namespace tfproxy::io {

using Clock = std::chrono::steady_clock;

// The socket under a TLS stream, as OpenSSL's BIO: recv() and send() on the descriptor, and a
// note whether the last recv() came back short or empty -- the socket was drained then, as the
// plaintext path's short-read rule says, so a read can stop without another recv() to find
// EAGAIN.
struct SocketBio {
  int fd;
  bool drained = false;

  static int read(BIO* bio, char* buf, int size) {
    auto* self = static_cast<SocketBio*>(BIO_get_data(bio));
    BIO_clear_retry_flags(bio);
    while (true) {
      const ssize_t n = ::recv(self->fd, buf, static_cast<size_t>(size), 0);
      if (n >= 0) {
        self->drained = n < size;
        return static_cast<int>(n);
      }
      if (errno == EINTR) continue;
      self->drained = true;
      if (errno == EAGAIN || errno == EWOULDBLOCK) BIO_set_retry_read(bio);
      return -1;
    }
  }
  static int write(BIO* bio, const char* buf, int size) {
    auto* self = static_cast<SocketBio*>(BIO_get_data(bio));
    BIO_clear_retry_flags(bio);
    while (true) {
      const ssize_t n = ::send(self->fd, buf, static_cast<size_t>(size), MSG_NOSIGNAL);
      if (n >= 0) return static_cast<int>(n);
      if (errno == EINTR) continue;
      if (errno == EAGAIN || errno == EWOULDBLOCK) BIO_set_retry_write(bio);
      return -1;
    }
  }
  static long control(BIO*, int command, long, void*) {
    // OpenSSL flushes after writing and asks about pending bytes; nothing is buffered here.
    return command == BIO_CTRL_FLUSH ? 1 : 0;
  }
  static const BIO_METHOD* method() {
    static BIO_METHOD* const kMethod = [] {
      BIO_METHOD* m = BIO_meth_new(BIO_get_new_index() | BIO_TYPE_SOURCE_SINK, "tfproxy socket");
      BIO_meth_set_read(m, &SocketBio::read);
      BIO_meth_set_write(m, &SocketBio::write);
      BIO_meth_set_ctrl(m, &SocketBio::control);
      return m;
    }();
    return kMethod;
  }
};

// The TLS state of a stream. The mutex serialises OpenSSL calls between the reading thread and
// writing threads of the waiting use; the edge-triggered use has one thread and does not take it.
struct Stream::Tls {
  Tls(SSL* s, int fd) : ssl(s), socket{fd} {
    BIO* bio = BIO_new(SocketBio::method());
    BIO_set_data(bio, &socket);
    BIO_set_init(bio, 1);
    SSL_set_bio(ssl, bio, bio);  // one reference for both directions, owned by the SSL
  }
  ~Tls() { SSL_free(ssl); }
  SSL* ssl;
  SocketBio socket;
  std::mutex mutex;
};

namespace {

// Waits until `fd` is ready for `events` or `deadline` (time_point::max(): no limit).
bool waitReady(int fd, short events, Clock::time_point deadline) {
  while (true) {
    int wait_ms = -1;
    if (deadline != Clock::time_point::max()) {
      auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now());
      if (left.count() <= 0) return false;
      wait_ms = static_cast<int>(std::min<int64_t>(left.count(), INT_MAX));
    }
    pollfd p{fd, events, 0};
    const int r = ::poll(&p, 1, wait_ms);
    if (r > 0) return true;
    if (r < 0 && errno != EINTR) return false;
  }
}

Clock::time_point deadlineAfter(std::chrono::milliseconds timeout) {
  return timeout.count() > 0 ? Clock::now() + timeout : Clock::time_point::max();
}

int clampToInt(size_t n) { return static_cast<int>(std::min<size_t>(n, INT_MAX)); }

// What an OpenSSL call on `ssl` that returned `r` (no success) means; `why` is set for kFailed.
// errno is read first: nothing between the call and this may touch it.
enum class SslOutcome { kWantRead, kWantWrite, kClosed, kFailed };
SslOutcome sslOutcome(SSL* ssl, int r, std::string* why) {
  const int saved_errno = errno;
  switch (SSL_get_error(ssl, r)) {
    case SSL_ERROR_WANT_READ:
      return SslOutcome::kWantRead;
    case SSL_ERROR_WANT_WRITE:
      return SslOutcome::kWantWrite;
    case SSL_ERROR_ZERO_RETURN:
      return SslOutcome::kClosed;
    case SSL_ERROR_SYSCALL:
      if (ERR_peek_error() == 0) {
        if (saved_errno == 0) return SslOutcome::kClosed;  // EOF without close_notify
        *why = std::strerror(saved_errno);
        return SslOutcome::kFailed;
      }
      [[fallthrough]];
    default:
      *why = tlsFailure(ssl);
      return SslOutcome::kFailed;
  }
}

// The waiting use of one OpenSSL call (`op`: an SSL_read or SSL_write returning its count into
// `*n`): under `mutex` until it gets somewhere, waiting in poll() for what OpenSSL wants with
// the mutex released, so that the stream's other thread can go on meanwhile. For up to `spin`
// it asks again instead of waiting in poll() while OpenSSL wants to read (Stream::receive).
template <class Op>
Stream::Wait tlsWaiting(SSL* ssl, std::mutex& mutex, int fd, std::chrono::milliseconds timeout,
                        Op op, int* n, std::string* error,
                        std::chrono::microseconds spin = std::chrono::microseconds::zero()) {
  const auto deadline = deadlineAfter(timeout);
  const auto spin_until = spin.count() > 0 ? Clock::now() + spin : Clock::time_point::min();
  while (true) {
    SslOutcome outcome;
    {
      std::lock_guard lock(mutex);
      ERR_clear_error();
      *n = op();
      if (*n > 0) return Stream::Wait::kDone;
      outcome = sslOutcome(ssl, *n, error);
    }
    if (outcome == SslOutcome::kClosed) return Stream::Wait::kClosed;
    if (outcome == SslOutcome::kFailed) return Stream::Wait::kFailed;
    if (outcome == SslOutcome::kWantRead && spin.count() > 0 && Clock::now() < spin_until) continue;
    if (!waitReady(fd, outcome == SslOutcome::kWantRead ? POLLIN : POLLOUT, deadline)) {
      return Stream::Wait::kTimedOut;
    }
  }
}

}  // namespace

Stream::Stream() = default;

Stream::Stream(int fd) : fd_(fd) {}

Stream::Stream(int fd, ssl_st* ssl) : fd_(fd), tls_(std::make_unique<Tls>(ssl, fd)) {}

Stream Stream::overTls(int fd, const TlsContext& tls, std::string* error) {
  ssl_st* ssl = tls.newConnection(error);
  if (ssl == nullptr) {
    ::close(fd);
    return Stream();
  }
  return Stream(fd, ssl);
}

Stream::~Stream() { close(); }

Stream::Stream(Stream&& other) noexcept
    : fd_(other.fd_),
      tls_(std::move(other.tls_)),
      failure_(std::move(other.failure_)),
      handshake_wants_write_(other.handshake_wants_write_) {
  other.fd_ = -1;
}

Stream& Stream::operator=(Stream&& other) noexcept {
  if (this != &other) {
    close();
    fd_ = other.fd_;
    tls_ = std::move(other.tls_);
    failure_ = std::move(other.failure_);
    handshake_wants_write_ = other.handshake_wants_write_;
    other.fd_ = -1;
  }
  return *this;
}

void Stream::close() {
  tls_.reset();
  if (fd_ >= 0) ::close(fd_);
  fd_ = -1;
}

bool Stream::buffered() const { return tls_ != nullptr && SSL_has_pending(tls_->ssl) == 1; }

void Stream::noteErrno() { failure_ = std::strerror(errno); }

IoResult Stream::handshake() {
  if (!tls_) return IoResult::kDone;
  ERR_clear_error();
  const int r = SSL_do_handshake(tls_->ssl);
  if (r == 1) return IoResult::kDone;
  std::string why;
  switch (sslOutcome(tls_->ssl, r, &why)) {
    case SslOutcome::kWantRead:
    case SslOutcome::kWantWrite:
      handshake_wants_write_ = SSL_want_write(tls_->ssl);
      return IoResult::kWouldBlock;
    case SslOutcome::kClosed:
      failure_ = "TLS handshake failed: connection closed by the peer";
      return IoResult::kError;
    case SslOutcome::kFailed:
      failure_ = "TLS handshake failed: " + why;
      return IoResult::kError;
  }
  return IoResult::kError;
}

IoResult Stream::tlsRead(Buffer* in, bool hung_up, bool* drained) {
  // Only a recv() of this read says the socket is drained now.
  tls_->socket.drained = false;
  size_t total = 0;
  while (total < kReadBurst) {
    auto space = in->prepare();
    ERR_clear_error();
    const int n = SSL_read(tls_->ssl, space.data(), clampToInt(space.size()));
    if (n > 0) {
      in->commit(static_cast<size_t>(n));
      total += static_cast<size_t>(n);
      // Drained: nothing decrypted or received is left in OpenSSL, and its last recv() came
      // back short (unless the peer hung up: its close sits behind the data).
      if (!hung_up && tls_->socket.drained && SSL_has_pending(tls_->ssl) == 0) {
        *drained = true;
        return IoResult::kDone;
      }
      continue;
    }
    switch (sslOutcome(tls_->ssl, n, &failure_)) {
      case SslOutcome::kWantRead:
      case SslOutcome::kWantWrite:
        *drained = true;
        return total > 0 ? IoResult::kDone : IoResult::kWouldBlock;
      case SslOutcome::kClosed:
        return IoResult::kClosed;
      case SslOutcome::kFailed:
        return IoResult::kError;
    }
  }
  *drained = false;
  return IoResult::kDone;
}

IoResult Stream::tlsWrite(std::string* out, size_t* written) {
  while (*written < out->size()) {
    ERR_clear_error();
    // A write OpenSSL asked to repeat is repeated from the same bytes, at least as many of them
    // (the buffer only grows; SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER lets it move).
    const int n = SSL_write(tls_->ssl, out->data() + *written, clampToInt(out->size() - *written));
    if (n > 0) {
      *written += static_cast<size_t>(n);
      continue;
    }
    switch (sslOutcome(tls_->ssl, n, &failure_)) {
      case SslOutcome::kWantRead:
      case SslOutcome::kWantWrite:
        return IoResult::kWouldBlock;
      case SslOutcome::kClosed:
        failure_ = "connection closed by the peer";
        return IoResult::kError;
      case SslOutcome::kFailed:
        return IoResult::kError;
    }
  }
  out->clear();
  *written = 0;
  if (out->capacity() > kKeepCapacity) std::string().swap(*out);
  return IoResult::kDone;
}

Stream::Wait Stream::receive(char* buf, size_t size, std::chrono::milliseconds timeout, size_t* got,
                             std::string* error, std::chrono::microseconds spin) {
  if (!tls_) {
    if (spin.count() > 0) {
      const auto until = std::chrono::steady_clock::now() + spin;
      do {
        const ssize_t n = ::recv(fd_, buf, size, MSG_DONTWAIT);
        if (n > 0) {
          *got = static_cast<size_t>(n);
          return Wait::kDone;
        }
        if (n == 0) return Wait::kClosed;
        if (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR) break;  // said below
      } while (std::chrono::steady_clock::now() < until);
    }
    while (true) {
      const ssize_t n = ::recv(fd_, buf, size, 0);
      if (n > 0) {
        *got = static_cast<size_t>(n);
        return Wait::kDone;
      }
      if (n == 0) return Wait::kClosed;
      if (errno == EINTR) continue;
      if (errno == EAGAIN || errno == EWOULDBLOCK) return Wait::kTimedOut;  // SO_RCVTIMEO
      *error = std::strerror(errno);
      return Wait::kFailed;
    }
  }
  int n = 0;
  const Wait result = tlsWaiting(
      tls_->ssl, tls_->mutex, fd_, timeout,
      [&] { return SSL_read(tls_->ssl, buf, clampToInt(size)); }, &n, error, spin);
  if (result == Wait::kDone) *got = static_cast<size_t>(n);
  return result;
}

Stream::Wait Stream::sendAll(std::string_view bytes, std::chrono::milliseconds timeout,
                             std::string* error) {
  if (!tls_) {
    while (!bytes.empty()) {
      const ssize_t n = ::send(fd_, bytes.data(), bytes.size(), MSG_NOSIGNAL);
      if (n > 0) {
        bytes.remove_prefix(static_cast<size_t>(n));
        continue;
      }
      if (n < 0 && errno == EINTR) continue;
      if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) return Wait::kTimedOut;
      *error = n < 0 ? std::strerror(errno) : "connection closed by the peer";
      return Wait::kFailed;
    }
    return Wait::kDone;
  }
  while (!bytes.empty()) {
    int n = 0;
    const Wait result = tlsWaiting(
        tls_->ssl, tls_->mutex, fd_, timeout,
        [&] { return SSL_write(tls_->ssl, bytes.data(), clampToInt(bytes.size())); }, &n, error);
    if (result == Wait::kClosed) {
      *error = "connection closed by the peer";
      return Wait::kFailed;
    }
    if (result != Wait::kDone) return result;
    bytes.remove_prefix(static_cast<size_t>(n));
  }
  return Wait::kDone;
}

bool Stream::peerClosed() {
  if (fd_ < 0) return true;
  char byte;
  const ssize_t n = ::recv(fd_, &byte, 1, MSG_PEEK | MSG_DONTWAIT);
  if (n == 0) return true;
  if (n < 0) return errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR;
  if (!tls_) return false;
  // Bytes are waiting: a record that may be data, a session ticket or the peer's close_notify.
  // Only OpenSSL can tell; a peek consumes nothing of the data.
  std::lock_guard lock(tls_->mutex);
  ERR_clear_error();
  const int r = SSL_peek(tls_->ssl, &byte, 1);
  if (r > 0) return false;
  std::string ignored;
  const SslOutcome outcome = sslOutcome(tls_->ssl, r, &ignored);
  return outcome == SslOutcome::kClosed || outcome == SslOutcome::kFailed;
}

namespace {

// A TLS handshake in flight on an event loop: the socket registered, and a timer.
class Handshake : public EventLoop::Watcher, public std::enable_shared_from_this<Handshake> {
 public:
  using Done = std::function<void(Stream, const std::string&)>;
  Handshake(EventLoop& loop, Stream stream, Done done)
      : loop_(loop), stream_(std::move(stream)), done_(std::move(done)) {}

  void start(std::chrono::milliseconds timeout) {
    self_ = shared_from_this();
    if (!loop_.add(stream_.fd(), this)) return finish("cannot watch the socket");
    registered_ = true;
    std::weak_ptr<Handshake> weak = self_;
    timer_ = loop_.runAfter(timeout, [weak] {
      if (auto self = weak.lock()) {
        self->timer_ = 0;
        self->finish("TLS handshake timed out");
      }
    });
    step();
  }

  void onEvents(uint32_t) override { step(); }

 private:
  void step() {
    if (!self_) return;
    switch (stream_.handshake()) {
      case IoResult::kDone:
        return finish({});
      case IoResult::kWouldBlock:
        return;
      default:
        return finish(stream_.error());
    }
  }

  // Reports from the end of the round (this watcher may still be named by its events).
  void finish(const std::string& error) {
    if (!self_) return;
    if (timer_ != 0) loop_.cancel(timer_);
    timer_ = 0;
    if (registered_) loop_.remove(stream_.fd());
    registered_ = false;
    if (!error.empty()) stream_.close();
    loop_.defer([self = std::move(self_), error]() mutable {
      self->done_(std::move(self->stream_), error);
    });
  }

  EventLoop& loop_;
  Stream stream_;
  Done done_;
  bool registered_ = false;
  EventLoop::TimerId timer_ = 0;
  std::shared_ptr<Handshake> self_;
};

// One connection attempt in flight: a registered socket waiting for writability, and a timer.
class Connect : public EventLoop::Watcher, public std::enable_shared_from_this<Connect> {
 public:
  Connect(EventLoop& loop, std::vector<SocketAddress> addresses, std::chrono::milliseconds timeout,
          std::shared_ptr<TlsContext> tls, std::function<void(Stream, const std::string&)> done)
      : loop_(loop),
        addresses_(std::move(addresses)),
        timeout_(timeout),
        tls_(std::move(tls)),
        done_(std::move(done)) {}

  void start() {
    self_ = shared_from_this();  // alive until finished
    next();
  }

  void onEvents(uint32_t events) override {
    if (fd_ < 0) return;
    int so_error = 0;
    socklen_t len = sizeof so_error;
    ::getsockopt(fd_, SOL_SOCKET, SO_ERROR, &so_error, &len);
    if (so_error == 0 && (events & EPOLLOUT) != 0) {
      connected(takeSocket());
    } else if (so_error != 0 || (events & (EPOLLERR | EPOLLHUP)) != 0) {
      error_ = std::strerror(so_error != 0 ? so_error : ECONNREFUSED);
      closeSocket();
      next();
    }
  }

 private:
  void next() {
    while (index_ < addresses_.size()) {
      const SocketAddress& a = addresses_[index_++];
      fd_ = ::socket(a.storage.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
      if (fd_ < 0) {
        error_ = std::strerror(errno);
        continue;
      }
      if (a.storage.ss_family != AF_UNIX) {
        int one = 1;
        ::setsockopt(fd_, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
      }
      int r = ::connect(fd_, reinterpret_cast<const sockaddr*>(&a.storage), a.length);
      if (r == 0) {
        connected(takeSocket());
        return;
      }
      if (errno != EINPROGRESS) {
        error_ = std::strerror(errno);
        closeSocket();
        continue;
      }
      loop_.add(fd_, this);
      std::weak_ptr<Connect> weak = shared_from_this();
      timer_ = loop_.runAfter(timeout_, [weak] {
        if (auto self = weak.lock()) {
          self->timer_ = 0;
          self->error_ = "Connection timed out";
          self->closeSocket();
          self->next();
        }
      });
      return;
    }
    finishWith(Stream(), error_.empty() ? "no address to connect to" : error_);
  }

  // TCP is up: plaintext is done; TLS shakes hands first, within a timeout of its own.
  void connected(int fd) {
    if (!tls_) return finishWith(Stream(fd), {});
    std::string error;
    Stream stream = Stream::overTls(fd, *tls_, &error);
    if (!stream.isOpen()) return finishWith(std::move(stream), error);
    // The watcher of this attempt is done; the handshake reports to the caller itself.
    auto keep = std::move(self_);
    std::make_shared<Handshake>(loop_, std::move(stream), std::move(done_))->start(timeout_);
    loop_.defer([keep] {});  // events of this round may still name this watcher
  }

  int takeSocket() {
    int fd = fd_;
    if (timer_ != 0) loop_.cancel(timer_);
    timer_ = 0;
    loop_.remove(fd);
    fd_ = -1;
    return fd;
  }

  void closeSocket() {
    if (timer_ != 0) loop_.cancel(timer_);
    timer_ = 0;
    if (fd_ >= 0) {
      loop_.remove(fd_);
      ::close(fd_);
    }
    fd_ = -1;
  }

  // Reports from the end of the round, never from inside connectAsync() itself; this watcher
  // may still be named by events of the current round, so it lives until then too.
  void finishWith(Stream stream, const std::string& error) {
    loop_.defer([self = std::move(self_), done = std::move(done_),
                 stream = std::make_shared<Stream>(std::move(stream)),
                 error] { done(std::move(*stream), error); });
  }

  EventLoop& loop_;
  std::vector<SocketAddress> addresses_;
  std::chrono::milliseconds timeout_;
  std::shared_ptr<TlsContext> tls_;
  std::function<void(Stream, const std::string&)> done_;
  size_t index_ = 0;
  int fd_ = -1;
  EventLoop::TimerId timer_ = 0;
  std::string error_;
  std::shared_ptr<Connect> self_;
};

}  // namespace

void connectAsync(EventLoop& loop, std::vector<SocketAddress> addresses,
                  std::chrono::milliseconds timeout, std::shared_ptr<TlsContext> tls,
                  std::function<void(Stream stream, const std::string& error)> done) {
  std::make_shared<Connect>(loop, std::move(addresses), timeout, std::move(tls), std::move(done))
      ->start();
}

void handshakeAsync(EventLoop& loop, Stream stream, std::chrono::milliseconds timeout,
                    std::function<void(Stream stream, const std::string& error)> done) {
  std::make_shared<Handshake>(loop, std::move(stream), std::move(done))->start(timeout);
}

Stream connectWaiting(const Target& target, std::chrono::milliseconds timeout, std::string* error) {
  std::vector<SocketAddress> addresses = resolve(target.endpoint, error);
  if (addresses.empty()) return Stream();
  const auto deadline = Clock::now() + timeout;
  std::string last_error = "no address";
  for (const SocketAddress& a : addresses) {
    const int family = a.storage.ss_family;
    int fd = ::socket(family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0) {
      last_error = std::strerror(errno);
      continue;
    }
    int r = ::connect(fd, reinterpret_cast<const sockaddr*>(&a.storage), a.length);
    if (r != 0 && errno == EINPROGRESS) {
      if (!waitReady(fd, POLLOUT, deadline)) {
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
    if (!target.tls) {
      // A plaintext socket blocks from here on, bounded by kernel timeouts: a reply costs one
      // recv() instead of recv (EAGAIN), poll and recv.
      ::fcntl(fd, F_SETFL, ::fcntl(fd, F_GETFL) & ~O_NONBLOCK);
      return Stream(fd);
    }
    Stream stream = Stream::overTls(fd, *target.tls, error);
    if (!stream.isOpen()) return stream;
    while (true) {
      const IoResult step = stream.handshake();
      if (step == IoResult::kDone) return stream;
      if (step == IoResult::kError) {
        *error = stream.error();
        return Stream();
      }
      if (!waitReady(fd, stream.handshakeWantsWrite() ? POLLOUT : POLLIN, deadline)) {
        *error = "TLS handshake timed out";
        return Stream();
      }
    }
  }
  *error = last_error;
  return Stream();
}

}  // namespace tfproxy::io
