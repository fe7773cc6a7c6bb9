// Forwarded commands whose replies tfproxy edits so that clients see Redis with the module
// loaded (spec §3.8): COMMAND knows TFCALL, TFCALLASYNC and TFUNCTION, and KEYS, SCAN,
// RANDOMKEY, DBSIZE and INFO keyspace leave out the keys tfproxy keeps for itself, and INFO
// shows tfproxy's own section.
//
// The pipeline asks plan() for each command the index marks as edited (outside transactions,
// with replies on). A plan either answers locally, or forwards the command followed by extra
// commands on the same connection and makes the client's reply from all their replies.
#pragma once

#include <functional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "backend/connection_state.h"
#include "resp/value.h"

namespace tfproxy::backend {
class CommandIndex;
}

namespace tfproxy::functions {

struct ReplyEdit {
  std::string local_reply;  // non-empty: tfproxy answers this, nothing is forwarded
  std::vector<std::vector<std::string>> extra;  // sent right after the client's command
  // The client's reply (encoded) from the replies of the command and of `extra`, in order.
  std::function<std::string(const std::vector<resp::Value>& replies)> merge;
};

class ReplyEditor {
 public:
  virtual ~ReplyEditor() = default;
  // False: forward the command unchanged.
  virtual bool plan(std::span<const std::string_view> argv, const backend::ConnectionState& state,
                    ReplyEdit* edit) const = 0;
};

class ReplyEdits : public ReplyEditor {
 public:
  // `hidden_keys`: tfproxy's own keys (in database 0; the names are left out in every
  // database).
  explicit ReplyEdits(std::vector<std::string> hidden_keys);
  bool plan(std::span<const std::string_view> argv, const backend::ConnectionState& state,
            ReplyEdit* edit) const override;
  // The reply of a command a function sent (decoded): SCAN's and KEYS' without tfproxy's keys.
  void editDecoded(std::string_view command, resp::Value* reply) const;
  // Marks the commands plan() looks at in the session's command index.
  static void registerEdited(backend::CommandIndex& index);
  // INFO's `# tfproxy` section (server/operations.h), added to INFO's reply when it shows every
  // section or names it. Set before clients are served.
  void setInfoSection(std::function<std::string()> section) { info_section_ = std::move(section); }

 private:
  bool planCommand(std::span<const std::string_view> argv, resp::Protocol protocol,
                   ReplyEdit* edit) const;
  bool planKeys(std::span<const std::string_view> argv, const backend::ConnectionState& state,
                ReplyEdit* edit) const;
  bool isHidden(std::string_view key) const;
  std::vector<std::string> hidden_keys_;
  std::function<std::string()> info_section_;
};

}  // namespace tfproxy::functions
