#include "backend/cluster_connection.h"

#include <spdlog/spdlog.h>

#include "backend/cluster_topology.h"
#include "backend/command_table.h"
#include "backend/errors.h"
#include "backend/shared_connection.h"
#include "backend/slot_map.h"
#include "base/instance_id.h"
#include "resp/encoder.h"
#include "resp/errors.h"
#include "resp/framer.h"
#include "resp/number.h"

namespace tfproxy::backend {

namespace {

bool isError(std::string_view frame) {
  return !frame.empty() && (frame[0] == '-' || frame[0] == '!');
}
bool isNull(std::string_view frame) {
  return frame == "$-1\r\n" || frame == "*-1\r\n" || frame == "_\r\n";
}

std::string errorFrame(std::string_view text) {
  std::string out;
  resp::ReplyWriter(&out, resp::Protocol::kResp2).error(text);
  return out;
}

// The count of an aggregate frame ("*3\r\n...") and where its elements start.
bool aggregateHeader(std::string_view frame, int64_t* count, size_t* body) {
  const size_t end = frame.find("\r\n");
  if (frame.size() < 4 || end == std::string_view::npos) return false;
  auto n = resp::parseInt64(frame.substr(1, end - 1));
  if (!n) return false;
  *count = *n;
  *body = end + 2;
  return true;
}

// The elements of an aggregate frame, each a complete frame.
std::vector<std::string_view> elements(std::string_view frame) {
  std::vector<std::string_view> out;
  int64_t count = 0;
  size_t pos = 0;
  if (!aggregateHeader(frame, &count, &pos)) return out;
  resp::ReplyFramer framer;
  for (int64_t i = 0; i < count && pos < frame.size(); ++i) {
    auto r = framer.scan(frame.substr(pos));
    if (r.status != resp::ReplyFramer::Status::kComplete) break;
    out.push_back(frame.substr(pos, r.consumed));
    pos += r.consumed;
  }
  return out;
}

// An error frame's text: "-MOVED 1 h:p\r\n" -> "MOVED 1 h:p".
std::string_view errorText(std::string_view frame) {
  return frame.substr(1, frame.size() >= 3 ? frame.size() - 3 : 0);
}

}  // namespace

struct ClusterConnection::Request {
  User* owner = nullptr;
  uint64_t queue_id = 0;
  Route route;
  std::chrono::steady_clock::time_point started;
  // One per node asked: its command, where it goes (a slot, else a primary's index), its reply.
  struct PartState {
    std::string command;
    int slot;
    int primary;
    std::string reply;
    uint8_t redirects = 0;
  };
  std::vector<PartState> parts;
  size_t left = 0;
  bool done = false;
  std::string reply;
  // Merge::kByKey: for each key of the request, its part and its place in that part's reply.
  std::vector<std::pair<uint32_t, uint32_t>> key_order;
  // SCAN: the primary asked and how many there were.
  uint32_t scan_primary = 0;
  size_t scan_primaries = 0;

