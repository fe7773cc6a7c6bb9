#include "resp/inline.h"

namespace tfproxy::resp {
namespace {

bool isSpace(char c) {
  return c == ' ' || c == '\n' || c == '\r' || c == '\t' || c == '\v' || c == '\f';
}

int hexValue(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

}  // namespace

std::optional<std::vector<std::string>> splitInlineArgs(std::string_view line) {
  std::vector<std::string> args;
  size_t p = 0;
  const size_t n = line.size();
  while (true) {
    while (p < n && isSpace(line[p])) ++p;
    if (p >= n) return args;

    bool in_double = false;
    bool in_single = false;
    bool done = false;
    std::string current;
    while (!done) {
      char c = p < n ? line[p] : '\0';
      bool at_end = p >= n;
      if (in_double) {
        if (at_end) return std::nullopt;
        if (c == '\\' && p + 3 < n && line[p + 1] == 'x' && hexValue(line[p + 2]) >= 0 &&
            hexValue(line[p + 3]) >= 0) {
          current.push_back(static_cast<char>(hexValue(line[p + 2]) * 16 + hexValue(line[p + 3])));
          p += 3;
        } else if (c == '\\' && p + 1 < n) {
          ++p;
          switch (line[p]) {
            case 'n':
              current.push_back('\n');
              break;
            case 'r':
              current.push_back('\r');
              break;
            case 't':
              current.push_back('\t');
              break;
            case 'b':
              current.push_back('\b');
              break;
            case 'a':
              current.push_back('\a');
              break;
            default:
              current.push_back(line[p]);
              break;
          }
        } else if (c == '"') {
          // The closing quote must be followed by a space or nothing.
          if (p + 1 < n && !isSpace(line[p + 1])) return std::nullopt;
          done = true;
        } else {
          current.push_back(c);
        }
      } else if (in_single) {
        if (at_end) return std::nullopt;
        if (c == '\\' && p + 1 < n && line[p + 1] == '\'') {
          ++p;
          current.push_back('\'');
        } else if (c == '\'') {
          if (p + 1 < n && !isSpace(line[p + 1])) return std::nullopt;
          done = true;
        } else {
          current.push_back(c);
        }
      } else {
        if (at_end) {
          done = true;
        } else if (isSpace(c)) {
          done = true;
        } else if (c == '"') {
          in_double = true;
        } else if (c == '\'') {
          in_single = true;
        } else {
          current.push_back(c);
        }
      }
      if (p < n) ++p;
    }
    args.push_back(std::move(current));
  }
}

}  // namespace tfproxy::resp
