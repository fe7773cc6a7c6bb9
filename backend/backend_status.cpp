#include "backend/backend_status.h"

#include <spdlog/spdlog.h>

#include "backend/sync_connection.h"
#include "resp/number.h"

namespace tfproxy::backend {
namespace {

// The value of `field:` in an INFO text, or empty.
std::string infoField(const std::string& info, const std::string& field) {
  size_t at = info.find("\r\n" + field + ":");
  size_t start = at == std::string::npos ? (info.rfind(field + ":", 0) == 0 ? 0 : at) : at + 2;
  if (start == std::string::npos) return {};
  start += field.size() + 1;
  size_t end = info.find("\r\n", start);
  return info.substr(start, end == std::string::npos ? std::string::npos : end - start);
}

}  // namespace

BackendStatus::BackendStatus(io::Target target, std::string user, std::string password,
                             std::chrono::milliseconds interval)
    : target_(std::move(target)),
      user_(std::move(user)),
      password_(std::move(password)),
      interval_(interval) {}

BackendStatus::~BackendStatus() { stop(); }

void BackendStatus::start() {
  thread_ = std::thread([this] {
    std::unique_lock lock(mutex_);
    auto next_poll = std::chrono::steady_clock::now();
    while (!stopping_) {
      // A wake-up for the auth probe alone sends no INFO.
      const bool poll_due = poll_now_ || std::chrono::steady_clock::now() >= next_poll;
      poll_now_ = false;
      lock.unlock();
      if (auth_probe_wanted_.exchange(false)) probeAuth();
      if (poll_due) {
        poll();
        next_poll = std::chrono::steady_clock::now() + interval_;
      }
      lock.lock();
      wake_.wait_until(lock, next_poll,
                       [this] { return stopping_ || poll_now_ || auth_probe_wanted_.load(); });
    }
  });
}

void BackendStatus::stop() {
  {
    std::lock_guard lock(mutex_);
    stopping_ = true;
  }
  wake_.notify_all();
  if (thread_.joinable()) thread_.join();
}

void BackendStatus::refresh() {
  probeAuth();
  poll();
}

void BackendStatus::confirm() {
  const auto asked = std::chrono::steady_clock::now();
  {
    std::lock_guard lock(poll_mutex_);
    // A read that began after the question answers it.
    if (last_poll_start_ > asked && current()) return;
  }
  poll();
}

void BackendStatus::refreshSoon() {
  {
    std::lock_guard lock(mutex_);
    read_requests_.fetch_add(1);
    poll_now_ = true;
  }
  wake_.notify_one();
}

bool BackendStatus::authRequired() {
  const int64_t now = std::chrono::steady_clock::now().time_since_epoch().count();
  if (now - last_auth_probe_.load(std::memory_order_relaxed) >
          std::chrono::nanoseconds(std::chrono::seconds(1)).count() &&
      !auth_probe_wanted_.load()) {
    {
      std::lock_guard lock(mutex_);
      auth_probe_wanted_ = true;
    }
    wake_.notify_one();
  }
  return auth_required_.load(std::memory_order_relaxed);
}

void BackendStatus::followTarget(std::function<io::Target()> source) {
  target_source_ = std::move(source);
}

io::Target BackendStatus::target() const {
  std::lock_guard lock(target_mutex_);
  return target_;
}

void BackendStatus::probeAuth() {
  last_auth_probe_ = std::chrono::steady_clock::now().time_since_epoch().count();
  std::string ignored;
  if (auto probe = SyncConnection::connect(target(), std::chrono::milliseconds(1000), &ignored)) {
    auto pong = probe->call({"PING"});
    if (pong) auth_required_ = pong->isError() && pong->str.rfind("NOAUTH", 0) == 0;
  }
}

void BackendStatus::poll() {
  std::lock_guard lock(poll_mutex_);
  last_poll_start_ = std::chrono::steady_clock::now();
  const uint64_t answering = read_requests_.load();
  struct Served {
    std::atomic<uint64_t>& served;
    uint64_t answering;
    ~Served() { served = answering; }  // also when the backend did not answer: no waiting on it
  } served{reads_served_, answering};
  if (target_source_) {
    io::Target next = target_source_();
    std::lock_guard lock(target_mutex_);
    if (next.endpoint.toString() != target_.endpoint.toString()) {
      target_ = std::move(next);
      conn_.reset();
    }
  }
  if (!conn_ || conn_->broken()) {
    std::string error;
    conn_ = SyncConnection::connect(target(), std::chrono::milliseconds(1000), &error);
    if (!conn_) {
      reachable_ = false;  // keep the last known state otherwise
      return;
    }
    if (!user_.empty() || !password_.empty()) {
      auto auth = conn_->call({"AUTH", user_.empty() ? "default" : user_, password_});
      if (!auth || auth->isError()) {
        conn_.reset();
        return;
      }
    }
  }
  // One command: both sections (Redis 7), or the default sections, which hold both.
  auto info = plain_info_ ? conn_->call({"INFO"}) : conn_->call({"INFO", "replication", "memory"});
  if (info && info->isError() && !plain_info_) {
    plain_info_ = true;
    info = conn_->call({"INFO"});
  }
  reachable_ = info.has_value();
  if (!info || info->isError()) {
    if (!warned_) {
      warned_ = true;
      spdlog::warn(
          "cannot read the backend's INFO ({}); tfproxy assumes a writable primary "
          "that is not out of memory",
          info && info->isError() ? info->str : "no reply");
    }
    return;
  }
  primary_ = infoField(info->str, "role") != "slave";
  uint64_t maxmemory = resp::parseUint64(infoField(info->str, "maxmemory")).value_or(0);
  uint64_t used_memory = resp::parseUint64(infoField(info->str, "used_memory")).value_or(0);
  oom_ = maxmemory > 0 && used_memory > maxmemory;
}

}  // namespace tfproxy::backend
