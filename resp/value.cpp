#include "resp/value.h"

#include "resp/number.h"

namespace tfproxy::resp {
namespace {

void quote(std::string_view s, std::string* out) {
  out->push_back('"');
  for (unsigned char c : s) {
    if (c == '"' || c == '\\') {
      out->push_back('\\');
      out->push_back(static_cast<char>(c));
    } else if (c < 0x20 || c >= 0x7f) {
      static const char kHex[] = "0123456789abcdef";
      out->append("\\x");
      out->push_back(kHex[c >> 4]);
      out->push_back(kHex[c & 15]);
    } else {
      out->push_back(static_cast<char>(c));
    }
  }
  out->push_back('"');
}

void render(const Value& v, std::string* out) {
  switch (v.type) {
    case Type::kSimpleString:
      out->append(v.str);
      break;
    case Type::kError:
    case Type::kBulkError:
      out->append("(error) ");
      out->append(v.str);
      break;
    case Type::kInteger:
      out->append(std::to_string(v.integer));
      break;
    case Type::kNull:
      out->append("(nil)");
      break;
    case Type::kBoolean:
      out->append(v.boolean ? "true" : "false");
      break;
    case Type::kDouble:
      out->append("(double) " + formatDouble(v.dbl));
      break;
    case Type::kBigNumber:
      out->append("(big) " + v.str);
      break;
    case Type::kBulkString:
    case Type::kVerbatim:
      quote(v.str, out);
      break;
    case Type::kMap:
    case Type::kAttribute:
      out->push_back('{');
      for (size_t i = 0; i + 1 < v.elements.size(); i += 2) {
        if (i > 0) out->append(", ");
        render(v.elements[i], out);
        out->append(": ");
        render(v.elements[i + 1], out);
      }
      out->push_back('}');
      break;
    case Type::kArray:
    case Type::kSet:
    case Type::kPush:
      out->append(v.type == Type::kSet ? "set[" : v.type == Type::kPush ? "push[" : "[");
      for (size_t i = 0; i < v.elements.size(); ++i) {
        if (i > 0) out->append(", ");
        render(v.elements[i], out);
      }
      out->push_back(']');
      break;
  }
}

}  // namespace

std::string toDebugString(const Value& v) {
  std::string out;
  render(v, &out);
  return out;
}

}  // namespace tfproxy::resp
