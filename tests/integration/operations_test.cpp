// What operators see: INFO's tfproxy section, /metrics, the admin page's state and page, and
// TFUNCTION SLOWLOG -- through the real binary in front of a real Redis.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <map>
#include <memory>
#include <regex>
#include <set>
#include <sstream>
#include <thread>

#include "tests/support/client.h"
#include "tests/support/eventually.h"
#include "tests/support/probes.h"
#include "tests/support/processes.h"

namespace tfproxy::testing {
namespace {

constexpr char kLibrary[] = R"(#!js api_version=1.0 name=ops
redis.registerFunction('get', function(client, key) { return client.call('get', key); });
redis.registerFunction('fail', function() { throw 'failed on purpose'; });
redis.registerFunction('spin', function(client, ms) {
  const until = Date.now() + parseInt(ms);
  while (Date.now() < until) {}
  return 'done';
});
redis.registerAsyncFunction('later', async function(client) { return 'later'; });
redis.registerKeySpaceTrigger('seen', 'watched:', function(client, data) {
  client.call('incr', 'seen-count');
});
)";

// The fields of an INFO section's text, "name:value" lines.
std::map<std::string, std::string> infoFields(const std::string& text) {
  std::map<std::string, std::string> out;
  std::istringstream in(text);
  std::string line;
  while (std::getline(in, line)) {
    if (!line.empty() && line.back() == '\r') line.pop_back();
    const size_t colon = line.find(':');
    if (line.empty() || line[0] == '#' || colon == std::string::npos) continue;
    out[line.substr(0, colon)] = line.substr(colon + 1);
  }
  return out;
}

// The value of one sample of a Prometheus scrape ("name{labels}" exactly as written), or -1.
double sample(const std::string& scrape, const std::string& series) {
  std::istringstream in(scrape);
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind(series + " ", 0) == 0) return std::stod(line.substr(series.size() + 1));
  }
  return -1;
}

// Runs a Node.js scenario of tests/node with `args`; it prints "ok" when every step held.
void runNodeScenario(const std::string& script, const std::vector<std::string>& args) {
  std::vector<std::string> argv = {"node",
                                   std::string(TFPROXY_SOURCE_DIR) + "/tests/node/" + script};
  argv.insert(argv.end(), args.begin(), args.end());
  std::string out;
  EXPECT_EQ(runToExit(argv, &out), 0) << out;
  EXPECT_NE(out.find("ok\n"), std::string::npos) << out;
}

class OperationsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    redis_ = std::make_unique<RedisServer>();
    http_port_ = freePort();
    proxy_ = std::make_unique<Proxy>(std::vector<std::string>{
        "--backend", redis_->address(), "--http-port", std::to_string(http_port_),
        "--slowlog-log-slower-than", "100000", "--slowlog-max-len", "3"});
    ASSERT_TRUE(waitForPort(http_port_, std::chrono::seconds(10)));
    client_ = std::make_unique<Client>(proxy_->port());
    ASSERT_EQ(client_->run({"TFUNCTION", "LOAD", kLibrary}), "OK");
  }

  std::map<std::string, std::string> tfproxyInfo() {
    return infoFields(client_->call({"INFO", "tfproxy"}).str);
  }

  std::unique_ptr<RedisServer> redis_;
  uint16_t http_port_ = 0;
  std::unique_ptr<Proxy> proxy_;
  std::unique_ptr<Client> client_;
};

TEST_F(OperationsTest, InfoShowsTheTfproxySectionWhereRedisShowsEverySection) {
  const std::string all = client_->call({"INFO"}).str;
  EXPECT_NE(all.find("# Server\r\n"), std::string::npos);
  EXPECT_NE(all.find("\r\n\r\n# tfproxy\r\n"), std::string::npos) << all;
  EXPECT_NE(client_->call({"INFO", "everything"}).str.find("# tfproxy\r\n"), std::string::npos);
  EXPECT_EQ(client_->call({"INFO", "server"}).str.find("# tfproxy"), std::string::npos);
  const std::string ours = client_->call({"INFO", "TFPROXY"}).str;
  EXPECT_EQ(ours.rfind("# tfproxy\r\n", 0), 0u) << ours;
  EXPECT_EQ(ours.find("# Server"), std::string::npos);
  // Named with another section: both.
  const std::string two = client_->call({"INFO", "memory", "tfproxy"}).str;
  EXPECT_NE(two.find("# Memory\r\n"), std::string::npos);
  EXPECT_NE(two.find("# tfproxy\r\n"), std::string::npos);
  // RESP3 clients get it too (a verbatim string).
  Client resp3(proxy_->port());
  resp3.call({"HELLO", "3"});
  EXPECT_NE(resp3.call({"INFO", "tfproxy"}).str.find("tfproxy_version:"), std::string::npos);
  // In another database as well.
  Client db5(proxy_->port());
  ASSERT_EQ(db5.run({"SELECT", "5"}), "OK");
  EXPECT_NE(db5.call({"INFO"}).str.find("# tfproxy\r\n"), std::string::npos);
}

