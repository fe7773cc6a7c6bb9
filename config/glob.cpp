#include "config/glob.h"

#include <cctype>

namespace tfproxy::config {
namespace {

char fold(char c, bool nocase) {
  return nocase ? static_cast<char>(std::tolower(static_cast<unsigned char>(c))) : c;
}

bool match(std::string_view p, std::string_view s, bool nocase, int depth) {
  if (depth > 1000) return false;  // pathological patterns
  size_t pi = 0, si = 0;
  while (pi < p.size()) {
    switch (p[pi]) {
      case '*': {
        while (pi + 1 < p.size() && p[pi + 1] == '*') ++pi;
        if (pi + 1 == p.size()) return true;
        for (size_t k = si; k <= s.size(); ++k) {
          if (match(p.substr(pi + 1), s.substr(k), nocase, depth + 1)) return true;
        }
        return false;
      }
      case '?':
        if (si >= s.size()) return false;
        ++si;
        break;
      case '[': {
        if (si >= s.size()) return false;
        ++pi;
        bool negate = pi < p.size() && p[pi] == '^';
        if (negate) ++pi;
        bool matched = false;
        while (pi < p.size() && p[pi] != ']') {
          if (p[pi] == '\\' && pi + 1 < p.size()) {
            ++pi;
            if (fold(p[pi], nocase) == fold(s[si], nocase)) matched = true;
          } else if (pi + 2 < p.size() && p[pi + 1] == '-') {
            char lo = fold(p[pi], nocase), hi = fold(p[pi + 2], nocase), c = fold(s[si], nocase);
            if (lo > hi) std::swap(lo, hi);
            if (c >= lo && c <= hi) matched = true;
            pi += 2;
          } else if (fold(p[pi], nocase) == fold(s[si], nocase)) {
            matched = true;
          }
          ++pi;
        }
        if (negate) matched = !matched;
        if (!matched) return false;
        ++si;
        break;
      }
      case '\\':
        if (pi + 1 < p.size()) ++pi;
        [[fallthrough]];
      default:
        if (si >= s.size() || fold(p[pi], nocase) != fold(s[si], nocase)) return false;
        ++si;
        break;
    }
    ++pi;
  }
  return si == s.size();
}

}  // namespace

bool globMatch(std::string_view pattern, std::string_view text, bool nocase) {
  return match(pattern, text, nocase, 0);
}

}  // namespace tfproxy::config
