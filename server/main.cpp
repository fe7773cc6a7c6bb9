// tfproxy: a Redis-protocol proxy that runs Triggers and Functions (JavaScript) in front of an
// unmodified Redis. main() wires the modules together; see docs/design.md and server/README.md.
#include <signal.h>
#include <spdlog/sinks/stdout_color_sinks.h>
#include <spdlog/spdlog.h>
#include <sys/resource.h>

#include <atomic>
#include <boost/asio/io_context.hpp>
#include <boost/asio/signal_set.hpp>
#include <cstdio>
#include <memory>

#include "backend/backend_status.h"
#include "backend/cluster_script_connections.h"
#include "backend/cluster_topology.h"
#include "backend/command_table.h"
#include "backend/embedded_server.h"
#include "backend/fleet.h"
#include "backend/link.h"
#include "backend/script_connection.h"
#include "config/cli.h"
#include "functions/commands.h"
#include "functions/keyspace_triggers.h"
#include "functions/library_check.h"
#include "functions/library_dir.h"
#include "functions/library_store.h"
#include "functions/library_sync.h"
#include "functions/reply_edits.h"
#include "functions/scripting_host.h"
#include "functions/tf_commands.h"
#include "io/tls.h"
#include "scripting/engine.h"
#include "server/http.h"
#include "server/operations.h"
#include "server/server.h"