TEST_F(OperationsTest, InfoCountsClientsCommandsAndCalls) {
  auto before = tfproxyInfo();
  EXPECT_EQ(before["backend_address"], redis_->address());
  EXPECT_EQ(before["backend_reachable"], "1");
  EXPECT_EQ(before["backend_role"], "master");
  EXPECT_EQ(before["backend_embedded"], "0");
  EXPECT_EQ(before["connected_clients"], "1");
  EXPECT_EQ(before["libraries"], "1");
  EXPECT_EQ(before["active"], "1");
  EXPECT_EQ(before["not_active"], "0");
  EXPECT_NE(before["library_ops"].find("function_count(sync)=3,function_count(async)=1,"
                                       "notification_consumers_count=1"),
            std::string::npos)
      << before["library_ops"];

  Client other(proxy_->port());
  ASSERT_EQ(other.run({"SELECT", "2"}), "OK");  // its own backend connection from now on
  for (int i = 0; i < 25; ++i) ASSERT_EQ(client_->run({"GET", "nothing"}), "(nil)");
  ASSERT_EQ(client_->run({"TFCALL", "ops.get", "1", "nothing"}), "(nil)");
  ASSERT_EQ(client_->run({"TFCALL", "ops.get", "1", "nothing"}), "(nil)");
  EXPECT_NE(client_->run({"TFCALL", "ops.fail", "0"}).find("failed on purpose"), std::string::npos);
  ASSERT_EQ(client_->run({"TFCALLASYNC", "ops.later", "0"}), "\"later\"");

  auto after = tfproxyInfo();
  EXPECT_EQ(after["connected_clients"], "2");
  EXPECT_EQ(after["pinned_clients"], "1");
  EXPECT_EQ(after["multiplexed_clients"], "1");
  // The 25 GETs (and the one INFO between) are forwarded; TFCALL is not.
  const auto families = [](const std::string& line) {
    std::map<std::string, uint64_t> out;
    std::regex pair("(\\w+)=(\\d+)");
    for (auto it = std::sregex_iterator(line.begin(), line.end(), pair);
         it != std::sregex_iterator(); ++it) {
      out[(*it)[1]] = std::stoull((*it)[2]);
    }
    return out;
  };
  EXPECT_EQ(families(after["forwarded_commands"])["read"] -
                families(before["forwarded_commands"])["read"],
            25u);
  EXPECT_EQ(after["function_calls"], "4");
  EXPECT_EQ(after["function_errors"], "1");
  EXPECT_EQ(after["function_ops.get"].rfind("calls=2,failed=0,usec=", 0), 0u)
      << after["function_ops.get"];
  EXPECT_EQ(after["function_ops.fail"].rfind("calls=1,failed=1,", 0), 0u);
  EXPECT_EQ(after["function_ops.later"].rfind("calls=1,failed=0,", 0), 0u);
  EXPECT_GT(std::stoull(after["total_net_input_bytes"]),
            std::stoull(before["total_net_input_bytes"]));
  // A write that fires the trigger: one section through the gate, one trigger run.
  const uint64_t sections = std::stoull(after["gate_sections"]);
  ASSERT_EQ(client_->run({"SET", "watched:1", "x"}), "OK");
  auto fired = tfproxyInfo();
  EXPECT_EQ(fired["trigger_runs"], "1");
  EXPECT_EQ(fired["trigger_ops.seen"].rfind("kind=keyspace,runs=1,failed=0,", 0), 0u);
  EXPECT_GT(std::stoull(fired["gate_sections"]), sections);
  // Statistics survive a REPLACE of the library.
  ASSERT_EQ(client_->run({"TFUNCTION", "LOAD", "REPLACE", kLibrary}), "OK");
  EXPECT_EQ(tfproxyInfo()["function_ops.get"].rfind("calls=2,", 0), 0u);
}

