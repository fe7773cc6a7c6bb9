#include "config/cli.h"

#include <CLI/CLI.hpp>
#include <sstream>

#include "config/errors.h"
#include "config/units.h"

namespace tfproxy::config {
namespace {

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

}  // namespace

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
  app.get_config_ptr()->type_name("FILE");

  std::string backend;
  app.add_option("--bind", o.bind, "Address to listen on");
  app.add_option("--port", o.port, "Port to listen on")->check(CLI::Range(1, 65535));
  app.add_option("--backend", backend,
                 "Redis to proxy, HOST:PORT. Without it tfproxy starts a private redis-server")
      ->type_name("HOST:PORT");
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
  app.add_option("--shutdown-timeout", o.shutdown_timeout_ms,
                 "Milliseconds shutdown waits for in-flight replies")
      ->check(CLI::Range(0u, 600000u));
  app.add_option("--redis-server", o.redis_server,
                 "redis-server binary for the embedded default backend");

  try {
    app.parse(argc, argv);
    if (!backend.empty()) {
      o.backend = parseEndpoint(backend);
      if (!o.backend) {
        throw CLI::ValidationError("--backend",
                                   std::string(errors::kBadEndpoint) + ", got '" + backend + "'");
      }
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
