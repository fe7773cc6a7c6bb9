#include "functions/key_access.h"

#include "config/glob.h"

namespace tfproxy::functions {
namespace {

// The value of `field` in a GETUSER reply: a RESP3 map, or a RESP2 flat array of pairs.
const resp::Value* field(const resp::Value& reply, std::string_view name) {
  for (size_t i = 0; i + 1 < reply.elements.size(); i += 2) {
    if (reply.elements[i].str == name) return &reply.elements[i + 1];
  }
  return nullptr;
}

}  // namespace

KeyAccess KeyAccess::unrestricted() {
  KeyAccess a;
  a.all_ = true;
  return a;
}

KeyAccess KeyAccess::fromGetUser(const resp::Value& reply) {
  KeyAccess a;
  if (reply.type != resp::Type::kMap && reply.type != resp::Type::kArray) return a;
  if (const resp::Value* selectors = field(reply, "selectors")) {
    a.selectors_ = !selectors->elements.empty();
  }
  const resp::Value* keys = field(reply, "keys");
  if (keys == nullptr) return a;
  // Space-separated rules: `~glob` (read and write), `%R~glob`, `%W~glob`, `%RW~glob`.
  std::string_view rules = keys->str;
  while (!rules.empty()) {
    const size_t end = rules.find(' ');
    std::string_view rule = rules.substr(0, end);
    rules = end == std::string_view::npos ? std::string_view() : rules.substr(end + 1);
    Pattern p;
    if (rule.size() >= 1 && rule[0] == '~') {
      p.read = p.write = true;
      rule.remove_prefix(1);
    } else if (rule.size() >= 2 && rule[0] == '%') {
      const size_t tilde = rule.find('~');
      if (tilde == std::string_view::npos) continue;
      for (char c : rule.substr(1, tilde - 1)) {
        if (c == 'R') p.read = true;
        if (c == 'W') p.write = true;
      }
      rule.remove_prefix(tilde + 1);
    } else {
      continue;
    }
    if (p.read && p.write && rule == "*") a.all_ = true;
    p.glob.assign(rule);
    a.patterns_.push_back(std::move(p));
  }
  return a;
}

// As Redis: one pattern must grant both read and write and match the key.
bool KeyAccess::rootAllowsReadWrite(std::string_view key) const {
  for (const Pattern& p : patterns_) {
    if (p.read && p.write && config::globMatch(p.glob, key, false)) return true;
  }
  return false;
}

}  // namespace tfproxy::functions
