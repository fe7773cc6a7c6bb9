// The WebSocket protocol (RFC 6455) as far as a debugger's connection needs it: the handshake's
// accept key, text frames to send, and a reader that reassembles the client's (masked) frames
// into messages and answers pings. Sans I/O: bytes in, bytes and messages out.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace tfproxy::io {

// Sec-WebSocket-Accept for a client's Sec-WebSocket-Key.
std::string websocketAccept(std::string_view key);

// One unmasked text frame (a server's) carrying `payload`; `close` makes it a close frame.
std::string websocketFrame(std::string_view payload, bool close = false);

class WebSocketReader {
 public:
  // Most bytes one message may have; a longer one closes the connection.
  static constexpr size_t kMaxMessage = 64 * 1024 * 1024;

  // Appends received bytes. Complete text (or binary) messages go to `messages`, what must be
  // sent back (pongs, the close reply) to `replies`. False once the peer closed or broke the
  // protocol: the connection ends after `replies` is sent.
  bool feed(std::string_view bytes, std::vector<std::string>* messages, std::string* replies);

 private:
  std::string buffer_;
  std::string message_;  // fragments of the message being reassembled
};

}  // namespace tfproxy::io
