// RESP2/RESP3 type bytes.
#pragma once

namespace tfproxy::resp {

enum class Type : char {
  kSimpleString = '+',
  kError = '-',
  kInteger = ':',
  kBulkString = '$',
  kArray = '*',
  // RESP3 only:
  kNull = '_',
  kBoolean = '#',
  kDouble = ',',
  kBigNumber = '(',
  kBulkError = '!',
  kVerbatim = '=',
  kMap = '%',
  kSet = '~',
  kAttribute = '|',
  kPush = '>',
};

// True for the type bytes of aggregates (their header carries an element count).
inline bool isAggregate(Type t) {
  return t == Type::kArray || t == Type::kMap || t == Type::kSet || t == Type::kPush ||
         t == Type::kAttribute;
}

// True for the types whose header is a length followed by a payload.
inline bool isBlob(Type t) {
  return t == Type::kBulkString || t == Type::kBulkError || t == Type::kVerbatim;
}

}  // namespace tfproxy::resp
