// Start-up, the embedded default backend, command-line errors, and graceful shutdown.
#include <gtest/gtest.h>
#include <signal.h>

#include <filesystem>
#include <fstream>
#include <memory>
#include <thread>

#include "tests/support/client.h"
#include "tests/support/eventually.h"
#include "tests/support/probes.h"
#include "tests/support/processes.h"

namespace tfproxy::testing {
namespace {

bool processAlive(pid_t pid) { return ::kill(pid, 0) == 0; }

TEST(LifecycleTest, EmbeddedDefaultBackendStartsAndStops) {
  Proxy proxy({});
  Client c(proxy.port());
  EXPECT_EQ(c.run({"PING"}), "PONG");
  EXPECT_EQ(c.run({"SET", "k", "v"}), "OK");
  std::string info = c.call({"INFO", "server"}).str;
  pid_t redis_pid = std::stoi(info.substr(info.find("process_id:") + 11));
  EXPECT_TRUE(processAlive(redis_pid));
  std::string log = proxy.log();
  EXPECT_NE(log.find("tfproxy " TFPROXY_VERSION " listening on 127.0.0.1:" +
                     std::to_string(proxy.port())),
            std::string::npos)
      << log;
  EXPECT_NE(log.find("embedded redis-server"), std::string::npos) << log;
  c.close();
  EXPECT_EQ(proxy.stop(SIGTERM), 0);
  for (int i = 0; i < 100 && processAlive(redis_pid); ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  EXPECT_FALSE(processAlive(redis_pid));
}

TEST(LifecycleTest, HealthPortAnswersProbes) {
  auto redis = std::make_unique<RedisServer>();
  const uint16_t health = freePort();
  Proxy proxy({"--backend", redis->address(), "--health-port", std::to_string(health)});
  ASSERT_TRUE(waitForPort(health, std::chrono::seconds(10)));
  EXPECT_NE(httpGet(health, "/healthz").find("HTTP/1.1 200 OK"), std::string::npos);
  EXPECT_NE(httpGet(health, "/readyz").find("HTTP/1.1 200 OK"), std::string::npos);
  EXPECT_NE(httpGet(health, "/other").find("404"), std::string::npos);
  // The backend gone: alive, not ready, and why.
  redis->kill();
  EXPECT_TRUE(eventually([&] {
    return httpGet(health, "/readyz").find("503 Service Unavailable") != std::string::npos;
  }));
  EXPECT_NE(httpGet(health, "/readyz").find("not ready: "), std::string::npos);
  EXPECT_NE(httpGet(health, "/healthz").find("200 OK"), std::string::npos);
  redis->restart();
  EXPECT_TRUE(
      eventually([&] { return httpGet(health, "/readyz").find("200 OK") != std::string::npos; }));
}

// The embedded default keeps its data (libraries included) across restarts in its data folder,
// which one tfproxy holds at a time.
TEST(LifecycleTest, EmbeddedDefaultKeepsItsDataInTheDataFolder) {
  char pattern[] = "/tmp/tfproxy-data-XXXXXX";
  ASSERT_NE(::mkdtemp(pattern), nullptr);
  const std::string data = std::string(pattern) + "/store";  // created by tfproxy
  {
    Proxy proxy({"--data-dir", data});
    EXPECT_NE(proxy.log().find("the embedded redis-server keeps its data in " + data),
              std::string::npos)
        << proxy.log();
    Client c(proxy.port());
    ASSERT_EQ(c.run({"SET", "kept", "yes"}), "OK");
    ASSERT_EQ(c.run({"TFUNCTION", "LOAD",
                     "#!js api_version=1.0 name=kept\nredis.registerFunction('f', () => 'here');"}),
              "OK");
    // A second tfproxy on the same folder refuses to start a second server on its files.
    std::string out;
    EXPECT_EQ(runProxyToExit({"--port", std::to_string(freePort()), "--data-dir", data}, &out), 1);
    EXPECT_NE(out.find("another tfproxy (pid " + std::to_string(proxy.pid()) +
                       ") uses the data folder " + data),
              std::string::npos)
        << out;
    c.close();
    EXPECT_EQ(proxy.stop(SIGTERM), 0);
  }
  EXPECT_TRUE(std::filesystem::exists(data + "/appendonlydir"));
  Proxy again({"--data-dir", data});
  Client c(again.port());
  EXPECT_EQ(c.run({"GET", "kept"}), "\"yes\"");
  EXPECT_EQ(c.run({"TFCALL", "kept.f", "0"}), "\"here\"");
  c.close();
  EXPECT_EQ(again.stop(SIGTERM), 0);
  std::filesystem::remove_all(pattern);
}

// Without --data-dir the folder is tfproxy-data in the user's data folder; --ephemeral keeps
// nothing.
TEST(LifecycleTest, DefaultDataFolderAndEphemeral) {
  char pattern[] = "/tmp/tfproxy-xdg-XXXXXX";
  ASSERT_NE(::mkdtemp(pattern), nullptr);
  const std::string xdg = pattern;
  std::string out;
  EXPECT_EQ(
      runProxyToExit(
          {"--port", std::to_string(freePort()), "--ephemeral", "--data-dir", xdg + "/x"}, &out),
      2);
  EXPECT_NE(out.find("--data-dir and --ephemeral exclude each other"), std::string::npos) << out;
  RedisServer redis;
  EXPECT_EQ(runProxyToExit({"--backend", redis.address(), "--ephemeral"}, &out), 2);
  EXPECT_NE(out.find("applies to the embedded redis-server only"), std::string::npos) << out;
  // The default folder: created on first start, under $XDG_DATA_HOME.
  const uint16_t port = freePort();
  ChildProcess child;
  child.spawn({proxyBinary(), "--port", std::to_string(port)}, xdg + "/default.log",
              {"XDG_DATA_HOME=" + xdg});
  ASSERT_TRUE(waitForPort(port, std::chrono::seconds(20)));
  {
    Client c(port);
    ASSERT_EQ(c.run({"SET", "k", "v"}), "OK");
  }
  EXPECT_TRUE(std::filesystem::exists(xdg + "/tfproxy-data/tfproxy.lock"));
  child.stop(SIGTERM);
  {
    Proxy ephemeral({"--ephemeral"});
    Client c(ephemeral.port());
    EXPECT_EQ(c.run({"GET", "k"}), "(nil)");
    EXPECT_NE(ephemeral.log().find("temporary folder deleted on exit (--ephemeral)"),
              std::string::npos);
  }
  std::filesystem::remove_all(xdg);
}

TEST(LifecycleTest, NoRedisServerOnPath) {
  std::string out;
  int status = runProxyToExit({"--port", std::to_string(freePort())}, &out, {"PATH=/nonexistent"});
  EXPECT_NE(status, 0);
  EXPECT_NE(out.find("redis-server"), std::string::npos) << out;
  EXPECT_NE(out.find("--backend"), std::string::npos) << out;
}

TEST(LifecycleTest, BadFlagValueExitsWithStatus2) {
  std::string out;
  EXPECT_EQ(runProxyToExit({"--port", "notaport"}, &out), 2);
  EXPECT_NE(out.find("--port"), std::string::npos) << out;
  EXPECT_EQ(std::count(out.begin(), out.end(), '\n'), 1) << out;
  EXPECT_EQ(runProxyToExit({"--threads", "1000"}, &out), 2);
  EXPECT_NE(out.find("--threads"), std::string::npos) << out;
  EXPECT_EQ(runProxyToExit({"--help"}, &out), 0);
  EXPECT_NE(out.find("--backend"), std::string::npos);
  EXPECT_EQ(runProxyToExit({"--version"}, &out), 0);
  EXPECT_EQ(out, "tfproxy " TFPROXY_VERSION "\n");
}

TEST(LifecycleTest, ConfigFile) {
  RedisServer redis;
  std::string path = "/tmp/tfproxy-lifecycle-" + std::to_string(::getpid()) + ".conf";
  {
    std::ofstream f(path);
    f << "backend = \"" << redis.address() << "\"\nlog-level = \"debug\"\n";
  }
  Proxy proxy({"--config", path});
  std::remove(path.c_str());
  Client c(proxy.port());
  c.call({"SET", "via-config", "1"});
  EXPECT_EQ(Client(redis.port()).run({"GET", "via-config"}), "\"1\"");
  EXPECT_NE(proxy.log().find("backend " + redis.address()), std::string::npos);
}

TEST(LifecycleTest, SigtermLetsInFlightRepliesFinish) {
  RedisServer redis;
  for (int signo : {SIGTERM, SIGINT}) {
    Proxy proxy({"--backend", redis.address()});
    Client c(proxy.port());
    c.sendCommand({"BLPOP", "nothing", "1"});  // answers nil after a second
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
    ::kill(proxy.pid(), signo);
    // New clients are refused once shutdown started.
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
    EXPECT_THROW(Client late(proxy.port()), std::runtime_error);
    // The in-flight reply still arrives.
    EXPECT_EQ(resp::toDebugString(c.read()), "(nil)");
    EXPECT_EQ(proxy.stop(signo), 0);
    EXPECT_NE(proxy.log().find("shutting down"), std::string::npos);
  }
}

}  // namespace
}  // namespace tfproxy::testing
