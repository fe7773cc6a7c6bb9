#include "server/worker.h"

#include <boost/asio/post.hpp>

#include "server/session.h"
#include "server/shared_connection.h"

namespace tfproxy::server {

namespace asio = boost::asio;

Worker::Worker(size_t index) : index_(index), work_(asio::make_work_guard(context_)) {}

Worker::~Worker() {
  stopNow();
  join();
}

void Worker::start() {
  thread_ = std::thread([this] { context_.run(); });
}

void Worker::releaseWork() { work_.reset(); }

void Worker::stopNow() { context_.stop(); }

void Worker::join() {
  if (thread_.joinable()) thread_.join();
}

void Worker::waitForGate(const std::shared_ptr<Session>& session) {
  gate_waiters_.push_back(session);
}

void Worker::postGateOpened() {
  asio::post(context_, [this] {
    std::vector<std::weak_ptr<Session>> waiters;
    waiters.swap(gate_waiters_);
    for (auto& w : waiters) {
      if (auto s = w.lock()) s->onGateOpened();
    }
  });
}

void Worker::postGateClosing() {
  asio::post(context_, [this] {
    for (auto& [ptr, session] : owned_) session->onGateClosing();
  });
}

void Worker::postShutdown() {
  asio::post(context_, [this] {
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
