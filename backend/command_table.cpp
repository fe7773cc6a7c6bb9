#include "backend/command_table.h"

#include <unordered_map>

namespace tfproxy::backend {
namespace {

const CommandInfo kCommands[] = {
#include "backend/command_table_data.inc"
};

}  // namespace

struct CommandTable::Impl {
  std::unordered_map<std::string_view, const CommandInfo*> by_name;
};

CommandTable::CommandTable() : impl_(new Impl) {
  for (const CommandInfo& c : kCommands) impl_->by_name.emplace(c.name, &c);
}

std::span<const CommandInfo> CommandTable::all() const { return kCommands; }

const CommandTable& CommandTable::builtin() {
  static const CommandTable table;
  return table;
}

void toLower(std::string_view in, std::string* out) {
  out->resize(in.size());
  for (size_t i = 0; i < in.size(); ++i) {
    char c = in[i];
    (*out)[i] = (c >= 'A' && c <= 'Z') ? static_cast<char>(c + 32) : c;
  }
}

const CommandInfo* CommandTable::find(std::string_view name, std::string_view subcommand) const {
  thread_local std::string key;
  if (name.size() > 64 || subcommand.size() > 64) return nullptr;
  toLower(name, &key);
  auto it = impl_->by_name.find(key);
  if (it == impl_->by_name.end()) return nullptr;
  if (!subcommand.empty()) {
    std::string sub;
    toLower(subcommand, &sub);
    key.push_back('|');
    key.append(sub);
    auto sub_it = impl_->by_name.find(key);
    if (sub_it != impl_->by_name.end()) return sub_it->second;
  }
  return it->second;
}

}  // namespace tfproxy::backend
