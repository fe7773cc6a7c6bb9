#include "io/http.h"

#include <gtest/gtest.h>

namespace tfproxy::io {
namespace {

TEST(HttpTest, ParsesTheRequestHead) {
  HttpRequest r;
  ASSERT_TRUE(
      parseHttpHead("GET /api/state?x=1&name=a%20b+c&flag HTTP/1.1\r\nHost: localhost\r\n"
                    "Content-Length:  12 \r\nX-Mixed-Case: Value\r\n\r\n",
                    &r));
  EXPECT_EQ(r.method, "GET");
  EXPECT_EQ(r.path, "/api/state");
  EXPECT_EQ(r.param("x"), "1");
  EXPECT_EQ(r.param("name"), "a b c");
  EXPECT_EQ(r.param("flag", "unset"), "");
  EXPECT_EQ(r.param("missing", "unset"), "unset");
  EXPECT_EQ(r.headers["host"], "localhost");
  EXPECT_EQ(r.headers["content-length"], "12");
  EXPECT_EQ(r.headers["x-mixed-case"], "Value");
}

TEST(HttpTest, RefusesMalformedHeads) {
  HttpRequest r;
  EXPECT_FALSE(parseHttpHead("garbage\r\n\r\n", &r));
  EXPECT_FALSE(parseHttpHead("GET nopath HTTP/1.1\r\n\r\n", &r));
  EXPECT_FALSE(parseHttpHead("GET /%4 HTTP/1.1\r\n\r\n", &r));
  EXPECT_FALSE(parseHttpHead("GET /%zz HTTP/1.1\r\n\r\n", &r));
  EXPECT_FALSE(parseHttpHead("GET / HTTP/1.1\r\nno colon here\r\n\r\n", &r));
}

TEST(HttpTest, PercentDecoding) {
  std::string out;
  EXPECT_TRUE(percentDecode("a%2Fb%3d+c", &out, true));
  EXPECT_EQ(out, "a/b= c");
  EXPECT_TRUE(percentDecode("a+b", &out, false));
  EXPECT_EQ(out, "a+b");
  EXPECT_FALSE(percentDecode("%", &out, true));
  EXPECT_FALSE(percentDecode("%a", &out, true));
  EXPECT_FALSE(percentDecode("abc%g1", &out, true));
}

TEST(HttpTest, SerializesResponses) {
  HttpResponse r = HttpResponse::json(200, "{}");
  r.headers.emplace_back("X-One", "1");
  EXPECT_EQ(r.serialize(false),
            "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 2\r\n"
            "Cache-Control: no-store\r\nConnection: close\r\nX-One: 1\r\n\r\n{}");
  EXPECT_EQ(HttpResponse::text(503, "down\n").serialize(true),
            "HTTP/1.1 503 Service Unavailable\r\nContent-Type: text/plain; charset=utf-8\r\n"
            "Content-Length: 5\r\nCache-Control: no-store\r\nConnection: close\r\n\r\n");
}

}  // namespace
}  // namespace tfproxy::io
