#include "server/http.h"

#include <boost/asio/post.hpp>
#include <boost/asio/read.hpp>
#include <boost/asio/read_until.hpp>
#include <boost/asio/streambuf.hpp>
#include <boost/asio/write.hpp>

#include "server/listen.h"

namespace tfproxy::server {

namespace asio = boost::asio;
using tcp = asio::ip::tcp;

namespace {

// A request must be complete within this, or the connection is dropped.
constexpr std::chrono::seconds kRequestTimeout{10};
constexpr size_t kMaxHead = 16 * 1024;
constexpr size_t kMaxBody = 16 * 1024 * 1024;

// One connection: read the head (and the body), hand the request over, write the answer, close.
struct Exchange : std::enable_shared_from_this<Exchange> {
  Exchange(tcp::socket s, HttpEndpoint::Handler& handler)
      : socket(std::move(s)),
        timer(socket.get_executor()),
        input(kMaxHead + kMaxBody),
        handler(handler) {}

  void start() {
    auto self = shared_from_this();
    boost::system::error_code ignored;
    const tcp::endpoint remote = socket.remote_endpoint(ignored);
    request.peer = remote.address().to_string() + ":" + std::to_string(remote.port());
    timer.expires_after(kRequestTimeout);
    timer.async_wait([self](const boost::system::error_code& ec) {
      if (!ec) self->socket.close();
    });
    asio::async_read_until(socket, input, "\r\n\r\n",
                           [self](const boost::system::error_code& ec, size_t head_bytes) {
                             self->onHead(ec, head_bytes);
                           });
  }

  void onHead(const boost::system::error_code& ec, size_t head_bytes) {
    if (ec || head_bytes > kMaxHead) {
      if (!ec) return finish(HttpResponse::text(400, "request head too large\n"));
      timer.cancel();
      return;
    }
    const std::string head(asio::buffers_begin(input.data()),
                           asio::buffers_begin(input.data()) + static_cast<long>(head_bytes));
    input.consume(head_bytes);
    if (!io::parseHttpHead(head, &request)) {
      return finish(HttpResponse::text(400, "malformed request\n"));
    }
    size_t length = 0;
    if (auto it = request.headers.find("content-length"); it != request.headers.end()) {
      try {
        length = std::stoul(it->second);
      } catch (...) {
        return finish(HttpResponse::text(400, "malformed Content-Length\n"));
      }
    }
    if (length > kMaxBody) return finish(HttpResponse::text(413, "request body too large\n"));
    const size_t have = std::min(length, input.size());
    request.body.assign(asio::buffers_begin(input.data()),
                        asio::buffers_begin(input.data()) + static_cast<long>(have));
    input.consume(have);
    if (have == length) return handle();
    request.body.resize(length);
    auto self = shared_from_this();
    asio::async_read(socket, asio::buffer(request.body.data() + have, length - have),
                     [self](const boost::system::error_code& read_ec, size_t) {
                       if (read_ec) {
                         self->timer.cancel();
                         return;
                       }
                       self->handle();
                     });
  }

  void handle() {
    auto self = shared_from_this();
    handler(request, [self](HttpResponse response) {
      asio::post(self->socket.get_executor(),
                 [self, response = std::move(response)] { self->finish(response); });
    });
  }

  void finish(const HttpResponse& response) {
    answer = response.serialize(request.method == "HEAD");
    auto self = shared_from_this();
    asio::async_write(socket, asio::buffer(answer),
                      [self](const boost::system::error_code&, size_t) {
                        self->timer.cancel();
                        boost::system::error_code ignored;
                        self->socket.shutdown(tcp::socket::shutdown_both, ignored);
                        self->socket.close(ignored);
                      });
  }

  tcp::socket socket;
  asio::steady_timer timer;
  asio::streambuf input;
  HttpEndpoint::Handler& handler;
  HttpRequest request;
  std::string answer;
};

}  // namespace

HttpEndpoint::HttpEndpoint(asio::io_context& context, Handler handler)
    : context_(context), handler_(std::move(handler)), acceptor_(context), retry_(context) {}

bool HttpEndpoint::listen(const std::string& bind, uint16_t port, const char* flag,
                          std::string* error) {
  port_ = listenOn(acceptor_, bind, port, error);
  if (port_ == 0) {
    *error += std::string(" (") + flag + ")";
    return false;
  }
  accept();
  return true;
}

void HttpEndpoint::stop() {
  boost::system::error_code ignored;
  acceptor_.close(ignored);
  retry_.cancel();
}

void HttpEndpoint::accept() {
  acceptor_.async_accept([this](const boost::system::error_code& ec, tcp::socket socket) {
    if (ec == asio::error::operation_aborted) return;
    if (!ec) {
      std::make_shared<Exchange>(std::move(socket), handler_)->start();
      return accept();
    }
    // Out of descriptors, say: try again after a pause rather than at once.
    retry_.expires_after(std::chrono::milliseconds(100));
    retry_.async_wait([this](const boost::system::error_code& wait_ec) {
      if (!wait_ec) accept();
    });
  });
}

}  // namespace tfproxy::server