  void addPart(std::string command, int slot, int primary) {
    parts.push_back({std::move(command), slot, primary, {}, 0});
    ++left;
  }
  // The parts' replies as the one reply the client gets (taken from the parts).
  std::string merge();
};

std::string ClusterConnection::Request::merge() {
  // The common case: one part, its reply as it is.
  if (parts.size() == 1 && route.kind != RouteKind::kScan) return std::move(parts[0].reply);
  std::vector<std::string> replies;
  replies.reserve(parts.size());
  for (PartState& part : parts) replies.push_back(std::move(part.reply));
  for (const std::string& r : replies) {
    if (isError(r)) return r;
  }
  switch (route.merge) {
    case Merge::kFirst:
      break;
    case Merge::kOk:
      return "+OK\r\n";
    case Merge::kSum: {
      int64_t sum = 0;
      for (const std::string& r : replies) {
        if (r.size() < 4 || r[0] != ':') return r;
        sum += resp::parseInt64(std::string_view(r).substr(1, r.size() - 3)).value_or(0);
      }
      std::string out;
      resp::ReplyWriter(&out, resp::Protocol::kResp2).integer(sum);
      return out;
    }
    case Merge::kConcat: {
      int64_t total = 0;
      std::string body;
      for (const std::string& r : replies) {
        int64_t count = 0;
        size_t at = 0;
        if (!aggregateHeader(r, &count, &at)) return r;
        total += std::max<int64_t>(count, 0);
        body.append(r, at);
      }
      std::string out;
      resp::ReplyWriter(&out, resp::Protocol::kResp2).arrayHeader(static_cast<size_t>(total));
      return out + body;
    }
    case Merge::kNonNull:
      for (const std::string& r : replies) {
        if (!isNull(r)) return r;
      }
      break;
    case Merge::kByKey: {
      std::vector<std::vector<std::string_view>> split;
      for (const std::string& r : replies) split.push_back(elements(r));
      std::string out;
      resp::ReplyWriter(&out, resp::Protocol::kResp2).arrayHeader(key_order.size());
      for (auto [part, at] : key_order) {
        if (at >= split[part].size()) return errorFrame(errors::kLost);
        out.append(split[part][at]);
      }
      return out;
    }
  }
  if (route.kind == RouteKind::kScan) {
    // *2 $<n> <cursor> <keys>: the node's cursor becomes the client's.
    const std::string& r = replies[0];
    int64_t count = 0;
    size_t at = 0;
    if (!aggregateHeader(r, &count, &at) || count != 2) return r;
    const auto parts = elements(r);
    if (parts.size() != 2 || parts[0].empty() || parts[0][0] != '$') return r;
    int64_t len = 0;
    size_t text = 0;
    if (!aggregateHeader(parts[0], &len, &text)) return r;
    auto node_cursor = resp::parseUint64(parts[0].substr(text, static_cast<size_t>(len)));
    if (!node_cursor) return r;
    const uint64_t next = nextScanCursor(*node_cursor, scan_primary, scan_primaries);
    std::string out;
    resp::ReplyWriter w(&out, resp::Protocol::kResp2);
    w.arrayHeader(2);
    w.bulk(std::to_string(next));
    w.raw(parts[1]);
    return out;
  }
  return replies[0];
}

// One node: its pipelined connection and which part each reply on it answers.
class ClusterConnection::Node : public Forwarder::User {
 public:
  Node(ClusterConnection& owner, io::EventLoop& loop, BackendLink& link)
      : owner_(owner), connection_(std::make_shared<SharedConnection>(loop, link)) {}

  void send(const std::shared_ptr<Node>& self, const Part& part, bool asking) {
    const std::string& bytes = part.request->parts[part.index].command;
    if (asking) {
      std::string out;
      resp::encodeCommand({"ASKING"}, &out);
      out.append(bytes);
      fifo_.emplace_back();  // ASKING's +OK is nobody's
      fifo_.push_back(part);
      connection_->send(self, out, 2);
    } else {
      fifo_.push_back(part);
      connection_->send(self, bytes, 1);
    }
  }
  SharedConnection& connection() { return *connection_; }

  void onSharedReplies(std::string_view frames) override {
    while (!frames.empty() && !fifo_.empty()) {
      auto r = framer_.scan(frames);
      if (r.status != resp::ReplyFramer::Status::kComplete) return;  // SharedConnection framed
      std::optional<Part> part = std::move(fifo_.front());
      fifo_.pop_front();
      if (part) owner_.onReply(*part, frames.substr(0, r.consumed));
      frames.remove_prefix(r.consumed);
    }
    owner_.handOver();
  }
  void onSharedLost(const char* text, bool sent) override {
    std::deque<std::optional<Part>> lost;
    lost.swap(fifo_);
    framer_.reset();
    for (auto& part : lost) {
      if (part) owner_.onLost(*part, text, sent);
    }
    owner_.handOver();
  }