namespace {

using namespace tfproxy;

void setUpLogging(const std::string& level) {
  auto logger = spdlog::stderr_color_mt("tfproxy");
  logger->set_pattern("%Y-%m-%d %H:%M:%S.%e %^%l%$ %v");
  logger->set_level(spdlog::level::from_str(level));
  spdlog::set_default_logger(logger);
}

// Adds the backend's commands that the built-in table lacks -- a newer Redis or Valkey, module
// commands -- so that their flags count for functions and transactions. Before anything reads
// the table; a backend that is down or refuses COMMAND leaves the built-in table as it is.
void learnBackendCommands(backend::ScriptConnections& connections,
                          const backend::Identity& identity) {
  backend::ScriptConnections::Failure failure;
  std::string error;
  auto lease = connections.acquire(identity, &failure, &error);
  std::optional<resp::Value> reply;
  if (lease) {
    const std::string_view command[] = {"COMMAND"};
    reply = lease->run(0, command);
  }
  if (reply && reply->isError()) {
    spdlog::warn(
        "the backend refuses COMMAND to tfproxy's user ({}): tfproxy uses its built-in command "
        "table, so commands the backend has beyond it (a newer Redis or Valkey, modules) are "
        "forwarded as they are but functions and transactions do not know their flags. Allow "
        "COMMAND to the user of --backend-user (ACL: +command) to read the backend's own",
        reply->str);
    return;
  }
  if (!reply) {
    spdlog::info("the backend's command table was not read ({}); using the built-in one",
                 lease ? lease->error() : error);
    return;
  }
  if (size_t added = backend::CommandTable::learn(*reply)) {
    spdlog::info("learned {} commands of the backend that the built-in table lacks", added);
  }
}

// How often an idle tfproxy reads the backend's role and memory (one INFO). Decisions that
// refuse on them confirm first, and changes seen through the proxy are read at once, so this
// only bounds how long a change made elsewhere takes to be noticed where nothing else shows it.
constexpr std::chrono::seconds kStatusInterval{2};

// Bound of the proxy's own permission checks (ACL GETUSER/DRYRUN) on the backend.
constexpr std::chrono::milliseconds kCheckTimeout{2000};

// Descriptors tfproxy keeps for itself: listener, epoll and event descriptors, the status,
// store and script connections, the embedded server's pipes, logs.
constexpr rlim_t kReservedDescriptors = 128;

// Raises the soft descriptor limit towards what --maxclients needs (two per client: its socket
// and its own backend connection once it has one), as far as the hard limit allows; with less,
// lowers maxclients to what fits and says so, as Redis does.
void sizeDescriptorLimit(config::ProxyOptions& options) {
  rlimit limit{};
  if (::getrlimit(RLIMIT_NOFILE, &limit) != 0) return;
  const rlim_t wanted = 2 * static_cast<rlim_t>(options.maxclients) + kReservedDescriptors;
  if (limit.rlim_cur >= wanted) return;
  rlimit raised = limit;
  raised.rlim_cur = limit.rlim_max == RLIM_INFINITY ? wanted : std::min(wanted, limit.rlim_max);
  if (::setrlimit(RLIMIT_NOFILE, &raised) == 0) limit = raised;
  if (limit.rlim_cur >= wanted) return;
  const rlim_t fit =
      limit.rlim_cur > kReservedDescriptors + 2 ? (limit.rlim_cur - kReservedDescriptors) / 2 : 1;
  spdlog::warn(
      "--maxclients {} needs {} file descriptors but the limit is {}: maxclients lowered to {} "
      "(raise the hard limit, ulimit -n, to serve more)",
      options.maxclients, wanted, limit.rlim_cur, fit);
  options.maxclients = static_cast<uint32_t>(fit);
}

// "127.0.0.1:6380", "127.0.0.1:6380 and TLS 127.0.0.1:6381", "TLS 127.0.0.1:6381".
std::string listeningOn(const config::ProxyOptions& options, const server::Server& server) {
  std::string out;
  if (server.port() != 0) out = options.bind + ":" + std::to_string(server.port());
  if (server.tlsPort() != 0) {
    if (!out.empty()) out += " and ";
    out += "TLS " + options.bind + ":" + std::to_string(server.tlsPort());
  }
  return out;
}

constexpr char kCheckUsage[] =
    "Usage: tfproxy check [--error-verbosity 1|2] FILE...\n"
    "Compiles and registers each JavaScript library offline, as TFUNCTION LOAD would, and\n"
    "prints one line per file. Exit status: 0 when every library loads, 1 otherwise, 2 for a\n"
    "usage error.\n";

// `tfproxy check FILE...` (functions/library_check.h).
int check(int argc, char** argv) {
  std::vector<std::string> files;
  config::GearsSettings settings;
  for (int i = 2; i < argc; ++i) {
    const std::string_view arg = argv[i];
    if (arg == "--help" || arg == "-h") {
      std::fputs(kCheckUsage, stdout);
      return 0;
    }
    if (arg == "--error-verbosity" && i + 1 < argc &&
        (std::string_view(argv[i + 1]) == "1" || std::string_view(argv[i + 1]) == "2")) {
      settings.error_verbosity = std::stoi(argv[++i]);
      continue;
    }
    if (arg.substr(0, 2) == "--") {
      std::fprintf(stderr, "tfproxy check: unknown option %s\n%s", argv[i], kCheckUsage);
      return 2;
    }
    files.emplace_back(arg);
  }
  if (files.empty()) {
    std::fputs(kCheckUsage, stderr);
    return 2;
  }
  spdlog::set_level(spdlog::level::warn);
  const functions::CheckResult result = functions::checkLibraries(files, settings);
  std::fputs(result.report.c_str(), stdout);
  return result.ok ? 0 : 1;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc >= 2 && std::string_view(argv[1]) == "check") return check(argc, argv);
  config::CliResult cli = config::parseCommandLine(argc, argv);
  if (cli.exit) {
    std::fputs(cli.output.c_str(), cli.exit_code == 0 ? stdout : stderr);
    return cli.exit_code;
  }
  config::ProxyOptions& options = cli.options;
  setUpLogging(options.log_level);
  sizeDescriptorLimit(options);
  ::signal(SIGPIPE, SIG_IGN);

  std::unique_ptr<backend::EmbeddedServer> embedded;
  config::Endpoint backend_endpoint;
  if (options.backend) {
    backend_endpoint = *options.backend;
  } else {
    std::string error;
    embedded = backend::EmbeddedServer::start(options.redis_server, options.data_dir, &error);
    if (!embedded) {
      spdlog::critical("cannot start the embedded backend: {}", error);
      return 1;
    }
    backend_endpoint = embedded->endpoint();
    if (options.data_dir.empty()) {
      spdlog::info(
          "the embedded redis-server keeps its data in a temporary folder deleted on "
          "exit (--ephemeral)");
    } else {
      spdlog::info("the embedded redis-server keeps its data in {}", options.data_dir);
    }
  }

  std::string tls_error;
  io::Target backend_target{backend_endpoint, nullptr};
  if (options.backend_tls.enabled) {
    backend_target.tls =
        io::TlsContext::forClient(options.backend_tls, backend_endpoint.host, &tls_error);
    if (!backend_target.tls) {
      spdlog::critical("TLS towards the backend: {}", tls_error);
      return 1;
    }
    if (options.backend_tls.insecure) {
      spdlog::warn(
          "--backend-tls-insecure: the backend's certificate is not verified; whoever sits "
          "between tfproxy and the backend can read and change the traffic");
    }
  }
  std::shared_ptr<io::TlsContext> client_tls;
  if (options.tls.enabled()) {
    client_tls = io::TlsContext::forServer(options.tls, &tls_error);
    if (!client_tls) {
      spdlog::critical("TLS for clients: {}", tls_error);
      return 1;
    }
  }