TEST_F(OperationsTest, MetricsFollowPrometheusTextFormat) {
  for (int i = 0; i < 3; ++i) {
    ASSERT_EQ(client_->run({"TFCALL", "ops.get", "1", "k"}), "(nil)");
  }
  const std::string response = httpGet(http_port_, "/metrics");
  ASSERT_EQ(response.rfind("HTTP/1.1 200 OK\r\n", 0), 0u) << response;
  EXPECT_NE(response.find("Content-Type: text/plain; version=0.0.4"), std::string::npos);
  const std::string scrape = httpBody(response);
  // Every line is a comment (HELP, TYPE) or a sample; every sample's family was declared.
  const std::regex sample_line(
      R"(^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{.*\})? (-?[0-9.e+\-]+|\+Inf|NaN)$)");
  std::set<std::string> typed;
  std::istringstream in(scrape);
  std::string line;
  int samples = 0;
  while (std::getline(in, line)) {
    if (line.rfind("# TYPE ", 0) == 0) {
      typed.insert(line.substr(7, line.find(' ', 7) - 7));
      continue;
    }
    if (line.rfind("# HELP ", 0) == 0) continue;
    std::smatch m;
    ASSERT_TRUE(std::regex_match(line, m, sample_line)) << line;
    std::string family = m[1];
    for (const char* suffix : {"_bucket", "_sum", "_count"}) {
      const std::string s = suffix;
      if (!typed.count(family) && family.size() > s.size() &&
          family.compare(family.size() - s.size(), s.size(), s) == 0) {
        family.resize(family.size() - s.size());
      }
    }
    EXPECT_TRUE(typed.count(family)) << line;
    ++samples;
  }
  EXPECT_GT(samples, 50);
  EXPECT_EQ(sample(scrape, R"(tfproxy_function_calls_total{library="ops",function="get"})"), 3);
  EXPECT_EQ(
      sample(scrape, R"(tfproxy_function_duration_seconds_count{library="ops",function="get"})"),
      3);
  EXPECT_EQ(
      sample(scrape,
             R"(tfproxy_function_duration_seconds_bucket{library="ops",function="get",le="+Inf"})"),
      3);
  EXPECT_EQ(
      sample(scrape, R"(tfproxy_trigger_runs_total{library="ops",trigger="seen",kind="keyspace"})"),
      0);
  EXPECT_EQ(sample(scrape, "tfproxy_libraries"), 1);
  EXPECT_EQ(sample(scrape, "tfproxy_connected_clients"), 1);
  EXPECT_GT(sample(scrape, R"(tfproxy_v8_heap_used_bytes{library="ops"})"), 0);
  // Forwarded commands move between two scrapes.
  const double reads = sample(scrape, R"(tfproxy_forwarded_commands_total{family="read"})");
  for (int i = 0; i < 10; ++i) client_->call({"GET", "x"});
  EXPECT_EQ(sample(httpBody(httpGet(http_port_, "/metrics")),
                   R"(tfproxy_forwarded_commands_total{family="read"})"),
            reads + 10);
}

TEST_F(OperationsTest, AdminStateAndPage) {
  ASSERT_EQ(client_->run({"TFCALL", "ops.get", "1", "k"}), "(nil)");
  const std::string state = httpBody(httpGet(http_port_, "/api/state"));
  EXPECT_EQ(state.front(), '{');
  EXPECT_NE(state.find(R"("name":"ops","user":"default","api_version":"1.0")"), std::string::npos)
      << state;
  EXPECT_NE(state.find(R"({"name":"get","kind":"function","runs":1,"failures":0)"),
            std::string::npos)
      << state;
  EXPECT_EQ(httpBody(httpGet(http_port_, "/api/code?library=ops")), kLibrary);
  EXPECT_NE(httpGet(http_port_, "/api/code?library=none").find("HTTP/1.1 404"), std::string::npos);
  const std::string page = httpGet(http_port_, "/");
  EXPECT_EQ(page.rfind("HTTP/1.1 200 OK\r\n", 0), 0u);
  EXPECT_NE(page.find("Content-Type: text/html"), std::string::npos);
  EXPECT_NE(page.find("<title>tfproxy</title>"), std::string::npos);
  // The probes answer on the operations port too.
  EXPECT_NE(httpGet(http_port_, "/readyz").find("200 OK"), std::string::npos);
}

TEST_F(OperationsTest, BadHttpRequestsGetClearAnswers) {
  EXPECT_NE(httpGet(http_port_, "/nothing").find("HTTP/1.1 404 Not Found"), std::string::npos);
  EXPECT_NE(httpExchange(http_port_, "POST /metrics HTTP/1.1\r\nContent-Length: 0\r\n\r\n")
                .find("HTTP/1.1 405"),
            std::string::npos);
  EXPECT_NE(httpExchange(http_port_, "garbage\r\n\r\n").find("HTTP/1.1 400"), std::string::npos);
  EXPECT_NE(httpExchange(http_port_, "GET /%zz HTTP/1.1\r\n\r\n").find("HTTP/1.1 400"),
            std::string::npos);
  EXPECT_NE(httpExchange(http_port_, "POST /api/x HTTP/1.1\r\nContent-Length: 99999999999\r\n\r\n")
                .find("HTTP/1.1 413"),
            std::string::npos);
  EXPECT_NE(httpExchange(http_port_, "GET / HTTP/1.1\r\nX: " + std::string(20000, 'a') + "\r\n\r\n")
                .find("HTTP/1.1 400"),
            std::string::npos);
  // A client that sends half a request and waits does not hold the others up.
  Client slow(http_port_);
  slow.send("GET /metr");
  EXPECT_NE(httpGet(http_port_, "/healthz").find("200 OK"), std::string::npos);
  EXPECT_EQ(client_->run({"PING"}), "PONG");
}

