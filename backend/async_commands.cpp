#include "backend/async_commands.h"

#include <spdlog/spdlog.h>
#include <algorithm>

#include "backend/cluster_routing.h"
#include "backend/cluster_topology.h"
#include "backend/command_table.h"
#include "backend/errors.h"
#include "backend/slot_map.h"
#include "io/buffer.h"
#include "io/stream.h"
#include "resp/decoder.h"
#include "resp/encoder.h"
#include "resp/framer.h"

namespace tfproxy::backend {

struct AsyncCommands::Call {
  Identity identity;
  int64_t db;
  std::vector<std::string> args;
  bool may_block;
  Done done;
  uint32_t counted = 0;  // admitted through the gate with this weight
  // Cluster: the node ("host:port"; empty for one backend), ASKING first, how often redirected,
  // since when it tries.
  std::string address;
  bool asking = false;
  int redirects = 0;
  std::chrono::steady_clock::time_point started;
};

// One connection running one call at a time: the handshake (HELLO 3 [AUTH]) on first use, a
// SELECT when the database differs, then the command -- all in one write.
class AsyncCommands::Connection : public io::EventLoop::Watcher {
 public:
  Connection(AsyncCommands& owner, io::Stream stream, Identity identity, std::string address)
      : owner_(owner),
        stream_(std::move(stream)),
        identity_(std::move(identity)),
        address_(std::move(address)) {}
  ~Connection() override {
    if (stream_.isOpen()) owner_.loop_.remove(stream_.fd());
  }

  const Identity& identity() const { return identity_; }
  const std::string& address() const { return address_; }
  bool broken() const { return broken_; }

  // Sends the call's command (with what the connection still needs first) and reports the
  // command's reply through `done`.
  void exchange(const Call& call,
                std::function<void(std::optional<resp::Value>, std::string)> done) {
    done_ = std::move(done);
    replies_.clear();
    expected_ = 0;
    out_.clear();
    written_ = 0;
    if (!hello_sent_) {
      if (identity_.authenticates()) {
        resp::encodeCommand({"HELLO", "3", "AUTH", identity_.user, identity_.password}, &out_);
      } else {
        resp::encodeCommand({"HELLO", "3"}, &out_);
      }
      ++expected_;
      hello_sent_ = true;
      hello_pending_ = true;
    }
    if (call.db != db_) {
      std::string n = std::to_string(call.db);
      resp::encodeCommand({"SELECT", n}, &out_);
      ++expected_;
      select_pending_ = true;
      wanted_db_ = call.db;
    }
    if (call.asking) {
      resp::encodeCommand({"ASKING"}, &out_);
      ++expected_;
      asking_pending_ = true;
    }
    std::vector<std::string_view> args(call.args.begin(), call.args.end());
    resp::encodeCommand(args, &out_);
    ++expected_;
    flush();
  }

  // io::EventLoop::Watcher
  void onEvents(uint32_t events) override {
    if (broken_) return;
    if (stream_.writableOn(events)) flush();
    if (stream_.readableOn(events)) read();
  }

 private:
  void flush() {
    if (stream_.write(&out_, &written_) == io::IoResult::kError) fail(stream_.error());
  }

  // Reads to EAGAIN even after the reply (hence "hung up": no short read counts as drained): the
  // edge that brought it may also have brought the backend's close (Redis closes a connection
  // it unblocked with UNBLOCKED), and an idle connection would never hear of it again. The
  // replies read come before the close.
  void read() {
    while (!broken_) {
      bool drained = false;
      const io::IoResult r = stream_.read(&in_, /*hung_up=*/true, &drained);
      if (!takeReplies()) return;
      if (r == io::IoResult::kClosed) return fail("connection closed by the backend");
      if (r == io::IoResult::kError) return fail(stream_.error());
      if (r == io::IoResult::kWouldBlock || drained) return;
    }
  }

  // Decodes the complete replies read so far; false after a malformed one (failed).
  bool takeReplies() {
    std::string_view data = in_.view();
    size_t pos = 0;
    while (pos < data.size()) {
      auto r = framer_.scan(data.substr(pos));
      if (r.status == resp::ReplyFramer::Status::kNeedMore) break;
      resp::Value v;
      if (r.status == resp::ReplyFramer::Status::kError ||
          !resp::decodeValue(data.substr(pos, r.consumed), &v)) {
        fail("malformed reply");
        return false;
      }
      pos += r.consumed;
      if (v.type == resp::Type::kPush) continue;  // not a reply
      replies_.push_back(std::move(v));
    }
    in_.consume(pos);
    if (expected_ > 0 && replies_.size() >= expected_) complete();
    return true;
  }

