#include "server/worker.h"

#include "server/session.h"
#include "server/shared_connection.h"

namespace tfproxy::server {

Worker::Worker(size_t index) : index_(index) {}

Worker::~Worker() {
  stop();
  join();
}

void Worker::start() {
  thread_ = std::thread([this] { loop_.run(); });
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
}

void Worker::postGateOpened() {
  loop_.post([this] {
    std::vector<std::weak_ptr<Session>> waiters;
    waiters.swap(gate_waiters_);
    for (auto& w : waiters) {
      if (auto s = w.lock()) s->onGateOpened();
    }
  });
}

void Worker::postGateClosing() {
  loop_.post([this] {
    std::vector<std::shared_ptr<Session>> all;
    for (auto& [ptr, session] : owned_) all.push_back(session);
    for (auto& s : all) s->onGateClosing();
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
