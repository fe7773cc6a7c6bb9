// Decodes one complete RESP2/RESP3 frame (as cut by ReplyFramer) through callbacks, keeping
// parsing apart from building: ValueBuilder makes a Value tree (which the scripting module
// converts to JavaScript, scripting/v8/convert.cpp).
#pragma once

#include <cstddef>
#include <cstdint>
#include <string_view>

#include "resp/types.h"
#include "resp/value.h"

namespace tfproxy::resp {

// One node of a reply, in pre-order. Aggregates announce their element count (for maps: the
// number of key/value pairs) and are followed by their elements; scalars carry their payload.
struct Node {
  Type type = Type::kNull;
  size_t aggregate_size = 0;  // aggregates only
  std::string_view data;      // strings, errors, verbatim payload, big number digits, double text
  std::string_view format;    // verbatim only
  int64_t integer = 0;
  double dbl = 0;
  bool boolean = false;
};

class DecoderCallbacks {
 public:
  virtual ~DecoderCallbacks() = default;
  virtual void onNode(const Node& node) = 0;
};

// Decodes the single frame at the start of `frame`. Attributes are skipped. Returns the number of
// bytes used, or 0 if the bytes are not one complete, valid frame.
size_t decode(std::string_view frame, DecoderCallbacks& callbacks);

// Builds a Value tree from decoder callbacks.
class ValueBuilder : public DecoderCallbacks {
 public:
  // DecoderCallbacks
  void onNode(const Node& node) override;

  Value& result() { return root_; }

 private:
  struct Open {
    Value* value;
    size_t remaining;
  };
  Value* slot();
  Value root_;
  bool have_root_ = false;
  std::vector<Open> stack_;
};

// Convenience: decodes one complete frame into a Value. Returns false on malformed input.
bool decodeValue(std::string_view frame, Value* out, size_t* used = nullptr);

}  // namespace tfproxy::resp