TEST_F(OperationsTest, SlowLogKeepsSlowRunsAsRedisShowsThem) {
  EXPECT_EQ(client_->run({"TFUNCTION", "SLOWLOG", "LEN"}), "0");
  ASSERT_EQ(client_->run({"TFCALL", "ops.get", "1", "fast"}), "(nil)");
  EXPECT_EQ(client_->run({"TFUNCTION", "SLOWLOG", "LEN"}), "0");
  ASSERT_EQ(client_->run({"TFCALL", "ops.spin", "0", "150"}), "\"done\"");
  ASSERT_EQ(client_->run({"TFUNCTION", "SLOWLOG", "LEN"}), "1");
  resp::Value entries = client_->call({"TFUNCTION", "SLOWLOG", "GET"});
  ASSERT_EQ(entries.elements.size(), 1u);
  const resp::Value& e = entries.elements[0];
  ASSERT_EQ(e.elements.size(), 6u);
  EXPECT_EQ(e.elements[0].integer, 0);
  EXPECT_GT(e.elements[1].integer, 1700000000);
  EXPECT_GE(e.elements[2].integer, 140000);  // Date.now() counts whole ms
  EXPECT_EQ(resp::toDebugString(e.elements[3]), R"(["TFCALL", "ops.spin", "0", "150"])");
  EXPECT_EQ(e.elements[4].str.rfind("127.0.0.1:", 0), 0u) << e.elements[4].str;
  EXPECT_EQ(e.elements[5].str, "ops.spin");
  // Arguments cut as Redis cuts them: 32 at most, 128 bytes each.
  std::vector<std::string> call{"TFCALL", "ops.spin", "0", "110", std::string(200, 'x')};
  for (int i = 0; i < 40; ++i) call.push_back(std::to_string(i));
  ASSERT_EQ(client_->run(call), "\"done\"");
  resp::Value newest = client_->call({"TFUNCTION", "SLOWLOG", "GET", "1"});
  ASSERT_EQ(newest.elements.size(), 1u);
  const auto& args = newest.elements[0].elements[3].elements;
  ASSERT_EQ(args.size(), 32u);
  EXPECT_EQ(args[4].str, std::string(128, 'x') + "... (72 more bytes)");
  EXPECT_EQ(args[31].str, "... (14 more arguments)");
  EXPECT_EQ(newest.elements[0].elements[0].integer, 1);
  // --slowlog-max-len 3: the newest three stay.
  for (int i = 0; i < 3; ++i)
    ASSERT_EQ(client_->run({"TFCALL", "ops.spin", "0", "105"}), "\"done\"");
  resp::Value kept = client_->call({"TFUNCTION", "SLOWLOG", "GET", "-1"});
  ASSERT_EQ(kept.elements.size(), 3u);
  EXPECT_EQ(kept.elements[0].elements[0].integer, 4);
  EXPECT_EQ(kept.elements[2].elements[0].integer, 2);
  EXPECT_EQ(client_->run({"TFUNCTION", "SLOWLOG", "RESET"}), "OK");
  EXPECT_EQ(client_->run({"TFUNCTION", "SLOWLOG", "LEN"}), "0");
  // Errors, worded as Redis' SLOWLOG's.
  EXPECT_EQ(client_->run({"TFUNCTION", "SLOWLOG", "GET", "-2"}),
            "(error) ERR count should be greater than or equal to -1");
  EXPECT_EQ(client_->run({"TFUNCTION", "SLOWLOG", "GET", "many"}),
            "(error) ERR value is not an integer or out of range");
  EXPECT_EQ(client_->run({"TFUNCTION", "SLOWLOG", "NOPE"}),
            "(error) ERR unknown subcommand 'NOPE'. Try TFUNCTION SLOWLOG HELP.");
  EXPECT_EQ(client_->run({"TFUNCTION", "SLOWLOG"}),
            "(error) ERR wrong number of arguments for 'tfunction|slowlog' command");
  EXPECT_NE(client_->run({"TFUNCTION", "SLOWLOG", "HELP"}).find("RESET"), std::string::npos);
}