  boost::asio::io_context main_context(1);
  const auto connect_timeout = std::chrono::milliseconds(options.backend_connect_timeout_ms);
  backend::BackendLink link(backend_target, connect_timeout);
  link.start();

  backend::Identity proxy_identity;
  proxy_identity.user =
      options.backend_user.empty() ? std::string("default") : options.backend_user;
  proxy_identity.password = options.backend_password;

  // A Redis Cluster backend is detected, not configured (design §9).
  std::unique_ptr<backend::ClusterTopology> cluster;
  if (!embedded) {
    std::string cluster_error;
    if (auto map = backend::ClusterTopology::read(backend_target, proxy_identity, connect_timeout,
                                                  &cluster_error)) {
      spdlog::info("the backend is a Redis Cluster: {} primaries, {} nodes",
                   map->primaries().size(), map->nodes().size());
      cluster = std::make_unique<backend::ClusterTopology>(
          backend::ClusterTopology::Settings{.seeds = {backend_target},
                                             .identity = proxy_identity,
                                             .connect_timeout = connect_timeout},
          std::move(*map));
      cluster->start();
    }
  }

  config::GearsConfig gears(options.gears);
  backend::BackendStatus status(backend_target, options.backend_user, options.backend_password,
                                kStatusInterval);
  if (cluster) {
    // Role and memory are those of the first primary (the one keyless commands go to).
    status.followTarget([&cluster, tls = backend_target.tls] {
      return io::Target{cluster->map()->primaries().front().endpoint, tls};
    });
  }
  status.refresh();
  status.start();
  // Every internal call is bounded: commands from JavaScript and proxy-run transactions by
  // --backend-timeout (30 s without it: a function may legitimately run a slow command), the
  // proxy's own permission checks by it or kCheckTimeout, whichever is shorter.
  const auto backend_timeout = std::chrono::milliseconds(options.backend_timeout_ms);
  const auto command_timeout =
      backend_timeout.count() > 0 ? backend_timeout : std::chrono::milliseconds(30000);
  const auto check_timeout =
      backend_timeout.count() > 0 ? std::min(backend_timeout, kCheckTimeout) : kCheckTimeout;
  // In front of a cluster, each command from JavaScript and each check goes to its slot's node.
  auto scriptConnections =
      [&](std::chrono::milliseconds timeout) -> std::unique_ptr<backend::ScriptConnections> {
    if (cluster) {
      return std::make_unique<backend::ClusterScriptConnections>(*cluster, backend_target.tls,
                                                                 connect_timeout, timeout);
    }
    return std::make_unique<backend::ScriptConnectionPool>(backend_target, connect_timeout,
                                                           timeout);
  };
  std::unique_ptr<backend::ScriptConnections> connections = scriptConnections(command_timeout);
  std::unique_ptr<backend::ScriptConnections> checks = scriptConnections(check_timeout);
  learnBackendCommands(*connections, proxy_identity);

