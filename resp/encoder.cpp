#include "resp/encoder.h"

#include <charconv>
#include <cmath>

#include "resp/number.h"

namespace tfproxy::resp {

void ReplyWriter::header(char type, int64_t n) {
  char buf[24];
  auto [end, ec] = std::to_chars(buf, buf + sizeof buf, n);
  out_->push_back(type);
  out_->append(buf, end);
  out_->append("\r\n");
}

void ReplyWriter::simple(std::string_view s) {
  out_->push_back('+');
  out_->append(s);
  out_->append("\r\n");
}

void ReplyWriter::error(std::string_view s) {
  out_->push_back('-');
  size_t start = out_->size();
  out_->append(s);
  for (size_t i = start; i < out_->size(); ++i) {
    char& c = (*out_)[i];
    if (c == '\r' || c == '\n' || c == '\0') c = ' ';
  }
  out_->append("\r\n");
}

void ReplyWriter::integer(int64_t v) { header(':', v); }

void ReplyWriter::bulk(std::string_view s) {
  header('$', static_cast<int64_t>(s.size()));
  out_->append(s);
  out_->append("\r\n");
}

void ReplyWriter::null() {
  if (protocol_ == Protocol::kResp3) {
    out_->append("_\r\n");
  } else {
    out_->append("$-1\r\n");
  }
}

void ReplyWriter::nullArray() {
  if (protocol_ == Protocol::kResp3) {
    out_->append("_\r\n");
  } else {
    out_->append("*-1\r\n");
  }
}

void ReplyWriter::boolean(bool b) {
  if (protocol_ == Protocol::kResp3) {
    out_->append(b ? "#t\r\n" : "#f\r\n");
  } else {
    out_->append(b ? ":1\r\n" : ":0\r\n");
  }
}

void ReplyWriter::dbl(double d) {
  std::string text = formatDouble(d);
  if (protocol_ == Protocol::kResp3) {
    out_->push_back(',');
    out_->append(text);
    out_->append("\r\n");
  } else {
    bulk(text);
  }
}

void ReplyWriter::bigNumber(std::string_view digits) {
  if (protocol_ == Protocol::kResp3) {
    out_->push_back('(');
    out_->append(digits);
    out_->append("\r\n");
  } else {
    bulk(digits);
  }
}

void ReplyWriter::verbatim(std::string_view format, std::string_view s) {
  if (protocol_ == Protocol::kResp3) {
    header('=', static_cast<int64_t>(s.size() + 4));
    out_->append(format);
    out_->push_back(':');
    out_->append(s);
    out_->append("\r\n");
  } else {
    bulk(s);
  }
}

void ReplyWriter::arrayHeader(size_t n) { header('*', static_cast<int64_t>(n)); }

void ReplyWriter::mapHeader(size_t pairs) {
  if (protocol_ == Protocol::kResp3) {
    header('%', static_cast<int64_t>(pairs));
  } else {
    header('*', static_cast<int64_t>(pairs * 2));
  }
}

void ReplyWriter::setHeader(size_t n) {
  header(protocol_ == Protocol::kResp3 ? '~' : '*', static_cast<int64_t>(n));
}

void ReplyWriter::pushHeader(size_t n) {
  header(protocol_ == Protocol::kResp3 ? '>' : '*', static_cast<int64_t>(n));
}

void ReplyWriter::value(const Value& v) {
  switch (v.type) {
    case Type::kSimpleString:
      simple(v.str);
      break;
    case Type::kError:
    case Type::kBulkError:
      error(v.str);
      break;
    case Type::kInteger:
      integer(v.integer);
      break;
    case Type::kBulkString:
      bulk(v.str);
      break;
    case Type::kNull:
      null();
      break;
    case Type::kBoolean:
      boolean(v.boolean);
      break;
    case Type::kDouble:
      dbl(v.dbl);
      break;
    case Type::kBigNumber:
      bigNumber(v.str);
      break;
    case Type::kVerbatim:
      verbatim(v.format, v.str);
      break;
    case Type::kArray:
    case Type::kSet:
    case Type::kPush:
      if (v.type == Type::kSet) {
        setHeader(v.elements.size());
      } else if (v.type == Type::kPush) {
        pushHeader(v.elements.size());
      } else {
        arrayHeader(v.elements.size());
      }
      for (const Value& e : v.elements) value(e);
      break;
    case Type::kMap:
    case Type::kAttribute:
      mapHeader(v.elements.size() / 2);
      for (const Value& e : v.elements) value(e);
      break;
  }
}

void encodeCommand(std::span<const std::string_view> args, std::string* out) {
  ReplyWriter w(out, Protocol::kResp2);
  w.arrayHeader(args.size());
  for (std::string_view a : args) w.bulk(a);
}

void encodeCommand(std::initializer_list<std::string_view> args, std::string* out) {
  encodeCommand(std::span<const std::string_view>(args.begin(), args.size()), out);
}

}  // namespace tfproxy::resp
