// One connected socket as tfproxy reads and writes it, plaintext or TLS: every connection --
// client sessions and each kind of backend connection -- goes through this type, so TLS has no
// code path of its own anywhere else.
//
// Two ways of use:
//  - edge-triggered, on an event loop (sessions, the shared and callAsync connections):
//    read()/write() never block; a TLS stream may need the opposite direction's edge to go on
//    (a handshake message, a key update), so for TLS every edge counts for both directions
//    (readableOn/writableOn);
//  - waiting, from one reading thread and any writing threads (SyncConnection): receive() and
//    sendAll(). A plaintext socket blocks, bounded by the kernel timeouts its owner sets; a TLS
//    socket stays non-blocking and waits in poll() with the lock released, so that a writer can
//    send while the reader waits (the notification connection publishes while it listens).
#pragma once

#include <sys/epoll.h>

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <vector>

#include "config/options.h"
#include "io/buffer.h"
#include "io/socket_io.h"
#include "io/tls.h"

namespace tfproxy::io {

class EventLoop;
struct SocketAddress;

// Where to connect and how: an address and, for TLS, the context to connect with.
struct Target {
  config::Endpoint endpoint;
  std::shared_ptr<TlsContext> tls;  // null: plaintext
};

class Stream {
 public:
  Stream();
  // A plaintext stream over the connected socket `fd` (owned from now on).
  explicit Stream(int fd);
  // A TLS stream over `fd` with `tls`' settings, its handshake still to come (handshake()); a
  // closed stream (and `fd` closed) with `error` set when OpenSSL cannot make one.
  static Stream overTls(int fd, const TlsContext& tls, std::string* error);
  ~Stream();
  Stream(Stream&& other) noexcept;
  Stream& operator=(Stream&& other) noexcept;
  Stream(const Stream&) = delete;
  Stream& operator=(const Stream&) = delete;

  int fd() const { return fd_; }
  bool isOpen() const { return fd_ >= 0; }
  // Input already read from the socket and held by OpenSSL (it may come with a handshake's last
  // message): no epoll edge will announce it, so whoever takes the stream over reads at once.
  bool buffered() const;
  // Closes the socket (TLS: without waiting for the peer's close_notify).
  void close();

  // Edge-triggered use. As readSome()/writeSome() (socket_io.h); error() tells why of kError.
  IoResult read(Buffer* in, bool hung_up, bool* drained) {
    if (tls_) return tlsRead(in, hung_up, drained);
    const IoResult r = readSome(fd_, in, hung_up, drained);
    if (r == IoResult::kError) noteErrno();
    return r;
  }
  IoResult write(std::string* out, size_t* written) {
    if (tls_) return tlsWrite(out, written);
    const IoResult r = writeSome(fd_, out, written);
    if (r == IoResult::kError) noteErrno();
    return r;
  }
  // Whether an epoll event lets a stalled read / write go on.
  bool readableOn(uint32_t events) const {
    return tls_ != nullptr || (events & (EPOLLIN | EPOLLRDHUP | EPOLLHUP | EPOLLERR)) != 0;
  }
  bool writableOn(uint32_t events) const { return tls_ != nullptr || (events & EPOLLOUT) != 0; }
  // One non-blocking step of the TLS handshake: kDone when finished (at once for plaintext),
  // kWouldBlock to wait for the next edge, kError with error() set.
  IoResult handshake();
  // After handshake() said kWouldBlock: whether it waits to write (else to read).
  bool handshakeWantsWrite() const { return handshake_wants_write_; }

  // Waiting use (see above). Failures are told to the caller, never kept in the stream: its
  // reader and writers are different threads.
  enum class Wait { kDone, kClosed, kTimedOut, kFailed };
  // Reads what arrives within `timeout` (TLS; 0 waits as long as it takes) into `buf`: kDone
  // with `*got` bytes, kClosed once the peer closed, or a failure with `error` set. It first
  // polls without sleeping for up to `spin`: a reply due within microseconds is read without
  // the thread being put to sleep and woken again.
  Wait receive(char* buf, size_t size, std::chrono::milliseconds timeout, size_t* got,
               std::string* error, std::chrono::microseconds spin = {});
  // Sends all of `bytes`.
  Wait sendAll(std::string_view bytes, std::chrono::milliseconds timeout, std::string* error);
  // True when the peer has closed the connection (checked without blocking).
  bool peerClosed();

  // Why the last edge-triggered operation or handshake failed, readable ("Connection reset by
  // peer", "certificate verify failed: ...").
  const std::string& error() const { return failure_; }

 private:
  struct Tls;
  Stream(int fd, ssl_st* ssl);
  IoResult tlsRead(Buffer* in, bool hung_up, bool* drained);
  IoResult tlsWrite(std::string* out, size_t* written);
  // failure_ from errno, after a plaintext read or write failed.
  void noteErrno();

  int fd_ = -1;
  std::unique_ptr<Tls> tls_;
  std::string failure_;
  bool handshake_wants_write_ = false;
};

// Opens a non-blocking connection to the first of `addresses` that answers within `timeout`, on
// `loop`'s thread, and completes the TLS handshake when `tls` is set (within a timeout of its
// own). `done` runs at the end of a later round with the stream (TCP_NODELAY set), or a closed
// one and a reason. The caller registers the socket itself.
void connectAsync(EventLoop& loop, std::vector<SocketAddress> addresses,
                  std::chrono::milliseconds timeout, std::shared_ptr<TlsContext> tls,
                  std::function<void(Stream stream, const std::string& error)> done);

// Runs the handshake of `stream` on `loop` (registering its socket meanwhile): `done` gets the
// stream once it finished, or a closed one and the reason after a failure or `timeout`.
void handshakeAsync(EventLoop& loop, Stream stream, std::chrono::milliseconds timeout,
                    std::function<void(Stream stream, const std::string& error)> done);

// A connected stream to `target` within `timeout`, TLS handshake done, blocking the calling
// thread; a closed one with `error` set on failure. The socket blocks (plaintext) or stays
// non-blocking (TLS), as the waiting use above expects.
Stream connectWaiting(const Target& target, std::chrono::milliseconds timeout, std::string* error);

}  // namespace tfproxy::io
