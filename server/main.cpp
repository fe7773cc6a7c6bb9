// tfproxy: a Redis-protocol proxy that runs Triggers and Functions (JavaScript) in front of an
// unmodified Redis. main() wires the modules together; see DESIGN.md.
#include <signal.h>
#include <spdlog/sinks/stdout_color_sinks.h>
#include <spdlog/spdlog.h>

#include <boost/asio/io_context.hpp>
#include <boost/asio/signal_set.hpp>
#include <cstdio>
#include <memory>

#include "backend/embedded_server.h"
#include "backend/link.h"
#include "config/cli.h"
#include "server/server.h"

namespace {

void setUpLogging(const std::string& level) {
  auto logger = spdlog::stderr_color_mt("tfproxy");
  logger->set_pattern("%Y-%m-%d %H:%M:%S.%e %^%l%$ %v");
  logger->set_level(spdlog::level::from_str(level));
  spdlog::set_default_logger(logger);
}

}  // namespace

int main(int argc, char** argv) {
  using namespace tfproxy;
  config::CliResult cli = config::parseCommandLine(argc, argv);
  if (cli.exit) {
    std::fputs(cli.output.c_str(), cli.exit_code == 0 ? stdout : stderr);
    return cli.exit_code;
  }
  const config::ProxyOptions& options = cli.options;
  setUpLogging(options.log_level);
  ::signal(SIGPIPE, SIG_IGN);

  std::unique_ptr<backend::EmbeddedServer> embedded;
  config::Endpoint backend_endpoint;
  if (options.backend) {
    backend_endpoint = *options.backend;
  } else {
    std::string error;
    embedded = backend::EmbeddedServer::start(options.redis_server, &error);
    if (!embedded) {
      spdlog::critical("cannot start the embedded backend: {}", error);
      return 1;
    }
    backend_endpoint = embedded->endpoint();
  }

  boost::asio::io_context main_context(1);
  backend::BackendLink link(main_context, backend_endpoint,
                            std::chrono::milliseconds(options.backend_connect_timeout_ms));
  link.start();

  server::Server server(main_context, options, link);
  std::string error;
  if (!server.listen(&error)) {
    spdlog::critical("{}", error);
    return 1;
  }
  server.start();
  spdlog::info("tfproxy {} listening on {}:{}, backend {}{}, {} I/O thread{}", TFPROXY_VERSION,
               options.bind, server.port(), backend_endpoint.toString(),
               embedded ? " (embedded redis-server)" : "", options.threads,
               options.threads == 1 ? "" : "s");

  boost::asio::signal_set signals(main_context, SIGINT, SIGTERM);
  signals.async_wait([&](const boost::system::error_code& ec, int signo) {
    if (ec) return;
    spdlog::info("received {}, shutting down", signo == SIGINT ? "SIGINT" : "SIGTERM");
    server.shutdown(std::chrono::milliseconds(options.shutdown_timeout_ms),
                    [&] { main_context.stop(); });
  });
  main_context.run();

  link.stop();
  embedded.reset();
  spdlog::info("tfproxy stopped");
  return 0;
}