  // The gate has one counter per I/O worker and one after them for callAsync.
  backend::Gate gate(options.threads + 1);
  // Every instance in front of the backend shares the gate; this one forwards once it joined.
  std::unique_ptr<backend::Fleet> fleet;
  if (options.fleet) {
    fleet = std::make_unique<backend::Fleet>(
        backend::Fleet::Settings{.target = backend_target,
                                 .identity = proxy_identity,
                                 .connect_timeout = connect_timeout,
                                 .key_base = options.library_key,
                                 .lease = std::chrono::milliseconds(options.fleet_lease_ms),
                                 .link = &link,
                                 .topology = cluster.get()},
        gate);
    gate.setCoordinator(fleet.get());
    fleet->start();
  }
  backend::AsyncCommands async_commands(link, gate, /*gate_slot=*/options.threads, cluster.get());
  functions::KeyspaceTriggers triggers({.gate = &gate,
                                        .status = &status,
                                        .target = backend_target,
                                        .topology = cluster.get(),
                                        .connections = connections.get(),
                                        .identity = proxy_identity,
                                        .connect_timeout = connect_timeout,
                                        .library_key = options.library_key});
  // tfproxy's own keys, left out of what clients and functions list and count.
  functions::ReplyEdits edits({options.library_key,
                               functions::KeyspaceTriggers::leaseKey(options.library_key),
                               functions::KeyspaceTriggers::positionsKey(options.library_key),
                               backend::Fleet::lockKey(options.library_key),
                               backend::Fleet::membersKey(options.library_key)});
  functions::ScriptingHost host(gate, *connections, status, async_commands, triggers, edits,
                                proxy_identity);
  host.setCluster(cluster.get());
  std::unique_ptr<scripting::Engine> engine = scripting::createEngine(gears, host);
  engine->slowLog().configure(options.slowlog_log_slower_than, options.slowlog_max_len);
  engine->allowIoThreadRuns(options.io_thread_functions);
  triggers.setEngine(engine.get());
  functions::AclRules acl;
  functions::LibraryStore store(backend_target, options.backend_user, options.backend_password,
                                options.library_key, &acl);
  functions::TfCommands::Services services;
  services.engine = engine.get();
  services.config = &gears;
  services.store = &store;
  services.connections = connections.get();
  services.checks = checks.get();
  services.status = &status;
  services.proxy_identity = proxy_identity;
  services.host = &host;
  services.acl = &acl;
  services.acl_file = options.acl_file;
  services.cluster = cluster != nullptr;
  functions::TfCommands commands(services);
  // The ACL file's users, as Redis applies its own at start: a file that cannot be applied
  // stops tfproxy.
  if (!options.acl_file.empty()) {
    if (Status loaded = commands.loadAclFile(proxy_identity); !loaded.ok()) {
      spdlog::critical("cannot apply --aclfile: {}", loaded.message());
      return 1;
    }
  }
  backend::CommandIndex index(backend::CommandTable::builtin());
  functions::registerIntercepts(index);
  functions::ReplyEdits::registerEdited(index);
  if (cluster) index.shareClusterCommands();
  server::Server server(main_context, options,
                        {.link = link,
                         .cluster = cluster.get(),
                         .gate = gate,
                         .index = index,
                         .intercept = &commands,
                         .editor = &edits,
                         .triggers = &triggers,
                         .async_commands = &async_commands,
                         .tls = client_tls,
                         .on_flush =
                             [&store, &triggers] {
                               store.notifyFlush();
                               triggers.flushed();
                             },
                         .on_status_change =
                             [&status, &triggers] {
                               status.refreshSoon();
                               triggers.configChanged();
                             }});

  // Stored libraries are served from the first client on; if the backend cannot be read yet,
  // a thread keeps trying.
  std::atomic<bool> libraries_loaded{functions::restoreLibraries(store, *engine)};
  std::atomic<bool> giving_up{false};
  std::thread restorer;
  if (!libraries_loaded) {
    restorer = std::thread([&] {
      while (!server.stopping() && !giving_up && !functions::restoreLibraries(store, *engine)) {
        std::this_thread::sleep_for(std::chrono::seconds(1));
      }
      libraries_loaded = !server.stopping() && !giving_up;
    });
  }