TEST(OperationsFlagsTest, SlowLogOfTriggersAndEveryRun) {
  auto redis = std::make_unique<RedisServer>();
  Proxy proxy({"--backend", redis->address(), "--slowlog-log-slower-than", "0"});
  Client c(proxy.port());
  ASSERT_EQ(c.run({"TFUNCTION", "LOAD", kLibrary}), "OK");
  ASSERT_EQ(c.run({"SET", "watched:a", "1"}), "OK");
  resp::Value entries = c.call({"TFUNCTION", "SLOWLOG", "GET"});
  ASSERT_EQ(entries.elements.size(), 1u) << resp::toDebugString(entries);
  EXPECT_EQ(entries.elements[0].elements[5].str, "ops.seen");
  EXPECT_EQ(entries.elements[0].elements[4].str, "");
}

TEST(OperationsFlagsTest, HttpPortInUseStopsTfproxyWithTheFlagNamed) {
  auto redis = std::make_unique<RedisServer>();
  Client holder(redis->port());  // any listening port
  std::string out;
  EXPECT_NE(runProxyToExit({"--backend", redis->address(), "--port", std::to_string(freePort()),
                            "--http-port", std::to_string(redis->port())},
                           &out),
            0);
  EXPECT_NE(out.find("--http-port"), std::string::npos) << out;
}

// `tfproxy check`: libraries compiled and registered offline, each file's outcome on a line
// of its own, exit status 1 when one fails -- as TFUNCTION LOAD would answer.
TEST(CheckCommandTest, ReportsEachFileAsLoadWould) {
  char pattern[] = "/tmp/tfproxy-check-XXXXXX";
  ASSERT_NE(::mkdtemp(pattern), nullptr);
  const std::string dir = pattern;
  auto write = [&](const std::string& name, const std::string& code) {
    std::ofstream(dir + "/" + name) << code;
    return dir + "/" + name;
  };
  const std::string good = write("good.js", kLibrary);
  const std::string bad = write("bad.js",
                                "#!js api_version=1.0 name=bad\n\nredis.registerFunction('f', () "
                                "=> {\n  var x = ;\n});\n");
  const std::string same = write("same.js",
                                 "#!js api_version=1.0 name=ops\n"
                                 "redis.registerFunction('f', () => 1);\n");
  const std::string empty = write("empty.js", "#!js api_version=1.0 name=empty\nvar a = 1;\n");
  const std::string registered =
      ": OK, library 'ops': 1 async function, 3 functions, 1 keyspace trigger\n";
  std::string out;
  EXPECT_EQ(runProxyToExit({"check", good}, &out), 0) << out;
  EXPECT_EQ(out, good + registered);
  EXPECT_EQ(runProxyToExit({"check", good, bad, same, empty, dir + "/missing.js"}, &out), 1);
  EXPECT_EQ(out,
            good + registered + bad +
                ": Failed to compile library: SyntaxError: Unexpected token ';' at bad:4:11\n" +
                same + ": Library ops already exists.\n" + empty +
                ": Neither function nor other registrations were found.\n" + dir +
                "/missing.js: cannot read the file\n");
  EXPECT_EQ(runProxyToExit({"check", "--error-verbosity", "2", bad}, &out), 1);
  EXPECT_NE(out.find("at bad:4:11|  var x = ;"), std::string::npos) << out;
  EXPECT_EQ(runProxyToExit({"check"}, &out), 2);
  EXPECT_NE(out.find("Usage: tfproxy check"), std::string::npos);
  EXPECT_EQ(runProxyToExit({"check", "--nope", good}, &out), 2);
  std::filesystem::remove_all(dir);
}

// --library-dir: the folder's libraries are loaded at start and follow the files.
class LibraryDirTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char pattern[] = "/tmp/tfproxy-libdir-XXXXXX";
    ASSERT_NE(::mkdtemp(pattern), nullptr);
    dir_ = pattern;
    redis_ = std::make_unique<RedisServer>();
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }

  // Writes a file as editors and deploy tools do: a new file renamed over the old one.
  void write(const std::string& name, const std::string& code) {
    const std::string tmp = dir_ + "/." + name + ".tmp";
    std::ofstream(tmp) << code;
    std::filesystem::rename(tmp, dir_ + "/" + name);
  }
  static std::string library(const std::string& name, const std::string& result) {
    return "#!js api_version=1.0 name=" + name + "\nredis.registerFunction('f', () => '" + result +
           "');\n";
  }
  void startProxy() {
    http_ = freePort();
    proxy_ = std::make_unique<Proxy>(std::vector<std::string>{"--backend", redis_->address(),
                                                              "--library-dir", dir_, "--http-port",
                                                              std::to_string(http_)});
    client_ = std::make_unique<Client>(proxy_->port());
  }
  std::string call(const std::string& library) {
    return client_->run({"TFCALL", library + ".f", "0"});
  }

  std::string dir_;
  std::unique_ptr<RedisServer> redis_;
  uint16_t http_ = 0;
  std::unique_ptr<Proxy> proxy_;
  std::unique_ptr<Client> client_;
};

