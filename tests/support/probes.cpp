#include "tests/support/probes.h"

#include <dirent.h>
#include <gtest/gtest.h>

#include <fstream>
#include <string>

#include "tests/support/client.h"

namespace tfproxy::testing {

int64_t rssKb(pid_t pid) {
  std::ifstream status("/proc/" + std::to_string(pid) + "/status");
  std::string line;
  while (std::getline(status, line)) {
    if (line.rfind("VmRSS:", 0) == 0) return std::stoll(line.substr(6));
  }
  return -1;
}

int openFds(pid_t pid) {
  std::string path = "/proc/" + std::to_string(pid) + "/fd";
  DIR* dir = ::opendir(path.c_str());
  if (dir == nullptr) return -1;
  int n = 0;
  while (dirent* e = ::readdir(dir)) n += e->d_name[0] != '.';
  ::closedir(dir);
  return n;
}

int connectedClients(uint16_t redis_port) {
  std::string info = Client(redis_port).run({"INFO", "clients"});
  auto at = info.find("connected_clients:");
  return at == std::string::npos ? -1 : std::stoi(info.substr(at + 18));
}

uint64_t ioThreadCalls(Client& c) {
  const std::string text = c.call({"INFO", "tfproxy"}).str;
  const std::string field = "function_calls_on_io_threads:";
  size_t at = text.find(field);
  EXPECT_NE(at, std::string::npos) << text;
  if (at == std::string::npos) return 0;
  return std::stoull(text.substr(at + field.size()));
}

std::string httpExchange(uint16_t port, const std::string& request) {
  Client http(port);
  http.send(request);
  http.closedByPeer();  // the endpoint answers and closes
  return http.takeReceived();
}

std::string httpGet(uint16_t port, const std::string& path) {
  return httpExchange(port, "GET " + path + " HTTP/1.1\r\nHost: localhost\r\n\r\n");
}

std::string httpBody(const std::string& response) {
  const size_t end = response.find("\r\n\r\n");
  return end == std::string::npos ? std::string() : response.substr(end + 4);
}

}  // namespace tfproxy::testing
