// What Redis keeps per connection that tfproxy must know to speak and to run commands as the
// client: protocol, database, user. One unit reads the commands that change it (HELLO, AUTH,
// SELECT, RESET); the forwarding pipeline and the transaction runner both use it.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "backend/command_table.h"
#include "resp/encoder.h"
#include "resp/number.h"

namespace tfproxy::backend {

struct ConnectionState {
  resp::Protocol protocol = resp::Protocol::kResp2;
  int64_t db = 0;
  std::string user = "default";
  std::string password;  // kept in memory only, never logged
  bool operator==(const ConnectionState&) const = default;
};

// The change a command makes to its connection's state if it succeeds, read from its arguments
// before it is sent; applied when its reply is not an error.
struct StateChange {
  enum class Kind : uint8_t { kNone, kHello, kAuth, kSelect, kReset };
  Kind kind = Kind::kNone;
  int64_t number = -1;  // SELECT's database; HELLO's protocol version (0: unchanged)
  std::string user;     // AUTH and HELLO AUTH; empty: unchanged
  std::string password;

  // A command of `kind` with `argc` arguments; `arg(i)` gives argument i as a string_view.
  template <class Arg>
  static StateChange read(Kind kind, size_t argc, Arg arg);
  // The same from a command's words, its kind told by its name.
  static StateChange read(const std::vector<std::string>& argv);
  // Applies a successful command's change.
  void applyTo(ConnectionState* state) const;
};

// The commands that bring a new connection to `state` -- HELLO 3 (with AUTH), AUTH, SELECT -- in
// order, each encoded; none for a fresh connection's state. Their replies are not the client's.
std::vector<std::string> encodeRestore(const ConnectionState& state);

template <class Arg>
StateChange StateChange::read(Kind kind, size_t argc, Arg arg) {
  StateChange change;
  change.kind = kind;
  switch (kind) {
    case Kind::kHello:
      change.number = 0;
      if (argc < 2) break;
      change.number = resp::parseInt64(arg(1)).value_or(0);
      for (size_t i = 2; i < argc; ++i) {
        if (equalsLower(arg(i), "auth") && i + 2 < argc) {
          change.user.assign(arg(i + 1));
          change.password.assign(arg(i + 2));
          i += 2;
        } else if (equalsLower(arg(i), "setname")) {
          ++i;
        }
      }
      break;
    case Kind::kAuth:
      if (argc == 2) {
        change.user = "default";
        change.password.assign(arg(1));
      } else if (argc == 3) {
        change.user.assign(arg(1));
        change.password.assign(arg(2));
      }
      break;
    case Kind::kSelect:
      if (argc == 2) change.number = resp::parseInt64(arg(1)).value_or(-1);
      break;
    case Kind::kNone:
    case Kind::kReset:
      break;
  }
  return change;
}

}  // namespace tfproxy::backend
