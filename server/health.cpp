#include "server/health.h"

#include <boost/asio/read_until.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/streambuf.hpp>
#include <boost/asio/write.hpp>

#include "server/listen.h"

namespace tfproxy::server {

namespace asio = boost::asio;
using tcp = asio::ip::tcp;

namespace {

// A probe that has not sent its request line within this is dropped.
constexpr std::chrono::seconds kRequestTimeout{5};
// Longest request head read.
constexpr size_t kMaxRequest = 8192;

std::string response(int status, const char* reason, const std::string& body) {
  return "HTTP/1.1 " + std::to_string(status) + " " + reason +
         "\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Length: " +
         std::to_string(body.size()) + "\r\nConnection: close\r\n\r\n" + body;
}

// One probe's connection: read the request head, answer, close.
struct Exchange : std::enable_shared_from_this<Exchange> {
  Exchange(tcp::socket s, std::function<std::string()>& not_ready)
      : socket(std::move(s)),
        timer(socket.get_executor()),
        request(kMaxRequest),
        not_ready(not_ready) {}

  void start() {
    auto self = shared_from_this();
    timer.expires_after(kRequestTimeout);
    timer.async_wait([self](const boost::system::error_code& ec) {
      if (!ec) self->socket.close();
    });
    asio::async_read_until(
        socket, request, "\r\n", [self](const boost::system::error_code& ec, size_t) {
          if (ec) {
            self->timer.cancel();
            return;
          }
          std::istream in(&self->request);
          std::string line;
          std::getline(in, line);
          if (!line.empty() && line.back() == '\r') line.pop_back();
          self->answer = HealthEndpoint::respond(line, self->not_ready());
          asio::async_write(self->socket, asio::buffer(self->answer),
                            [self](const boost::system::error_code&, size_t) {
                              self->timer.cancel();
                              boost::system::error_code ignored;
                              self->socket.shutdown(tcp::socket::shutdown_both, ignored);
                              self->socket.close(ignored);
                            });
        });
  }

  tcp::socket socket;
  asio::steady_timer timer;
  asio::streambuf request;
  std::function<std::string()>& not_ready;
  std::string answer;
};

}  // namespace

HealthEndpoint::HealthEndpoint(asio::io_context& context, std::function<std::string()> not_ready)
    : not_ready_(std::move(not_ready)), acceptor_(context), retry_(context) {}

std::string HealthEndpoint::respond(std::string_view line, const std::string& not_ready) {
  const size_t space = line.find(' ');
  const std::string_view method = line.substr(0, space);
  std::string_view path =
      space == std::string_view::npos ? std::string_view() : line.substr(space + 1);
  path = path.substr(0, path.find(' '));
  path = path.substr(0, path.find('?'));
  if (method != "GET" && method != "HEAD") return response(405, "Method Not Allowed", "GET only\n");
  if (path == "/healthz") return response(200, "OK", "ok\n");
  if (path == "/readyz") {
    if (not_ready.empty()) return response(200, "OK", "ready\n");
    return response(503, "Service Unavailable", "not ready: " + not_ready + "\n");
  }
  return response(404, "Not Found", "GET /healthz or /readyz\n");
}

bool HealthEndpoint::listen(const std::string& bind, uint16_t port, std::string* error) {
  port_ = listenOn(acceptor_, bind, port, error);
  if (port_ == 0) {
    *error += " (--health-port)";
    return false;
  }
  accept();
  return true;
}

void HealthEndpoint::stop() {
  boost::system::error_code ignored;
  acceptor_.close(ignored);
  retry_.cancel();
}

void HealthEndpoint::accept() {
  acceptor_.async_accept([this](const boost::system::error_code& ec, tcp::socket socket) {
    if (ec == asio::error::operation_aborted) return;
    if (!ec) {
      std::make_shared<Exchange>(std::move(socket), not_ready_)->start();
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
