#include "resp/framer.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

namespace tfproxy::resp {
namespace {

// Frames `input` fed in pieces of `chunk` bytes, keeping incomplete frames in place.
std::vector<std::string> frames(const std::string& input, size_t chunk, bool* error = nullptr) {
  ReplyFramer framer;
  std::vector<std::string> out;
  size_t start = 0;
  size_t avail = std::min(chunk, input.size());
  while (true) {
    auto r = framer.scan(std::string_view(input).substr(start, avail - start));
    if (r.status == ReplyFramer::Status::kComplete) {
      out.push_back(input.substr(start, r.consumed));
      start += r.consumed;
      continue;
    }
    if (r.status == ReplyFramer::Status::kError) {
      if (error) *error = true;
      return out;
    }
    if (avail == input.size()) break;
    avail = std::min(avail + chunk, input.size());
  }
  return out;
}

const std::vector<std::string> kEveryType = {
    "+OK\r\n",
    "-ERR wrong\r\n",
    ":-42\r\n",
    "$5\r\nhello\r\n",
    "$0\r\n\r\n",
    "$-1\r\n",
    "*-1\r\n",
    "*0\r\n",
    "*3\r\n:1\r\n$1\r\na\r\n*2\r\n+x\r\n-y\r\n",
    "_\r\n",
    "#t\r\n",
    ",3.14\r\n",
    ",inf\r\n",
    "(3492890328409238509324850943850943825024385\r\n",
    "!21\r\nSYNTAX invalid syntax\r\n",
    "=15\r\ntxt:Some string\r\n",
    "%2\r\n+first\r\n:1\r\n+second\r\n:2\r\n",
    "~3\r\n+a\r\n+b\r\n+c\r\n",
    ">3\r\n$7\r\nmessage\r\n$2\r\nch\r\n$3\r\nmsg\r\n",
    "|1\r\n+key-popularity\r\n%1\r\n$1\r\na\r\n,0.1923\r\n*2\r\n:2039123\r\n:9543892\r\n",
    "*2\r\n|1\r\n+ttl\r\n:3600\r\n$1\r\nv\r\n$1\r\nw\r\n",
    "%1\r\n*2\r\n%0\r\n~0\r\n>1\r\n_\r\n",
    "$8\r\nab\r\ncd\r\n\r\n",
};

TEST(ReplyFramer, EveryTypeAtOnce) {
  std::string all;
  for (const auto& f : kEveryType) all += f;
  EXPECT_EQ(frames(all, all.size()), kEveryType);
}

TEST(ReplyFramer, SplitAtEveryByteBoundary) {
  std::string all;
  for (const auto& f : kEveryType) all += f;
  for (size_t chunk = 1; chunk <= 40; ++chunk) {
    EXPECT_EQ(frames(all, chunk), kEveryType) << "chunk " << chunk;
  }
}

TEST(ReplyFramer, DeepNesting) {
  std::string nested;
  for (int i = 0; i < 1000; ++i) nested += "*1\r\n";
  nested += ":1\r\n";
  EXPECT_EQ(frames(nested + "+OK\r\n", 7), (std::vector<std::string>{nested, "+OK\r\n"}));
}

TEST(ReplyFramer, LargeBulkStreamsThroughDiscard) {
  // A caller may pass on the scanned part of a long payload and keep only what follows.
  ReplyFramer framer;
  std::string header = "$1000000\r\n";
  auto r = framer.scan(header);
  EXPECT_EQ(r.status, ReplyFramer::Status::kNeedMore);
  framer.discard(framer.safeToDiscard());
  size_t sent = 0;
  std::string chunk(4096, 'x');
  while (sent + chunk.size() < 1000000) {
    r = framer.scan(chunk);
    ASSERT_EQ(r.status, ReplyFramer::Status::kNeedMore);
    framer.discard(framer.safeToDiscard());
    sent += chunk.size();
  }
  std::string tail(1000000 - sent, 'x');
  r = framer.scan(tail + "\r\n");
  EXPECT_EQ(r.status, ReplyFramer::Status::kComplete);
  EXPECT_EQ(r.consumed, tail.size() + 2);
}

TEST(ReplyFramer, RejectsGarbage) {
  bool error = false;
  frames("?what\r\n", 100, &error);
  EXPECT_TRUE(error);
  error = false;
  frames("$-5\r\n", 100, &error);
  EXPECT_TRUE(error);
  error = false;
  frames("*x\r\n", 100, &error);
  EXPECT_TRUE(error);
}

}  // namespace
}  // namespace tfproxy::resp
