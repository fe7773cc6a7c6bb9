#include "config/cli.h"

#include <gtest/gtest.h>

#include <cstdio>
#include <fstream>
#include <vector>

#include "config/units.h"

namespace tfproxy::config {
namespace {

CliResult parse(std::vector<const char*> args) {
  args.insert(args.begin(), "tfproxy");
  return parseCommandLine(static_cast<int>(args.size()), args.data());
}

TEST(Cli, Defaults) {
  CliResult r = parse({});
  EXPECT_FALSE(r.exit);
  EXPECT_EQ(r.options.bind, "127.0.0.1");
  EXPECT_EQ(r.options.port, 6380);
  EXPECT_FALSE(r.options.backend.has_value());
  EXPECT_EQ(r.options.threads, 1u);
  EXPECT_EQ(r.options.maxclients, 10000u);
  EXPECT_EQ(r.options.backend_timeout_ms, 0u);
}

TEST(Cli, ClientAndBackendLimits) {
  CliResult r = parse({"--maxclients", "50", "--backend-timeout", "1500"});
  ASSERT_FALSE(r.exit) << r.output;
  EXPECT_EQ(r.options.maxclients, 50u);
  EXPECT_EQ(r.options.backend_timeout_ms, 1500u);
  for (const char* bad : {"0", "-1", "many"}) {
    CliResult b = parse({"--maxclients", bad});
    EXPECT_TRUE(b.exit);
    EXPECT_EQ(b.exit_code, 2) << bad;
    EXPECT_NE(b.output.find("--maxclients"), std::string::npos) << b.output;
  }
}

TEST(Cli, ParsesEveryFlag) {
  CliResult r = parse({"--bind", "0.0.0.0", "--port", "7000", "--backend", "redis.local:6379",
                       "--backend-user", "proxy", "--backend-password", "secret", "--threads", "4",
                       "--log-level", "debug", "--proto-max-bulk-len", "1mb",
                       "--client-query-buffer-limit", "2gb"});
  ASSERT_FALSE(r.exit) << r.output;
  EXPECT_EQ(r.options.bind, "0.0.0.0");
  EXPECT_EQ(r.options.port, 7000);
  ASSERT_TRUE(r.options.backend.has_value());
  EXPECT_EQ(r.options.backend->host, "redis.local");
  EXPECT_EQ(r.options.backend->port, 6379);
  EXPECT_EQ(r.options.backend_user, "proxy");
  EXPECT_EQ(r.options.backend_password, "secret");
  EXPECT_EQ(r.options.threads, 4u);
  EXPECT_EQ(r.options.log_level, "debug");
  EXPECT_EQ(r.options.proto_max_bulk_len, 1024u * 1024);
  EXPECT_EQ(r.options.client_query_buffer_limit, 2048ull * 1024 * 1024);
}

TEST(Cli, BadValuesNameTheFlagOnOneLineWithStatus2) {
  for (auto args : std::vector<std::vector<const char*>>{{"--port", "abc"},
                                                         {"--port", "0"},
                                                         {"--threads", "0"},
                                                         {"--backend", "nocolon"},
                                                         {"--backend", "h:99999"},
                                                         {"--backend", "unix:"},
                                                         {"--log-level", "loud"},
                                                         {"--proto-max-bulk-len", "12xb"}}) {
    CliResult r = parse(args);
    EXPECT_TRUE(r.exit);
    EXPECT_EQ(r.exit_code, 2);
    EXPECT_NE(r.output.find(args[0]), std::string::npos) << r.output;
    EXPECT_EQ(r.output.find('\n'), r.output.size() - 1) << r.output;
  }
}

TEST(Cli, UnixSocketBackend) {
  CliResult r = parse({"--backend", "unix:/run/redis/redis.sock"});
  ASSERT_FALSE(r.exit) << r.output;
  ASSERT_TRUE(r.options.backend.has_value());
  EXPECT_TRUE(r.options.backend->isUnix());
  EXPECT_EQ(r.options.backend->unix_path, "/run/redis/redis.sock");
  EXPECT_EQ(r.options.backend->toString(), "unix:/run/redis/redis.sock");
  CliResult bare = parse({"--backend", "/tmp/r.sock"});
  ASSERT_TRUE(bare.options.backend.has_value());
  EXPECT_EQ(bare.options.backend->unix_path, "/tmp/r.sock");
  const std::string long_path = "unix:/" + std::string(120, 'x');
  CliResult too_long = parse({"--backend", long_path.c_str()});
  EXPECT_EQ(too_long.exit_code, 2);
}

TEST(Cli, BackendUrls) {
  CliResult r = parse({"--backend", "rediss://app%40team:p%3Ass@cache.example.com:6380/0"});
  ASSERT_FALSE(r.exit) << r.output;
  EXPECT_EQ(r.options.backend->host, "cache.example.com");
  EXPECT_EQ(r.options.backend->port, 6380);
  EXPECT_TRUE(r.options.backend_tls.enabled);
  EXPECT_EQ(r.options.backend_user, "app@team");
  EXPECT_EQ(r.options.backend_password, "p:ss");
  // Flags win over the URL's credentials; a password alone authenticates the default user.
  r = parse({"--backend", "redis://:only@[::1]:7000", "--backend-user", "ops"});
  ASSERT_FALSE(r.exit) << r.output;
  EXPECT_EQ(r.options.backend->host, "::1");
  EXPECT_FALSE(r.options.backend_tls.enabled);
  EXPECT_EQ(r.options.backend_user, "ops");
  EXPECT_EQ(r.options.backend_password, "only");
  r = parse({"--backend", "unix:///run/redis.sock"});
  ASSERT_FALSE(r.exit) << r.output;
  EXPECT_EQ(r.options.backend->unix_path, "/run/redis.sock");
  for (const char* bad : {"redis://host:6379/2", "redis://u:%zz@host:1", "rediss://host",
                          "redis://user@unix:/x", "rediss://:1"}) {
    CliResult b = parse({"--backend", bad});
    EXPECT_TRUE(b.exit) << bad;
    EXPECT_EQ(b.exit_code, 2) << bad;
    EXPECT_NE(b.output.find("--backend"), std::string::npos) << b.output;
  }
}

TEST(Cli, TlsSettingsFitTogether) {
  CliResult r = parse({"--port", "0", "--tls-port", "6390", "--tls-cert-file", "c.pem",
                       "--tls-key-file", "k.pem", "--tls-auth-clients", "no"});
  ASSERT_FALSE(r.exit) << r.output;
  EXPECT_EQ(r.options.port, 0);
  EXPECT_EQ(r.options.tls.port, 6390);
  EXPECT_EQ(r.options.tls.auth_clients, TlsServerOptions::AuthClients::kNo);
  const std::vector<std::pair<std::vector<const char*>, const char*>> bad = {
      {{"--port", "0"}, "--port 0 turns the plaintext listener off"},
      {{"--tls-port", "6390", "--tls-cert-file", "c.pem"}, "needs --tls-cert-file and"},
      {{"--tls-port", "6390", "--tls-cert-file", "c", "--tls-key-file", "k"},
       "needs --tls-ca-cert-file"},
      {{"--backend", "h:1", "--backend-tls-ca-cert-file", "ca"}, "need TLS towards the backend"},
      {{"--backend-tls"}, "needs --backend"},
      {{"--backend", "rediss://h:1", "--backend-tls-cert-file", "c"}, "go together"},
      {{"--tls-auth-clients", "maybe"}, "--tls-auth-clients"},
  };
  for (const auto& [args, text] : bad) {
    CliResult b = parse(args);
    EXPECT_TRUE(b.exit) << text;
    EXPECT_EQ(b.exit_code, 2) << text;
    EXPECT_NE(b.output.find(text), std::string::npos) << b.output;
  }
}

TEST(Cli, EveryFlagFromTheEnvironment) {
  ::setenv("TFPROXY_TLS_PORT", "6391", 1);
  ::setenv("TFPROXY_BACKEND", "rediss://cache:6379", 1);
  ::setenv("TFPROXY_PORT", "7001", 1);
  CliResult r = parse({"--port", "7002", "--tls-cert-file", "c", "--tls-key-file", "k",
                       "--tls-auth-clients", "no"});
  ::unsetenv("TFPROXY_TLS_PORT");
  ::unsetenv("TFPROXY_BACKEND");
  ::unsetenv("TFPROXY_PORT");
  ASSERT_FALSE(r.exit) << r.output;
  EXPECT_EQ(r.options.tls.port, 6391);
  EXPECT_TRUE(r.options.backend_tls.enabled);
  EXPECT_EQ(r.options.port, 7002);  // a flag given wins
}

TEST(Cli, HelpAndVersionExitZero) {
  CliResult help = parse({"--help"});
  EXPECT_TRUE(help.exit);
  EXPECT_EQ(help.exit_code, 0);
  EXPECT_NE(help.output.find("--backend"), std::string::npos);
  CliResult version = parse({"--version"});
  EXPECT_EQ(version.exit_code, 0);
  EXPECT_NE(version.output.find(TFPROXY_VERSION), std::string::npos);
}

TEST(Cli, ConfigFileGivesTheSameSettings) {
  char path[] = "/tmp/tfproxy-cli-XXXXXX";
  int fd = mkstemp(path);
  ASSERT_GE(fd, 0);
  close(fd);
  {
    std::ofstream f(path);
    f << "port = 7100\nbackend = \"10.0.0.5:6390\"\nthreads = 2\n";
  }
  CliResult r = parse({"--config", path});
  std::remove(path);
  ASSERT_FALSE(r.exit) << r.output;
  EXPECT_EQ(r.options.port, 7100);
  ASSERT_TRUE(r.options.backend.has_value());
  EXPECT_EQ(r.options.backend->toString(), "10.0.0.5:6390");
  EXPECT_EQ(r.options.threads, 2u);
}

TEST(Units, MemorySizes) {
  EXPECT_EQ(parseMemory("1024"), 1024u);
  EXPECT_EQ(parseMemory("1k"), 1000u);
  EXPECT_EQ(parseMemory("1kb"), 1024u);
  EXPECT_EQ(parseMemory("200MB"), 200u * 1024 * 1024);
  EXPECT_EQ(parseMemory("1gb"), 1024u * 1024 * 1024);
  EXPECT_FALSE(parseMemory("mb"));
  EXPECT_FALSE(parseMemory("-1"));
  EXPECT_FALSE(parseMemory("1.5mb"));
}

TEST(Endpoint, Parsing) {
  EXPECT_EQ(parseEndpoint("localhost:6379")->toString(), "localhost:6379");
  EXPECT_EQ(parseEndpoint("[::1]:6379")->host, "::1");
  EXPECT_FALSE(parseEndpoint("::1:6379"));
  EXPECT_FALSE(parseEndpoint(":6379"));
  EXPECT_FALSE(parseEndpoint("host:"));
}

}  // namespace
// Upstream's module arguments: <name> <value> pairs after the flags, with any value.
TEST(Cli, ModuleArgumentPairs) {
  CliResult r = parse({"--port", "7000", "v8-maxmemory", "104857600", "error-verbosity", "2",
                       "v8-flags", "'--noexpose-wasm --max-lazy'", "library-fatal-failure-policy",
                       "KILL", "--library-key", "execution-threads"});
  ASSERT_FALSE(r.exit) << r.output;
  EXPECT_EQ(r.options.port, 7000);
  EXPECT_EQ(r.options.gears.v8_maxmemory, 104857600u);
  EXPECT_EQ(r.options.gears.error_verbosity, 2);
  EXPECT_EQ(r.options.gears.v8_flags, "'--noexpose-wasm --max-lazy'");
  EXPECT_EQ(r.options.gears.library_fatal_failure_policy, FatalFailurePolicy::kKill);
  // A flag's value that happens to be an option's name stays the flag's value.
  EXPECT_EQ(r.options.library_key, "execution-threads");
  // Out of range as a pair is refused as the flag form is.
  CliResult bad = parse({"v8-maxmemory", "1kb"});
  EXPECT_TRUE(bad.exit);
  EXPECT_EQ(bad.exit_code, 2);
  // A name without a value, or an unknown name, is an error, not ignored.
  EXPECT_TRUE(parse({"execution-threads"}).exit);
  EXPECT_TRUE(parse({"no-such-option", "1"}).exit);
}

}  // namespace tfproxy::config
