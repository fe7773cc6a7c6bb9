// What the scripting engine gets from the server: the atomic gate, connections that run as a
// client's identity, and the backend's role and memory state.
#pragma once

#include "backend/backend_status.h"
#include "backend/script_connection.h"
#include "scripting/engine.h"
#include "server/gate.h"

namespace tfproxy::server {

class ScriptingHost : public scripting::Host {
 public:
  ScriptingHost(Gate& gate, backend::ScriptConnectionPool& connections,
                backend::BackendStatus& status)
      : gate_(gate), connections_(connections), status_(status) {}

  // scripting::Host
  void enterAtomicSection() override { gate_.lockExclusive(); }
  void leaveAtomicSection() override { gate_.unlockExclusive(); }
  backend::ScriptConnectionPool& connections() override { return connections_; }
  bool backendWritable() override { return status_.writablePrimary(); }
  bool backendOutOfMemory() override { return status_.outOfMemory(); }

 private:
  Gate& gate_;
  backend::ScriptConnectionPool& connections_;
  backend::BackendStatus& status_;
};

}  // namespace tfproxy::server
