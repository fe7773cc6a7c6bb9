#include "config/cli.h"

#include <CLI/CLI.hpp>
#include <algorithm>
#include <cctype>
#include <cstdlib>
#include <limits>
#include <sstream>

#include "config/errors.h"
#include "config/units.h"

namespace tfproxy::config {
namespace {

// The help group of the options named as upstream's module arguments.
constexpr char kGearsGroup[] = "Triggers and Functions (also as module arguments: NAME VALUE)";

// A CLI11 validator for Redis-style memory sizes; it rewrites the value to plain bytes.
CLI::Validator memorySize() {
  return CLI::Validator(
      [](std::string& value) -> std::string {
        auto bytes = parseMemory(value);
        if (!bytes) return std::string(errors::kBadMemory) + ", got '" + value + "'";
        value = std::to_string(*bytes);
        return {};
      },
      "SIZE");
}

// Upstream's module arguments are `<name> <value>` pairs (spec §10): each pair whose name is one
// of the Triggers and Functions options becomes `--name=value`, so a `loadmodule` line's
// arguments can be pasted after tfproxy's own flags. A token that is the value of the flag
// before it is left alone.
std::vector<std::string> expandModuleArguments(const CLI::App& app, int argc,
                                               const char* const* argv) {
  std::vector<std::string> names;
  for (const CLI::Option* option : app.get_options()) {
    if (option->get_group() == kGearsGroup) names.push_back(option->get_lnames().at(0));
  }
  std::vector<std::string> out;
  for (int i = 0; i < argc; ++i) {
    std::string_view token = argv[i];
    const bool after_flag = i > 1 && std::string_view(argv[i - 1]).rfind("--", 0) == 0 &&
                            std::string_view(argv[i - 1]).find('=') == std::string_view::npos;
    if (i > 0 && !after_flag && i + 1 < argc &&
        std::find(names.begin(), names.end(), token) != names.end()) {
      out.push_back("--" + std::string(token) + "=" + argv[i + 1]);
      ++i;
      continue;
    }
    out.emplace_back(token);
  }
  return out;
}

}  // namespace

Status validateTls(const ProxyOptions& o) {
  if (o.port == 0 && !o.tls.enabled()) return Status::failure(errors::kNoListener);
  if (o.tls.enabled() && (o.tls.cert_file.empty() || o.tls.key_file.empty())) {
    return Status::failure(errors::kTlsNeedsCertificate);
  }
  if (o.tls.enabled() && o.tls.auth_clients != TlsServerOptions::AuthClients::kNo &&
      o.tls.ca_cert_file.empty() && o.tls.ca_cert_dir.empty()) {
    return Status::failure(errors::kTlsNeedsCa);
  }
  const TlsClientOptions& b = o.backend_tls;
  const bool backend_tls_set = !b.ca_cert_file.empty() || !b.ca_cert_dir.empty() ||
                               !b.cert_file.empty() || !b.key_file.empty() ||
                               !b.server_name.empty() || b.insecure;
  if (backend_tls_set && !b.enabled) return Status::failure(errors::kBackendTlsOff);
  if (b.enabled && !o.backend) return Status::failure(errors::kBackendTlsEmbedded);
  if (b.cert_file.empty() != b.key_file.empty()) return Status::failure(errors::kBackendTlsPair);
  return {};
}

std::string defaultDataDir() {
  const char* xdg = std::getenv("XDG_DATA_HOME");
  if (xdg != nullptr && xdg[0] == '/') return std::string(xdg) + "/tfproxy-data";
  const char* home = std::getenv("HOME");
  if (home != nullptr && home[0] != '\0') return std::string(home) + "/.local/share/tfproxy-data";
  return "tfproxy-data";
}

CliResult parseCommandLine(int argc, const char* const* argv) {
  CliResult result;
  ProxyOptions& o = result.options;
  CLI::App app{
      "tfproxy: a Redis-protocol proxy that runs JavaScript functions and triggers "
      "(RedisGears 2 compatible) in front of an unmodified Redis.",
      "tfproxy"};
  app.option_defaults()->always_capture_default();
  app.set_version_flag("--version", std::string("tfproxy ") + TFPROXY_VERSION);
  app.set_config("--config", "", "Read settings from an INI/TOML file (key = value per line)");
  app.footer(
      "tfproxy check [--error-verbosity 1|2] FILE... compiles and registers libraries offline "
      "and reports each file as TFUNCTION LOAD would (tfproxy check --help).");
  app.get_config_ptr()->type_name("FILE");

  std::string backend;
  app.add_option("--bind", o.bind, "Address to listen on");
  app.add_option("--port", o.port, "Port to listen on (0: no plaintext listener, as Redis)")
      ->check(CLI::Range(0, 65535));
  app.add_option("--backend", backend,
                 "Redis to proxy: HOST:PORT, unix:PATH, redis://[USER[:PASSWORD]@]HOST:PORT, "
                 "rediss://... (TLS) or unix://PATH. Without it tfproxy starts a private "
                 "redis-server")
      ->type_name("ADDRESS|URL");
  app.add_option("--data-dir", o.data_dir,
                 "Where the embedded redis-server keeps its data (default: tfproxy-data in the "
                 "user's data folder, $XDG_DATA_HOME or ~/.local/share)")
      ->type_name("DIR");
  app.add_flag("--ephemeral", o.ephemeral,
               "The embedded redis-server keeps its data in a temporary folder deleted on exit");

  // TLS for clients, under Redis' own option names.
  TlsServerOptions& tls = o.tls;
  std::string auth_clients = "yes";
  const char* tls_group = "TLS for clients (Redis' option names)";
  app.add_option("--tls-port", tls.port, "Port of the TLS listener (0: none)")
      ->check(CLI::Range(0, 65535))
      ->group(tls_group);
  app.add_option("--tls-cert-file", tls.cert_file, "Server certificate (PEM, chain allowed)")
      ->group(tls_group);
  app.add_option("--tls-key-file", tls.key_file, "Private key of the server certificate")
      ->group(tls_group);
  app.add_option("--tls-ca-cert-file", tls.ca_cert_file,
                 "CA certificates that may sign client certificates")
      ->group(tls_group);
  app.add_option("--tls-ca-cert-dir", tls.ca_cert_dir,
                 "Directory of CA certificates (c_rehash layout) that may sign client certificates")
      ->group(tls_group);
  app.add_option("--tls-auth-clients", auth_clients,
                 "Client certificates: required (yes), not asked for (no), or checked when "
                 "given (optional)")
      ->transform(CLI::IsMember({"yes", "no", "optional"}, CLI::ignore_case))
      ->group(tls_group);
  app.add_option("--tls-protocols", tls.protocols,
                 "Protocol versions allowed, e.g. \"TLSv1.2 TLSv1.3\" (default: both)")
      ->group(tls_group);
  app.add_option("--tls-ciphersuites", tls.ciphersuites, "TLSv1.3 cipher suites (OpenSSL syntax)")
      ->group(tls_group);
  app.add_option("--tls-ciphers", tls.ciphers, "TLSv1.2 ciphers (OpenSSL syntax)")
      ->group(tls_group);
  app.add_option("--tls-handshake-timeout", tls.handshake_timeout_ms,
                 "Milliseconds a client may take to finish its TLS handshake")
      ->check(CLI::Range(1u, 600000u))
      ->group(tls_group);

  // TLS towards the backend.
  TlsClientOptions& btls = o.backend_tls;
  const char* btls_group = "TLS towards the backend";
  app.add_flag("--backend-tls", btls.enabled, "Talk TLS to a HOST:PORT backend (as rediss://)")
      ->group(btls_group);
  app.add_option("--backend-tls-ca-cert-file", btls.ca_cert_file,
                 "CA certificates that may sign the backend's (default: the system's)")
      ->group(btls_group);
  app.add_option("--backend-tls-ca-cert-dir", btls.ca_cert_dir,
                 "Directory of CA certificates that may sign the backend's")
      ->group(btls_group);
  app.add_option("--backend-tls-cert-file", btls.cert_file,
                 "Client certificate for backends that require one")
      ->group(btls_group);
  app.add_option("--backend-tls-key-file", btls.key_file, "Private key of the client certificate")
      ->group(btls_group);
  app.add_option("--backend-tls-server-name", btls.server_name,
                 "Name sent as SNI and checked against the backend's certificate (default: the "
                 "backend's host)")
      ->group(btls_group);
  app.add_flag("--backend-tls-insecure", btls.insecure,
               "Do not verify the backend's certificate (warned about at start)")
      ->group(btls_group);
  app.add_option("--health-port", o.health_port,
                 "Port for GET /healthz and /readyz (container probes; 0: off)")
      ->check(CLI::Range(0, 65535));
  const char* ops_group = "Operations";
  app.add_option("--http-port", o.http_port,
                 "Port for GET /metrics (Prometheus), the admin page at / and the probes "
                 "(0: off)")
      ->check(CLI::Range(0, 65535))
      ->group(ops_group);
  app.add_option("--http-bind", o.http_bind, "Address the --http-port listener binds")
      ->group(ops_group);
  app.add_option("--slowlog-log-slower-than", o.slowlog_log_slower_than,
                 "Function and trigger runs of at least this many microseconds go to TFUNCTION "
                 "SLOWLOG (0: every run; negative: none)")
      ->group(ops_group);
  app.add_option("--slowlog-max-len", o.slowlog_max_len, "Most entries TFUNCTION SLOWLOG keeps")
      ->check(CLI::Range(0u, 1000000u))
      ->group(ops_group);
  app.add_option("--io-thread-functions", o.io_thread_functions,
                 "Run a short sync function on the I/O thread that received its call when its "
                 "library and the atomic gate are free, instead of handing it to a script thread "
                 "(yes/no)")
      ->type_name("yes|no");
  app.add_option("--backend-user", o.backend_user,
                 "ACL user of the proxy's own internal backend connections");
  app.add_option("--backend-password", o.backend_password,
                 "Password of the proxy's own internal backend connections");
  app.add_option("--backend-connect-timeout", o.backend_connect_timeout_ms,
                 "Milliseconds a backend connection attempt may take")
      ->check(CLI::Range(1u, 600000u));
  app.add_option("--threads", o.threads, "I/O threads")->check(CLI::Range(1u, 64u));
  app.add_option("--multiplex", o.multiplex,
                 "Share one pipelined backend connection per I/O thread among clients that use "
                 "no connection state (yes/no); a client gets its own at its first stateful "
                 "command")
      ->type_name("yes|no");
  app.add_option("--log-level", o.log_level, "Log level")
      ->check(CLI::IsMember({"trace", "debug", "info", "warn", "error", "critical", "off"}));
  app.add_option("--proto-max-bulk-len", o.proto_max_bulk_len,
                 "Largest bulk argument a client may send (as Redis' proto-max-bulk-len)")
      ->transform(memorySize());
  app.add_option("--client-query-buffer-limit", o.client_query_buffer_limit,
                 "Most bytes buffered for one client's unfinished command")
      ->transform(memorySize());
  app.add_option("--maxclients", o.maxclients,
                 "Most clients connected at once (as Redis' maxclients)")
      ->check(CLI::Range(1u, 1000000u));
  app.add_option("--backend-timeout", o.backend_timeout_ms,
                 "Milliseconds a forwarded command may wait for its reply before it answers an "
                 "error and the backend connection is replaced (0: no limit; blocking commands "
                 "are never cut)")
      ->check(CLI::Range(0u, 3600000u));
  app.add_option("--shutdown-timeout", o.shutdown_timeout_ms,
                 "Milliseconds shutdown waits for in-flight replies")
      ->check(CLI::Range(0u, 600000u));
  app.add_option("--redis-server", o.redis_server,
                 "redis-server binary for the embedded default backend");

  app.add_option("--library-dir", o.library_dir,
                 "Folder whose *.js files are libraries: loaded at start, and loaded again, "
                 "replaced or deleted as the files change")
      ->group(ops_group);
  app.add_option("--library-key", o.library_key,
                 "Backend key (a hash) where loaded libraries are stored");
  app.add_option("--fleet", o.fleet,
                 "Share one atomic gate with every tfproxy in front of the same backend and "
                 "library key (yes/no); no: functions are atomic against this instance's clients "
                 "only")
      ->type_name("yes|no");
  app.add_option("--fleet-lease", o.fleet_lease_ms,
                 "Milliseconds a fleet membership and the fleet's lock live without renewal (an "
                 "instance that dies holds the others up at most this long)")
      ->check(CLI::Range(300u, 60000u));
  app.add_option("--aclfile", o.acl_file,
                 "ACL file (Redis' format; rules may name TFCALL, TFCALLASYNC, TFUNCTION) applied "
                 "at start and by ACL LOAD through tfproxy")
      ->type_name("FILE");

  // Triggers and Functions settings, named as upstream's module arguments (spec §10).
  GearsSettings& g = o.gears;
  std::string policy = "abort";
  std::string debug_command = "no";
  auto gears = [&](const char* name, auto& target, const char* help) {
    return app.add_option(name, target, help)->group(kGearsGroup);
  };
  gears("--execution-threads", g.execution_threads, "Threads that run JavaScript")
      ->check(CLI::Range(1u, 32u));
  gears("--library-fatal-failure-policy", policy,
        "On a lock timeout: abort the JavaScript, or kill (let it run, keep atomicity)")
      ->transform(CLI::IsMember({"abort", "kill"}, CLI::ignore_case));
  gears("--lock-redis-timeout", g.lock_redis_timeout,
        "Milliseconds a function may hold the atomic section")
      ->check(CLI::Range(int64_t{100}, int64_t{1000000000}));
  gears("--db-loading-lock-redis-timeout", g.db_loading_lock_redis_timeout,
        "Milliseconds for loading a stored library at start")
      ->check(CLI::Range(int64_t{100}, int64_t{1000000000}));
  gears("--remote-task-default-timeout", g.remote_task_default_timeout,
        "Milliseconds for runOnKey/runOnShards remote work")
      ->check(CLI::Range(int64_t{1}, std::numeric_limits<int64_t>::max()));
  gears("--error-verbosity", g.error_verbosity, "1: exception text, 2: with stack trace")
      ->check(CLI::Range(int64_t{1}, int64_t{2}));
  gears("--v8-maxmemory", g.v8_maxmemory, "Heap budget of all libraries together")
      ->transform(memorySize())
      ->check(CLI::Range(uint64_t{50} << 20, uint64_t{1024} << 20));
  gears("--v8-library-initial-memory-usage", g.v8_library_initial_memory_usage,
        "Initial heap of each library")
      ->transform(memorySize())
      ->check(CLI::Range(uint64_t{1} << 20, uint64_t{10} << 20));
  gears("--v8-library-initial-memory-limit", g.v8_library_initial_memory_limit,
        "Initial heap limit of each library")
      ->transform(memorySize())
      ->check(CLI::Range(uint64_t{2} << 20, uint64_t{20} << 20));
  gears("--v8-library-memory-usage-delta", g.v8_library_memory_usage_delta,
        "Step by which a library's heap limit grows")
      ->transform(memorySize())
      ->check(CLI::Range(uint64_t{1} << 20, uint64_t{10} << 20));
  gears("--v8-flags", g.v8_flags, "V8 command-line flags");
  gears("--v8-plugin-path", g.v8_plugin_path, "Accepted for compatibility; not used");
  gears("--v8-debug-server-address", g.v8_debug_server_address,
        "IPv4-ADDRESS:PORT where TFUNCTION LOAD DEBUG serves the library to Chrome DevTools "
        "(unset: LOAD DEBUG answers an error)");
  gears("--enable-debug-command", debug_command, "Enable TFUNCTION DEBUG (yes/no)")
      ->transform(CLI::IsMember({"yes", "no"}, CLI::ignore_case));
  gears("--gearsbox-address", g.gearsbox_address, "Accepted for compatibility; not used");

  // Every flag can also come from the environment (containers): --tls-port as TFPROXY_TLS_PORT.
  for (CLI::Option* option : app.get_options()) {
    if (option->get_lnames().empty()) continue;
    std::string name = "TFPROXY_" + option->get_lnames().front();
    for (char& c : name) c = c == '-' ? '_' : static_cast<char>(std::toupper(c));
    if (name != "TFPROXY_HELP" && name != "TFPROXY_VERSION") option->envname(name);
  }

  try {
    const std::vector<std::string> expanded = expandModuleArguments(app, argc, argv);
    std::vector<const char*> expanded_argv;
    for (const std::string& a : expanded) expanded_argv.push_back(a.c_str());
    app.parse(static_cast<int>(expanded_argv.size()), expanded_argv.data());
    g.library_fatal_failure_policy =
        policy == "kill" ? FatalFailurePolicy::kKill : FatalFailurePolicy::kAbort;
    g.enable_debug_command = debug_command == "yes";
    if (Status problem = validateStartup(g); !problem.ok()) {
      throw CLI::ValidationError("settings", problem.message());
    }
    if (!backend.empty()) {
      std::string why;
      std::optional<BackendSpec> spec = parseBackend(backend, &why);
      if (!spec) throw CLI::ValidationError("--backend", why + ", got '" + backend + "'");
      o.backend = spec->endpoint;
      btls.enabled = btls.enabled || spec->tls;
      // Flags win over the URL's credentials.
      if (o.backend_user.empty() && spec->user) o.backend_user = *spec->user;
      if (o.backend_password.empty() && spec->password) o.backend_password = *spec->password;
    }
    if (o.backend && (o.ephemeral || !o.data_dir.empty())) {
      throw CLI::ValidationError(o.ephemeral ? "--ephemeral" : "--data-dir",
                                 errors::kDataDirWithBackend);
    }
    if (o.ephemeral && !o.data_dir.empty()) {
      throw CLI::ValidationError("--data-dir", errors::kDataDirEphemeral);
    }
    if (!o.backend && !o.ephemeral && o.data_dir.empty()) o.data_dir = defaultDataDir();
    tls.auth_clients = auth_clients == "no"         ? TlsServerOptions::AuthClients::kNo
                       : auth_clients == "optional" ? TlsServerOptions::AuthClients::kOptional
                                                    : TlsServerOptions::AuthClients::kYes;
    if (Status problem = validateTls(o); !problem.ok()) {
      throw CLI::ValidationError("TLS", problem.message());
    }
  } catch (const CLI::CallForHelp& e) {
    result.exit = true;
    result.exit_code = 0;
    result.output = app.help();
    return result;
  } catch (const CLI::CallForVersion& e) {
    result.exit = true;
    result.exit_code = 0;
    result.output = std::string(e.what()) + "\n";
    return result;
  } catch (const CLI::Success& e) {
    std::ostringstream out, err;
    app.exit(e, out, err);
    result.exit = true;
    result.exit_code = 0;
    result.output = out.str();
    return result;
  } catch (const CLI::ParseError& e) {
    std::string message = e.what();
    for (char& c : message) {
      if (c == '\n') c = ' ';
    }
    result.exit = true;
    result.exit_code = 2;
    result.output = "tfproxy: " + message + " (see --help)\n";
    return result;
  }
  return result;
}

}  // namespace tfproxy::config
