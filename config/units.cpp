#include "config/units.h"

#include <cctype>
#include <string>

#include "resp/number.h"

namespace tfproxy::config {

std::optional<uint64_t> parseMemory(std::string_view text) {
  std::string lower;
  for (char c : text)
    lower.push_back(static_cast<char>(std::tolower(static_cast<unsigned char>(c))));
  struct Unit {
    const char* suffix;
    uint64_t factor;
  };
  static const Unit kUnits[] = {{"gb", 1024ull * 1024 * 1024},
                                {"mb", 1024ull * 1024},
                                {"kb", 1024},
                                {"g", 1000ull * 1000 * 1000},
                                {"m", 1000ull * 1000},
                                {"k", 1000},
                                {"b", 1}};
  uint64_t factor = 1;
  std::string_view digits = lower;
  for (const Unit& u : kUnits) {
    std::string_view s(u.suffix);
    if (digits.size() > s.size() && digits.substr(digits.size() - s.size()) == s) {
      digits.remove_suffix(s.size());
      factor = u.factor;
      break;
    }
  }
  auto n = resp::parseUint64(digits);
  if (!n || (factor > 1 && *n > UINT64_MAX / factor)) return std::nullopt;
  return *n * factor;
}

}  // namespace tfproxy::config
