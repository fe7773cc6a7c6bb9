// Bounds every timed JavaScript run (a function body, a library's top-level code) by
// lock-redis-timeout, applying library-fatal-failure-policy when it is exceeded (SPEC 6.9).
// One thread checks the running sections every 10 ms; policy and timeouts are read at
// detection time, so CONFIG SET takes effect on running code.
#pragma once

#include <chrono>
#include <condition_variable>
#include <functional>
#include <list>
#include <mutex>
#include <thread>

namespace v8 {
class Isolate;
}

namespace tfproxy::config {
class GearsConfig;
}

namespace tfproxy::scripting {

class Watchdog {
 public:
  explicit Watchdog(const config::GearsConfig& config);
  ~Watchdog();

  struct Section {
    v8::Isolate* isolate;
    std::chrono::steady_clock::time_point start;
    bool loading;    // library evaluation at start: db-loading-lock-redis-timeout
    bool restoring;  // ... of a stored library
    bool reported = false;
    bool terminated = false;
  };
  using Handle = std::list<Section>::iterator;

  // Starts timing a run on `isolate`. Returns a handle for leave().
  Handle enter(v8::Isolate* isolate, bool restoring);
  // Stops timing; returns true if the run was terminated by the watchdog.
  bool leave(Handle handle);

 private:
  void loop();
  const config::GearsConfig& config_;
  std::mutex mutex_;
  std::condition_variable cv_;
  std::list<Section> sections_;
  bool stopping_ = false;
  std::thread thread_;
};

}  // namespace tfproxy::scripting
