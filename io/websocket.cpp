#include "io/websocket.h"

#include <openssl/evp.h>
#include <openssl/sha.h>

namespace tfproxy::io {
namespace {

// RFC 6455 §1.3: the GUID appended to the key before hashing.
constexpr std::string_view kGuid = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11";

enum Opcode : uint8_t {
  kContinuation = 0x0,
  kText = 0x1,
  kBinary = 0x2,
  kClose = 0x8,
  kPing = 0x9,
  kPong = 0xA,
};

std::string frame(uint8_t opcode, std::string_view payload) {
  std::string out;
  out.push_back(static_cast<char>(0x80 | opcode));  // FIN
  const uint64_t n = payload.size();
  if (n < 126) {
    out.push_back(static_cast<char>(n));
  } else if (n <= 0xFFFF) {
    out.push_back(126);
    out.push_back(static_cast<char>(n >> 8));
    out.push_back(static_cast<char>(n & 0xFF));
  } else {
    out.push_back(127);
    for (int shift = 56; shift >= 0; shift -= 8)
      out.push_back(static_cast<char>((n >> shift) & 0xFF));
  }
  out.append(payload);
  return out;
}

}  // namespace

std::string websocketAccept(std::string_view key) {
  const std::string text = std::string(key) + std::string(kGuid);
  unsigned char digest[SHA_DIGEST_LENGTH];
  SHA1(reinterpret_cast<const unsigned char*>(text.data()), text.size(), digest);
  unsigned char encoded[4 * ((SHA_DIGEST_LENGTH + 2) / 3) + 1];
  const int n = EVP_EncodeBlock(encoded, digest, SHA_DIGEST_LENGTH);
  return std::string(reinterpret_cast<const char*>(encoded), static_cast<size_t>(n));
}

std::string websocketFrame(std::string_view payload, bool close) {
  return frame(close ? kClose : kText, payload);
}

bool WebSocketReader::feed(std::string_view bytes, std::vector<std::string>* messages,
                           std::string* replies) {
  buffer_.append(bytes);
  size_t pos = 0;
  while (true) {
    const size_t left = buffer_.size() - pos;
    if (left < 2) break;
    const auto* p = reinterpret_cast<const unsigned char*>(buffer_.data() + pos);
    const bool fin = (p[0] & 0x80) != 0;
    const uint8_t opcode = p[0] & 0x0F;
    const bool masked = (p[1] & 0x80) != 0;
    uint64_t length = p[1] & 0x7F;
    size_t header = 2;
    if (length == 126) {
      if (left < 4) break;
      length = (uint64_t{p[2]} << 8) | p[3];
      header = 4;
    } else if (length == 127) {
      if (left < 10) break;
      length = 0;
      for (int i = 0; i < 8; ++i) length = (length << 8) | p[2 + i];
      header = 10;
    }
    // Clients mask every frame (RFC 6455 §5.1); oversized messages are refused.
    if (!masked || length > kMaxMessage || message_.size() + length > kMaxMessage) {
      replies->append(frame(kClose, ""));
      return false;
    }
    if (left < header + 4 + length) break;
    const unsigned char* mask = p + header;
    std::string payload(reinterpret_cast<const char*>(p + header + 4), length);
    for (size_t i = 0; i < payload.size(); ++i)
      payload[i] = static_cast<char>(payload[i] ^ mask[i % 4]);
    pos += header + 4 + length;
    switch (opcode) {
      case kText:
      case kBinary:
      case kContinuation:
        message_.append(payload);
        if (fin) {
          messages->push_back(std::move(message_));
          message_.clear();
        }
        break;
      case kPing:
        replies->append(frame(kPong, payload));
        break;
      case kPong:
        break;
      case kClose:
      default:
        replies->append(frame(kClose, ""));
        buffer_.erase(0, pos);
        return false;
    }
  }
  buffer_.erase(0, pos);
  return true;
}

}  // namespace tfproxy::io
