#include "scripting/text.h"

#include <cctype>
#include <cstdint>

namespace tfproxy::scripting {

bool isValidUtf8(std::string_view s) {
  const auto* p = reinterpret_cast<const unsigned char*>(s.data());
  const auto* end = p + s.size();
  while (p < end) {
    unsigned char c = *p;
    if (c < 0x80) {
      ++p;
      continue;
    }
    size_t n;
    uint32_t cp;
    if ((c & 0xE0) == 0xC0) {
      n = 1;
      cp = c & 0x1F;
    } else if ((c & 0xF0) == 0xE0) {
      n = 2;
      cp = c & 0x0F;
    } else if ((c & 0xF8) == 0xF0) {
      n = 3;
      cp = c & 0x07;
    } else {
      return false;
    }
    if (static_cast<size_t>(end - p) <= n) return false;
    for (size_t i = 1; i <= n; ++i) {
      if ((p[i] & 0xC0) != 0x80) return false;
      cp = (cp << 6) | (p[i] & 0x3F);
    }
    // Overlong encodings, surrogates and values past U+10FFFF are invalid.
    if ((n == 1 && cp < 0x80) || (n == 2 && cp < 0x800) || (n == 3 && cp < 0x10000) ||
        (cp >= 0xD800 && cp <= 0xDFFF) || cp > 0x10FFFF) {
      return false;
    }
    p += n + 1;
  }
  return true;
}

namespace {

// A recursive-descent JSON syntax checker with line/column error positions.
class JsonChecker {
 public:
  explicit JsonChecker(std::string_view t) : t_(t) {}

  std::optional<std::string> run(bool* is_object) {
    ws();
    if (pos_ >= t_.size()) return fail("EOF while parsing a value");
    *is_object = t_[pos_] == '{';
    if (auto e = value(0)) return e;
    ws();
    if (pos_ < t_.size()) return fail("trailing characters");
    return std::nullopt;
  }

