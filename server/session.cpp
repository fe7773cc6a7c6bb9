#include "server/session.h"

#include <spdlog/spdlog.h>

#include <boost/asio/post.hpp>
#include <boost/asio/write.hpp>

#include "backend/link.h"
#include "server/errors.h"
#include "server/intercept.h"
#include "server/shared_connection.h"
#include "server/worker.h"

namespace tfproxy::server {

namespace asio = boost::asio;
using tcp = asio::ip::tcp;

namespace {

// Replies held for a client that does not read before the backend is no longer read either
// (Redis then buffers them, under its own output limits).
constexpr size_t kClientOutHighWater = 8 * 1024 * 1024;
// Commands held for a backend that does not read before the client is no longer read.
constexpr size_t kBackendOutHighWater = 8 * 1024 * 1024;
// Complete commands held while the gate or an intercepted command holds the pipeline back.
constexpr size_t kHeldInputHighWater = 4 * 1024 * 1024;
// Write buffers above this size are given back after use.
constexpr size_t kKeepCapacity = 1024 * 1024;

void releaseIfLarge(std::string* s) {
  if (s->capacity() > kKeepCapacity) std::string().swap(*s);
}

}  // namespace

Session::Session(Worker& worker, tcp::socket client, const SessionServices& services)
    : worker_(worker),
      services_(services),
      client_(std::move(client)),
      backend_(worker.context()),
      ticket_(*services.gate, worker.index()),
      pipeline_(*services.index, ticket_, services.limits) {
  boost::system::error_code ec;
  auto remote = client_.remote_endpoint(ec);
  if (!ec) peer_ = remote.address().to_string() + ":" + std::to_string(remote.port());
  client_.set_option(tcp::no_delay(true), ec);
  client_.non_blocking(true, ec);
}

Session::~Session() = default;

void Session::start() {
  if (services_.multiplex) {
    backend_state_ = BackendState::kShared;
    pipeline_.setShared(true);
    readClient();
    return;
  }
  if (services_.link->up()) {
    connectBackend();
    return;
  }
  backend_state_ = BackendState::kUnavailable;
  pipeline_.setUnavailable(errors::kBackendUnavailablePrefix + services_.link->lastError());
  readClient();
}

void Session::connectBackend() {
  backend_state_ = BackendState::kConnecting;
  backend_ = tcp::socket(worker_.context());
  auto self = shared_from_this();
  services_.link->asyncConnect(backend_, [self](const boost::system::error_code& ec) {
    if (self->closed_) return;
    self->pipeline_.setShared(false);
    if (ec) {
      self->backend_state_ = BackendState::kUnavailable;
      self->pipeline_.setUnavailable(errors::kBackendUnavailablePrefix + ec.message());
    } else {
      self->backend_state_ = BackendState::kConnected;
      boost::system::error_code ignored;
      self->backend_.non_blocking(true, ignored);
      self->pipeline_.setUnavailable({});
      self->readBackend();
    }
    self->process();
    self->readClient();
  });
}

bool Session::clientBackpressure() const {
  if (to_backend_.size() - backend_written_ > kBackendOutHighWater) return true;
  // Replies already owed are bounded by not taking more requests while they pile up.
  if (to_client_.size() - client_written_ > kClientOutHighWater) return true;
  return (waiting_for_gate_ || pipeline_.holdingInput()) && client_in_.size() > kHeldInputHighWater;
}

bool Session::backendBackpressure() const {
  return to_client_.size() - client_written_ > kClientOutHighWater;
}

void Session::readClient() {
  if (reading_client_ || closed_ || close_after_flush_) return;
  if (backend_state_ == BackendState::kConnecting || clientBackpressure()) return;
  reading_client_ = true;
  auto space = client_in_.prepare();
  auto self = shared_from_this();
  client_.async_read_some(asio::buffer(space.data(), space.size()),
                          [self](const boost::system::error_code& ec, size_t n) {
                            self->onClientRead(ec, n);
                          });
}

void Session::onClientRead(const boost::system::error_code& ec, size_t n) {
  reading_client_ = false;
  if (closed_) return;
  if (ec) {
    // The client is gone (or reset): like Redis, drop whatever it was owed and release its
    // backend connection now, which also ends a blocking command it was waiting in.
    close();
    return;
  }
  client_in_.commit(n);
  process();
  readClient();
}

void Session::pinWhenReady() {
  if (!pin_requested_ || closed_ || pipeline_.awaitingBackend()) return;
  pin_requested_ = false;
  connectBackend();
}

void Session::process() {
  if (closed_ || close_after_flush_ || pin_requested_ ||
      backend_state_ == BackendState::kConnecting) {
    return;
  }
  if (backend_state_ == BackendState::kShared) {
    if (services_.link->up()) {
      if (pipeline_.unavailable()) pipeline_.setUnavailable({});
    } else if (!pipeline_.unavailable()) {
      pipeline_.setUnavailable(errors::kBackendUnavailablePrefix + services_.link->lastError());
    }
  }
  if (backend_state_ == BackendState::kUnavailable && services_.link->up() && pipeline_.idle() &&
      !client_in_.empty()) {
    connectBackend();  // the backend is back; nothing was sent before, so no state is lost
    return;
  }
  const bool shared = backend_state_ == BackendState::kShared;
  auto r = pipeline_.onClientInput(client_in_.view(), shared ? &shared_out_ : &to_backend_,
                                   &to_client_);
  client_in_.consume(r.consumed);
  if (shared && !shared_out_.empty()) {
    worker_.shared().send(shared_from_this(), shared_out_, pipeline_.takeExpectedReplies());
    shared_out_.clear();
  }
  switch (r.stop) {
    case Pipeline::Stop::kPin:
      pin_requested_ = true;
      pinWhenReady();
      break;
    case Pipeline::Stop::kNeedMore:
      break;
    case Pipeline::Stop::kPaused:
      if (!waiting_for_gate_) {
        waiting_for_gate_ = true;
        worker_.waitForGate(shared_from_this());
      }
      break;
    case Pipeline::Stop::kBarrier:
      dispatchIntercepted();
      break;
    case Pipeline::Stop::kClose:
      close_after_flush_ = true;
      if (!pipeline_.protocolError().empty()) {
        spdlog::debug("client {}: closing after '{}'", peer_, pipeline_.protocolError());
      }
      break;
  }
  flushBackend();
  flushClient();
  maybeFinish();
}

void Session::onGateOpened() {
  waiting_for_gate_ = false;
  process();
  readClient();
}

void Session::onGateClosing() { readBackend(); }

void Session::dispatchIntercepted() {
  const std::vector<std::string>* argv = pipeline_.readyIntercepted();
  if (argv == nullptr) return;
  if (services_.intercept == nullptr) {
    onInterceptDone("-ERR tfproxy: no handler for intercepted command\r\n");
    return;
  }
  ClientContext context;
  context.protocol = pipeline_.protocol();
  context.db = pipeline_.db();
  context.user = pipeline_.user();
  context.password = pipeline_.password();
  context.in_multi = pipeline_.inMulti();
  auto self = shared_from_this();
  services_.intercept->run(*argv, context, [self](std::string reply) {
    asio::post(self->worker_.context(),
               [self, reply = std::move(reply)]() mutable { self->onInterceptDone(std::move(reply)); });
  });
}

void Session::onInterceptDone(std::string reply) {
  if (closed_) return;
  pipeline_.completeIntercepted(std::move(reply), &to_client_);
  flushClient();
  process();
  readClient();
}

void Session::readBackend() {
  if (reading_backend_ || closed_ || backend_state_ != BackendState::kConnected) return;
  // A slow client holds back backend reads, except while the gate drains: the answers it waits
  // for must be read.
  if (backendBackpressure() && !services_.gate->closed()) return;
  reading_backend_ = true;
  auto space = backend_in_.prepare();
  auto self = shared_from_this();
  backend_.async_read_some(asio::buffer(space.data(), space.size()),
                           [self](const boost::system::error_code& ec, size_t n) {
                             self->onBackendRead(ec, n);
                           });
}

void Session::onBackendRead(const boost::system::error_code& ec, size_t n) {
  reading_backend_ = false;
  if (closed_ || backend_state_ != BackendState::kConnected) return;
  if (ec) {
    backendLost(ec == asio::error::eof ? "closed by the backend" : ec.message());
    return;
  }
  backend_in_.commit(n);
  size_t used = pipeline_.onBackendInput(backend_in_.view(), &to_client_);
  if (used == std::string_view::npos) {
    spdlog::error("client {}: the backend sent a malformed reply", peer_);
    backendLost("malformed reply");
    return;
  }
  backend_in_.consume(used);
  if (backend_in_.empty()) backend_in_.shrink(kKeepCapacity);
  dispatchIntercepted();
  flushClient();
  maybeFinish();
  readBackend();
}

void Session::onSharedReplies(std::string_view frames) {
  if (closed_) return;
  size_t used = pipeline_.onBackendInput(frames, &to_client_);
  if (used != frames.size()) {
    backendLost("malformed reply");
    return;
  }
  dispatchIntercepted();
  flushClient();
  maybeFinish();
  pinWhenReady();
}

void Session::onSharedLost() { backendLost("shared connection lost"); }

void Session::backendLost(const std::string& why) {
  if (closed_) return;
  spdlog::debug("client {}: backend connection lost ({})", peer_, why);
  backend_state_ = BackendState::kUnavailable;
  boost::system::error_code ignored;
  backend_.close(ignored);
  pipeline_.onBackendLost(errors::kBackendLost, &to_client_);
  close_after_flush_ = true;
  flushClient();
  maybeFinish();
}

// Writes as much as the socket takes now; the rest waits for writability. Most replies go out
// here without any asynchronous operation at all.
bool Session::writeNow(tcp::socket& socket, std::string* pending, size_t* offset) {
  while (*offset < pending->size()) {
    boost::system::error_code ec;
    size_t n = socket.write_some(
        asio::buffer(pending->data() + *offset, pending->size() - *offset), ec);
    if (ec == asio::error::would_block) return true;
    if (ec) return false;
    *offset += n;
  }
  pending->clear();
  *offset = 0;
  releaseIfLarge(pending);
  return true;
}

void Session::flushClient() {
  if (writing_client_ || to_client_.empty() || closed_) return;
  if (!writeNow(client_, &to_client_, &client_written_)) {
    close();
    return;
  }
  if (to_client_.empty()) {
    readBackend();  // both may have been held back for this client
    readClient();
    maybeFinish();
    return;
  }
  writing_client_ = true;
  auto self = shared_from_this();
  client_.async_wait(tcp::socket::wait_write, [self](const boost::system::error_code& ec) {
    self->writing_client_ = false;
    if (self->closed_) return;
    if (ec) {
      self->close();
      return;
    }
    self->flushClient();
  });
}

void Session::flushBackend() {
  if (writing_backend_ || to_backend_.empty() || closed_ ||
      backend_state_ != BackendState::kConnected) {
    return;
  }
  if (!writeNow(backend_, &to_backend_, &backend_written_)) {
    backendLost("write failed");
    return;
  }
  if (to_backend_.empty()) {
    readClient();  // it may have been held back for this backend
    return;
  }
  writing_backend_ = true;
  auto self = shared_from_this();
  backend_.async_wait(tcp::socket::wait_write, [self](const boost::system::error_code& ec) {
    self->writing_backend_ = false;
    if (self->closed_) return;
    if (ec) {
      self->backendLost(ec.message());
      return;
    }
    self->flushBackend();
  });
}

void Session::maybeFinish() {
  if (close_after_flush_ && pipeline_.idle() && to_client_.empty()) close();
}

void Session::shutdown() {
  if (closed_) return;
  close_after_flush_ = true;
  maybeFinish();
}

void Session::close() {
  if (closed_) return;
  closed_ = true;
  boost::system::error_code ignored;
  client_.close(ignored);
  backend_.close(ignored);
  pipeline_.abandon();
  worker_.remove(this);
}

}  // namespace tfproxy::server
