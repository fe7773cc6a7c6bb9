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

namespace tfproxy::server {

struct HttpRequest {
  std::string method;                          // as sent ("GET")
  std::string path;                            // without the query, percent-decoded
  std::map<std::string, std::string> query;    // decoded
  std::map<std::string, std::string> headers;  // names lower-cased
  std::string body;
  std::string peer;  // ip:port

  // The value of a query parameter, or `otherwise`.
  std::string param(const std::string& name, std::string otherwise = {}) const {
    auto it = query.find(name);
    return it == query.end() ? otherwise : it->second;
  }
};

struct HttpResponse {
  int status = 200;
  std::string content_type = "text/plain; charset=utf-8";
  std::string body;
  std::vector<std::pair<std::string, std::string>> headers;  // besides the standard ones

  static HttpResponse text(int status, std::string body) {
    return {status, "text/plain; charset=utf-8", std::move(body), {}};
  }
  static HttpResponse json(int status, std::string body) {
    return {status, "application/json", std::move(body), {}};
  }
  // The whole response as sent: status line, headers, body (none for HEAD).
  std::string serialize(bool head) const;
};

// Decodes %XX and '+' (in queries and form bodies); false if an escape is malformed.
bool percentDecode(std::string_view in, std::string* out, bool plus_is_space);
// Parses "a=1&b=2" into `out` (decoded); malformed pairs are skipped.
void parseQuery(std::string_view query, std::map<std::string, std::string>* out);

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

  // Reads the request head ("GET /x?y=1 HTTP/1.1\r\nName: value\r\n..."): false if malformed.
  static bool parseHead(std::string_view head, HttpRequest* request);

 private:
  void accept();

  boost::asio::io_context& context_;
  Handler handler_;
  boost::asio::ip::tcp::acceptor acceptor_;
  boost::asio::steady_timer retry_;
  uint16_t port_ = 0;
};

}  // namespace tfproxy::server