TEST_F(LibraryDirTest, LoadsAtStartAndFollowsTheFiles) {
  write("a.js", library("a", "one"));
  write("bad.js", "#!js api_version=1.0 name=bad\nredis.registerFunction('f', () => {;\n");
  write("notes.txt", "not a library");
  startProxy();
  EXPECT_EQ(call("a"), "\"one\"");
  EXPECT_EQ(call("bad"), "(error) Unknown library bad");
  auto info = infoFields(client_->call({"INFO", "tfproxy"}).str);
  EXPECT_EQ(info["library_dir"], dir_);
  EXPECT_EQ(info["library_dir_files"], "2");
  EXPECT_EQ(info["library_dir_errors"], "1");
  EXPECT_NE(proxy_->log().find(dir_ + "/bad.js not loaded: Failed to compile library: "
                                      "SyntaxError: Unexpected end of input at bad:3:1"),
            std::string::npos)
      << proxy_->log();
  const std::string state = httpBody(httpGet(http_, "/api/state"));
  EXPECT_NE(
      state.find(R"("path":")" + dir_ + R"(/bad.js","library":"","error":"Failed to compile)"),
      std::string::npos)
      << state;
  // Changed, fixed, added, broken, removed.
  write("a.js", library("a", "two"));
  EXPECT_TRUE(eventually([&] { return call("a") == "\"two\""; })) << call("a");
  write("bad.js", library("bad", "fixed"));
  EXPECT_TRUE(eventually([&] { return call("bad") == "\"fixed\""; }));
  write("c.js", library("c", "new"));
  EXPECT_TRUE(eventually([&] { return call("c") == "\"new\""; }));
  write("a.js", "#!js api_version=1.0 name=a\nsyntax error here\n");
  EXPECT_TRUE(eventually([&] {
    return infoFields(client_->call({"INFO", "tfproxy"}).str)["library_dir_errors"] == "1";
  }));
  EXPECT_EQ(call("a"), "\"two\"");  // the previous version stays
  EXPECT_NE(proxy_->log().find("(library 'a' keeps its previous version)"), std::string::npos);
  std::filesystem::remove(dir_ + "/c.js");
  EXPECT_TRUE(eventually([&] { return call("c") == "(error) Unknown library c"; }));
  // Stored in the backend like any TFUNCTION LOAD: another tfproxy serves them.
  Proxy other({"--backend", redis_->address()});
  Client through_other(other.port());
  EXPECT_EQ(through_other.run({"TFCALL", "bad.f", "0"}), "\"fixed\"");
  // Two files naming one library: the second is refused, the first keeps it.
  write("b2.js", library("bad", "imposter"));
  EXPECT_TRUE(eventually([&] {
    return proxy_->log().find("b2.js not loaded: library 'bad' is already loaded from " + dir_ +
                              "/bad.js") != std::string::npos;
  }));
  EXPECT_EQ(call("bad"), "\"fixed\"");
}

// A Kubernetes ConfigMap volume: the files are symlinks into a `..data` symlink that is swapped
// for a new folder at once.
TEST_F(LibraryDirTest, FollowsAConfigMapSwap) {
  std::filesystem::create_directory(dir_ + "/..v1");
  std::ofstream(dir_ + "/..v1/lib.js") << library("cm", "v1");
  std::filesystem::create_directory_symlink("..v1", dir_ + "/..data");
  std::filesystem::create_symlink("..data/lib.js", dir_ + "/lib.js");
  startProxy();
  EXPECT_EQ(call("cm"), "\"v1\"");
  std::filesystem::create_directory(dir_ + "/..v2");
  std::ofstream(dir_ + "/..v2/lib.js") << library("cm", "v2");
  std::filesystem::create_directory_symlink("..v2", dir_ + "/..data_tmp");
  std::filesystem::rename(dir_ + "/..data_tmp", dir_ + "/..data");
  std::filesystem::remove_all(dir_ + "/..v1");
  EXPECT_TRUE(eventually([&] { return call("cm") == "\"v2\""; })) << call("cm");
}

TEST(LibraryDirFlagsTest, AFolderThatIsNotOneStopsTfproxy) {
  auto redis = std::make_unique<RedisServer>();
  std::string out;
  EXPECT_NE(runProxyToExit({"--backend", redis->address(), "--port", std::to_string(freePort()),
                            "--library-dir", "/nonexistent/folder"},
                           &out),
            0);
  EXPECT_NE(out.find("--library-dir /nonexistent/folder is not a readable folder"),
            std::string::npos)
      << out;
}

