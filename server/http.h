// A small HTTP/1.1 server for operations: the probes on --health-port, and /metrics, the admin
// page and its API on --http-port. One request per connection (Connection: close), heads up to
// 16 KiB, bodies up to 16 MiB (a library's code). Runs on the main context; nothing on the
// forwarding path. What each path answers is server/operations.h's business.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/steady_timer.hpp>

#include "io/http.h"

namespace tfproxy::server {

using io::HttpRequest;
using io::HttpResponse;

class HttpEndpoint {
 public:
  // Answers one request; `respond` may be called later and from any thread, exactly once.
  using Handler =
      std::function<void(const HttpRequest& request, std::function<void(HttpResponse)> respond)>;

  HttpEndpoint(boost::asio::io_context& context, Handler handler);

  // Binds and listens on `bind`:`port`; false with `error` set (naming `flag`) when it cannot.
  bool listen(const std::string& bind, uint16_t port, const char* flag, std::string* error);
  uint16_t port() const { return port_; }
  void stop();

 private:
  void accept();

  boost::asio::io_context& context_;
  Handler handler_;
  boost::asio::ip::tcp::acceptor acceptor_;
  boost::asio::steady_timer retry_;
  uint16_t port_ = 0;
};

}  // namespace tfproxy::server