  // The operator's folder of libraries: loaded over what the backend stored (the folder wins).
  std::unique_ptr<functions::LibraryDir> library_dir;
  if (!options.library_dir.empty()) {
    library_dir = std::make_unique<functions::LibraryDir>(
        options.library_dir,
        functions::LibraryDir::Actions{
            .load =
                [&commands, user = proxy_identity.user](std::string code,
                                                        std::function<void(Status)> done) {
                  scripting::LoadRequest request;
                  request.code = std::move(code);
                  request.user = user;  // the folder's libraries belong to the proxy's user
                  request.replace = true;
                  commands.loadLibrary(std::move(request), std::move(done));
                },
            .remove =
                [&commands](std::string name, std::function<void(Status)> done) {
                  commands.deleteLibrary(std::move(name), std::move(done));
                },
            .loaded_code = [&engine](const std::string& name) -> std::optional<std::string> {
              for (const scripting::LibraryDefinition& d : engine->definitions()) {
                if (d.name == name) return d.code;
              }
              return std::nullopt;
            }});
    std::string dir_error;
    if (!library_dir->start(&dir_error)) {
      spdlog::critical("{}", dir_error);
      giving_up = true;
      if (fleet) fleet->stop();
      if (restorer.joinable()) restorer.join();
      return 1;
    }
  }
  server::Operations operations(
      {.version = TFPROXY_VERSION,
       .options = &options,
       .server = &server,
       .link = &link,
       .status = &status,
       .gate = &gate,
       .fleet = fleet.get(),
       .cluster = cluster.get(),
       .engine = engine.get(),
       .library_dir = library_dir.get(),
       .backend_address = backend_endpoint.toString(),
       .backend_embedded = embedded != nullptr,
       .backend_tls = backend_target.tls != nullptr,
       .not_ready = [&]() -> std::string {
         if (server.stopping()) return "shutting down";
         if (!link.up()) return "backend unreachable: " + link.lastError();
         if (!status.reachable()) return "the backend does not answer the status poll";
         if (!libraries_loaded) return "the stored libraries are not loaded yet";
         if (fleet && !fleet->inStep()) return "not in step with the other instances of its fleet";
         return {};
       },
       .run_as =
           [&commands](std::vector<std::string> argv, functions::ClientContext client,
                       std::function<void(std::string)> done) {
             commands.runAs(std::move(argv), std::move(client), std::move(done));
           }});
  edits.setInfoSection([&operations] { return server::Operations::info(operations.snapshot()); });
  // Listening once the libraries are in (a client connecting earlier would wait unanswered).
  server::HttpEndpoint health(main_context,
                              [&operations](const server::HttpRequest& request, auto respond) {
                                operations.probes(request, std::move(respond));
                              });
  server::HttpEndpoint http(main_context,
                            [&operations](const server::HttpRequest& request, auto respond) {
                              operations.http(request, std::move(respond));
                            });
  std::string error;
  if (!server.listen(&error) ||
      (options.health_port != 0 &&
       !health.listen(options.bind, options.health_port, "--health-port", &error)) ||
      (options.http_port != 0 &&
       !http.listen(options.http_bind, options.http_port, "--http-port", &error))) {
    spdlog::critical("{}", error);
    giving_up = true;
    if (fleet) fleet->stop();  // before the server (the gate's listener) goes
    if (restorer.joinable()) restorer.join();
    return 1;
  }
  store.startGuard([&engine] { return engine->definitions(); },
                   [&engine](const functions::LibraryStore::Definitions& stored,
                             const functions::LibraryStore::Stale& stale) {
                     functions::adoptLibraries(*engine, stored, stale);
                   });

  server.start();
  if (options.http_port != 0) {
    spdlog::info("operations on http://{}:{}/ (admin page; /metrics for Prometheus)",
                 options.http_bind, http.port());
  }
  spdlog::info("tfproxy {} listening on {}, backend {}{}, {} I/O thread{}, V8 {}", TFPROXY_VERSION,
               listeningOn(options, server), backend_endpoint.toString(),
               embedded                        ? " (embedded redis-server)"
               : backend_target.tls != nullptr ? " (TLS)"
                                               : "",
               options.threads, options.threads == 1 ? "" : "s", scripting::v8Version());

  boost::asio::signal_set signals(main_context, SIGINT, SIGTERM);
  signals.async_wait([&](const boost::system::error_code& ec, int signo) {
    if (ec) return;
    spdlog::info("received {}, shutting down", signo == SIGINT ? "SIGINT" : "SIGTERM");
    server.shutdown(std::chrono::milliseconds(options.shutdown_timeout_ms), [&] {
      health.stop();
      http.stop();
      main_context.stop();
    });
  });
  // Certificates and keys are read again on SIGHUP (rotation); connections keep theirs.
  boost::asio::signal_set reload_signal(main_context, SIGHUP);
  std::function<void()> await_reload = [&] {
    reload_signal.async_wait([&](const boost::system::error_code& ec, int) {
      if (ec) return;
      for (const auto& [what, context] :
           {std::pair{"clients", client_tls}, std::pair{"the backend", backend_target.tls}}) {
        if (!context) continue;
        std::string error;
        if (context->reload(&error)) {
          spdlog::info("SIGHUP: TLS certificates for {} reloaded", what);
        } else {
          spdlog::error("SIGHUP: TLS certificates for {} not reloaded, the previous ones stay: {}",
                        what, error);
        }
      }
      await_reload();
    });
  };
  await_reload();
  main_context.run();

  if (restorer.joinable()) restorer.join();
  if (library_dir) library_dir->stop();
  store.stop();
  triggers.stop();
  if (fleet) {
    fleet->stop();  // the others stop waiting for this instance at once
    gate.setCoordinator(nullptr);
  }
  engine->shutdown();
  status.stop();
  if (cluster) cluster->stop();
  link.stop();
  embedded.reset();
  spdlog::info("tfproxy stopped");
  return 0;
}