// The admin page in Debian's chromium (tests/node/admin_page_scenario.mjs): it lists a library
// just loaded, its figures move while TFCALL runs, and changes made on it take effect as the
// Redis user it names. With TFPROXY_SCREENSHOT=<file.png> it also saves a screenshot (the
// README's).
TEST(AdminPageTest, InAHeadlessBrowser) {
  auto redis = std::make_unique<RedisServer>();
  const uint16_t http = freePort();
  Proxy proxy({"--backend", redis->address(), "--http-port", std::to_string(http)});
  ASSERT_TRUE(waitForPort(http, std::chrono::seconds(10)));
  const char* screenshot = std::getenv("TFPROXY_SCREENSHOT");
  std::vector<std::string> args = {std::to_string(proxy.port()), std::to_string(http)};
  if (screenshot != nullptr) args.emplace_back(screenshot);
  runNodeScenario("admin_page_scenario.mjs", args);
}

// Changes need the admin page's header, and a Redis user's password that the backend accepts.
TEST_F(OperationsTest, ChangesNeedTheHeaderAndAUsersPassword) {
  auto post = [&](const std::string& path, const std::string& body, bool header = true) {
    return httpExchange(
        http_port_, "POST " + path + " HTTP/1.1\r\nContent-Length: " + std::to_string(body.size()) +
                        (header ? "\r\nX-Tfproxy-Admin: 1" : "") + "\r\n\r\n" + body);
  };
  ASSERT_EQ(client_->run({"ACL", "SETUSER", "reader", "on", ">pw", "+@read", "~*"}), "OK");
  EXPECT_NE(post("/api/delete", "library=ops", false).find("HTTP/1.1 403"), std::string::npos);
  const std::string wrong = post("/api/delete", "library=ops&user=reader&password=nope");
  EXPECT_NE(wrong.find("HTTP/1.1 401"), std::string::npos) << wrong;
  EXPECT_NE(wrong.find("WRONGPASS"), std::string::npos) << wrong;
  const std::string denied = post("/api/delete", "library=ops&user=reader&password=pw");
  EXPECT_NE(denied.find("HTTP/1.1 403"), std::string::npos) << denied;
  EXPECT_NE(denied.find("NOPERM User reader has no permissions to run the 'tfunction|delete'"),
            std::string::npos)
      << denied;
  EXPECT_EQ(client_->run({"TFCALL", "ops.get", "1", "k"}), "(nil)");  // still there
  // The default user (no password set on this Redis) may.
  EXPECT_NE(post("/api/config", "name=lock-redis-timeout&value=700").find(R"({"ok":true})"),
            std::string::npos);
  EXPECT_EQ(client_->run({"CONFIG", "GET", "redisgears_2.lock-redis-timeout"}),
            R"(["redisgears_2.lock-redis-timeout", "700"])");
  const std::string bad = post("/api/load", "code=" + std::string("not%20a%20library"));
  EXPECT_NE(bad.find("HTTP/1.1 400"), std::string::npos) << bad;
  EXPECT_NE(bad.find("Failed to compile library: Invalid or missing prologue"), std::string::npos);
  EXPECT_NE(post("/api/delete", "library=ops").find(R"({"ok":true})"), std::string::npos);
  EXPECT_EQ(client_->run({"TFCALL", "ops.get", "1", "k"}), "(error) Unknown library ops");
  EXPECT_NE(post("/api/other", "").find("HTTP/1.1 404"), std::string::npos);
}

// TFUNCTION LOAD DEBUG through the DevTools protocol (tests/node/debugger_scenario.mjs): the
// target at /json/list, a breakpoint hit by TFCALL, arguments and locals read, a step, resume,
// and a debugger leaving a paused function.
TEST(DebuggerTest, BreakpointsAndSteppingThroughTheDevToolsProtocol) {
  auto redis = std::make_unique<RedisServer>();
  const uint16_t debug_port = freePort();
  const std::string address = "127.0.0.1:" + std::to_string(debug_port);
  Proxy proxy({"--backend", redis->address(), "--v8-debug-server-address", address});
  runNodeScenario("debugger_scenario.mjs",
                  {std::to_string(proxy.port()), std::to_string(debug_port)});
  // One library at a time; replacing it without DEBUG ends its session.
  Client c(proxy.port());
  EXPECT_EQ(c.run({"TFUNCTION", "LOAD", "DEBUG",
                   "#!js api_version=1.0 name=second\nredis.registerFunction('f', () => 1);"}),
            "(error) Only one debugging session can be established at a time.");
  ASSERT_EQ(c.run({"TFUNCTION", "LOAD", "REPLACE",
                   "#!js api_version=1.0 name=dbg\nredis.registerFunction('add', () => 1);"}),
            "OK");
  EXPECT_TRUE(eventually([&] {
    return c.run({"TFUNCTION", "LOAD", "DEBUG",
                  "#!js api_version=1.0 name=second\nredis.registerFunction('f', () => 1);"}) ==
           "OK";
  }));
  EXPECT_NE(httpGet(debug_port, "/json/list").find(R"("title":"second")"), std::string::npos);
  EXPECT_EQ(c.run({"TFCALL", "second.f", "0"}), "1");
}

