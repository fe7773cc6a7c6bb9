#include "io/websocket.h"

#include <gtest/gtest.h>

namespace tfproxy::io {
namespace {

// A client's frame: masked, as RFC 6455 requires of clients.
std::string clientFrame(uint8_t first, std::string_view payload) {
  std::string out(1, static_cast<char>(first));
  const unsigned char mask[4] = {0x37, 0xfa, 0x21, 0x3d};
  if (payload.size() < 126) {
    out.push_back(static_cast<char>(0x80 | payload.size()));
  } else {
    out.push_back(static_cast<char>(0x80 | 126));
    out.push_back(static_cast<char>(payload.size() >> 8));
    out.push_back(static_cast<char>(payload.size() & 0xFF));
  }
  out.append(reinterpret_cast<const char*>(mask), 4);
  for (size_t i = 0; i < payload.size(); ++i) {
    out.push_back(static_cast<char>(payload[i] ^ mask[i % 4]));
  }
  return out;
}

TEST(WebSocketTest, AcceptKeyOfTheRfcExample) {
  EXPECT_EQ(websocketAccept("dGhlIHNhbXBsZSBub25jZQ=="), "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=");
}

TEST(WebSocketTest, ServerFramesAreUnmaskedWithTheRightLength) {
  EXPECT_EQ(websocketFrame("Hello"), std::string("\x81\x05Hello"));
  const std::string medium = websocketFrame(std::string(300, 'x'));
  EXPECT_EQ(static_cast<uint8_t>(medium[1]), 126);
  EXPECT_EQ(medium.size(), 4u + 300);
  const std::string large = websocketFrame(std::string(70000, 'x'));
  EXPECT_EQ(static_cast<uint8_t>(large[1]), 127);
  EXPECT_EQ(large.size(), 10u + 70000);
  EXPECT_EQ(websocketFrame("", /*close=*/true), std::string("\x88\x00", 2));
}

TEST(WebSocketTest, ReaderReassemblesMessagesAcrossReadsAndFragments) {
  WebSocketReader reader;
  std::vector<std::string> messages;
  std::string replies;
  const std::string bytes = clientFrame(0x81, "{\"id\":1}") + clientFrame(0x01, "frag") +
                            clientFrame(0x80, "mented") + clientFrame(0x81, std::string(200, 'y'));
  for (char c : bytes) ASSERT_TRUE(reader.feed(std::string_view(&c, 1), &messages, &replies));
  ASSERT_EQ(messages.size(), 3u);
  EXPECT_EQ(messages[0], "{\"id\":1}");
  EXPECT_EQ(messages[1], "fragmented");
  EXPECT_EQ(messages[2], std::string(200, 'y'));
  EXPECT_TRUE(replies.empty());
}

TEST(WebSocketTest, PingsAreAnsweredAndCloseEnds) {
  WebSocketReader reader;
  std::vector<std::string> messages;
  std::string replies;
  EXPECT_TRUE(reader.feed(clientFrame(0x89, "p"), &messages, &replies));
  EXPECT_EQ(replies, std::string("\x8a\x01p"));
  replies.clear();
  EXPECT_FALSE(reader.feed(clientFrame(0x88, ""), &messages, &replies));
  EXPECT_EQ(replies, std::string("\x88\x00", 2));
}

TEST(WebSocketTest, UnmaskedFramesAreRefused) {
  WebSocketReader reader;
  std::vector<std::string> messages;
  std::string replies;
  EXPECT_FALSE(reader.feed(std::string("\x81\x02hi"), &messages, &replies));
  EXPECT_TRUE(messages.empty());
}

}  // namespace
}  // namespace tfproxy::io
