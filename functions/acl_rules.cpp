#include "functions/acl_rules.h"

#include "backend/command_table.h"
#include "functions/commands.h"
#include "functions/errors.h"

namespace tfproxy::functions {
namespace {

// Rules that include or exclude every command, Redis' own as well: true includes.
std::optional<bool> allOrNothing(std::string_view lower_rule) {
  if (lower_rule == "+@all" || lower_rule == "allcommands") return true;
  if (lower_rule == "-@all" || lower_rule == "nocommands" || lower_rule == "reset") return false;
  return std::nullopt;
}

// Is `name` ("tfcall", "tfunction|load") one of the commands COMMAND lists as ours, or a
// subcommand of one? Sets `known` false for a subcommand that does not exist.
bool namesOurCommand(std::string_view name, bool* known) {
  const size_t bar = name.find('|');
  const CommandSpec* own = findCommand(name.substr(0, bar));
  if (own == nullptr || !own->has(kListed)) return false;
  *known = bar == std::string_view::npos;
  if (!*known) {
    for (const CommandSpec& spec : commandSpecs()) {
      if (spec.name == own->name && !spec.sub.empty() && spec.sub == name.substr(bar + 1)) {
        *known = true;
      }
    }
  }
  return true;
}

std::string joined(const std::vector<std::string>& rules) {
  std::string text;
  for (const std::string& r : rules) text += (text.empty() ? "" : " ") + r;
  return text;
}

std::vector<std::string> words(const std::string& text) {
  std::vector<std::string> out;
  size_t pos = 0;
  while (pos < text.size()) {
    size_t end = text.find(' ', pos);
    if (end == std::string::npos) end = text.size();
    if (end > pos) out.push_back(text.substr(pos, end - pos));
    pos = end + 1;
  }
  return out;
}

}  // namespace

AclRules::Split AclRules::split(std::span<const std::string> rules) {
  Split out;
  for (const std::string& rule : rules) {
    std::string lower;
    backend::toLower(rule, &lower);
    if (allOrNothing(lower)) {
      out.forwarded.push_back(rule);
      out.ours.push_back(lower);
      continue;
    }
    bool known = false;
    if ((lower[0] == '+' || lower[0] == '-') && namesOurCommand(lower.substr(1), &known)) {
      if (!known) {
        out.error = errors::aclBadModifier(rule);
        return out;
      }
      out.ours.push_back(lower);
      continue;
    }
    out.forwarded.push_back(rule);
  }
  return out;
}

void AclRules::apply(const std::string& user, const std::vector<std::string>& ours) {
  if (ours.empty()) return;
  std::lock_guard lock(mutex_);
  std::vector<std::string>& mine = rules_[user];
  for (const std::string& rule : ours) {
    if (allOrNothing(rule)) mine.clear();  // it overrides every earlier rule
    mine.push_back(rule);
  }
}

void AclRules::forget(const std::string& user) {
  std::lock_guard lock(mutex_);
  rules_.erase(user);
}

void AclRules::replaceAll(const Stored& stored) {
  std::map<std::string, std::vector<std::string>> rules;
  for (const auto& [user, text] : stored) rules[user] = words(text);
  std::lock_guard lock(mutex_);
  rules_ = std::move(rules);
}

AclRules::Stored AclRules::all() const {
  Stored out;
  std::lock_guard lock(mutex_);
  for (const auto& [user, rules] : rules_) out[user] = joined(rules);
  return out;
}

std::optional<std::string> AclRules::stored(const std::string& user) const {
  std::lock_guard lock(mutex_);
  auto it = rules_.find(user);
  if (it == rules_.end()) return std::nullopt;
  return joined(it->second);
}

std::optional<bool> AclRules::allows(const std::string& user, std::string_view command) const {
  const std::string_view name = command.substr(0, command.find('|'));
  std::lock_guard lock(mutex_);
  auto it = rules_.find(user);
  if (it == rules_.end()) return std::nullopt;
  std::optional<bool> verdict;
  for (const std::string& rule : it->second) {
    if (auto all = allOrNothing(rule)) {
      verdict = *all;
      continue;
    }
    const std::string_view named = std::string_view(rule).substr(1);
    // "+tfunction" covers each of its subcommands; "+tfunction|load" only that one.
    if (named == command || named == name) verdict = rule[0] == '+';
  }
  return verdict;
}

std::string AclRules::shown(const std::string& user) const {
  std::lock_guard lock(mutex_);
  auto it = rules_.find(user);
  if (it == rules_.end()) return {};
  std::string out;
  for (const std::string& rule : it->second) {
    if (allOrNothing(rule)) continue;  // Redis shows these itself
    out += (out.empty() ? "" : " ") + rule;
  }
  return out;
}

}  // namespace tfproxy::functions
