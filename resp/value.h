// A decoded RESP value: what the proxy needs to look inside (replies that JavaScript sees,
// HELLO replies, tests). The forwarding path never builds these.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "resp/types.h"

namespace tfproxy::resp {

struct Value {
  Type type = Type::kNull;
  // Payload of simple strings, errors, bulk strings, verbatim strings (without the format),
  // big numbers (their digits) and doubles (their text).
  std::string str;
  int64_t integer = 0;   // kInteger
  double dbl = 0;        // kDouble
  bool boolean = false;  // kBoolean
  std::string format;    // kVerbatim: three-letter format such as "txt"
  // Elements of arrays, sets and pushes; maps hold key, value, key, value...
  std::vector<Value> elements;

  static Value simple(std::string_view s) { return make(Type::kSimpleString, s); }
  static Value error(std::string_view s) { return make(Type::kError, s); }
  static Value bulk(std::string_view s) { return make(Type::kBulkString, s); }
  static Value null() { return Value{}; }
  static Value integerValue(int64_t v) {
    Value r;
    r.type = Type::kInteger;
    r.integer = v;
    return r;
  }
  static Value array(std::vector<Value> elements, Type type = Type::kArray) {
    Value r;
    r.type = type;
    r.elements = std::move(elements);
    return r;
  }

  bool isError() const { return type == Type::kError || type == Type::kBulkError; }
  bool isNull() const { return type == Type::kNull; }
  bool operator==(const Value&) const = default;

 private:
  static Value make(Type t, std::string_view s) {
    Value r;
    r.type = t;
    r.str = std::string(s);
    return r;
  }
};

// Readable one-line rendering for logs and test failures, e.g. `["OK", 1, {"a": "b"}]`.
std::string toDebugString(const Value& v);

}  // namespace tfproxy::resp
