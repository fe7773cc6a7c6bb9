#include "resp/decoder.h"

#include <charconv>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <string>

#include "resp/number.h"

namespace tfproxy::resp {
namespace {

class Decoder {
 public:
  Decoder(std::string_view in, DecoderCallbacks& cb) : in_(in), cb_(cb) {}

  bool value(int depth) {
    if (depth > 4096) return false;
    std::string_view line;
    if (!readLine(&line) || line.empty()) return false;
    const Type type = static_cast<Type>(line[0]);
    const std::string_view body = line.substr(1);
    Node node;
    node.type = type;
    switch (type) {
      case Type::kSimpleString:
      case Type::kError:
        node.data = body;
        cb_.onNode(node);
        return true;
      case Type::kInteger: {
        auto v = parseInt64(body);
        if (!v) return false;
        node.integer = *v;
        cb_.onNode(node);
        return true;
      }
      case Type::kNull:
        cb_.onNode(node);
        return true;
      case Type::kBoolean:
        if (body != "t" && body != "f") return false;
        node.boolean = body == "t";
        cb_.onNode(node);
        return true;
      case Type::kDouble:
        if (!parseDouble(body, &node.dbl)) return false;
        node.data = body;
        cb_.onNode(node);
        return true;
      case Type::kBigNumber:
        node.data = body;
        cb_.onNode(node);
        return true;
      case Type::kBulkString:
      case Type::kBulkError:
      case Type::kVerbatim: {
        if (type == Type::kBulkString && body == "-1") {
          cb_.onNode(nullNode());
          return true;
        }
        auto len = parseInt64(body);
        if (!len || *len < 0 || static_cast<uint64_t>(*len) + 2 > in_.size() - pos_) return false;
        std::string_view payload = in_.substr(pos_, static_cast<size_t>(*len));
        pos_ += static_cast<size_t>(*len) + 2;
        if (type == Type::kVerbatim) {
          if (payload.size() < 4 || payload[3] != ':') return false;
          node.format = payload.substr(0, 3);
          payload.remove_prefix(4);
        }
        node.data = payload;
        cb_.onNode(node);
        return true;
      }
      case Type::kArray:
      case Type::kSet:
      case Type::kPush:
      case Type::kMap:
      case Type::kAttribute: {
        if (type == Type::kArray && body == "-1") {
          cb_.onNode(nullNode());
          return true;
        }
        auto count = parseInt64(body);
        if (!count || *count < 0) return false;
        size_t elements = static_cast<size_t>(*count);
        if (type == Type::kMap || type == Type::kAttribute) elements *= 2;
        if (elements > in_.size()) return false;  // cannot possibly be there
        if (type == Type::kAttribute) {
          // Skip the attribute: decode its elements into a sink, then the annotated value.
          NullSink sink;
          Decoder skipper(in_, sink);
          skipper.pos_ = pos_;
          for (size_t i = 0; i < elements; ++i) {
            if (!skipper.value(depth + 1)) return false;
          }
          pos_ = skipper.pos_;
          return value(depth);
        }
        node.aggregate_size = static_cast<size_t>(*count);
        cb_.onNode(node);
        for (size_t i = 0; i < elements; ++i) {
          if (!value(depth + 1)) return false;
        }
        return true;
      }
    }
    return false;
  }

  size_t pos() const { return pos_; }

  static Node nullNode() {
    Node n;
    n.type = Type::kNull;
    return n;
  }

 private:
  struct NullSink : DecoderCallbacks {
    void onNode(const Node&) override {}
  };

  bool readLine(std::string_view* line) {
    const void* cr = std::memchr(in_.data() + pos_, '\r', in_.size() - pos_);
    if (cr == nullptr) return false;
    size_t end = static_cast<const char*>(cr) - in_.data();
    if (end + 1 >= in_.size() || in_[end + 1] != '\n') return false;
    *line = in_.substr(pos_, end - pos_);
    pos_ = end + 2;
    return true;
  }

  static bool parseDouble(std::string_view s, double* out) {
    if (s == "inf" || s == "+inf") {
      *out = HUGE_VAL;
      return true;
    }
    if (s == "-inf") {
      *out = -HUGE_VAL;
      return true;
    }
    if (s == "nan" || s == "-nan") {
      *out = std::nan("");
      return true;
    }
    auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), *out);
    return ec == std::errc() && end == s.data() + s.size();
  }

  std::string_view in_;
  DecoderCallbacks& cb_;
  size_t pos_ = 0;
};

}  // namespace

size_t decode(std::string_view frame, DecoderCallbacks& callbacks) {
  Decoder d(frame, callbacks);
  if (!d.value(0)) return 0;
  return d.pos();
}

Value* ValueBuilder::slot() {
  if (stack_.empty()) {
    have_root_ = true;
    return &root_;
  }
  Open& top = stack_.back();
  Value* v = &top.value->elements.emplace_back();
  return v;
}

void ValueBuilder::onNode(const Node& node) {
  Value* v = slot();
  v->type = node.type;
  switch (node.type) {
    case Type::kInteger:
      v->integer = node.integer;
      break;
    case Type::kBoolean:
      v->boolean = node.boolean;
      break;
    case Type::kDouble:
      v->dbl = node.dbl;
      v->str.assign(node.data);
      break;
    case Type::kVerbatim:
      v->format.assign(node.format);
      v->str.assign(node.data);
      break;
    case Type::kNull:
      break;
    case Type::kArray:
    case Type::kSet:
    case Type::kPush:
    case Type::kMap: {
      size_t n = node.type == Type::kMap ? node.aggregate_size * 2 : node.aggregate_size;
      v->elements.reserve(n);
      if (n > 0) {
        stack_.push_back({v, n});
        return;  // elements follow; do not count this node yet
      }
      break;
    }
    default:
      v->str.assign(node.data);
      break;
  }
  // A value is complete: close every aggregate it completes.
  if (v == &root_) return;
  while (!stack_.empty()) {
    if (--stack_.back().remaining > 0) break;
    stack_.pop_back();
  }
}

bool decodeValue(std::string_view frame, Value* out, size_t* used) {
  ValueBuilder builder;
  size_t n = decode(frame, builder);
  if (n == 0) return false;
  *out = std::move(builder.result());
  if (used != nullptr) *used = n;
  return true;
}

}  // namespace tfproxy::resp
