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

}  // namespace tfproxy::backend
