// Script connections in front of a Redis Cluster (design §9): the ScriptConnections that
// functions' client.call, the access checks and the proxy's own commands use when the backend
// is a cluster. A lease routes each command as the forwarding path does (cluster_routing.h) --
// to the primary of its slot, split per slot and merged, every primary for the whole key space,
// SCAN across primaries with one cursor -- over pooled connections per node, authenticated as
// the lease's identity, and follows MOVED and ASK.
#pragma once

#include <chrono>
#include <map>
#include <memory>
#include <mutex>
#include <string>

#include "backend/script_connection.h"
#include "io/stream.h"

namespace tfproxy::backend {

class ClusterTopology;

class ClusterScriptConnections final : public ScriptConnections {
 public:
  ClusterScriptConnections(ClusterTopology& topology, std::shared_ptr<io::TlsContext> tls,
                           std::chrono::milliseconds connect_timeout,
                           std::chrono::milliseconds command_timeout);
  ~ClusterScriptConnections() override;

  // Checks the identity on a primary, then lends a routing connection.
  Lease acquire(const Identity& identity, Failure* failure, std::string* error) override;
  void forgetUser(const std::string& user) override;

  // The pool of the node at `address` ("host:port"), created on first use.
  ScriptConnectionPool& pool(const std::string& address);
  ClusterTopology& topology() { return topology_; }

 private:
  void giveBack(std::unique_ptr<ScriptConnection> conn) override;

  ClusterTopology& topology_;
  std::shared_ptr<io::TlsContext> tls_;
  std::chrono::milliseconds connect_timeout_;
  std::chrono::milliseconds command_timeout_;
  std::mutex mutex_;
  std::map<std::string, std::unique_ptr<ScriptConnectionPool>> pools_;  // mutex_
};

}  // namespace tfproxy::backend
