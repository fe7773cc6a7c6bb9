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

BackendStatus::BackendStatus(config::Endpoint endpoint, std::string user, std::string password,
                             std::chrono::milliseconds interval)
    : endpoint_(std::move(endpoint)),
      user_(std::move(user)),
      password_(std::move(password)),
      interval_(interval) {}

BackendStatus::~BackendStatus() { stop(); }

void BackendStatus::start() {
  thread_ = std::thread([this] {
    std::unique_lock lock(mutex_);
    while (!stopping_) {
      lock.unlock();
      poll();
      lock.lock();
      wake_.wait_for(lock, interval_, [this] { return stopping_; });
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

void BackendStatus::refresh() { poll(); }

void BackendStatus::poll() {
  std::lock_guard lock(poll_mutex_);
  const auto now = std::chrono::steady_clock::now();
  if (now - last_auth_probe_ >= std::chrono::seconds(1)) {
    last_auth_probe_ = now;
    std::string ignored;
    if (auto probe =
            SyncConnection::connect(endpoint_, std::chrono::milliseconds(1000), &ignored)) {
      auto pong = probe->call({"PING"});
      if (pong) auth_required_ = pong->isError() && pong->str.rfind("NOAUTH", 0) == 0;
    }
  }
  if (!conn_ || conn_->broken()) {
    std::string error;
    conn_ = SyncConnection::connect(endpoint_, std::chrono::milliseconds(1000), &error);
    if (!conn_) return;  // unreachable: keep the last known state
    if (!user_.empty() || !password_.empty()) {
      auto auth = conn_->call({"AUTH", user_.empty() ? "default" : user_, password_});
      if (!auth || auth->isError()) {
        conn_.reset();
        return;
      }
    }
  }
  auto info = conn_->call({"INFO", "replication"});
  auto memory = conn_->call({"INFO", "memory"});
  if (!info || !memory || info->isError() || memory->isError()) {
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
  std::string max = infoField(memory->str, "maxmemory");
  std::string used = infoField(memory->str, "used_memory");
  uint64_t maxmemory = resp::parseUint64(max).value_or(0);
  uint64_t used_memory = resp::parseUint64(used).value_or(0);
  oom_ = maxmemory > 0 && used_memory > maxmemory;
}

}  // namespace tfproxy::backend