 private:
  std::optional<std::string> fail(const char* what) {
    size_t line = 1, col = 1;
    for (size_t i = 0; i < pos_ && i < t_.size(); ++i) {
      if (t_[i] == '\n') {
        ++line;
        col = 1;
      } else {
        ++col;
      }
    }
    if (pos_ >= t_.size()) --col;  // at the end: the column of the last character
    return std::string(what) + " at line " + std::to_string(line) + " column " +
           std::to_string(col);
  }
  void ws() {
    while (pos_ < t_.size() &&
           (t_[pos_] == ' ' || t_[pos_] == '\t' || t_[pos_] == '\n' || t_[pos_] == '\r')) {
      ++pos_;
    }
  }
  bool literal(std::string_view word) {
    if (t_.substr(pos_, word.size()) != word) return false;
    pos_ += word.size();
    return true;
  }
  std::optional<std::string> value(int depth) {
    if (depth > 128) return fail("recursion limit exceeded");
    ws();
    if (pos_ >= t_.size()) return fail("EOF while parsing a value");
    char c = t_[pos_];
    if (c == '{') return object(depth);
    if (c == '[') return array(depth);
    if (c == '"') return string();
    if (c == 't') return literal("true") ? std::nullopt : fail("expected ident");
    if (c == 'f') return literal("false") ? std::nullopt : fail("expected ident");
    if (c == 'n') return literal("null") ? std::nullopt : fail("expected ident");
    if (c == '-' || (c >= '0' && c <= '9')) return number();
    return fail("expected value");
  }
  std::optional<std::string> number() {
    if (t_[pos_] == '-') ++pos_;
    if (pos_ >= t_.size() || t_[pos_] < '0' || t_[pos_] > '9') return fail("invalid number");
    if (t_[pos_] == '0') {
      ++pos_;
    } else {
      while (pos_ < t_.size() && t_[pos_] >= '0' && t_[pos_] <= '9') ++pos_;
    }
    if (pos_ < t_.size() && t_[pos_] == '.') {
      ++pos_;
      if (pos_ >= t_.size() || t_[pos_] < '0' || t_[pos_] > '9') return fail("invalid number");
      while (pos_ < t_.size() && t_[pos_] >= '0' && t_[pos_] <= '9') ++pos_;
    }
    if (pos_ < t_.size() && (t_[pos_] == 'e' || t_[pos_] == 'E')) {
      ++pos_;
      if (pos_ < t_.size() && (t_[pos_] == '+' || t_[pos_] == '-')) ++pos_;
      if (pos_ >= t_.size() || t_[pos_] < '0' || t_[pos_] > '9') return fail("invalid number");
      while (pos_ < t_.size() && t_[pos_] >= '0' && t_[pos_] <= '9') ++pos_;
    }
    return std::nullopt;
  }
  std::optional<std::string> string() {
    ++pos_;  // opening quote
    while (pos_ < t_.size()) {
      unsigned char c = static_cast<unsigned char>(t_[pos_]);
      if (c == '"') {
        ++pos_;
        return std::nullopt;
      }
      if (c < 0x20) return fail("control character (\\u0000-\\u001F) found while parsing a string");
      if (c == '\\') {
        ++pos_;
        if (pos_ >= t_.size()) break;
        char e = t_[pos_];
        if (e == 'u') {
          for (int i = 0; i < 4; ++i) {
            ++pos_;
            if (pos_ >= t_.size() || !std::isxdigit(static_cast<unsigned char>(t_[pos_]))) {
              return fail("invalid escape");
            }
          }
        } else if (std::string_view("\"\\/bfnrt").find(e) == std::string_view::npos) {
          return fail("invalid escape");
        }
      }
      ++pos_;
    }
    return fail("EOF while parsing a string");
  }
  std::optional<std::string> array(int depth) {
    ++pos_;
    ws();
    if (pos_ < t_.size() && t_[pos_] == ']') {
      ++pos_;
      return std::nullopt;
    }
    while (true) {
      if (auto e = value(depth + 1)) return e;
      ws();
      if (pos_ >= t_.size()) return fail("EOF while parsing a list");
      if (t_[pos_] == ']') {
        ++pos_;
        return std::nullopt;
      }
      if (t_[pos_] != ',') return fail("expected `,` or `]`");
      ++pos_;
    }
  }
  std::optional<std::string> object(int depth) {
    ++pos_;
    ws();
    if (pos_ < t_.size() && t_[pos_] == '}') {
      ++pos_;
      return std::nullopt;
    }
    while (true) {
      ws();
      if (pos_ >= t_.size()) return fail("EOF while parsing an object");
      if (t_[pos_] != '"') return fail("key must be a string");
      if (auto e = string()) return e;
      ws();
      if (pos_ >= t_.size() || t_[pos_] != ':') return fail("expected `:`");
      ++pos_;
      if (auto e = value(depth + 1)) return e;
      ws();
      if (pos_ >= t_.size()) return fail("EOF while parsing an object");
      if (t_[pos_] == '}') {
        ++pos_;
        return std::nullopt;
      }
      if (t_[pos_] != ',') return fail("expected `,` or `}`");
      ++pos_;
    }
  }

  std::string_view t_;
  size_t pos_ = 0;
};

}  // namespace

std::optional<std::string> checkJson(std::string_view text, bool* is_object) {
  *is_object = false;
  return JsonChecker(text).run(is_object);
}

std::string escapeDefault(std::string_view utf8) {
  std::string out;
  const auto* p = reinterpret_cast<const unsigned char*>(utf8.data());
  const auto* end = p + utf8.size();
  static const char kHex[] = "0123456789abcdef";
  while (p < end) {
    uint32_t cp = *p;
    size_t n = 1;
    if (cp >= 0x80) {
      n = (cp & 0xE0) == 0xC0 ? 2 : (cp & 0xF0) == 0xE0 ? 3 : (cp & 0xF8) == 0xF0 ? 4 : 1;
      if (static_cast<size_t>(end - p) < n) n = 1;
      cp = n == 2 ? cp & 0x1F : n == 3 ? cp & 0x0F : n == 4 ? cp & 0x07 : cp;
      for (size_t i = 1; i < n; ++i) cp = (cp << 6) | (p[i] & 0x3F);
    }
    p += n;
    switch (cp) {
      case '\t':
        out += "\\t";
        break;
      case '\r':
        out += "\\r";
        break;
      case '\n':
        out += "\\n";
        break;
      case '\'':
        out += "\\'";
        break;
      case '"':
        out += "\\\"";
        break;
      case '\\':
        out += "\\\\";
        break;
      default:
        if (cp >= 0x20 && cp < 0x7f) {
          out.push_back(static_cast<char>(cp));
        } else {
          std::string hex;
          do {
            hex.insert(hex.begin(), kHex[cp & 15]);
            cp >>= 4;
          } while (cp != 0);
          out += "\\u{" + hex + "}";
        }
    }
  }
  return out;
}

}  // namespace tfproxy::scripting
