#include "backend/link.h"

#include <spdlog/spdlog.h>

#include <netinet/in.h>

#include <boost/asio/connect.hpp>
#include <boost/asio/post.hpp>

namespace tfproxy::backend {

namespace asio = boost::asio;
using generic = asio::generic::stream_protocol;

namespace {

constexpr std::chrono::milliseconds kMaxBackoff{5000};

// State shared by the connect operation and its timeout timer: whichever finishes first wins.
struct ConnectOp {
  using Handler = std::function<void(const boost::system::error_code&)>;
  ConnectOp(generic::socket& s, Handler h)
      : socket(s), timer(s.get_executor()), handler(std::move(h)) {}
  generic::socket& socket;
  asio::steady_timer timer;
  Handler handler;
  bool done = false;
  bool timed_out = false;
};

}  // namespace

BackendLink::BackendLink(asio::io_context& probe_context, config::Endpoint endpoint,
                         std::chrono::milliseconds connect_timeout)
    : probe_context_(probe_context),
      endpoint_(std::move(endpoint)),
      connect_timeout_(connect_timeout),
      probe_timer_(probe_context) {}

BackendLink::~BackendLink() = default;

std::string BackendLink::lastError() const {
  std::lock_guard lock(mutex_);
  return last_error_;
}

bool BackendLink::resolveNow() {
  std::string error;
  std::vector<io::SocketAddress> addresses = io::resolve(endpoint_, &error);
  if (addresses.empty()) {
    markDown(error);
    return false;
  }
  std::lock_guard lock(mutex_);
  resolved_ = std::move(addresses);
  return true;
}

bool BackendLink::start() {
  if (!resolveNow()) return false;
  generic::socket socket(probe_context_);
  // A blocking connect with the usual timeout would need a thread; the probe context is not
  // running yet, so run the asynchronous connect on it until it finishes.
  boost::system::error_code ec;
  bool finished = false;
  asyncConnect(socket, [&](const boost::system::error_code& e) {
    ec = e;
    finished = true;
  });
  probe_context_.restart();
  while (!finished && probe_context_.run_one() > 0) {
  }
  probe_context_.restart();
  return !ec;
}

void BackendLink::stop() {
  stopped_ = true;
  asio::post(probe_context_, [this] {
    probe_timer_.cancel();
    if (probe_socket_) {
      boost::system::error_code ignored;
      probe_socket_->close(ignored);
    }
  });
}

void BackendLink::asyncConnect(generic::socket& socket, ConnectHandler handler) {
  auto op = std::make_shared<ConnectOp>(socket, std::move(handler));
  std::vector<generic::endpoint> endpoints;
  {
    std::lock_guard lock(mutex_);
    for (const io::SocketAddress& a : resolved_) {
      const int protocol = a.storage.ss_family == AF_UNIX ? 0 : IPPROTO_TCP;
      endpoints.emplace_back(&a.storage, a.length, protocol);
    }
  }
  if (endpoints.empty()) {
    boost::system::error_code ec = asio::error::host_not_found;
    asio::post(socket.get_executor(), [op, ec] { op->handler(ec); });
    return;
  }
  op->timer.expires_after(connect_timeout_);
  op->timer.async_wait([op](const boost::system::error_code& ec) {
    if (ec || op->done) return;
    op->timed_out = true;
    boost::system::error_code ignored;
    op->socket.close(ignored);
  });
  asio::async_connect(socket, endpoints,
                      [this, op](const boost::system::error_code& ec, const generic::endpoint&) {
                        op->done = true;
                        op->timer.cancel();
                        boost::system::error_code result = ec;
                        if (op->timed_out) result = asio::error::timed_out;
                        if (result) {
                          markDown(result.message());
                        } else if (!up()) {
                          markUp();
                        }
                        op->handler(result);
                      });
}

void BackendLink::markDown(const std::string& reason) {
  {
    std::lock_guard lock(mutex_);
    last_error_ = reason;
  }
  bool was_up = up_.exchange(false);
  if (was_up) {
    spdlog::error(
        "backend {} is unreachable ({}); retrying with backoff, clients get errors "
        "meanwhile",
        endpoint_.toString(), reason);
  }
  if (!probing_.exchange(true) && !stopped_) {
    asio::post(probe_context_, [this] {
      backoff_ = std::chrono::milliseconds(100);
      scheduleProbe();
    });
  }
}

std::vector<io::SocketAddress> BackendLink::addresses() const {
  std::lock_guard lock(mutex_);
  return resolved_;
}

void BackendLink::markUp() {
  if (!up_.exchange(true)) {
    spdlog::info("backend {} is reachable again", endpoint_.toString());
  }
}

void BackendLink::scheduleProbe() {
  if (stopped_) return;
  probe_timer_.expires_after(backoff_);
  probe_timer_.async_wait([this](const boost::system::error_code& ec) {
    if (!ec) probe();
  });
  backoff_ = std::min(backoff_ * 2, kMaxBackoff);
}

// Runs on the probe context. One probe at a time. Name resolution happens here only, so
// sessions never block on DNS.
void BackendLink::probe() {
  if (stopped_) return;
  if (!resolveNow()) {
    scheduleProbe();
    return;
  }
  probe_socket_ = std::make_shared<generic::socket>(probe_context_);
  auto socket = probe_socket_;
  asyncConnect(*socket, [this, socket](const boost::system::error_code& ec) {
    boost::system::error_code ignored;
    socket->close(ignored);
    if (ec) {
      // markDown() (called by asyncConnect) logs the first failure only.
      scheduleProbe();
      return;
    }
    probing_ = false;
  });
}

}  // namespace tfproxy::backend
