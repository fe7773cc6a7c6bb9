#include "server/worker.h"

#include <algorithm>

#include "backend/shared_connection.h"
#include "server/session.h"

namespace tfproxy::server {

Worker::Worker(size_t index) : index_(index) {}

Worker::~Worker() {
  stop();
  join();
}

void Worker::start() {
  if (backend_timeout_.count() > 0) loop_.post([this] { checkBackendTimeouts(); });
  thread_ = std::thread([this] { loop_.run(); });
}

void Worker::checkBackendTimeouts() {
  const auto now = std::chrono::steady_clock::now();
  if (shared_) shared_->checkTimeout(now, backend_timeout_);
  std::vector<std::shared_ptr<Session>> all;
  all.reserve(owned_.size());
  for (auto& [ptr, session] : owned_) all.push_back(session);
  for (auto& s : all) s->checkBackendTimeout(now, backend_timeout_);
  loop_.runAfter(std::max(std::chrono::milliseconds(10), backend_timeout_ / 4),
                 [this] { checkBackendTimeouts(); });
}

void Worker::stop() { loop_.stop(); }

void Worker::join() {
  if (thread_.joinable()) thread_.join();
}

void Worker::remove(Session* session) {
  auto it = owned_.find(session);
  if (it == owned_.end()) return;
  loop_.defer([keep = std::move(it->second)] {});
  owned_.erase(it);
}

void Worker::waitForGate(const std::shared_ptr<Session>& session) {
  gate_waiters_.push_back(session);
  gate_waiter_count_.fetch_add(1, std::memory_order_seq_cst);
}

void Worker::holdingBackendReads(const std::shared_ptr<Session>& session) {
  holding_reads_.push_back(session);
  holding_reads_count_.fetch_add(1, std::memory_order_seq_cst);
}

// A waiter registers (on this thread) only after the gate refused it, so a gate that opens
// later sees the count; one that opened earlier is not waited for.
void Worker::postGateOpened() {
  if (gate_waiter_count_.load(std::memory_order_seq_cst) == 0) return;
  loop_.post([this] {
    std::vector<std::weak_ptr<Session>> waiters;
    waiters.swap(gate_waiters_);
    gate_waiter_count_.store(0, std::memory_order_seq_cst);
    for (auto& w : waiters) {
      if (auto s = w.lock()) s->onGateOpened();
    }
  });
}

void Worker::postGateClosing() {
  if (holding_reads_count_.load(std::memory_order_seq_cst) == 0) return;
  loop_.post([this] {
    std::vector<std::weak_ptr<Session>> holding;
    holding.swap(holding_reads_);
    holding_reads_count_.store(0, std::memory_order_seq_cst);
    for (auto& w : holding) {
      if (auto s = w.lock()) s->onGateClosing();
    }
  });
}

void Worker::postShutdown() {
  loop_.post([this] {
    std::vector<std::shared_ptr<Session>> all;
    for (auto& [ptr, session] : owned_) all.push_back(session);
    for (auto& s : all) s->shutdown();
  });
}

void Worker::closeAll() {
  std::vector<std::shared_ptr<Session>> all;
  for (auto& [ptr, session] : owned_) all.push_back(session);
  for (auto& s : all) s->close();
  if (shared_) shared_->close();
}

}  // namespace tfproxy::server
