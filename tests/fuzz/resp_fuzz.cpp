// Fuzz target for the two parsers every forwarded byte goes through: the request parser (client
// bytes) and the reply framer (backend bytes). Each input is parsed whole and again in pieces
// whose sizes come from the input; both runs must agree, every argument must lie inside the
// buffer, and decoding a complete reply frame stays inside it. Built with libFuzzer under clang
// (-DTFPROXY_FUZZ=ON) for long runs; the test suite drives it with fuzz_driver.cpp.
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>
#include <vector>

#include "resp/decoder.h"
#include "resp/framer.h"
#include "resp/request_parser.h"

namespace {

void require(bool ok) {
  if (!ok) std::abort();
}

// Piece sizes for the split run, taken from the input itself so a crash reproduces from it.
size_t pieceSize(std::string_view input, size_t at) {
  if (input.empty()) return 1;
  return 1 + static_cast<unsigned char>(input[(at * 7919) % input.size()]) % 97;
}

struct Commands {
  std::vector<std::vector<std::string>> commands;
  std::string error;
  bool operator==(const Commands&) const = default;
};

// Parses `input` as a client would send it, `avail` growing by `step` bytes at a time (0: all).
Commands parseRequests(std::string_view input, bool split) {
  tfproxy::resp::ParserLimits limits;
  limits.max_bulk_len = 1 << 20;
  limits.max_inline_len = 4096;  // small, so the limits are reached by fuzzed inputs too
  tfproxy::resp::RequestParser parser(limits);
  Commands out;
  size_t start = 0;
  size_t avail = split ? std::min(input.size(), pieceSize(input, 0)) : input.size();
  while (start <= input.size()) {
    std::string_view buf = input.substr(start, avail - start);
    auto r = parser.parse(buf);
    if (r.status == tfproxy::resp::RequestParser::Status::kComplete) {
      require(r.consumed > 0 && r.consumed <= buf.size());
      std::vector<std::string> args;
      for (size_t i = 0; i < parser.argc(); ++i) {
        std::string_view a = parser.arg(i);
        if (!parser.isInline()) require(a.data() >= buf.data() && a.end() <= buf.end());
        args.emplace_back(a);
      }
      if (!args.empty()) out.commands.push_back(std::move(args));
      start += r.consumed;
      continue;
    }
    if (r.status == tfproxy::resp::RequestParser::Status::kError) {
      require(!parser.error().empty());
      out.error = parser.error();
      return out;
    }
    if (avail == input.size()) return out;  // waits for more than there is
    avail = std::min(input.size(), avail + pieceSize(input, avail));
  }
  return out;
}

struct Frames {
  std::vector<std::string> frames;
  bool error = false;
  bool operator==(const Frames&) const = default;
};

Frames frameReplies(std::string_view input, bool split) {
  tfproxy::resp::ReplyFramer framer;
  Frames out;
  size_t start = 0;
  size_t avail = split ? std::min(input.size(), pieceSize(input, 1)) : input.size();
  while (start < input.size()) {
    std::string_view buf = input.substr(start, avail - start);
    auto r = framer.scan(buf);
    if (r.status == tfproxy::resp::ReplyFramer::Status::kComplete) {
      require(r.consumed > 0 && r.consumed <= buf.size());
      std::string_view frame = buf.substr(0, r.consumed);
      // The framer only finds boundaries (a line's content is not checked); decoding what it
      // cut must not crash, and a decoded value lies inside the frame.
      tfproxy::resp::Value v;
      size_t used = 0;
      if (tfproxy::resp::decodeValue(frame, &v, &used)) require(used <= frame.size());
      out.frames.emplace_back(frame);
      start += r.consumed;
      framer.reset();
      continue;
    }
    if (r.status == tfproxy::resp::ReplyFramer::Status::kError) {
      out.error = true;
      return out;
    }
    if (avail == input.size()) return out;
    avail = std::min(input.size(), avail + pieceSize(input, avail + 1));
  }
  return out;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view input(reinterpret_cast<const char*>(data), size);
  require(parseRequests(input, false) == parseRequests(input, true));
  require(frameReplies(input, false) == frameReplies(input, true));
  return 0;
}
