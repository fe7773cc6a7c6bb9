#include "backend/keyspace_events.h"

#include <spdlog/spdlog.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <charconv>

#include "backend/sync_connection.h"
#include "resp/encoder.h"

namespace tfproxy::backend {
namespace {

constexpr std::string_view kChannelHead = "__keyspace@";
constexpr std::string_view kAllClasses = "g$lshzxetd";  // what 'A' stands for

// "__keyspace@<db>__:<key>": the database and the key; false for another channel.
bool parseChannel(std::string_view channel, int64_t* db, std::string_view* key) {
  if (channel.substr(0, kChannelHead.size()) != kChannelHead) return false;
  channel.remove_prefix(kChannelHead.size());
  const size_t end = channel.find("__:");
  if (end == std::string_view::npos) return false;
  auto r = std::from_chars(channel.data(), channel.data() + end, *db);
  if (r.ec != std::errc() || r.ptr != channel.data() + end) return false;
  *key = channel.substr(end + 3);
  return true;
}

}  // namespace

KeyspaceEvents::KeyspaceEvents(io::Target target, Identity identity,
                               std::chrono::milliseconds connect_timeout, std::string channel,
                               Listener& listener)
    : target_(std::move(target)),
      identity_(std::move(identity)),
      connect_timeout_(connect_timeout),
      channel_(std::move(channel)),
      listener_(listener) {}

KeyspaceEvents::~KeyspaceEvents() { stop(); }

void KeyspaceEvents::start() {
  std::lock_guard lock(run_mutex_);
  if (thread_.joinable() || stopping_) return;
  thread_ = std::thread([this] { run(); });
}

void KeyspaceEvents::stop() {
  {
    std::lock_guard lock(run_mutex_);
    stopping_ = true;
  }
  run_cv_.notify_all();
  {
    std::lock_guard lock(send_mutex_);
    if (live_ != nullptr) ::shutdown(live_->stream().fd(), SHUT_RDWR);  // wakes the reader
  }
  if (thread_.joinable()) thread_.join();
}

std::string KeyspaceEvents::withNeededFlags(std::string_view current) {
  std::string out(current);
  auto has = [&](char c) { return out.find(c) != std::string::npos; };
  const bool all_classes = has('A') || std::all_of(kAllClasses.begin(), kAllClasses.end(),
                                                   [&](char c) { return has(c); });
  if (!has('K')) out += 'K';
  if (!all_classes) out += 'A';
  if (!has('m')) out += 'm';
  return out;
}

std::string KeyspaceEvents::pattern(std::string_view prefix) {
  std::string out(kChannelHead);
  out += "*__:";
  for (char c : prefix) {
    if (c == '*' || c == '?' || c == '[' || c == ']' || c == '\\') out += '\\';
    out += c;
  }
  out += '*';
  return out;
}

bool KeyspaceEvents::sendLocked(std::string_view bytes) {
  if (live_ == nullptr) return false;
  // Beside the reader, which may be waiting on the same stream; a failure it sees too.
  std::string ignored;
  return live_->stream().sendAll(bytes, connect_timeout_, &ignored) == io::Stream::Wait::kDone;
}

bool KeyspaceEvents::publish(std::string_view payload) {
  std::lock_guard lock(send_mutex_);
  std::string bytes;
  resp::encodeCommand({"PUBLISH", channel_, payload}, &bytes);
  return sendLocked(bytes);
}

void KeyspaceEvents::setPrefixes(const std::vector<std::string>& prefixes) {
  std::lock_guard lock(send_mutex_);
  // Redis sends an event once per matching pattern: a prefix another one starts with adds
  // nothing but duplicates.
  std::vector<std::string> sorted(prefixes);
  std::sort(sorted.begin(), sorted.end());
  wanted_.clear();
  std::string_view last;
  bool any = false;
  for (const std::string& prefix : sorted) {
    if (any && std::string_view(prefix).substr(0, last.size()) == last) continue;
    wanted_.insert(pattern(prefix));
    last = prefix;
    any = true;
  }
  syncPatternsLocked();
}

void KeyspaceEvents::syncPatternsLocked() {
  if (live_ == nullptr) return;
  std::string bytes;
  for (const std::string& p : wanted_) {
    if (subscribed_.count(p) == 0) resp::encodeCommand({"PSUBSCRIBE", p}, &bytes);
  }
  for (const std::string& p : subscribed_) {
    if (wanted_.count(p) == 0) resp::encodeCommand({"PUNSUBSCRIBE", p}, &bytes);
  }
  if (bytes.empty() || sendLocked(bytes)) subscribed_ = wanted_;
}

bool KeyspaceEvents::ensureFlags(SyncConnection& conn) {
  auto current = conn.call({"CONFIG", "GET", "notify-keyspace-events"});
  if (!current) return false;
  std::string value;
  bool readable = !current->isError() && current->elements.size() >= 2;
  if (readable) value = current->elements[1].str;  // RESP3: a map of one pair
  if (readable && withNeededFlags(value) == value) {
    flags_ = Flags::kEnabled;
    return true;
  }
  if (readable) {
    auto set = conn.call({"CONFIG", "SET", "notify-keyspace-events", withNeededFlags(value)});
    if (!set) return false;
    if (!set->isError()) {
      spdlog::info("notify-keyspace-events set to '{}' for key space triggers (was '{}')",
                   withNeededFlags(value), value);
      flags_ = Flags::kEnabled;
      return true;
    }
  }
  flags_ = Flags::kRefused;
  if (!warned_.exchange(true)) {
    spdlog::warn(
        "key space triggers cannot receive events: the backend refuses CONFIG ({}). Add the "
        "flags '{}' to the backend's notify-keyspace-events setting (on a managed service: its "
        "parameter group or configuration page); the triggers fire from the first event that "
        "arrives",
        current->isError() ? current->str : std::string("notify-keyspace-events not readable"),
        kNeededFlags);
  }
  return true;
}

bool KeyspaceEvents::ensureFlagsNow() {
  std::string error;
  auto conn = SyncConnection::connect(target_, connect_timeout_, &error);
  if (!conn) return false;
  std::optional<resp::Value> hello = helloAs(*conn, identity_);
  return hello && !hello->isError() && ensureFlags(*conn);
}

std::unique_ptr<SyncConnection> KeyspaceEvents::open() {
  std::string error;
  auto conn = SyncConnection::connect(target_, connect_timeout_, &error);
  if (!conn) {
    spdlog::debug("notification connection: {}", error);
    return nullptr;
  }
  auto fail = [&](const std::string& what) -> std::unique_ptr<SyncConnection> {
    spdlog::warn("notification connection: {}", what);
    return nullptr;
  };
  std::optional<resp::Value> hello = helloAs(*conn, identity_);
  if (!hello) return fail(conn->error());
  if (hello->isError()) return fail(hello->str);
  if (!ensureFlags(*conn)) return fail(conn->error());
  auto subscribed = conn->call({"SUBSCRIBE", channel_});
  if (!subscribed) return fail(conn->error());
  if (subscribed->isError()) return fail(subscribed->str);
  conn->setTimeout(std::chrono::milliseconds(0));  // events may be far apart
  return conn;
}

void KeyspaceEvents::run() {
  auto backoff = std::chrono::milliseconds(100);
  while (true) {
    {
      std::lock_guard lock(run_mutex_);
      if (stopping_) return;
    }
    std::unique_ptr<SyncConnection> conn = open();
    if (conn) {
      {
        std::lock_guard lock(send_mutex_);
        live_ = conn.get();
        up_ = true;
        subscribed_.clear();
        syncPatternsLocked();  // the key patterns, ahead of any marker
      }
      backoff = std::chrono::milliseconds(100);
      listener_.onConnection(true);
      read(*conn);
      {
        std::lock_guard lock(send_mutex_);
        up_ = false;
        live_ = nullptr;
      }
      listener_.onConnection(false);
    }
    std::unique_lock lock(run_mutex_);
    run_cv_.wait_for(lock, backoff, [this] { return stopping_; });
    backoff = std::min(backoff * 2, std::chrono::milliseconds(1000));
  }
}

void KeyspaceEvents::read(SyncConnection& conn) {
  while (true) {
    std::optional<resp::Value> frame = conn.readReply();
    if (!frame) {
      std::lock_guard lock(run_mutex_);
      if (!stopping_) spdlog::warn("notification connection lost: {}", conn.error());
      return;
    }
    if (frame->type == resp::Type::kPush) {
      const auto& e = frame->elements;
      int64_t db = 0;
      std::string_view key;
      if (e.size() == 4 && e[0].str == "pmessage" && parseChannel(e[2].str, &db, &key)) {
        // Events arrive although CONFIG was refused: the operator has set the flags (a managed
        // service's parameter group applies without a reconnect).
        if (flags_.load(std::memory_order_relaxed) == Flags::kRefused) flags_ = Flags::kEnabled;
        listener_.onEvent(db, e[3].str, key);
      } else if (e.size() == 3 && e[0].str == "message" && e[1].str == channel_) {
        listener_.onMessage(e[2].str);
      }
    }
    // Anything else answers a PUBLISH: the message itself is the marker.
  }
}

}  // namespace tfproxy::backend