TEST(DebuggerTest, AnAddressThatCannotBeUsedIsReported) {
  auto redis = std::make_unique<RedisServer>();
  Proxy proxy({"--backend", redis->address(), "--v8-debug-server-address", "not-an-address"});
  Client c(proxy.port());
  EXPECT_EQ(c.run({"TFUNCTION", "LOAD", "DEBUG",
                   "#!js api_version=1.0 name=x\nredis.registerFunction('f', () => 1);"}),
            "(error) Failed to compile library: the debug server address must be "
            "IPv4-ADDRESS:PORT, got 'not-an-address'");
}

// The bounded soak of the operations surfaces (bench/operations_soak.py is the long one):
// scrapes, INFO, the slow log logging every call, admin changes, library folder rewrites and
// malformed HTTP requests leave no descriptor behind and do not grow memory.
TEST(OperationsSoakTest, ScrapesAndChangesLeaveNothingBehind) {
  char pattern[] = "/tmp/tfproxy-ops-soak-XXXXXX";
  ASSERT_NE(::mkdtemp(pattern), nullptr);
  const std::string folder = pattern;
  auto writeLibrary = [&](int version) {
    std::ofstream(folder + "/.soak.tmp") << kLibrary << "// version " << version << "\n";
    std::filesystem::rename(folder + "/.soak.tmp", folder + "/soak.js");
  };
  writeLibrary(0);
  auto redis = std::make_unique<RedisServer>();
  const uint16_t http = freePort();
  Proxy proxy({"--backend", redis->address(), "--http-port", std::to_string(http), "--library-dir",
               folder, "--slowlog-log-slower-than", "0"});
  ASSERT_TRUE(waitForPort(http, std::chrono::seconds(10)));
  Client c(proxy.port());
  auto round = [&](int n, int version) {
    for (int i = 0; i < n; ++i) {
      ASSERT_EQ(httpGet(http, "/metrics").rfind("HTTP/1.1 200", 0), 0u);
      ASSERT_EQ(c.run({"TFCALL", "ops.get", "1", "k"}), "(nil)");
      ASSERT_NE(c.call({"INFO", "tfproxy"}).str.find("function_calls:"), std::string::npos);
      if (i % 10 == 0) {
        ASSERT_EQ(httpGet(http, "/api/state").rfind("HTTP/1.1 200", 0), 0u);
        c.call({"TFUNCTION", "SLOWLOG", "GET", "5"});
        httpExchange(http, "garbage\r\n\r\n");
        Client half(http);
        half.send("GET /metr");  // closed half-way
      }
      if (i % 100 == 0) {
        httpExchange(http,
                     "POST /api/config HTTP/1.1\r\nX-Tfproxy-Admin: 1\r\nContent-Length: 31\r\n\r\n"
                     "name=lock-redis-timeout&value=" +
                         std::to_string(500 + i % 7));
      }
    }
    writeLibrary(version);
  };
  round(300, 1);  // warm-up: buffers, the slow log full, pools made
  ASSERT_TRUE(eventually([&] { return openFds(proxy.pid()) > 0; }));
  // Descriptors settle once the last connections of the round are closed.
  std::this_thread::sleep_for(std::chrono::milliseconds(200));
  const int fds_before = openFds(proxy.pid());
  const int64_t rss_before = rssKb(proxy.pid());
  for (int r = 0; r < 4; ++r) round(500, r + 2);
  EXPECT_TRUE(eventually([&] { return openFds(proxy.pid()) <= fds_before; }))
      << openFds(proxy.pid()) << " descriptors, " << fds_before << " before";
  if (!kSanitized) {
    EXPECT_LT(rssKb(proxy.pid()) - rss_before, 8 * 1024)
        << rss_before << " kB before, " << rssKb(proxy.pid()) << " kB after";
  }
  EXPECT_EQ(c.run({"TFUNCTION", "SLOWLOG", "LEN"}), "128");
  std::filesystem::remove_all(folder);
}

}  // namespace
}  // namespace tfproxy::testing
