#include "scripting/prologue.h"

#include <map>
#include <vector>

#include "scripting/errors.h"

namespace tfproxy::scripting {
namespace {

// Upstream parses each part as an unsigned 8-bit integer: digits only, leading zeros allowed.
std::optional<int> parseU8(std::string_view s) {
  if (s.empty() || s.size() > 8) return std::nullopt;
  int v = 0;
  for (char c : s) {
    if (c < '0' || c > '9') return std::nullopt;
    v = v * 10 + (c - '0');
    if (v > 255) return std::nullopt;
  }
  return v;
}

std::string trim(std::string_view s) {
  auto ws = [](char c) {
    return c == ' ' || c == '\t' || c == '\r' || c == '\n' || c == '\f' || c == '\v';
  };
  size_t b = 0, e = s.size();
  while (b < e && ws(s[b])) ++b;
  while (e > b && ws(s[e - 1])) --e;
  return std::string(s.substr(b, e - b));
}

}  // namespace

std::optional<std::string> nameProblem(std::string_view name) {
  if (name.empty()) return std::string(errors::kEmptyName);
  for (char c : name) {
    bool ok =
        (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_';
    if (!ok) return "Unallowed char was given '" + std::string(1, c) + "'";
  }
  return std::nullopt;
}

std::optional<Prologue> parsePrologue(std::string_view code, std::string* error) {
  std::string_view line = code.substr(0, code.find('\n'));
  if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
  if (line.size() < 2 || line[0] != '#' || line[1] != '!') {
    *error = errors::kInvalidPrologue;
    return std::nullopt;
  }
  std::string rest = trim(line).substr(2);
  // Every space and every '=' separates; consecutive separators make empty tokens.
  std::vector<std::string> tokens;
  std::string current;
  for (char c : rest) {
    if (c == ' ' || c == '=') {
      tokens.push_back(current);
      current.clear();
    } else {
      current.push_back(c);
    }
  }
  tokens.push_back(current);

  Prologue p;
  p.engine = tokens[0];
  std::vector<std::pair<std::string, std::string>> props;
  std::vector<std::string> duplicates;
  size_t i = 1;
  for (; i + 1 < tokens.size(); i += 2) {
    const std::string& key = tokens[i];
    const std::string& value = tokens[i + 1];
    bool seen = false;
    for (auto& [k, v] : props) seen = seen || k == key;
    if (seen) {
      duplicates.push_back(key);
      continue;
    }
    if (key.empty() || value.empty()) {
      *error = errors::kInvalidPrologue;
      return std::nullopt;
    }
    props.emplace_back(key, value);
  }
  if (i < tokens.size()) {  // a final key without a value
    *error = errors::kInvalidPrologue;
    return std::nullopt;
  }
  if (!duplicates.empty()) {
    std::string list;
    for (size_t d = 0; d < duplicates.size(); ++d) list += (d ? ", " : "") + duplicates[d];
    *error = "Duplicated prologue properties found: " + list + ".";
    return std::nullopt;
  }
  const std::string* version = nullptr;
  const std::string* name = nullptr;
  std::vector<std::string> unknown;
  for (auto& [k, v] : props) {
    if (k == "api_version") {
      version = &v;
    } else if (k == "name") {
      name = &v;
    } else {
      unknown.push_back(k);
    }
  }
  if (version == nullptr) {
    *error = errors::kApiVersionMissing;
    return std::nullopt;
  }
  // "<major>.<minor>", only the first two parts are read: "1.0.7" is 1.0.
  std::string_view v = *version;
  size_t dot = v.find('.');
  std::optional<int> major =
      dot == std::string_view::npos ? std::nullopt : parseU8(v.substr(0, dot));
  std::optional<int> minor;
  if (major) {
    std::string_view after = v.substr(dot + 1);
    minor = parseU8(after.substr(0, after.find('.')));
  }
  if (!major || !minor) {
    *error = "The API version has been incorrectly specified: \"" + *version +
             "\". The expected format is \"<major>.<minor>\". An example: \"1.1\".";
    return std::nullopt;
  }
  p.api_major = *major;
  p.api_minor = *minor;
  if (name == nullptr) {
    *error = errors::kNameMissing;
    return std::nullopt;
  }
  if (!unknown.empty()) {
    std::string list;
    for (size_t u = 0; u < unknown.size(); ++u) list += (u ? ", \"" : "\"") + unknown[u] + "\"";
    *error =
        "Unknown prologue properties provided: " + list + ". Known properties: api_version, name.";
    return std::nullopt;
  }
  if (auto problem = nameProblem(*name)) {
    *error = "Unallowed library name '" + *name + "', " + *problem + ".";
    return std::nullopt;
  }
  p.name = *name;
  if (p.engine != "js") {
    *error = "Unknown backend " + p.engine;
    return std::nullopt;
  }
  return p;
}

bool apiVersionSupported(const Prologue& p) {
  return p.api_major == 1 && (p.api_minor == 0 || p.api_minor == 1);
}

std::string unsupportedApiVersion(const Prologue& p) {
  return "An unsupported API version was requested: " + p.apiVersion() +
         ". The supported versions are 1.0, 1.1.";
}

}  // namespace tfproxy::scripting
