// What operators see of tfproxy: one snapshot of every figure (Operations::snapshot), shown
// three ways -- INFO's `# tfproxy` section, Prometheus' text format at GET /metrics, and JSON
// for the admin page -- plus the HTTP routes of --health-port and --http-port. Every field
// name and every client-visible text of these surfaces is in operations.cpp.
//
// Threads: snapshot() and the renderers run on any thread (INFO's on an I/O worker, HTTP's on
// the main context); they read atomics and take short locks, never wait for JavaScript.
#pragma once

#include <chrono>
#include <functional>
#include <string>

#include "config/options.h"
#include "functions/intercept.h"
#include "functions/library_dir.h"
#include "scripting/engine.h"
#include "server/http.h"
#include "server/server.h"

namespace tfproxy::backend {
class BackendLink;
class BackendStatus;
class ClusterTopology;
class Fleet;
class Gate;
}  // namespace tfproxy::backend

namespace tfproxy::server {

struct Snapshot {
  std::string version;
  int64_t uptime_seconds = 0;
  int64_t process_id = 0;
  uint16_t port = 0;
  uint16_t tls_port = 0;
  uint32_t io_threads = 0;
  Server::Counts clients;
  std::string backend_address;
  bool backend_embedded = false;
  bool backend_tls = false;
  bool backend_reachable = false;
  std::string backend_error;  // why it is unreachable
  bool backend_primary = true;
  uint64_t backend_reconnects = 0;
  size_t cluster_primaries = 0;  // 0: not a cluster
  const metrics::Histogram* gate_drain = nullptr;
  const metrics::Histogram* gate_hold = nullptr;
  int gate_waiting = 0;
  bool fleet = false;
  bool fleet_in_step = false;
  bool libraries_loaded = false;
  scripting::EngineStats engine;
  size_t slowlog_len = 0;
  int64_t slowlog_slower_than = 0;
  std::string library_dir;  // "" without --library-dir
  std::vector<functions::LibraryDir::File> library_files;
};

class Operations {
 public:
  // What the snapshot is read from; everything outlives the Operations.
  struct Sources {
    std::string version;
    const config::ProxyOptions* options = nullptr;
    const Server* server = nullptr;
    const backend::BackendLink* link = nullptr;
    const backend::BackendStatus* status = nullptr;
    const backend::Gate* gate = nullptr;
    const backend::Fleet* fleet = nullptr;              // null: --fleet no
    const backend::ClusterTopology* cluster = nullptr;  // null: not a cluster
    scripting::Engine* engine = nullptr;
    const functions::LibraryDir* library_dir = nullptr;  // null: no --library-dir
    std::string backend_address;
    bool backend_embedded = false;
    bool backend_tls = false;
    // Why tfproxy is not ready ("" when it is): /readyz.
    std::function<std::string()> not_ready;
    // Runs the admin page's changes as a Redis user (TfCommands::runAs); null: read-only.
    std::function<void(std::vector<std::string> argv, functions::ClientContext client,
                       std::function<void(std::string reply)> done)>
        run_as;
  };

  explicit Operations(Sources sources);

  Snapshot snapshot() const;
  // INFO's section, "# tfproxy\r\n" and one "name:value\r\n" line per field.
  static std::string info(const Snapshot& s);
  // Prometheus' text exposition format (version 0.0.4).
  static std::string prometheus(const Snapshot& s);
  // The admin page's view, one JSON object.
  static std::string json(const Snapshot& s);

  // --health-port: GET /healthz and /readyz only.
  void probes(const HttpRequest& request, std::function<void(HttpResponse)> respond) const;
  // --http-port: the probes, GET /metrics, the admin page at / and its API under /api/.
  void http(const HttpRequest& request, std::function<void(HttpResponse)> respond) const;

 private:
  // POST /api/load, /api/delete, /api/config: a change, as the Redis user the form names.
  void change(const HttpRequest& request, std::function<void(HttpResponse)> respond) const;

  Sources sources_;
  std::chrono::steady_clock::time_point started_;
};

}  // namespace tfproxy::server
