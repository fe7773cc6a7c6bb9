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

const char* reason(int status) {
  switch (status) {
    case 200:
      return "OK";
    case 204:
      return "No Content";
    case 400:
      return "Bad Request";
    case 401:
      return "Unauthorized";
    case 403:
      return "Forbidden";
    case 404:
      return "Not Found";
    case 405:
      return "Method Not Allowed";
    case 413:
      return "Payload Too Large";
    case 503:
      return "Service Unavailable";
    default:
      return status < 400 ? "OK" : "Error";
  }
}

int hexValue(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

std::string lowerAscii(std::string_view s) {
  std::string out(s);
  for (char& c : out) {
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c + 32);
  }
  return out;
}

std::string_view trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t' || s.back() == '\r'))
    s.remove_suffix(1);
  return s;
}

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
    if (!HttpEndpoint::parseHead(head, &request)) {
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

std::string HttpResponse::serialize(bool head) const {
  std::string out = "HTTP/1.1 " + std::to_string(status) + " " + reason(status) + "\r\n";
  out += "Content-Type: " + content_type + "\r\n";
  out += "Content-Length: " + std::to_string(body.size()) + "\r\n";
  out += "Cache-Control: no-store\r\nConnection: close\r\n";
  for (const auto& [name, value] : headers) out += name + ": " + value + "\r\n";
  out += "\r\n";
  if (!head) out += body;
  return out;
}

bool percentDecode(std::string_view in, std::string* out, bool plus_is_space) {
  out->clear();
  for (size_t i = 0; i < in.size(); ++i) {
    const char c = in[i];
    if (c == '%') {
      if (i + 2 >= in.size()) return false;
      const int high = hexValue(in[i + 1]);
      const int low = hexValue(in[i + 2]);
      if (high < 0 || low < 0) return false;
      out->push_back(static_cast<char>(high * 16 + low));
      i += 2;
    } else if (c == '+' && plus_is_space) {
      out->push_back(' ');
    } else {
      out->push_back(c);
    }
  }
  return true;
}

void parseQuery(std::string_view query, std::map<std::string, std::string>* out) {
  while (!query.empty()) {
    const size_t amp = query.find('&');
    const std::string_view pair = query.substr(0, amp);
    query = amp == std::string_view::npos ? std::string_view() : query.substr(amp + 1);
    const size_t eq = pair.find('=');
    std::string name;
    std::string value;
    if (!percentDecode(pair.substr(0, eq), &name, true)) continue;
    if (eq != std::string_view::npos && !percentDecode(pair.substr(eq + 1), &value, true)) continue;
    if (!name.empty()) (*out)[name] = value;
  }
}

bool HttpEndpoint::parseHead(std::string_view head, HttpRequest* request) {
  size_t eol = head.find("\r\n");
  if (eol == std::string_view::npos) return false;
  const std::string_view line = head.substr(0, eol);
  const size_t first = line.find(' ');
  const size_t second = first == std::string_view::npos ? first : line.find(' ', first + 1);
  if (first == std::string_view::npos || second == std::string_view::npos) return false;
  request->method = std::string(line.substr(0, first));
  const std::string_view target = line.substr(first + 1, second - first - 1);
  const size_t question = target.find('?');
  if (!percentDecode(target.substr(0, question), &request->path, false)) return false;
  if (request->path.empty() || request->path.front() != '/') return false;
  if (question != std::string_view::npos) parseQuery(target.substr(question + 1), &request->query);
  head.remove_prefix(eol + 2);
  while (!head.empty()) {
    eol = head.find("\r\n");
    const std::string_view header = head.substr(0, eol);
    head = eol == std::string_view::npos ? std::string_view() : head.substr(eol + 2);
    if (header.empty()) break;
    const size_t colon = header.find(':');
    if (colon == std::string_view::npos) return false;
    request->headers[lowerAscii(trim(header.substr(0, colon)))] =
        std::string(trim(header.substr(colon + 1)));
  }
  return true;
}

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
