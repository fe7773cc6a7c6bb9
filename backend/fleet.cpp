#include "backend/fleet.h"

#include <spdlog/spdlog.h>
#include <sys/socket.h>

#include <algorithm>
#include <map>

#include "backend/cluster_routing.h"
#include "backend/cluster_topology.h"
#include "backend/sync_connection.h"
#include "base/instance_id.h"
#include "resp/encoder.h"
#include "resp/number.h"

namespace tfproxy::backend {

namespace {

using Clock = std::chrono::steady_clock;

int64_t localMs(Clock::time_point t) {
  return std::chrono::duration_cast<std::chrono::milliseconds>(t.time_since_epoch()).count();
}

// TIME's reply in milliseconds.
std::optional<int64_t> backendMs(const resp::Value& v) {
  if (v.elements.size() != 2) return std::nullopt;
  std::optional<int64_t> seconds = resp::parseInt64(v.elements[0].str);
  std::optional<int64_t> micros = resp::parseInt64(v.elements[1].str);
  if (!seconds || !micros) return std::nullopt;
  return *seconds * 1000 + *micros / 1000;
}

// A member's expiry: whole milliseconds, written by tfproxy (a double in RESP3).
std::optional<int64_t> score(const resp::Value& v) {
  if (v.type == resp::Type::kDouble) return static_cast<int64_t>(v.dbl);
  return v.type == resp::Type::kBulkString ? resp::parseInt64(v.str) : std::nullopt;
}

std::string encode(const std::vector<std::vector<std::string>>& commands) {
  std::string out;
  for (const auto& c : commands) {
    std::vector<std::string_view> args(c.begin(), c.end());
    resp::encodeCommand(args, &out);
  }
  return out;
}

// The first word of a message and the rest.
std::pair<std::string_view, std::string_view> split(std::string_view text) {
  const size_t space = text.find(' ');
  if (space == std::string_view::npos) return {text, {}};
  return {text.substr(0, space), text.substr(space + 1)};
}

}  // namespace

Fleet::Fleet(Settings settings, Gate& gate)
    : settings_(std::move(settings)),
      gate_(gate),
      id_(randomInstanceId()),
      lock_key_(lockKey(settings_.key_base)),
      members_key_(membersKey(settings_.key_base)),
      channel_(channel(settings_.key_base)),
      beat_interval_(settings_.lease / 3),
      margin_(settings_.lease / 6) {}

Fleet::~Fleet() { stop(); }

std::string Fleet::lockKey(std::string_view key_base) {
  return std::string(key_base) + ":{fleet}:lock";
}
std::string Fleet::membersKey(std::string_view key_base) {
  return std::string(key_base) + ":{fleet}:members";
}
std::string Fleet::channel(std::string_view key_base) { return std::string(key_base) + ":fleet"; }

bool Fleet::own(std::string_view token) const {
  return token.size() > id_.size() && token.substr(0, id_.size()) == id_ &&
         token[id_.size()] == ':';
}

bool Fleet::inStep() const {
  std::lock_guard lock(mutex_);
  return in_step_;
}

void Fleet::start() {
  {
    std::lock_guard lock(mutex_);
    if (thread_.joinable()) return;
    fenced_ = true;
  }
  gate_.close();  // nothing is forwarded before this instance has joined
  thread_ = std::thread([this] { run(); });
  acker_ = std::thread([this] { runAcker(); });
}

void Fleet::stop() {
  std::string kept;
  {
    std::lock_guard lock(mutex_);
    if (stopping_ || !thread_.joinable()) return;
    stopping_ = true;
    if ((solo_ || chained_) && !section_ && Clock::now() < lock_valid_until_) kept = lock_token_;
    solo_ = false;
    chained_ = false;
    lock_token_.clear();
  }
  cv_.notify_all();
  ack_cv_.notify_all();
  // Leaving: the others stop waiting for this instance at once.
  std::vector<Command> leave = {{"ZREM", members_key_, id_}, {"PUBLISH", channel_, "leave " + id_}};
  if (!kept.empty()) {
    leave.push_back({"DEL", lock_key_});
    leave.push_back({"PUBLISH", channel_, "open " + kept});
  }
  command(leave);
  {
    std::lock_guard lock(sub_mutex_);
    if (sub_ != nullptr) ::shutdown(sub_->stream().fd(), SHUT_RDWR);  // wakes the reader
  }
  if (thread_.joinable()) thread_.join();
  if (acker_.joinable()) acker_.join();
}

// --- the subscription connection --------------------------------------------------------------

Fleet::Home Fleet::home() const {
  if (settings_.topology == nullptr) return {settings_.target, settings_.link};
  std::shared_ptr<const SlotMap> map = settings_.topology->map();
  const int owner = map->ownerOf(keySlot(lock_key_));
  if (owner == kNoSlot) return {settings_.target, nullptr};  // the seed says what is wrong
  const config::Endpoint& endpoint = map->primaries()[owner].endpoint;
  return {io::Target{endpoint, settings_.target.tls}, settings_.topology->link(nodeKey(endpoint))};
}

bool Fleet::movedAway(const resp::Value& reply) const {
  if (!reply.isError() || !parseRedirect(reply.str)) return false;
  if (settings_.topology != nullptr) settings_.topology->refreshSoon();
  return true;
}

std::unique_ptr<SyncConnection> Fleet::open() {
  std::string error;
  const Home where = home();
  auto conn = SyncConnection::connect(where.target, settings_.connect_timeout, &error);
  if (!conn) {
    spdlog::debug("fleet connection: {}", error);
    if (where.link != nullptr) where.link->markDown(error);
    return nullptr;
  }
  // Named, so that an operator sees it in CLIENT LIST.
  std::optional<resp::Value> hello = helloAs(*conn, settings_.identity, "tfproxy-fleet");
  std::optional<resp::Value> subscribed;
  if (hello && !hello->isError()) subscribed = conn->call({"SUBSCRIBE", channel_});
  const std::optional<resp::Value>& failed = !hello || hello->isError() ? hello : subscribed;
  if (!failed || failed->isError()) {
    spdlog::warn("fleet connection: {}", failed ? failed->str : conn->error());
    return nullptr;
  }
  conn->setTimeout(beat_interval_);
  return conn;
}

void Fleet::run() {
  auto backoff = std::chrono::milliseconds(100);
  while (true) {
    {
      std::lock_guard lock(mutex_);
      if (stopping_) return;
    }
    std::unique_ptr<SyncConnection> conn = open();
    std::string why = "the backend cannot be reached";
    if (conn) {
      backoff = std::chrono::milliseconds(100);
      why = session(*conn);
      {
        std::lock_guard lock(sub_mutex_);
        sub_ = nullptr;
        expected_.clear();
      }
      std::lock_guard lock(mutex_);
      if (aside_) return;
    }
    fence(why);
    gate_.nudge();  // held-back clients answer errors if the backend is gone
    std::unique_lock lock(mutex_);
    cv_.wait_for(lock, backoff, [this] { return stopping_; });
    backoff = std::min(backoff * 2, std::chrono::milliseconds(1000));
  }
}

std::string Fleet::session(SyncConnection& conn) {
  {
    std::lock_guard lock(sub_mutex_);
    sub_ = &conn;
    expected_.clear();
  }
  beat_outstanding_ = false;
  beats_ = 0;
  // The backend's clock first (a membership's expiry is in backend time), then the join.
  const Clock::time_point began = Clock::now();
  bool joined = false;
  subSend({{"TIME"}}, {[this, began](const resp::Value& time) {
            if (auto ms = backendMs(time)) offset_ms_ = *ms - localMs(began);
            beat(/*joining=*/true);
          }});
  Clock::time_point next_beat = began + beat_interval_;
  while (true) {
    {
      std::lock_guard lock(mutex_);
      if (stopping_ || aside_) return {};
      joined = in_step_;
    }
    if (moved_away_) {
      moved_away_ = false;
      return "the fleet's keys moved to another node";
    }
    const Clock::time_point now = Clock::now();
    // Out of step: the last answered heartbeat is too old for the membership to be trusted.
    const Clock::time_point deadline =
        joined ? last_ok_ + settings_.lease - margin_ : began + settings_.lease;
    if (now >= deadline) {
      return fmt::format(
          "no heartbeat answered for {} ms",
          std::chrono::duration_cast<std::chrono::milliseconds>(now - (joined ? last_ok_ : began))
              .count());
    }
    if (joined && !beat_outstanding_ && now >= next_beat) {
      beat(/*joining=*/false);
      next_beat = now + beat_interval_;
    }
    const auto wait = std::chrono::duration_cast<std::chrono::milliseconds>(
        (joined ? std::min(next_beat, deadline) : deadline) - now);
    if (!conn.waitReadable(std::max(wait, std::chrono::milliseconds(1)))) continue;
    std::optional<resp::Value> frame = conn.readReply();
    if (!frame) return "its fleet connection was lost: " + conn.error();
    if (frame->type == resp::Type::kPush) {
      const auto& e = frame->elements;
      if (e.size() == 3 && e[0].str == "message" && e[1].str == channel_) onMessage(e[2].str);
      continue;
    }
    Handler handler;
    {
      std::lock_guard lock(sub_mutex_);
      if (expected_.empty()) continue;
      handler = std::move(expected_.front());
      expected_.pop_front();
    }
    if (handler) handler(*frame);
  }
}

bool Fleet::subSend(const std::vector<Command>& commands, std::vector<Handler> handlers) {
  std::lock_guard lock(sub_mutex_);
  if (sub_ == nullptr) return false;
  std::string error;
  if (sub_->stream().sendAll(encode(commands), beat_interval_, &error) != io::Stream::Wait::kDone) {
    ::shutdown(sub_->stream().fd(), SHUT_RDWR);  // the reader sees it and reconnects
    return false;
  }
  for (Handler& h : handlers) expected_.push_back(std::move(h));
  for (size_t i = handlers.size(); i < commands.size(); ++i) expected_.push_back(nullptr);
  return true;
}

// One heartbeat: this instance's membership; every tenth, the backend's time (for the next
// expiries) and a sweep of long-expired members; the lock renewed while held and half its
// validity is gone; the lock read while closed for another holder (one that died is seen to
// expire) and when joining.
void Fleet::beat(bool joining) {
  const int64_t sent_coarse = Gate::coarseMs();  // not after `sent`: the deadline errs early
  const Clock::time_point sent = Clock::now();
  const int64_t expires = localMs(sent) + offset_ms_ + settings_.lease.count();
  std::string renewing;
  bool read_lock = joining;
  {
    std::lock_guard lock(mutex_);
    if (!lock_token_.empty() && lock_valid_until_ - sent < settings_.lease / 2) {
      renewing = lock_token_;
    }
    read_lock = read_lock || !closed_for_.empty();
  }
  struct Outcome {
    bool ok = true;
    bool replica = false;
    std::string refused;  // NOPERM: this instance's user may not take part
    std::string error;
  };
  auto outcome = std::make_shared<Outcome>();
  auto check = [this, outcome](const resp::Value& reply) {
    if (!reply.isError()) return;
    if (movedAway(reply)) {
      moved_away_ = true;
      outcome->ok = false;
      outcome->error = reply.str;
    } else if (reply.str.starts_with("READONLY")) {
      // A replica refuses writes through every instance alike: there is nothing to coordinate.
      outcome->replica = true;
    } else if (reply.str.starts_with("NOPERM")) {
      outcome->refused = reply.str;
    } else {
      outcome->ok = false;
      outcome->error = reply.str;
    }
  };
  std::vector<Command> commands = {{"ZADD", members_key_, std::to_string(expires), id_}};
  std::vector<Handler> handlers = {check};
  if (beats_++ % 10 == 0) {
    commands.push_back({"TIME"});
    handlers.push_back([this, sent](const resp::Value& time) {
      if (auto ms = backendMs(time)) offset_ms_ = *ms - localMs(sent);
    });
    commands.push_back({"ZREMRANGEBYSCORE", members_key_, "-inf",
                        std::to_string(expires - 11 * settings_.lease.count())});
    handlers.push_back(check);
  }
  if (!renewing.empty()) {
    commands.push_back({"PEXPIRE", lock_key_, std::to_string(settings_.lease.count())});
    handlers.push_back([this, sent, renewing](const resp::Value& reply) {
      std::lock_guard lock(mutex_);
      if (reply.type == resp::Type::kInteger && reply.integer == 1 && lock_token_ == renewing) {
        lock_valid_until_ = std::max(lock_valid_until_, sent + settings_.lease - margin_);
      }
    });
  }
  if (read_lock) {
    commands.push_back({"GET", lock_key_});
    handlers.push_back([this, check, joining](const resp::Value& holder) {
      check(holder);
      if (!holder.isError()) onLock(holder, joining);
    });
  }
  if (joining) {
    // A solo holder gives the lock back when it hears of a new member.
    commands.push_back({"PUBLISH", channel_, "join " + id_});
    handlers.push_back(nullptr);
  }
  handlers.back() = [this, sent, sent_coarse, outcome, joining,
                     last = handlers.back()](const resp::Value& reply) {
    if (last) last(reply);
    if (!outcome->refused.empty()) return standAside(outcome->refused);
    if (!outcome->ok && !warned_) {
      warned_ = true;  // the instance falls out of step if it lasts (logged then)
      spdlog::warn("fleet: a heartbeat failed: {}", outcome->error);
    }
    {
      std::lock_guard lock(mutex_);
      replica_ = outcome->replica;
    }
    onBeat(sent, outcome->ok, joining, sent_coarse);
  };
  beat_outstanding_ = subSend(commands, std::move(handlers));
}

void Fleet::standAside(const std::string& why) {
  size_t reopen = 0;
  bool unfence = false;
  {
    std::lock_guard lock(mutex_);
    if (aside_) return;
    aside_ = true;
    in_step_ = true;
    unfence = fenced_;
    fenced_ = false;
    reopen = closed_for_.size();
    closed_for_.clear();
    lock_token_.clear();
    solo_ = chained_ = false;
  }
  spdlog::error(
      "fleet: tfproxy's backend user may not take part in the fleet ({}); functions through this "
      "instance are atomic against its own clients only (as with --fleet no). Allow it SET, GET, "
      "DEL, PEXPIRE, ZADD, ZRANGE, ZSCORE, ZREM, ZREMRANGEBYSCORE, TIME, PUBLISH and SUBSCRIBE "
      "on {}, {} and the channel {}",
      why, lock_key_, members_key_, channel_);
  gate_.setAdmitUntil(Gate::kNoDeadline);
  if (unfence) gate_.open();
  for (size_t i = 0; i < reopen; ++i) gate_.open();
  cv_.notify_all();
}

void Fleet::onBeat(Clock::time_point sent, bool ok, bool joining, int64_t sent_coarse) {
  beat_outstanding_ = false;
  if (!ok) return;
  last_ok_ = sent;
  gate_.setAdmitUntil(sent_coarse + (settings_.lease - margin_).count());
  if (!joining) return;
  bool opened = false;
  {
    std::lock_guard lock(mutex_);
    in_step_ = true;
    opened = fenced_;
    fenced_ = false;
  }
  cv_.notify_all();
  if (opened) gate_.open();
  spdlog::info("fleet: instance {} joined the instances in front of the backend", id_);
}

void Fleet::onLock(const resp::Value& holder, bool joining) {
  const std::string current = holder.isNull() ? std::string() : holder.str;
  int reopen = 0;
  int close = 0;
  {
    std::lock_guard lock(mutex_);
    if (aside_) return;
    for (auto it = closed_for_.begin(); it != closed_for_.end();) {
      if (*it != current) {
        it = closed_for_.erase(it);  // released or expired (its "open" may come later)
        ++reopen;
      } else {
        ++it;
      }
    }
    if (!current.empty() && !own(current)) {
      if (closed_for_.insert(current).second) {
        ++close;
        to_ack_.push_back(current);
      } else if (joining) {
        to_ack_.push_back(current);  // an answer sent before the connection broke may be lost
      }
    }
  }
  for (int i = 0; i < close; ++i) gate_.close();
  for (int i = 0; i < reopen; ++i) gate_.open();
  if (close > 0 || joining) ack_cv_.notify_all();
}

void Fleet::onMessage(std::string_view payload) {
  auto [kind, rest] = split(payload);
  if (kind == "close") {
    if (own(rest)) return;
    bool closed = false;
    {
      std::lock_guard lock(mutex_);
      wanting_.erase(std::string(rest.substr(0, rest.find(':'))));  // it has the lock now
      closed = !aside_ && closed_for_.emplace(rest).second;
    }
    if (!closed) return;
    gate_.close();
    // Nothing in flight (the usual case): answer at once; otherwise once drained.
    if (gate_.waitDrainedFor(std::chrono::milliseconds(0))) {
      subSend({{"PUBLISH", channel_, "closed " + std::string(rest) + " " + id_}}, {});
      return;
    }
    {
      std::lock_guard lock(mutex_);
      to_ack_.emplace_back(rest);
    }
    ack_cv_.notify_all();
  } else if (kind == "want") {
    if (rest == id_) return;
    std::lock_guard lock(mutex_);
    if (!lock_token_.empty()) wanting_.emplace(rest);
  } else if (kind == "closed") {
    auto [token, member] = split(rest);
    std::lock_guard lock(mutex_);
    if (token == acquiring_) answered_.emplace(member);
    cv_.notify_all();
  } else if (kind == "open") {
    bool opened = false;
    {
      std::lock_guard lock(mutex_);
      opened = closed_for_.erase(std::string(rest)) > 0;
    }
    if (opened) gate_.open();
    cv_.notify_all();  // a holder waiting to take the lock tries again
  } else if (kind == "join" || kind == "leave") {
    if (rest == id_) return;
    std::string give_back;
    bool valid = false;
    {
      std::lock_guard lock(mutex_);
      if (kind == "leave") {
        answered_.emplace(rest);  // nothing to wait for
      } else {
        join_seen_ = true;
        alone_ = false;
        if (solo_ && !section_) {
          give_back = lock_token_;
          valid = Clock::now() < lock_valid_until_;
          lock_token_.clear();
        }
        solo_ = false;  // a running section gives the lock back when it ends
      }
    }
    cv_.notify_all();
    if (!give_back.empty()) {
      std::vector<Command> commands;
      if (valid) commands.push_back({"DEL", lock_key_});
      commands.push_back({"PUBLISH", channel_, "open " + give_back});
      subSend(commands, {});
    }
  }
}

void Fleet::fence(const std::string& why) {
  bool close = false;
  {
    std::lock_guard lock(mutex_);
    if (in_step_ && !stopping_) {
      spdlog::warn("fleet: instance {} is out of step ({}); forwarding waits until it is back", id_,
                   why);
    }
    in_step_ = false;
    close = !fenced_;
    fenced_ = true;
    if ((solo_ || chained_) && !section_) lock_token_.clear();
    solo_ = false;
    chained_ = false;
  }
  if (close) gate_.close();
  cv_.notify_all();
}

void Fleet::runAcker() {
  while (true) {
    std::deque<std::string> tokens;
    {
      std::unique_lock lock(mutex_);
      ack_cv_.wait(lock, [this] { return stopping_ || !to_ack_.empty(); });
      if (stopping_) return;
      tokens.swap(to_ack_);
    }
    // The holder runs once this instance's forwarded commands are answered.
    while (!gate_.waitDrainedFor(std::chrono::milliseconds(100))) {
      std::lock_guard lock(mutex_);
      if (stopping_) return;
    }
    std::vector<Command> answers;
    {
      std::lock_guard lock(mutex_);
      for (const std::string& t : tokens) {
        if (closed_for_.count(t) > 0)
          answers.push_back({"PUBLISH", channel_, "closed " + t + " " + id_});
      }
    }
    if (!answers.empty()) subSend(answers, {});
  }
}

// --- the exclusive holder ---------------------------------------------------------------------

std::optional<std::vector<resp::Value>> Fleet::command(const std::vector<Command>& commands,
                                                       bool read) {
  std::lock_guard lock(cmd_mutex_);
  auto fail = [this](const std::string& why) -> std::optional<std::vector<resp::Value>> {
    spdlog::debug("fleet command connection: {}", why);
    cmd_.reset();
    cmd_unread_ = 0;
    return std::nullopt;
  };
  if (cmd_ && cmd_->broken()) cmd_.reset();
  if (!cmd_) {
    std::string error;
    cmd_ = SyncConnection::connect(home().target, settings_.connect_timeout, &error);
    if (!cmd_) return fail(error);
    auto hello = helloAs(*cmd_, settings_.identity);
    if (!hello || hello->isError()) return fail(hello ? hello->str : cmd_->error());
    cmd_unread_ = 0;
  }
  for (; cmd_unread_ > 0; --cmd_unread_) {
    if (!cmd_->readReply()) return fail(cmd_->error());
  }
  if (!cmd_->send(encode(commands))) return fail(cmd_->error());
  if (!read) {
    cmd_unread_ = commands.size();
    return std::vector<resp::Value>();
  }
  std::vector<resp::Value> replies;
  for (size_t i = 0; i < commands.size(); ++i) {
    std::optional<resp::Value> reply = cmd_->readReply();
    if (!reply) return fail(cmd_->error());
    replies.push_back(std::move(*reply));
  }
  for (const resp::Value& reply : replies) {
    // As if the backend were away: the caller tries again, on the keys' new node.
    if (movedAway(reply)) return fail(reply.str);
  }
  return replies;
}

void Fleet::giveBack(const std::string& token, bool delete_lock) {
  std::vector<Command> commands;
  // The lock is deleted only while it is surely this instance's (an expired lock may be
  // another's by now); "open" follows the delete, so whoever hears it finds the lock free.
  if (delete_lock) commands.push_back({"DEL", lock_key_});
  commands.push_back({"PUBLISH", channel_, "open " + token});
  command(commands, /*read=*/false);
}

bool Fleet::lock(bool may_fail) {
  std::unique_lock lock(mutex_);
  return lockLocked(lock, may_fail);
}

bool Fleet::lockLocked(std::unique_lock<std::mutex>& lock, bool may_fail) {
  const auto retry =
      std::min<std::chrono::milliseconds>(settings_.lease / 10, std::chrono::milliseconds(100));
  bool announced = false;
  while (true) {
    auto ready = [this] { return in_step_ || stopping_; };
    if (!may_fail) {
      cv_.wait(lock, ready);
    } else if (!cv_.wait_for(lock, settings_.lease, ready)) {
      return false;
    }
    if (stopping_) return true;
    if (aside_ || replica_ || ((solo_ || chained_) && Clock::now() < lock_valid_until_)) {
      section_ = true;
      return true;
    }
    solo_ = false;
    chained_ = false;
    // Another instance asked for the lock while this one held it: it goes first (waiting a
    // little at most; an instance that gave up never says so).
    if (!wanting_.empty()) {
      cv_.wait_for(lock, std::chrono::milliseconds(5),
                   [this] { return wanting_.empty() || stopping_; });
      wanting_.clear();
    }
    join_seen_ = false;
    const std::string token = id_ + ":" + std::to_string(++sequence_);
    acquiring_ = token;
    answered_.clear();
    lock.unlock();
    const Clock::time_point sent = Clock::now();
    // The members are read after the lock is taken: an instance that registers later finds the
    // lock taken when it joins, and closes.
    auto replies =
        command({{"SET", lock_key_, token, "NX", "PX", std::to_string(settings_.lease.count())},
                 {"ZRANGE", members_key_, "0", "-1", "WITHSCORES"},
                 {"TIME"}});
    lock.lock();
    std::optional<int64_t> now_ms;
    if (replies) now_ms = backendMs((*replies)[2]);
    const bool refused = replies && (*replies)[0].isError();
    if (refused && (*replies)[0].str.starts_with("READONLY")) {
      replica_ = true;
      continue;
    }
    if (refused && (*replies)[0].str.starts_with("NOPERM")) {
      lock.unlock();
      standAside((*replies)[0].str);
      lock.lock();
      continue;
    }
    if (!replies || !now_ms || refused) {
      if (refused) {
        spdlog::warn("fleet: the lock {} cannot be taken: {}", lock_key_, (*replies)[0].str);
      }
      cv_.wait_for(lock, retry * 5, [this] { return stopping_; });
      continue;
    }
    if ((*replies)[0].isNull()) {
      // Another instance holds the lock: its "open" wakes this one.
      if (!announced) {
        announced = true;
        lock.unlock();
        command({{"PUBLISH", channel_, "want " + id_}}, /*read=*/false);
        lock.lock();
      }
      cv_.wait_for(lock, retry);
      continue;
    }
    offset_ms_acquired_ = *now_ms - localMs(sent);
    pending_.clear();
    // RESP3: [[member, score], ...].
    for (const resp::Value& entry : (*replies)[1].elements) {
      if (entry.elements.size() != 2) continue;
      const std::string& member = entry.elements[0].str;
      std::optional<int64_t> expiry = score(entry.elements[1]);
      if (!expiry || member == id_ || *expiry <= *now_ms) continue;
      pending_.emplace(member, *expiry);
    }
    lock_token_ = token;
    lock_valid_until_ = sent + settings_.lease - margin_;
    alone_ = pending_.empty();
    acquired_ = true;
    section_ = true;
    return true;
  }
}

bool Fleet::tryLock() {
  // mutex_ is never held across a round trip: taking it is no wait worth avoiding.
  std::lock_guard lock(mutex_);
  if (stopping_ || !in_step_ || !pending_.empty()) return false;
  // As lockLocked's first case; only a lock kept alone or none needed leaves no one to ask.
  if (aside_ || replica_ || (solo_ && Clock::now() < lock_valid_until_)) {
    section_ = true;
    return true;
  }
  return false;
}

bool Fleet::wouldKeepLock() {
  std::lock_guard lock(mutex_);
  return in_step_ && !stopping_ && !join_seen_ && (alone_ || !acquired_);
}

void Fleet::closeOthers() {
  std::unique_lock lock(mutex_);
  while (!closeOthersLocked(lock)) lockLocked(lock, /*may_fail=*/false);
}

bool Fleet::closeOthersLocked(std::unique_lock<std::mutex>& lock) {
  if (lock_token_.empty() || pending_.empty() || stopping_) {
    acquiring_.clear();
    return true;
  }
  const std::string token = lock_token_;
  lock.unlock();
  command({{"PUBLISH", channel_, "close " + token}}, /*read=*/false);
  lock.lock();
  while (true) {
    for (const std::string& m : answered_) pending_.erase(m);
    if (pending_.empty() || !in_step_ || stopping_) break;
    int64_t earliest = INT64_MAX;
    for (const auto& [member, expiry] : pending_) earliest = std::min(earliest, expiry);
    const Clock::time_point expires =
        Clock::time_point(std::chrono::milliseconds(earliest - offset_ms_acquired_));
    if (cv_.wait_until(lock, expires) != std::cv_status::timeout || Clock::now() < expires) {
      continue;
    }
    // A member did not answer before its membership's expiry: it may have renewed it.
    std::vector<Command> asks;
    for (const auto& [member, expiry] : pending_) asks.push_back({"ZSCORE", members_key_, member});
    asks.push_back({"TIME"});
    lock.unlock();
    const Clock::time_point asked = Clock::now();
    auto now = command(asks);
    lock.lock();
    std::optional<int64_t> backend_now;
    if (now) backend_now = backendMs(now->back());
    if (!backend_now) continue;  // the backend is away; being out of step ends the wait
    offset_ms_acquired_ = *backend_now - localMs(asked);
    size_t i = 0;
    for (auto it = pending_.begin(); it != pending_.end(); ++i) {
      const resp::Value& reply = (*now)[i];
      if (reply.isError()) {  // not an answer about the member: ask again later
        ++it;
        continue;
      }
      std::optional<int64_t> renewed = score(reply);
      if (!renewed || *renewed <= *backend_now) {
        spdlog::info("fleet: member {} stopped answering; its membership expired", it->first);
        it = pending_.erase(it);
      } else {
        it->second = *renewed;
        ++it;
      }
    }
  }
  acquiring_.clear();
  if (in_step_ || stopping_) return true;
  // Out of step while waiting: give the lock back and take it again once in step.
  const bool valid = Clock::now() < lock_valid_until_;
  lock_token_.clear();
  section_ = false;
  lock.unlock();
  giveBack(token, valid);
  lock.lock();
  return false;
}

void Fleet::release(bool more) {
  std::unique_lock lock(mutex_);
  section_ = false;
  if (lock_token_.empty()) return;
  const Clock::time_point now = Clock::now();
  const bool valid = now < lock_valid_until_;
  if (alone_ && !join_seen_ && valid && !stopping_) {
    solo_ = true;  // the next section needs no round trip
    chained_ = false;
    return;
  }
  if (more && valid && in_step_ && !stopping_) {
    if (!chained_) {
      chained_ = true;
      chain_since_ = now;
      chain_length_ = 0;
    }
    if (++chain_length_ < kMaxChain && now - chain_since_ < kMaxChainTime) return;
  }
  const std::string token = std::move(lock_token_);
  lock_token_.clear();
  solo_ = false;
  chained_ = false;
  lock.unlock();
  giveBack(token, valid);
}

}  // namespace tfproxy::backend
