#include "backend/link.h"

#include <spdlog/spdlog.h>

namespace tfproxy::backend {

namespace {

constexpr std::chrono::milliseconds kFirstBackoff{100};
constexpr std::chrono::milliseconds kMaxBackoff{5000};

}  // namespace

BackendLink::BackendLink(io::Target target, std::chrono::milliseconds connect_timeout)
    : target_(std::move(target)), connect_timeout_(connect_timeout) {}

BackendLink::~BackendLink() { stop(); }

std::string BackendLink::lastError() const {
  std::lock_guard lock(mutex_);
  return last_error_;
}

bool BackendLink::resolveNow() {
  std::string error;
  std::vector<io::SocketAddress> addresses = io::resolve(target_.endpoint, &error);
  if (addresses.empty()) {
    markDown(error);
    return false;
  }
  std::lock_guard lock(mutex_);
  resolved_ = std::move(addresses);
  return true;
}

bool BackendLink::probeOnce() {
  if (!resolveNow()) return false;
  std::string error;
  io::Stream probe = io::connectWaiting(target_, connect_timeout_, &error);
  if (!probe.isOpen()) {
    markDown(error);
    return false;
  }
  markUp();
  return true;
}

bool BackendLink::start() {
  {
    std::lock_guard lock(mutex_);
    if (!prober_.joinable()) prober_ = std::thread([this] { probeLoop(); });
  }
  return probeOnce();
}

void BackendLink::stop() {
  {
    std::lock_guard lock(mutex_);
    stopped_ = true;
  }
  wake_.notify_all();
  if (prober_.joinable()) prober_.join();
}

void BackendLink::markDown(const std::string& reason) {
  bool wake = false;
  bool was_up;
  {
    // Under the lock, so that the probe thread's "reached, still up" check sees it.
    std::lock_guard lock(mutex_);
    last_error_ = reason;
    was_up = up_.exchange(false);
    if (!probing_ && !stopped_) probing_ = wake = true;
  }
  if (was_up) {
    spdlog::error(
        "backend {} is unreachable ({}); retrying with backoff, clients get errors "
        "meanwhile",
        target_.endpoint.toString(), reason);
  }
  if (wake) wake_.notify_all();
}

std::vector<io::SocketAddress> BackendLink::addresses() const {
  std::lock_guard lock(mutex_);
  return resolved_;
}

void BackendLink::markUp() {
  if (!up_.exchange(true)) {
    reconnects_.add();
    spdlog::info("backend {} is reachable again", target_.endpoint.toString());
  }
}

// Name resolution happens here (and in start()) only, so sessions never block on DNS.
void BackendLink::probeLoop() {
  std::unique_lock lock(mutex_);
  while (true) {
    wake_.wait(lock, [this] { return stopped_ || probing_; });
    auto backoff = kFirstBackoff;
    while (!stopped_) {
      if (wake_.wait_for(lock, backoff, [this] { return stopped_; })) break;
      lock.unlock();
      const bool reached = probeOnce();
      lock.lock();
      // A failure reported while this probe ran keeps it probing.
      if (reached && up_.load()) break;
      backoff = std::min(backoff * 2, kMaxBackoff);
    }
    probing_ = false;
    if (stopped_) return;
  }
}

}  // namespace tfproxy::backend