 private:
  ClusterConnection& owner_;
  std::shared_ptr<SharedConnection> connection_;
  std::deque<std::optional<Part>> fifo_;
  resp::ReplyFramer framer_;
};

ClusterConnection::ClusterConnection(io::EventLoop& loop, ClusterTopology& topology)
    : loop_(loop), topology_(topology) {}

ClusterConnection::~ClusterConnection() = default;

void ClusterConnection::setPreamble(std::string bytes, uint32_t replies) {
  preamble_ = std::move(bytes);
  preamble_replies_ = replies;
}

const std::string& ClusterConnection::nodeId() {
  static const std::string id = [] {
    std::string text;
    while (text.size() < 40) text += randomInstanceId();
    return text.substr(0, 40);
  }();
  return id;
}

const SlotMap& ClusterConnection::currentMap() {
  const uint64_t version = topology_.version();
  if (version != map_version_ || !map_) {
    map_ = topology_.map();
    map_version_ = version;
    by_primary_.clear();
  }
  return *map_;
}

void ClusterConnection::send(const std::shared_ptr<User>& user, std::string_view bytes, uint32_t) {
  while (!bytes.empty()) {
    auto r = parser_.parse(bytes);
    if (r.status != resp::RequestParser::Status::kComplete) {
      parser_.reset();
      break;  // the pipeline hands over whole commands only
    }
    if (parser_.argc() > 0) accept(user, bytes.substr(0, r.consumed));
    bytes.remove_prefix(r.consumed);
  }
  handOver();
}

void ClusterConnection::accept(const std::shared_ptr<User>& user, std::string_view bytes) {
  argv_.clear();
  for (size_t i = 0; i < parser_.argc(); ++i) argv_.push_back(parser_.arg(i));
  const CommandInfo* info = routingInfo(CommandTable::builtin(), argv_);
  auto request = std::make_shared<Request>();
  request->route = routeCommand(info, argv_);
  request->started = std::chrono::steady_clock::now();
  request->owner = user.get();

  Queue& queue = queues_[user.get()];
  if (queue.user.lock() != user) {
    // A new user (or a new one at a departed one's address): it starts a queue of its own.
    queue.user = user;
    queue.requests.clear();
    queue.id = ++next_queue_id_;
  }
  request->queue_id = queue.id;
  queue.requests.push_back(request);

  const SlotMap& map = currentMap();
  const size_t primaries = map.primaries().size();
  switch (request->route.kind) {
    case RouteKind::kSlot:
      request->addPart(std::string(bytes), request->route.slot, -1);
      break;
    case RouteKind::kAnyNode:
      request->addPart(std::string(bytes), -1, 0);
      break;
    case RouteKind::kEveryNode:
      for (size_t i = 0; i < primaries; ++i) {
        request->addPart(std::string(bytes), -1, static_cast<int>(i));
      }
      break;
    case RouteKind::kSplit:
      for (const SlotPart& part :
           splitBySlot(*info, argv_, request->route.key_group, &request->key_order)) {
        std::string command;
        resp::encodeCommand(part.args, &command);
        request->addPart(std::move(command), part.slot, -1);
      }
      break;
    case RouteKind::kScan: {
      if (argv_.size() < 2 || !resp::parseUint64(argv_[1])) {
        request->addPart(std::string(bytes), -1, 0);  // the node answers the error
        break;
      }
      auto position = decodeScanCursor(argv_[1], primaries);
      if (!position) {
        request->reply = errorFrame(errors::kInvalidCursor);
        break;
      }
      request->scan_primary = position->primary;
      request->scan_primaries = primaries;
      std::string node_cursor = std::to_string(position->node_cursor);
      std::vector<std::string_view> args = argv_;
      args[1] = node_cursor;
      std::string command;
      resp::encodeCommand(args, &command);
      request->addPart(std::move(command), -1, static_cast<int>(position->primary));
      break;
    }
    case RouteKind::kLocal: {
      int slot = kNoSlot;
      request->reply = localReply(argv_, user->localAddress(), user->resp3(), &slot);
      if (request->reply.empty()) {
        request->route.kind = RouteKind::kSlot;
        request->addPart(std::string(bytes), slot, slot >= 0 ? -1 : 0);
      }
      break;
    }
    case RouteKind::kCrossSlot:
      request->reply = errorFrame(errors::kCrossSlot);
      break;
  }

  if (request->left == 0) {
    request->done = true;
    deliver(*request);
    return;
  }
  for (uint32_t i = 0; i < request->parts.size(); ++i) {
    // Behind commands waiting to be routed again, so that one client's commands stay in order.
    if (!parked_.empty()) {
      parked_.push_back({request, i});
    } else {
      dispatch({request, i});
    }
  }
}

void ClusterConnection::dispatch(Part part, const std::string& redirect, bool asking) {
  Request& request = *part.request;
  std::string address = redirect;
  std::shared_ptr<Node>* cached = nullptr;  // the primary's entry in by_primary_
  if (address.empty()) {
    const SlotMap& map = currentMap();
    const int slot = request.parts[part.index].slot;
    const int primary =
        slot >= 0 ? map.ownerOf(static_cast<uint16_t>(slot)) : request.parts[part.index].primary;
    if (primary < 0 || static_cast<size_t>(primary) >= map.primaries().size()) {
      topology_.refreshSoon();
      return retryLater(part, errorFrame(errors::kSlotUnserved));
    }
    by_primary_.resize(map.primaries().size());
    cached = &by_primary_[static_cast<size_t>(primary)];
    if (*cached) return (*cached)->send(*cached, part, asking);
    address = map.primaryAddress(primary);
  }
  auto it = nodes_.find(address);
  if (it == nodes_.end()) {
    BackendLink* link = topology_.link(address);
    if (link == nullptr) {
      topology_.refreshSoon();
      return retryLater(part, errorFrame(std::string(errors::kUnknownNode) + address));
    }
    it = nodes_.emplace(address, std::make_shared<Node>(*this, loop_, *link)).first;
    if (preamble_replies_ > 0) it->second->connection().setPreamble(preamble_, preamble_replies_);
  }
  if (cached != nullptr) *cached = it->second;
  it->second->send(it->second, part, asking);
}

void ClusterConnection::onReply(const Part& part, std::string_view frame) {
  if (!frame.empty() && frame[0] == '-') {
    const std::string_view text = errorText(frame);
    if (auto redirect = parseRedirect(text)) {
      if (++part.request->parts[part.index].redirects <= kMaxRedirects) {
        if (!redirect->ask) topology_.refreshSoon();
        return dispatch(part, redirect->address, redirect->ask);
      }
    } else if (refusedBeforeRunning(text)) {
      // A slot in migration, a failover: safe to send again.
      topology_.refreshSoon();
      return retryLater(part, frame);
    }
  }
  complete(part, std::string(frame));
}

void ClusterConnection::onLost(const Part& part, const char* text, bool sent) {
  topology_.refreshSoon();
  // Never sent: routed again (the node may have failed over). Sent: it may have run.
  if (!sent) return retryLater(part, errorFrame(text));
  complete(part, errorFrame(text));
}

void ClusterConnection::retryLater(const Part& part, std::string_view error) {
  if (std::chrono::steady_clock::now() - part.request->started > kRetryBudget) {
    return complete(part, std::string(error));
  }
  parked_.push_back(part);
  if (retry_scheduled_) return;
  retry_scheduled_ = true;
  std::weak_ptr<ClusterConnection> weak = shared_from_this();
  loop_.runAfter(kRetryPause, [weak] {
    if (auto self = weak.lock()) self->retryParked();
  });
}

void ClusterConnection::retryParked() {
  retry_scheduled_ = false;
  std::deque<Part> parts;
  parts.swap(parked_);
  for (Part& part : parts) {
    if (!parked_.empty()) {
      parked_.push_back(std::move(part));  // an earlier one waits again: keep the order
    } else {
      dispatch(std::move(part));
    }
  }
  handOver();
}

void ClusterConnection::complete(const Part& part, std::string frame) {
  Request& request = *part.request;
  request.parts[part.index].reply = std::move(frame);
  if (--request.left > 0) return;
  request.reply = request.merge();
  request.parts.clear();
  request.done = true;
  deliver(request);
}

void ClusterConnection::deliver(Request& request) {
  auto it = queues_.find(request.owner);
  if (it == queues_.end() || it->second.id != request.queue_id) return;  // its user left
  Queue& queue = it->second;
  while (!queue.requests.empty() && queue.requests.front()->done) {
    queue.ready.append(queue.requests.front()->reply);
    queue.requests.pop_front();
  }
  if (!queue.listed && !queue.ready.empty()) {
    queue.listed = true;
    ready_.push_back(request.owner);
  }
}

void ClusterConnection::handOver() {
  while (!ready_.empty()) {
    std::vector<User*> users;
    users.swap(ready_);
    for (User* key : users) {
      auto it = queues_.find(key);
      if (it == queues_.end()) continue;
      Queue& queue = it->second;
      queue.listed = false;
      std::string out = std::move(queue.ready);
      queue.ready.clear();
      auto user = queue.user.lock();
      if (queue.requests.empty()) queues_.erase(it);
      // The user may send again from here (its session reads on): new work lands in ready_.
      if (user && !out.empty()) user->onSharedReplies(out);
    }
  }
}

void ClusterConnection::close() {
  for (auto& [address, n] : nodes_) n->connection().close();
}

void ClusterConnection::checkTimeout(std::chrono::steady_clock::time_point now,
                                     std::chrono::milliseconds limit) {
  for (auto& [address, n] : nodes_) n->connection().checkTimeout(now, limit);
}

std::string ClusterConnection::localReply(const std::vector<std::string_view>& argv,
                                          const std::string& self, bool resp3, int* slot) const {
  std::string out;
  resp::ReplyWriter w(&out, resp3 ? resp::Protocol::kResp3 : resp::Protocol::kResp2);
  if (!equalsLower(argv[0], "cluster")) {
    w.simple("OK");  // READONLY, READWRITE, ASKING
    return out;
  }
  if (argv.size() < 2) {
    w.error(resp::errors::wrongArity("cluster"));
    return out;
  }
  const std::string& id = nodeId();
  const size_t colon = self.rfind(':');
  const std::string ip = colon == std::string::npos ? self : self.substr(0, colon);
  const int64_t port =
      colon == std::string::npos ? 0 : resp::parseInt64(self.substr(colon + 1)).value_or(0);
  const std::string_view sub = argv[1];
  if (equalsLower(sub, "slots")) {
    w.arrayHeader(1);
    w.arrayHeader(3);
    w.integer(0);
    w.integer(kClusterSlots - 1);
    w.arrayHeader(3);
    w.bulk(ip);
    w.integer(port);
    w.bulk(id);
  } else if (equalsLower(sub, "shards")) {
    w.arrayHeader(1);
    w.mapHeader(2);
    w.bulk("slots");
    w.arrayHeader(2);
    w.integer(0);
    w.integer(kClusterSlots - 1);
    w.bulk("nodes");
    w.arrayHeader(1);
    w.mapHeader(7);
    auto field = [&w](std::string_view key, std::string_view value) {
      w.bulk(key);
      w.bulk(value);
    };
    field("id", id);
    w.bulk("port");
    w.integer(port);
    field("ip", ip);
    field("endpoint", ip);
    field("role", "master");
    w.bulk("replication-offset");
    w.integer(0);
    field("health", "online");
  } else if (equalsLower(sub, "nodes")) {
    // Text replies are verbatim strings in RESP3, as Redis makes them.
    w.verbatim("txt", id + " " + self + "@0 myself,master - 0 0 1 connected 0-16383\n");
  } else if (equalsLower(sub, "info")) {
    w.verbatim("txt",
               "cluster_enabled:1\r\ncluster_state:ok\r\ncluster_slots_assigned:16384\r\n"
               "cluster_slots_ok:16384\r\ncluster_slots_pfail:0\r\ncluster_slots_fail:0\r\n"
               "cluster_known_nodes:1\r\ncluster_size:1\r\ncluster_current_epoch:1\r\n"
               "cluster_my_epoch:1\r\n");
  } else if (equalsLower(sub, "myid")) {
    w.bulk(id);
  } else if (equalsLower(sub, "keyslot") && argv.size() == 3) {
    w.integer(keySlot(argv[2]));
  } else if ((equalsLower(sub, "countkeysinslot") || equalsLower(sub, "getkeysinslot")) &&
             argv.size() >= 3) {
    // Asked of the primary that serves the slot (a bad slot number: any node says why).
    auto n = resp::parseInt64(argv[2]);
    *slot = n && *n >= 0 && *n < kClusterSlots ? static_cast<int>(*n) : kNoSlot;
  } else {
    std::string upper(sub);
    for (char& c : upper) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
    w.error(std::string(errors::kClusterSubcommand) + upper);
  }
  return out;
}

}  // namespace tfproxy::backend