  void complete() {
    size_t i = 0;
    if (hello_pending_) {
      hello_pending_ = false;
      const resp::Value& hello = replies_[i++];
      if (hello.isError() && hello.str.rfind("WRONGPASS", 0) == 0) {
        broken_ = true;  // this identity cannot authenticate (a deleted or disabled user)
        return report(std::nullopt, errors::kUserGone);
      }
    }
    if (select_pending_) {
      select_pending_ = false;
      if (!replies_[i++].isError()) db_ = wanted_db_;
    }
    if (asking_pending_) {
      asking_pending_ = false;
      ++i;
    }
    std::optional<resp::Value> reply = std::move(replies_[i]);
    expected_ = 0;
    report(std::move(reply), {});
  }

  void fail(const std::string& why) {
    broken_ = true;
    report(std::nullopt, std::string(errors::kLost) + " (" + why + ")");
  }

  void report(std::optional<resp::Value> reply, const std::string& error) {
    auto done = std::move(done_);
    done_ = nullptr;
    if (done) done(std::move(reply), error);
  }

  AsyncCommands& owner_;
  io::Stream stream_;
  Identity identity_;
  std::string address_;
  bool hello_sent_ = false;
  bool asking_pending_ = false;
  bool hello_pending_ = false;
  bool select_pending_ = false;
  int64_t db_ = 0;
  int64_t wanted_db_ = 0;
  bool broken_ = false;
  std::string out_;
  size_t written_ = 0;
  io::Buffer in_;
  resp::ReplyFramer framer_;
  size_t expected_ = 0;
  std::vector<resp::Value> replies_;
  std::function<void(std::optional<resp::Value>, std::string)> done_;
};

AsyncCommands::AsyncCommands(backend::BackendLink& link, backend::Gate& gate, size_t gate_slot,
                             ClusterTopology* cluster)
    : link_(link), cluster_(cluster), gate_(gate), gate_slot_(gate_slot) {
  loop_.post([this] { sweep(); });
  thread_ = std::thread([this] { loop_.run(); });
}

AsyncCommands::~AsyncCommands() {
  loop_.stop();
  thread_.join();
  waiting_for_gate_.clear();
  busy_.clear();
  idle_.clear();
}

void AsyncCommands::run(Identity identity, int64_t db, std::vector<std::string> args,
                        bool may_block, Done done) {
  auto call = std::make_shared<Call>();
  call->identity = std::move(identity);
  call->db = db;
  call->args = std::move(args);
  call->may_block = may_block;
  call->done = std::move(done);
  call->started = std::chrono::steady_clock::now();
  ++pending_;
  loop_.post([this, call] { start(call); });
}

void AsyncCommands::onGateOpened() {
  if (waiting_count_.load(std::memory_order_seq_cst) == 0) return;
  loop_.post([this] { admitWaiting(); });
}

// Loop thread. Admission happens right before sending: commands wait while the gate is closed.
void AsyncCommands::start(std::shared_ptr<Call> call) {
  const uint32_t weight = call->may_block ? 0 : 1;
  if (!gate_.tryAdmit(gate_slot_, weight)) {
    waiting_for_gate_.push_back(std::move(call));
    waiting_count_.fetch_add(1, std::memory_order_seq_cst);
    gate_.addWaiter();
    // Registered first, checked again after (the gate may have opened in between).
    if (!gate_.closed()) loop_.defer([this] { admitWaiting(); });
    return;
  }
  call->counted = weight;
  if (cluster_ != nullptr) {
    if (auto refused = route(*call)) return finish(call, std::move(refused), {});
  }
  dispatch(std::move(call));
}

void AsyncCommands::dispatch(std::shared_ptr<Call> call) {
  auto exchange = [this, call](Connection* raw) {
    raw->exchange(*call, [this, call, raw](std::optional<resp::Value> reply, std::string error) {
      auto it = busy_.find(raw);
      std::unique_ptr<Connection> conn = std::move(it->second);
      busy_.erase(it);
      onReply(call, std::move(reply), error);
      giveBack(std::move(conn));
    });
  };
  // The most recently used idle connection of this identity (to this node).
  std::unique_ptr<Connection> conn =
      idle_.take([&](Connection& c, std::chrono::steady_clock::time_point) {
        return !c.broken() && c.identity().user == call->identity.user &&
               c.identity().password == call->identity.password && c.address() == call->address;
      });
  if (conn) {
    Connection* raw = conn.get();
    busy_[raw] = std::move(conn);
    return exchange(raw);
  }
  BackendLink* link = &link_;
  if (cluster_ != nullptr) {
    link = cluster_->link(call->address);
    if (link == nullptr) {
      cluster_->refreshSoon();
      return finish(call, std::nullopt, std::string(errors::kUnknownNode) + call->address);
    }
  }
  io::connectAsync(loop_, link->addresses(), link->connectTimeout(), link->target().tls,
                   [this, call, exchange](io::Stream stream, const std::string& error) {
                     if (!stream.isOpen()) {
                       // Nothing was sent: in front of a cluster the node may be failing over.
                       if (cluster_ != nullptr &&
                           std::chrono::steady_clock::now() - call->started < kRetryBudget) {
                         return retryLater(call);
                       }
                       finish(call, std::nullopt, errors::kUnavailablePrefix + error);
                       return;
                     }
                     const int fd = stream.fd();
                     auto conn = std::make_unique<Connection>(*this, std::move(stream),
                                                              call->identity, call->address);
                     Connection* raw = conn.get();
                     loop_.add(fd, raw);
                     busy_[raw] = std::move(conn);
                     exchange(raw);
                   });
}

void AsyncCommands::retryLater(std::shared_ptr<Call> call) {
  cluster_->refreshSoon();
  loop_.runAfter(kRetryPause, [this, call] {
    if (auto refused = route(*call)) return finish(call, std::move(refused), {});
    dispatch(call);
  });
}

std::optional<resp::Value> AsyncCommands::route(Call& call) {
  std::vector<std::string_view> argv(call.args.begin(), call.args.end());
  const Route r = routeCommand(argv);
  auto map = cluster_->map();
  int primary = 0;
  switch (r.kind) {
    case RouteKind::kSlot:
      primary = map->ownerOf(static_cast<uint16_t>(r.slot));
      break;
    case RouteKind::kAnyNode:
    case RouteKind::kLocal:
      break;
    case RouteKind::kCrossSlot:
      return resp::Value::error(errors::kCrossSlot);
    case RouteKind::kEveryNode:
    case RouteKind::kSplit:
    case RouteKind::kScan:
      return resp::Value::error(std::string(errors::kAsyncAcrossSlots) + call.args[0]);
  }
  call.address = map->primaryAddress(primary);
  if (call.address.empty()) {
    cluster_->refreshSoon();
    return resp::Value::error(errors::kSlotUnserved);
  }
  call.asking = false;
  return std::nullopt;
}

void AsyncCommands::onReply(std::shared_ptr<Call> call, std::optional<resp::Value> reply,
                            const std::string& error) {
  if (cluster_ != nullptr && reply && reply->isError()) {
    if (auto redirect = parseRedirect(reply->str); redirect && ++call->redirects <= kMaxRedirects) {
      if (!redirect->ask) cluster_->refreshSoon();
      call->address = redirect->address;
      call->asking = redirect->ask;
      return dispatch(std::move(call));
    }
    if (refusedBeforeRunning(reply->str) &&
        std::chrono::steady_clock::now() - call->started < kRetryBudget) {
      return retryLater(std::move(call));
    }
  }
  finish(std::move(call), std::move(reply), error);
}

void AsyncCommands::admitWaiting() {
  std::deque<std::shared_ptr<Call>> waiting;
  waiting.swap(waiting_for_gate_);
  waiting_count_.store(0, std::memory_order_seq_cst);
  for (auto& call : waiting) start(std::move(call));
  gate_.removeWaiters(static_cast<int>(waiting.size()));
}

void AsyncCommands::finish(std::shared_ptr<Call> call, std::optional<resp::Value> reply,
                           const std::string& error) {
  gate_.release(gate_slot_, call->counted);
  call->counted = 0;
  --pending_;
  call->done(std::move(reply), error);
}

void AsyncCommands::giveBack(std::unique_ptr<Connection> connection) {
  if (connection->broken()) return closeLater(std::move(connection));
  closeLater(idle_.put(std::move(connection), std::chrono::steady_clock::now()));
}

void AsyncCommands::sweep() {
  for (auto& c :
       idle_.remove([](Connection& c) { return c.broken(); }, std::chrono::steady_clock::now())) {
    closeLater(std::move(c));
  }
  loop_.runAfter(std::chrono::seconds(1), [this] { sweep(); });
}

void AsyncCommands::closeLater(std::unique_ptr<Connection> connection) {
  // Not while its own event may still be on the stack: at the end of the round.
  if (connection) loop_.defer([doomed = std::shared_ptr<Connection>(std::move(connection))] {});
}

}  // namespace tfproxy::backend
