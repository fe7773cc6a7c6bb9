// Bounds every timed JavaScript run (a function body, a library's top-level code) by
// lock-redis-timeout, applying library-fatal-failure-policy when it is exceeded (spec §6.9).
// One thread checks the running sections every 10 ms; policy and timeouts are read at
// detection time, so CONFIG SET takes effect on running code.
//
// Background runs (coroutines, promise jobs) have no limit, as upstream -- except those of a
// library that was deleted or replaced: once such a run exceeds lock-redis-timeout it is
// stopped, so that an endless loop in a library its operator removed does not hold a script
// thread forever.
//
// Every tick it also calls `probe` for each running isolate (the memory budget check).
#pragma once

#include <chrono>
#include <condition_variable>
#include <functional>
#include <list>
#include <map>
#include <mutex>
#include <set>
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
  Watchdog(const config::GearsConfig& config, void (*probe)(v8::Isolate*));
  ~Watchdog();

  struct Section {
    v8::Isolate* isolate;
    std::chrono::steady_clock::time_point start;
    bool timed;      // false: a background run, limited only once its library is gone
    bool restoring;  // library evaluation at start: db-loading-lock-redis-timeout
    bool reported = false;
    bool terminated = false;
  };
  using Handle = std::list<Section>::iterator;

  // Starts watching a run on `isolate`. Returns a handle for leave().
  Handle enter(v8::Isolate* isolate, bool timed, bool restoring);
  // Stops watching; returns true if the run was terminated by the watchdog.
  bool leave(Handle handle);
  // The library of `isolate` was deleted or replaced: its background runs get the limit too.
  void retire(v8::Isolate* isolate);
  // The isolate is disposed (its address may be reused).
  void forget(v8::Isolate* isolate);
  // Runs `task` on the watchdog's thread once `delay` passed (within a tick, 10 ms); it must
  // not touch JavaScript (post a library job for that).
  void after(std::chrono::milliseconds delay, std::function<void()> task);

 private:
  void loop();
  const config::GearsConfig& config_;
  void (*probe_)(v8::Isolate*);
  std::mutex mutex_;
  std::condition_variable cv_;
  std::list<Section> sections_;
  std::set<v8::Isolate*> retired_;
  std::multimap<std::chrono::steady_clock::time_point, std::function<void()>> timers_;
  bool stopping_ = false;
  std::thread thread_;
};

}  // namespace tfproxy::scripting
