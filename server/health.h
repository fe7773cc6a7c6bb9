// Container probes over HTTP on --health-port: GET /healthz answers 200 while the process serves;
// GET /readyz answers 200 once tfproxy can do its work (the backend reachable, the stored
// libraries loaded) and 503 with the reason otherwise. Runs on the main context; nothing on the
// forwarding path.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/steady_timer.hpp>

namespace tfproxy::server {

class HealthEndpoint {
 public:
  // `not_ready` returns why tfproxy is not ready, or an empty string when it is.
  HealthEndpoint(boost::asio::io_context& context, std::function<std::string()> not_ready);

  // Binds and listens on `bind`:`port`; false with `error` set when it cannot.
  bool listen(const std::string& bind, uint16_t port, std::string* error);
  uint16_t port() const { return port_; }
  void stop();

  // The response to one request line ("GET /readyz HTTP/1.1"), status line to body.
  static std::string respond(std::string_view request_line, const std::string& not_ready);

 private:
  void accept();

  std::function<std::string()> not_ready_;
  boost::asio::ip::tcp::acceptor acceptor_;
  boost::asio::steady_timer retry_;
  uint16_t port_ = 0;
};

}  // namespace tfproxy::server
