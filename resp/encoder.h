// Writes replies in the client's protocol (RESP2 or RESP3) and commands as multibulk requests.
// RESP3-only types are lowered for RESP2 clients the way Redis lowers them: map -> flat array,
// set -> array, boolean -> integer 1/0, double/big number/verbatim -> bulk string, null -> $-1.
#pragma once

#include <cstdint>
#include <initializer_list>
#include <span>
#include <string>
#include <string_view>

#include "resp/value.h"

namespace tfproxy::resp {

enum class Protocol { kResp2 = 2, kResp3 = 3 };

class ReplyWriter {
 public:
  ReplyWriter(std::string* out, Protocol protocol) : out_(out), protocol_(protocol) {}

  void simple(std::string_view s);
  // An error reply; CR, LF and NUL bytes inside the text become spaces, as Redis sends them.
  void error(std::string_view s);
  void integer(int64_t v);
  void bulk(std::string_view s);
  void null();
  void nullArray();  // RESP2 `*-1`, RESP3 `_`
  void boolean(bool b);
  void dbl(double d);
  void bigNumber(std::string_view digits);
  void verbatim(std::string_view format, std::string_view s);
  void arrayHeader(size_t n);
  void mapHeader(size_t pairs);
  void setHeader(size_t n);
  void pushHeader(size_t n);
  // Writes a decoded value, lowering RESP3 types for RESP2 clients.
  void value(const Value& v);
  // Appends bytes that are already encoded for this writer's protocol.
  void raw(std::string_view encoded) { out_->append(encoded); }

  Protocol protocol() const { return protocol_; }

 private:
  void header(char type, int64_t n);
  std::string* out_;
  Protocol protocol_;
};

// Appends `args` as one multibulk command.
void encodeCommand(std::span<const std::string_view> args, std::string* out);
void encodeCommand(std::initializer_list<std::string_view> args, std::string* out);

}  // namespace tfproxy::resp
