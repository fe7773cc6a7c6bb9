// A suite that shares one redis-server and one tfproxy in front of it: every test starts with a
// client of the proxy, no library loaded and an empty Redis.
#pragma once

#include <gtest/gtest.h>

#include <memory>
#include <string>
#include <vector>

#include "tests/support/client.h"
#include "tests/support/processes.h"

namespace tfproxy::testing {

class ProxySuite : public ::testing::Test {
 protected:
  // A derived suite that needs tfproxy flags declares its own SetUpTestSuite calling this.
  static void startProcesses(std::vector<std::string> flags = {}) {
    redis_ = new RedisServer();
    flags.insert(flags.begin(), {"--backend", redis_->address()});
    proxy_ = new Proxy(std::move(flags));
  }
  static void SetUpTestSuite() { startProcesses(); }
  static void TearDownTestSuite() {
    delete proxy_;
    proxy_ = nullptr;
    delete redis_;
    redis_ = nullptr;
  }
  void SetUp() override {
    c_ = std::make_unique<Client>(proxy_->port());
    deleteLibraries(*c_);
    Client(redis_->port()).call({"FLUSHALL"});
  }

  static inline RedisServer* redis_ = nullptr;
  static inline Proxy* proxy_ = nullptr;
  std::unique_ptr<Client> c_;
};

}  // namespace tfproxy::testing
