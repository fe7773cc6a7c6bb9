// HTTP/1.1 as far as tfproxy's small servers need it -- the operations endpoints
// (server/http.h) and the debugger's target (scripting/v8/inspector.h): a request head parsed,
// queries and forms decoded, a response written. Sans I/O.
#pragma once

#include <map>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace tfproxy::io {

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

// Reads a request head ("GET /x?y=1 HTTP/1.1\r\nName: value\r\n..."): false if malformed.
bool parseHttpHead(std::string_view head, HttpRequest* request);

}  // namespace tfproxy::io
