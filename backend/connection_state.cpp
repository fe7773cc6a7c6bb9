#include "backend/connection_state.h"

#include "backend/command_table.h"

namespace tfproxy::backend {

StateChange StateChange::read(const std::vector<std::string>& argv) {
  std::string name;
  toLower(argv[0], &name);
  Kind kind = Kind::kNone;
  if (name == "hello") {
    kind = Kind::kHello;
  } else if (name == "auth") {
    kind = Kind::kAuth;
  } else if (name == "select") {
    kind = Kind::kSelect;
  } else if (name == "reset") {
    kind = Kind::kReset;
  }
  return read(kind, argv.size(), [&argv](size_t i) { return std::string_view(argv[i]); });
}

void StateChange::applyTo(ConnectionState* state) const {
  switch (kind) {
    case Kind::kHello:
      if (number == 2 || number == 3) {
        state->protocol = number == 3 ? resp::Protocol::kResp3 : resp::Protocol::kResp2;
      }
      [[fallthrough]];
    case Kind::kAuth:
      if (!user.empty()) {
        state->user = user;
        state->password = password;
      }
      break;
    case Kind::kSelect:
      if (number >= 0) state->db = number;
      break;
    case Kind::kReset:
      *state = ConnectionState{};
      break;
    case Kind::kNone:
      break;
  }
}

std::vector<std::string> encodeRestore(const ConnectionState& state) {
  std::vector<std::vector<std::string_view>> commands;
  const std::string db = std::to_string(state.db);
  const bool auth = !(state.user == "default" && state.password.empty());
  if (state.protocol == resp::Protocol::kResp3) {
    commands.push_back({"HELLO", "3"});
    if (auth) commands.back().insert(commands.back().end(), {"AUTH", state.user, state.password});
  } else if (auth) {
    commands.push_back({"AUTH", state.user, state.password});
  }
  if (state.db != 0) commands.push_back({"SELECT", db});
  std::vector<std::string> encoded;
  for (const auto& command : commands) {
    encoded.emplace_back();
    resp::encodeCommand(command, &encoded.back());
  }
  return encoded;
}

}  // namespace tfproxy::backend
