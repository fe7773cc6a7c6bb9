#include "server/server.h"

#include <spdlog/spdlog.h>

#include <boost/asio/post.hpp>
#include <boost/asio/write.hpp>

#include "backend/async_commands.h"
#include "backend/cluster_connection.h"
#include "backend/link.h"
#include "backend/shared_connection.h"
#include "io/stream.h"
#include "server/errors.h"
#include "server/listen.h"

namespace tfproxy::server {

namespace asio = boost::asio;
using tcp = asio::ip::tcp;

Server::Server(asio::io_context& main_context, const config::ProxyOptions& options,
               ServerParts parts)
    : main_(main_context),
      options_(options),
      gate_(parts.gate),
      tls_(std::move(parts.tls)),
      shutdown_timer_(main_context),
      async_commands_(parts.async_commands) {
  services_.index = &parts.index;
  services_.gate = &gate_;
  services_.link = &parts.link;
  services_.cluster = parts.cluster;
  services_.intercept = parts.intercept;
  services_.editor = parts.editor;
  services_.triggers = parts.triggers;
  services_.on_flush = std::move(parts.on_flush);
  services_.on_status_change = std::move(parts.on_status_change);
  services_.limits.parser.max_bulk_len = options.proto_max_bulk_len;
  services_.limits.query_buffer_limit = options.client_query_buffer_limit;
  services_.multiplex = options.multiplex;
  services_.clients = &clients_;
  for (uint32_t i = 0; i < options.threads; ++i) {
    workers_.push_back(std::make_unique<Worker>(i));
    workers_.back()->setBackendTimeout(std::chrono::milliseconds(options.backend_timeout_ms));
    io::EventLoop& loop = workers_.back()->loop();
    if (parts.cluster != nullptr) {
      workers_.back()->setShared(
          std::make_shared<backend::ClusterConnection>(loop, *parts.cluster));
    } else {
      workers_.back()->setShared(std::make_shared<backend::SharedConnection>(loop, parts.link));
    }
  }
  gate_.setListener(this);
}

Server::~Server() {
  gate_.setListener(nullptr);
  for (auto& w : workers_) w->stop();
  for (auto& w : workers_) w->join();
}

bool Server::listen(std::string* error) {
  if (options_.port != 0) {
    listeners_.push_back(std::make_unique<Listener>(main_));
    port_ = listenOn(listeners_.back()->acceptor, options_.bind, options_.port, error);
    if (port_ == 0) return false;
  }
  if (options_.tls.enabled()) {
    listeners_.push_back(std::make_unique<Listener>(main_));
    listeners_.back()->tls = true;
    tls_port_ = listenOn(listeners_.back()->acceptor, options_.bind, options_.tls.port, error);
    if (tls_port_ == 0) return false;
  }
  return true;
}

void Server::start() {
  for (auto& w : workers_) w->start();
  for (auto& listener : listeners_) accept(*listener);
}

void Server::accept(Listener& listener) {
  listener.acceptor.async_accept(
      [this, &listener](const boost::system::error_code& ec, tcp::socket socket) {
        if (stopping_ || ec == asio::error::operation_aborted) return;
        if (ec) {
          acceptFailed(listener, ec);
          return;
        }
        boost::system::error_code ignored;
        connections_received_.add();
        if (clients_.load(std::memory_order_relaxed) >= options_.maxclients) {
          rejected_connections_.add();
          // As Redis: the error, then the close; nothing else is read or sent. (A TLS client sees
          // the close only: the error would have to wait for a handshake.)
          if (!listener.tls) {
            asio::write(socket, asio::buffer(errors::kMaxClients, sizeof errors::kMaxClients - 1),
                        ignored);
          }
          socket.close(ignored);
          accept(listener);
          return;
        }
        clients_.fetch_add(1, std::memory_order_relaxed);
        socket.non_blocking(true, ignored);
        socket.set_option(tcp::no_delay(true), ignored);
        Worker& worker = *workers_[next_worker_];
        next_worker_ = (next_worker_ + 1) % workers_.size();
        serve(worker, socket.release(ignored), listener.tls);
        accept(listener);
      });
}

Server::Counts Server::counts() const {
  Counts counts;
  counts.connected = clients_.load(std::memory_order_relaxed);
  counts.received = connections_received_.value();
  counts.rejected = rejected_connections_.value();
  for (const auto& worker : workers_) {
    const ForwardingCounters& c = worker->counters();
    const int64_t pinned = c.pinned.value();
    counts.pinned += pinned > 0 ? static_cast<uint64_t>(pinned) : 0;
    for (size_t i = 0; i < backend::kCommandFamilies; ++i) {
      counts.commands[i] += c.commands[i].value();
    }
    counts.bytes_from_clients += c.bytes_from_clients.value();
    counts.bytes_to_clients += c.bytes_to_clients.value();
  }
  return counts;
}

void Server::serve(Worker& worker, int fd, bool tls) {
  auto start = [this, &worker](io::Stream stream) {
    auto session = std::make_shared<Session>(worker, std::move(stream), services_);
    worker.add(session);
    session->start();
  };
  if (!tls) {
    worker.loop().post([start, fd] { start(io::Stream(fd)); });
    return;
  }
  worker.loop().post([this, &worker, start, fd] {
    std::string error;
    io::Stream stream = io::Stream::overTls(fd, *tls_, &error);
    if (!stream.isOpen()) {
      spdlog::warn("TLS client refused: {}", error);
      clients_.fetch_sub(1, std::memory_order_relaxed);
      return;
    }
    io::handshakeAsync(worker.loop(), std::move(stream),
                       std::chrono::milliseconds(options_.tls.handshake_timeout_ms),
                       [this, start](io::Stream stream, const std::string& error) {
                         if (!stream.isOpen()) {
                           // A client that cannot complete a handshake is its own problem
                           // (wrong CA, no certificate, a port scanner): logged, not warned.
                           spdlog::debug("TLS client dropped: {}", error);
                           clients_.fetch_sub(1, std::memory_order_relaxed);
                           return;
                         }
                         if (stopping_) {
                           clients_.fetch_sub(1, std::memory_order_relaxed);
                           return;
                         }
                         start(std::move(stream));
                       });
  });
}

void Server::acceptFailed(Listener& listener, const boost::system::error_code& ec) {
  ++accept_failures_;
  const auto now = std::chrono::steady_clock::now();
  if (now - accept_warned_ >= std::chrono::seconds(10)) {
    spdlog::warn("accept failed: {} ({} time{} since the last warning); retrying every 100 ms",
                 ec.message(), accept_failures_, accept_failures_ == 1 ? "" : "s");
    accept_warned_ = now;
    accept_failures_ = 0;
  }
  // A connection the client aborted before it was taken is simply gone; anything else (no
  // descriptors, no memory) would fail again at once, so the acceptor pauses while the
  // existing clients are served.
  if (ec == asio::error::connection_aborted) {
    accept(listener);
    return;
  }
  listener.retry.expires_after(std::chrono::milliseconds(100));
  listener.retry.async_wait([this, &listener](const boost::system::error_code& wait_ec) {
    if (!wait_ec && !stopping_) accept(listener);
  });
}

void Server::onGateClosing() {
  for (auto& w : workers_) w->postGateClosing();
}

void Server::onGateOpened() {
  for (auto& w : workers_) w->postGateOpened();
  if (async_commands_ != nullptr) async_commands_->onGateOpened();
}

void Server::shutdown(std::chrono::milliseconds timeout, std::function<void()> done) {
  if (stopping_) return;
  stopping_ = true;
  shutdown_done_ = std::move(done);
  // The main context must keep running until the sessions are done, even with no socket left.
  shutdown_guard_.emplace(main_.get_executor());
  boost::system::error_code ignored;
  for (auto& listener : listeners_) {
    listener->acceptor.close(ignored);
    listener->retry.cancel();
  }
  for (auto& w : workers_) w->postShutdown();
  pollShutdown(std::chrono::steady_clock::now() + timeout);
}

// Checks every 10 ms whether all sessions have finished; at the deadline closes the rest.
void Server::pollShutdown(std::chrono::steady_clock::time_point deadline) {
  auto remaining = std::make_shared<std::atomic<size_t>>(0);
  auto pending = std::make_shared<std::atomic<size_t>>(workers_.size());
  for (auto& w : workers_) {
    Worker* worker = w.get();
    worker->loop().post([this, worker, remaining, pending, deadline] {
      bool late = std::chrono::steady_clock::now() >= deadline;
      remaining->fetch_add(worker->sessionCount());
      if (late) worker->closeAll();
      if (pending->fetch_sub(1) == 1) {
        asio::post(main_, [this, remaining, deadline, late] {
          if (remaining->load() == 0 || late) {
            if (late && remaining->load() > 0) {
              spdlog::warn("shutdown timeout: closed {} connections with replies still owed",
                           remaining->load());
            }
            auto done = std::move(shutdown_done_);
            shutdown_guard_.reset();
            if (done) done();
            return;
          }
          shutdown_timer_.expires_after(std::chrono::milliseconds(10));
          shutdown_timer_.async_wait([this, deadline](const boost::system::error_code& ec) {
            if (!ec) pollShutdown(deadline);
          });
        });
      }
    });
  }
}

}  // namespace tfproxy::server
