#include "scripting/v8/watchdog.h"

#include <spdlog/spdlog.h>
#include <v8.h>

#include "config/gears.h"

namespace tfproxy::scripting {

using Clock = std::chrono::steady_clock;

Watchdog::Watchdog(const config::GearsConfig& config, void (*probe)(v8::Isolate*))
    : config_(config), probe_(probe) {
  thread_ = std::thread([this] { loop(); });
}

Watchdog::~Watchdog() {
  {
    std::lock_guard lock(mutex_);
    stopping_ = true;
  }
  cv_.notify_all();
  thread_.join();
}

Watchdog::Handle Watchdog::enter(v8::Isolate* isolate, bool timed, bool restoring) {
  std::lock_guard lock(mutex_);
  sections_.push_front(Section{isolate, Clock::now(), timed, restoring});
  return sections_.begin();
}

void Watchdog::retire(v8::Isolate* isolate) {
  std::lock_guard lock(mutex_);
  retired_.insert(isolate);
}

void Watchdog::forget(v8::Isolate* isolate) {
  std::lock_guard lock(mutex_);
  retired_.erase(isolate);
}

bool Watchdog::leave(Handle handle) {
  std::lock_guard lock(mutex_);
  bool terminated = handle->terminated;
  sections_.erase(handle);
  return terminated;
}

void Watchdog::after(std::chrono::milliseconds delay, std::function<void()> task) {
  std::lock_guard lock(mutex_);
  timers_.emplace(Clock::now() + delay, std::move(task));
}

void Watchdog::loop() {
  std::unique_lock lock(mutex_);
  while (!stopping_) {
    cv_.wait_for(lock, std::chrono::milliseconds(10));
    const auto now = Clock::now();
    if (!timers_.empty() && timers_.begin()->first <= now) {
      std::vector<std::function<void()>> due;
      while (!timers_.empty() && timers_.begin()->first <= now) {
        due.push_back(std::move(timers_.begin()->second));
        timers_.erase(timers_.begin());
      }
      lock.unlock();
      for (auto& task : due) task();
      lock.lock();
    }
    for (Section& s : sections_) {
      if (s.terminated) continue;
      if (probe_ != nullptr) probe_(s.isolate);
      const int64_t timeout =
          s.restoring ? config_.loadingLockTimeoutMs() : config_.lockTimeoutMs();
      const int64_t elapsed =
          std::chrono::duration_cast<std::chrono::milliseconds>(now - s.start).count();
      if (elapsed <= timeout) continue;
      if (!s.timed) {
        if (retired_.count(s.isolate) == 0) continue;
        spdlog::warn(
            "background JavaScript of a deleted or replaced library ran for {}ms; stopping it",
            elapsed);
        s.terminated = true;
        s.isolate->TerminateExecution();
        continue;
      }
      if (config_.policy() == config::FatalFailurePolicy::kAbort) {
        spdlog::warn(
            "Script locks Redis for about {}ms which is more then the configured "
            "timeout {}ms.",
            elapsed, timeout);
        spdlog::warn("Aborting script with timeout error.");
        s.terminated = true;
        s.isolate->TerminateExecution();
      } else if (!s.reported) {
        spdlog::warn(
            "Script locks Redis for about {}ms which is more then the configured "
            "timeout {}ms.",
            elapsed, timeout);
        spdlog::warn(
            "Fatal error policy do not allow to abort the script, we will allow the "
            "script to continue running, best effort approach.");
        s.reported = true;
      }
    }
  }
}

}  // namespace tfproxy::scripting
