#include "server/session.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <spdlog/spdlog.h>
#include <sys/epoll.h>
#include <sys/socket.h>

#include "backend/cluster_connection.h"
#include "backend/cluster_routing.h"
#include "backend/cluster_topology.h"
#include "backend/errors.h"
#include "backend/link.h"
#include "backend/shared_connection.h"
#include "functions/intercept.h"
#include "io/check.h"
#include "server/errors.h"
#include "server/worker.h"

namespace tfproxy::server {

namespace {

// Replies held for a client that does not read before the backend is no longer read and the
// client's requests are no longer taken (Redis then buffers, under its own output limits).
constexpr size_t kClientOutHighWater = 8 * 1024 * 1024;
// Commands held for a backend that does not read before the client is no longer read.
constexpr size_t kBackendOutHighWater = 8 * 1024 * 1024;
// Complete commands held while the gate or an intercepted command holds the pipeline back.
constexpr size_t kHeldInputHighWater = 4 * 1024 * 1024;

// "ip:port" of either end of a socket: `name` is getpeername or getsockname.
std::string socketName(int fd, int (*name)(int, sockaddr*, socklen_t*)) {
  sockaddr_storage addr{};
  socklen_t len = sizeof addr;
  if (name(fd, reinterpret_cast<sockaddr*>(&addr), &len) != 0) return "?";
  char host[INET6_ADDRSTRLEN] = "?";
  uint16_t port = 0;
  if (addr.ss_family == AF_INET) {
    auto* a = reinterpret_cast<sockaddr_in*>(&addr);
    ::inet_ntop(AF_INET, &a->sin_addr, host, sizeof host);
    port = ntohs(a->sin_port);
  } else if (addr.ss_family == AF_INET6) {
    auto* a = reinterpret_cast<sockaddr_in6*>(&addr);
    ::inet_ntop(AF_INET6, &a->sin6_addr, host, sizeof host);
    port = ntohs(a->sin6_port);
  }
  return std::string(host) + ":" + std::to_string(port);
}

}  // namespace

void Session::SocketWatcher::onEvents(uint32_t events) {
  // A session lives on its worker's thread: checked once per socket event here, and where
  // completions from elsewhere arrive (onInterceptDone, onSharedReplies) and at close().
  TFPROXY_CHECK(session_.worker_.loop().inLoopThread());
  Session& s = session_;
  if (s.closed_) return;
  const io::Stream& stream = client_ ? s.client_ : s.backend_;
  const bool readable = stream.readableOn(events);
  const bool writable = stream.writableOn(events);
  const bool hung_up = (events & (EPOLLRDHUP | EPOLLHUP)) != 0;
  if (client_) {
    s.client_hung_up_ = s.client_hung_up_ || hung_up;
    if (writable) s.client_blocked_ = false;
    if (readable) s.client_readable_ = true;
  } else {
    s.backend_hung_up_ = s.backend_hung_up_ || hung_up;
    if (writable) s.backend_blocked_ = false;
    if (readable) s.backend_readable_ = true;
  }
  s.drive();
}

Session::Session(Worker& worker, io::Stream client, const SessionServices& services)
    : worker_(worker),
      services_(services),
      client_(std::move(client)),
      ticket_(*services.gate, worker.index()),
      pipeline_(*services.index, ticket_, services.limits, services.editor, services.triggers),
      counters_(worker.counters()),
      peer_(socketName(client_.fd(), ::getpeername)) {
  pipeline_.setCounters(&counters_);
}

void Session::setBackendState(BackendState state) {
  backend_state_ = state;
  // Counted as pinned while not on the shared connection (routing by slot counts as shared).
  const bool own = state != BackendState::kShared;
  if (own != own_connection_counted_) {
    own ? counters_.pinned.add() : counters_.pinned.sub();
    own_connection_counted_ = own;
  }
}

Session::~Session() {
  if (own_connection_counted_) counters_.pinned.sub();
  if (services_.clients != nullptr) services_.clients->fetch_sub(1, std::memory_order_relaxed);
}

Pipeline::NodePlace Session::placeOf(const resp::RequestParser& cmd) const {
  std::vector<std::string_view> argv;
  for (size_t i = 0; i < cmd.argc(); ++i) argv.push_back(cmd.arg(i));
  const backend::Route route = backend::routeCommand(argv);
  switch (route.kind) {
    case backend::RouteKind::kLocal:
      return Pipeline::NodePlace::kProxy;
    case backend::RouteKind::kSplit:
      return Pipeline::NodePlace::kSplit;
    case backend::RouteKind::kCrossSlot:  // any node refuses it as the router would
      return Pipeline::NodePlace::kHere;
    case backend::RouteKind::kEveryNode:
    case backend::RouteKind::kScan:
      return Pipeline::NodePlace::kWhole;
    case backend::RouteKind::kAnyNode:
      return Pipeline::NodePlace::kKeyless;
    case backend::RouteKind::kSlot:
      break;
  }
  auto map = services_.cluster->map();
  const std::string owner = map->primaryAddress(map->ownerOf(static_cast<uint16_t>(route.slot)));
  // A slot nobody serves: its node says so.
  return owner.empty() || owner == node_ ? Pipeline::NodePlace::kHere
                                         : Pipeline::NodePlace::kElsewhere;
}

void Session::start() {
  if (!worker_.loop().add(client_.fd(), &client_watcher_)) {
    close();
    return;
  }
  client_readable_ = client_.buffered();
  if (services_.cluster != nullptr) {
    pipeline_.setNodeCheck([this](const resp::RequestParser& cmd) { return placeOf(cmd); });
  }
  if (services_.multiplex) {
    setBackendState(BackendState::kShared);
    pipeline_.setShared(true);
  } else if (services_.link->up()) {
    connectBackend();
  } else {
    setBackendState(BackendState::kUnavailable);
    pipeline_.setUnavailable(backend::errors::kUnavailablePrefix + services_.link->lastError());
  }
}

void Session::connectBackend() {
  setBackendState(BackendState::kConnecting);
  std::weak_ptr<Session> weak = shared_from_this();
  backend::BackendLink* link = services_.link;
  if (services_.cluster != nullptr) {
    // The node of the command that needs the connection (of a transaction's first key).
    const std::string node = services_.cluster->stickyNode(client_in_.view());
    link = node.empty() ? nullptr : services_.cluster->link(node);
    node_ = node;
    if (link == nullptr) {
      services_.cluster->refreshSoon();
      pipeline_.setShared(false);
      setBackendState(BackendState::kUnavailable);
      pipeline_.setUnavailable(std::string(backend::errors::kSlotUnserved));
      return;
    }
  }
  io::connectAsync(worker_.loop(), link->addresses(), link->connectTimeout(), link->target().tls,
                   [weak, link](io::Stream stream, const std::string& error) {
                     auto self = weak.lock();
                     if (!self || self->closed_) return;
                     self->pipeline_.setShared(false);
                     if (!stream.isOpen()) {
                       link->markDown(error);
                       self->setBackendState(BackendState::kUnavailable);
                       self->pipeline_.setUnavailable(backend::errors::kUnavailablePrefix + error);
                     } else {
                       link->markUp();
                       self->backend_ = std::move(stream);
                       self->backend_hung_up_ = false;
                       self->backend_readable_ = self->backend_.buffered();
                       self->setBackendState(BackendState::kConnected);
                       self->pipeline_.setUnavailable({});
                       self->worker_.loop().add(self->backend_.fd(), &self->backend_watcher_);
                       if (self->services_.cluster != nullptr) self->restoreState();
                     }
                     self->drive();
                   });
}

void Session::restoreState() {
  std::vector<std::string> commands = backend::encodeRestore(pipeline_.state());
  // A transaction moved here: it opens again, with what it had queued.
  if (pipeline_.inMulti()) {
    commands.emplace_back();
    resp::encodeCommand({"MULTI"}, &commands.back());
    for (const std::string& queued : pipeline_.transactionPrefix()) commands.push_back(queued);
  }
  for (const std::string& bytes : commands) {
    pipeline_.forwardCaptured(
        bytes, [](std::string_view) {}, &to_backend_);
  }
}

backend::Forwarder& Session::forwarder() {
  if (router_) return *router_;
  return worker_.shared();
}

void Session::unpinWhenFree() {
  if (services_.cluster == nullptr || backend_state_ != BackendState::kConnected ||
      pin_requested_ || !pipeline_.idle() || pipeline_.boundToConnection() ||
      backend_written_ < to_backend_.size()) {
    return;
  }
  routeBySlot();
}

void Session::dropOwnConnection() {
  closeBackendSocket();
  to_backend_.clear();
  backend_written_ = 0;
}

void Session::routeBySlot() {
  dropOwnConnection();
  setBackendState(BackendState::kShared);
  pipeline_.setShared(true);
  const backend::ConnectionState& state = pipeline_.state();
  if (state == backend::ConnectionState{}) {
    router_.reset();
    return;
  }
  if (router_ && router_state_ == state) return;
  std::string preamble;
  const std::vector<std::string> commands = backend::encodeRestore(state);
  for (const std::string& bytes : commands) preamble += bytes;
  if (router_) router_->close();
  router_ = std::make_shared<backend::ClusterConnection>(worker_.loop(), *services_.cluster);
  router_->setPreamble(std::move(preamble), static_cast<uint32_t>(commands.size()));
  router_state_ = state;
}

void Session::pinWhenReady() {
  if (!pin_requested_ || closed_ || pipeline_.awaitingBackend()) return;
  pin_requested_ = false;
  if (backend_state_ == BackendState::kConnected) {
    // Cluster: a command for another node (or for tfproxy's routing) while nothing binds the
    // client to this connection is routed by slot again, from the next pass on.
    if (!pipeline_.boundToConnection()) {
      routeBySlot();
      redrive_ = true;
      return;
    }
    // A transaction leaves the node it opened on; closing the connection discards it there.
    dropOwnConnection();
  }
  connectBackend();
}

bool Session::clientBackpressure() const {
  if (to_backend_.size() - backend_written_ > kBackendOutHighWater) return true;
  // Replies already owed are bounded by not taking more requests while they pile up.
  if (to_client_.size() - client_written_ > kClientOutHighWater) return true;
  return (waiting_for_gate_ || pipeline_.holdingInput() || pin_requested_ ||
          backend_state_ == BackendState::kConnecting) &&
         client_in_.size() > kHeldInputHighWater;
}

bool Session::backendBackpressure() const {
  return to_client_.size() - client_written_ > kClientOutHighWater;
}

// The one loop. Every event (socket readiness, a completion posted from elsewhere) records what
// happened and calls drive(), which runs the steps in a fixed order until a pass moves nothing.
// Steps never call back into each other's callers, so the order of effects does not depend on
// how an event arrived; an event raised while the loop runs (a callback that runs at once) is
// taken by another pass instead of by recursion.
void Session::drive() {
  if (driving_) {
    redrive_ = true;
    return;
  }
  driving_ = true;
  bool moved = true;
  while (!closed_ && (moved || redrive_)) {
    redrive_ = false;
    moved = readBackend();
    moved |= flushClient();
    moved |= readClient();
    moved |= process();
    moved |= flushBackend();
    pinWhenReady();
    unpinWhenFree();
    // A session with nothing left to do closes now, not once its client stops sending.
    maybeFinish();
  }
  driving_ = false;
}

bool Session::readClient() {
  bool moved = false;
  while (client_readable_ && !closed_) {
    if (!close_after_flush_ && clientBackpressure()) {
      // Not reading now; but a client that hung up is gone whatever it still sent: like Redis at
      // the end of its input, release everything now rather than when the backlog drains.
      if (client_hung_up_) close();
      return moved;
    }
    bool drained = false;
    const size_t held = client_in_.size();
    io::IoResult r = client_.read(&client_in_, client_hung_up_, &drained);
    counters_.bytes_from_clients.add(client_in_.size() - held);
    if (drained) client_readable_ = false;
    if (r == io::IoResult::kClosed || r == io::IoResult::kError) {
      // The client is gone (or reset): like Redis, drop whatever it was owed and release its
      // backend connection now, which also ends a blocking command it was waiting in.
      close();
      return true;
    }
    if (r != io::IoResult::kDone) continue;
    moved = true;
    if (close_after_flush_) {
      // Nothing more is served (QUIT, protocol error, shutdown): input is read only to notice
      // the client leaving while replies are still owed (a BLPOP that never returns).
      client_in_.consume(client_in_.size());
      maybeFinish();  // nothing owed any more: close now rather than read on
      continue;
    }
    // Each burst goes on at once, so that held input stays bounded by the backpressure checks.
    process();
    flushBackend();
  }
  return moved;
}

bool Session::process() {
  // Nothing to take, or taking waits for an event (the gate opening, the pin's connect): the
  // loop's later passes must not parse held input again.
  if (closed_ || close_after_flush_ || client_in_.empty() || waiting_for_gate_ || pin_requested_ ||
      backend_state_ == BackendState::kConnecting) {
    return false;
  }
  if (backend_state_ == BackendState::kShared && services_.cluster == nullptr) {
    if (services_.link->up()) {
      if (pipeline_.unavailable()) pipeline_.setUnavailable({});
    } else if (!pipeline_.unavailable()) {
      pipeline_.setUnavailable(backend::errors::kUnavailablePrefix + services_.link->lastError());
    }
  } else if (backend_state_ == BackendState::kUnavailable && services_.link->up() &&
             pipeline_.idle() && !client_in_.empty()) {
    connectBackend();  // the backend is back; nothing was sent before, so no state is lost
    return false;
  }
  const bool shared = backend_state_ == BackendState::kShared;
  const size_t client_before = to_client_.size();
  const size_t backend_before = to_backend_.size();
  auto r =
      pipeline_.onClientInput(client_in_.view(), shared ? &shared_out_ : &to_backend_, &to_client_);
  client_in_.consume(r.consumed);
  if (shared && !shared_out_.empty()) {
    forwarder().send(shared_from_this(), shared_out_, pipeline_.takeExpectedReplies());
    shared_out_.clear();
  }
  switch (r.stop) {
    case Pipeline::Stop::kNeedMore:
      break;
    case Pipeline::Stop::kPin:
      pin_requested_ = true;
      pinWhenReady();
      break;
    case Pipeline::Stop::kPaused:
      if (!waiting_for_gate_) {
        waiting_for_gate_ = true;
        services_.gate->addWaiter();
        worker_.waitForGate(shared_from_this());
        // Registered first, checked again after: a gate opening meanwhile either saw the
        // registration or is seen here.
        if (!services_.gate->closed()) {
          worker_.loop().defer([self = shared_from_this()] { self->onGateOpened(); });
        }
      }
      break;
    case Pipeline::Stop::kBarrier:
      dispatchIntercepted();
      break;
    case Pipeline::Stop::kClose:
      close_after_flush_ = true;
      if (!pipeline_.protocolError().empty()) {
        spdlog::debug("client {}: closing after '{}'", peer_, pipeline_.protocolError());
      }
      break;
  }
  return r.consumed > 0 || to_client_.size() != client_before ||
         to_backend_.size() != backend_before;
}

void Session::onGateOpened() {
  const bool was_waiting = waiting_for_gate_;
  waiting_for_gate_ = false;
  drive();  // admits what was held back (or registers again if the gate closed meanwhile)
  if (was_waiting) services_.gate->removeWaiters(1);
}

void Session::onGateClosing() {
  holding_reads_ = false;
  drive();
}

void Session::dispatchIntercepted() {
  const Pipeline::Intercepted* request = pipeline_.readyIntercepted();
  if (request == nullptr) return;
  if (request->fires) return dispatchFiring(*request);
  if (services_.intercept == nullptr) {
    onInterceptDone(errors::kNoHandler);
    return;
  }
  functions::ClientContext context;
  static_cast<backend::ConnectionState&>(context) = pipeline_.state();
  context.address = peer_;
  context.in_multi = pipeline_.inMulti();
  std::weak_ptr<Session> weak = shared_from_this();
  io::EventLoop& loop = worker_.loop();
  context.io_thread = &loop;
  if (!request->transaction.empty() || request->argv[0] == "EXEC") {
    context.in_multi = true;
    context.transaction = request->transaction;
    // The gate's holder asks for the prefix EXEC; it goes out past the closed gate.
    context.exec_prefix = [weak, &loop](
                              std::function<void(std::string, backend::ConnectionState)> on_reply) {
      loop.post([weak, on_reply = std::move(on_reply)]() mutable {
        auto self = weak.lock();
        if (!self || self->closed_ || self->backend_state_ != BackendState::kConnected) {
          on_reply(errors::kClientClosed, {});
          return;
        }
        std::string exec;
        resp::encodeCommand({"EXEC"}, &exec);
        std::weak_ptr<Session> again = self;
        self->pipeline_.forwardCaptured(
            exec,
            [again, on_reply](std::string_view frame) {
              auto s = again.lock();
              on_reply(std::string(frame), s ? s->connectionState() : backend::ConnectionState{});
            },
            &self->to_backend_, /*ends_multi=*/true);
        self->drive();
      });
    };
    context.adopt_state = [weak, &loop](backend::ConnectionState state,
                                        std::function<void()> done) {
      loop.post([weak, state = std::move(state), done = std::move(done)]() mutable {
        auto self = weak.lock();
        if (!self || self->closed_ || self->backend_state_ != BackendState::kConnected) {
          return done();
        }
        self->adoptState(std::move(state), std::move(done));
      });
    };
  }
  services_.intercept->run(request->argv, context, [weak, &loop](std::string reply) {
    auto deliver = [weak, reply = std::move(reply)]() mutable {
      if (auto self = weak.lock()) self->onInterceptDone(std::move(reply));
    };
    // Answered on this thread (a function run here, an error): at the end of this round, with no
    // wake-up.
    if (loop.inLoopThread()) {
      loop.defer(std::move(deliver));
    } else {
      loop.post(std::move(deliver));
    }
  });
}

// A write that may fire a key space trigger: the triggers' section sends it, past the closed
// gate, on this client's connection (shared or its own), and answers once they ran.
void Session::dispatchFiring(const Pipeline::Intercepted& request) {
  std::weak_ptr<Session> weak = shared_from_this();
  io::EventLoop& loop = worker_.loop();
  std::string bytes;
  std::vector<std::string_view> argv(request.argv.begin(), request.argv.end());
  resp::encodeCommand(argv, &bytes);
  const bool ends_multi = backend::equalsLower(request.argv[0], "exec");
  auto forward = [weak, &loop, bytes = std::move(bytes),
                  ends_multi](std::function<void(std::string)> on_reply) {
    loop.post([weak, bytes, ends_multi, on_reply = std::move(on_reply)] {
      auto self = weak.lock();
      if (!self || self->closed_) return on_reply(errors::kClientClosed);
      const bool shared = self->backend_state_ == BackendState::kShared;
      self->pipeline_.forwardCaptured(
          bytes, [on_reply](std::string_view frame) { on_reply(std::string(frame)); },
          shared ? &self->shared_out_ : &self->to_backend_, ends_multi);
      if (shared) {
        self->forwarder().send(self, self->shared_out_, self->pipeline_.takeExpectedReplies());
        self->shared_out_.clear();
      }
      self->drive();
    });
  };
  services_.triggers->runWrite(request.keys, std::move(forward), [weak, &loop](std::string reply) {
    loop.post([weak, reply = std::move(reply)]() mutable {
      if (auto self = weak.lock()) self->onInterceptDone(std::move(reply));
    });
  });
}

backend::ConnectionState Session::connectionState() const { return pipeline_.state(); }

// Sends what makes the backend's view of this client match `state`; replies are not the
// client's. `done` runs after the last of them.
void Session::adoptState(backend::ConnectionState state, std::function<void()> done) {
  std::vector<std::vector<std::string>> commands;
  if (state.user != pipeline_.user() || state.password != pipeline_.password()) {
    commands.push_back({"AUTH", state.user, state.password});
  }
  if (state.db != pipeline_.db()) commands.push_back({"SELECT", std::to_string(state.db)});
  if (commands.empty()) return done();
  auto left = std::make_shared<size_t>(commands.size());
  auto finish = std::make_shared<std::function<void()>>(std::move(done));
  std::weak_ptr<Session> weak = shared_from_this();
  for (const auto& command : commands) {
    std::string bytes;
    std::vector<std::string_view> argv(command.begin(), command.end());
    resp::encodeCommand(argv, &bytes);
    pipeline_.forwardCaptured(
        bytes,
        [weak, change = backend::StateChange::read(command), left, finish](std::string_view frame) {
          auto self = weak.lock();
          if (self && !frame.empty() && frame[0] != '-' && frame[0] != '!') {
            self->pipeline_.applyChange(change);
          }
          if (--*left == 0) (*finish)();
        },
        &to_backend_);
  }
  drive();
}

void Session::onInterceptDone(std::string reply) {
  TFPROXY_CHECK(worker_.loop().inLoopThread());
  if (closed_) return;
  pipeline_.completeIntercepted(std::move(reply), &to_client_);
  drive();
}

bool Session::readBackend() {
  // A slow client holds back backend reads, except while the gate drains: the answers it waits
  // for must be read.
  bool moved = false;
  while (backend_readable_ && !closed_ && backend_state_ == BackendState::kConnected) {
    if (backendBackpressure() && !services_.gate->closed()) {
      if (!holding_reads_) {
        holding_reads_ = true;
        worker_.holdingBackendReads(shared_from_this());
      }
      // Registered first, checked again after: a gate closing meanwhile either saw the
      // registration or is seen here.
      if (!services_.gate->closed()) return moved;
    }
    bool drained = false;
    io::IoResult r = backend_.read(&backend_in_, backend_hung_up_, &drained);
    if (drained) backend_readable_ = false;
    if (r == io::IoResult::kClosed || r == io::IoResult::kError) {
      backendLost(r == io::IoResult::kClosed ? "closed by the backend" : backend_.error(),
                  backend::errors::kLost);
      return true;
    }
    if (r == io::IoResult::kWouldBlock) break;
    moved = true;
    ++backend_reads_;
    size_t used = pipeline_.onBackendInput(backend_in_.view(), &to_client_);
    if (used == std::string_view::npos) {
      spdlog::error("client {}: the backend sent a malformed reply", peer_);
      backendLost("malformed reply", backend::errors::kLost);
      return true;
    }
    backend_in_.consume(used);
    if (backend_in_.empty()) backend_in_.shrink(io::kKeepCapacity);
    noteChanges();
    dispatchIntercepted();
    flushClient();  // each burst's replies go on at once, as a client's commands do
  }
  return moved;
}

void Session::onSharedReplies(std::string_view frames) {
  TFPROXY_CHECK(worker_.loop().inLoopThread());
  if (closed_) return;
  size_t used = pipeline_.onBackendInput(frames, &to_client_);
  if (used != frames.size()) {
    backendLost("malformed reply", backend::errors::kLost);
    return;
  }
  noteChanges();
  dispatchIntercepted();
  drive();
}

void Session::onSharedLost(const char* text, bool) { backendLost("shared connection lost", text); }

std::string Session::localAddress() const { return socketName(client_.fd(), ::getsockname); }

void Session::checkBackendTimeout(std::chrono::steady_clock::time_point now,
                                  std::chrono::milliseconds limit) {
  if (router_) router_->checkTimeout(now, limit);
  const bool owed =
      !closed_ && backend_state_ == BackendState::kConnected && pipeline_.awaitingBoundedReply();
  if (!stall_.expired(owed, backend_reads_, now, limit)) return;
  spdlog::warn("client {}: no reply from the backend within {} ms; closing the connection", peer_,
               limit.count());
  backendLost("backend timeout", backend::errors::kTimedOut);
}

void Session::closeBackendSocket() {
  if (backend_.isOpen()) {
    worker_.loop().remove(backend_.fd());
    backend_.close();
  }
}

void Session::backendLost(const std::string& why, const char* text) {
  if (closed_) return;
  spdlog::debug("client {}: backend connection lost ({})", peer_, why);
  setBackendState(BackendState::kUnavailable);
  closeBackendSocket();
  pipeline_.onBackendLost(text, &to_client_);
  close_after_flush_ = true;
  drive();
}

bool Session::flushClient() {
  if (closed_ || client_blocked_ || to_client_.empty()) return false;
  const size_t before = client_written_;
  const size_t owed = to_client_.size();
  io::IoResult r = client_.write(&to_client_, &client_written_);
  // All sent clears the buffer; otherwise the offset moved.
  counters_.bytes_to_clients.add(to_client_.empty() ? owed - before : client_written_ - before);
  if (r == io::IoResult::kError) {
    close();
    return true;
  }
  if (r == io::IoResult::kWouldBlock) {
    client_blocked_ = true;  // the writable edge drives again
    return client_written_ != before;
  }
  return true;  // all sent: reads held back for this client may go on
}

bool Session::flushBackend() {
  if (closed_ || backend_blocked_ || to_backend_.empty() ||
      backend_state_ != BackendState::kConnected) {
    return false;
  }
  const size_t before = backend_written_;
  io::IoResult r = backend_.write(&to_backend_, &backend_written_);
  if (r == io::IoResult::kError) {
    backendLost(backend_.error(), backend::errors::kLost);
    return true;
  }
  if (r == io::IoResult::kWouldBlock) {
    backend_blocked_ = true;
    return backend_written_ != before;
  }
  return true;
}

void Session::noteChanges() {
  if (pipeline_.flushes() != flushes_seen_) {
    flushes_seen_ = pipeline_.flushes();
    if (services_.on_flush) services_.on_flush();
  }
  if (pipeline_.statusChanges() != status_changes_seen_) {
    status_changes_seen_ = pipeline_.statusChanges();
    if (services_.on_status_change) services_.on_status_change();
  }
}

void Session::maybeFinish() {
  if (close_after_flush_ && !closed_ && pipeline_.idle() && to_client_.empty()) close();
}

void Session::shutdown() {
  if (closed_) return;
  close_after_flush_ = true;
  drive();
}

void Session::close() {
  TFPROXY_CHECK(worker_.loop().inLoopThread());
  if (closed_) return;
  closed_ = true;
  if (waiting_for_gate_) {
    waiting_for_gate_ = false;
    services_.gate->removeWaiters(1);
  }
  if (client_.isOpen()) {
    worker_.loop().remove(client_.fd());
    client_.close();
  }
  closeBackendSocket();
  if (router_) router_->close();
  pipeline_.abandon();
  worker_.remove(this);
}

}  // namespace tfproxy::server
