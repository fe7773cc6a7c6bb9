// Helpers the intercepted commands' handlers share (functions/ only).
#pragma once

#include <optional>
#include <span>
#include <string>
#include <string_view>

#include "backend/command_table.h"
#include "backend/script_connection.h"
#include "functions/intercept.h"
#include "resp/encoder.h"
#include "resp/value.h"

namespace tfproxy::functions {

inline std::string lower(std::string_view s) {
  std::string out;
  backend::toLower(s, &out);
  return out;
}

inline std::string errorReply(const ClientContext& client, std::string_view text) {
  std::string reply;
  resp::ReplyWriter(&reply, client.protocol).error(text);
  return reply;
}

inline std::string valueReply(const ClientContext& client, const resp::Value& v) {
  std::string reply;
  resp::ReplyWriter(&reply, client.protocol).value(v);
  return reply;
}

inline constexpr char kOk[] = "+OK\r\n";

// Runs `command` on the backend as the client runs its own (its user, its database). The
// reply, or nullopt with `*error` set to what the client is answered (a backend error too).
std::optional<resp::Value> runAsClient(backend::ScriptConnections& connections,
                                       const ClientContext& client,
                                       std::span<const std::string_view> command,
                                       std::string* error);

}  // namespace tfproxy::functions
