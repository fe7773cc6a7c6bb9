#include "functions/keyspace_triggers.h"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <future>
#include <set>

#include "functions/errors.h"

namespace tfproxy::functions {
namespace {

// How long a section waits for a marker before it carries on without (a frozen backend).
constexpr std::chrono::seconds kMarkerTimeout{5};

}  // namespace

KeyspaceTriggers::KeyspaceTriggers(Services services)
    : services_(std::move(services)),
      events_(services_.endpoint, services_.identity, services_.connect_timeout, *this),
      thread_([this] { loop(); }) {}

KeyspaceTriggers::~KeyspaceTriggers() { stop(); }

void KeyspaceTriggers::stop() {
  {
    std::lock_guard lock(mutex_);
    stopping_ = true;
  }
  cv_.notify_all();
  if (thread_.joinable()) thread_.join();
  events_.stop();
}

void KeyspaceTriggers::setPrefixes(std::vector<std::string> prefixes) {
  bool start = false;
  {
    std::lock_guard lock(mutex_);
    prefixes_ = std::move(prefixes);
    start = !prefixes_.empty();
    active_.store(start, std::memory_order_relaxed);
  }
  if (start) events_.start();
}

std::optional<std::string> KeyspaceTriggers::problem() const {
  if (!active()) return std::nullopt;
  if (events_.flags() == backend::KeyspaceEvents::Flags::kRefused) return errors::kNoEventsFlags;
  if (!events_.up()) return errors::kNoEventsConnection;
  return std::nullopt;
}

bool KeyspaceTriggers::matchesLocked(std::string_view key) const {
  return std::any_of(prefixes_.begin(), prefixes_.end(), [key](const std::string& prefix) {
    return key.substr(0, prefix.size()) == prefix;
  });
}

bool KeyspaceTriggers::mayFire(std::string_view key) const {
  if (!active()) return false;
  std::lock_guard lock(mutex_);
  return matchesLocked(key);
}

uint64_t KeyspaceTriggers::mark(Marker kind) {
  // Registered under the lock the reader takes for the answer, so the answer finds it.
  std::lock_guard lock(mutex_);
  const uint64_t id = events_.mark();
  if (id != 0) markers_[id] = kind;
  return id;
}

bool KeyspaceTriggers::waitMarker(uint64_t id) {
  std::unique_lock lock(mutex_);
  const uint64_t epoch = connection_epoch_;
  const bool back = cv_.wait_for(lock, kMarkerTimeout, [&] {
    return last_marker_back_ >= id || connection_epoch_ != epoch || stopping_;
  });
  if (!back) spdlog::warn("key space triggers: the backend did not answer a marker in time");
  return last_marker_back_ >= id;
}

void KeyspaceTriggers::beginQuiet() {
  if (const uint64_t id = mark(Marker::kQuiet)) waitMarker(id);
}

void KeyspaceTriggers::endQuiet() { mark(Marker::kLoud); }

void KeyspaceTriggers::onEvent(int64_t db, std::string_view event, std::string_view key) {
  std::lock_guard lock(mutex_);
  if (quiet_ || key == services_.library_key || !matchesLocked(key)) return;
  scripting::KeyEvent e{db, std::string(event), std::string(key)};
  if (collecting_) {
    window_.push_back(std::move(e));
    return;
  }
  unproxied_.push_back(std::move(e));
  cv_.notify_all();
}

void KeyspaceTriggers::onMarker(uint64_t id) {
  std::lock_guard lock(mutex_);
  last_marker_back_ = id;
  auto it = markers_.find(id);
  if (it == markers_.end()) return;
  switch (it->second) {
    case Marker::kQuiet:
      quiet_ = true;
      break;
    case Marker::kLoud:
      quiet_ = false;
      break;
    case Marker::kCollect:
      collected_ = std::move(window_);
      window_.clear();
      collecting_ = false;
      break;
  }
  markers_.erase(it);
  cv_.notify_all();
}

void KeyspaceTriggers::onConnection(bool up) {
  std::lock_guard lock(mutex_);
  if (up) return;
  ++connection_epoch_;
  markers_.clear();
  quiet_ = false;
  cv_.notify_all();
}

void KeyspaceTriggers::runWrite(std::vector<std::string> keys, Forward forward,
                                std::function<void(std::string reply)> done) {
  {
    std::lock_guard lock(mutex_);
    writes_.push_back([this, keys = std::move(keys), forward = std::move(forward),
                       done = std::move(done)] { writeSection(keys, forward, done); });
  }
  cv_.notify_all();
}

void KeyspaceTriggers::loop() {
  while (true) {
    std::function<void()> write;
    std::vector<scripting::KeyEvent> batch;
    {
      std::unique_lock lock(mutex_);
      cv_.wait(lock, [&] { return stopping_ || !writes_.empty() || !unproxied_.empty(); });
      if (stopping_) return;
      if (!unproxied_.empty()) {
        batch.assign(std::make_move_iterator(unproxied_.begin()),
                     std::make_move_iterator(unproxied_.end()));
        unproxied_.clear();
      } else {
        write = std::move(writes_.front());
        writes_.pop_front();
      }
    }
    if (write) {
      write();
    } else {
      fireUnproxied(std::move(batch));
    }
  }
}

void KeyspaceTriggers::fireUnproxied(std::vector<scripting::KeyEvent> events) {
  // Triggers fire on a writable primary only (spec §7.1).
  if (engine_ == nullptr || !services_.status->writablePrimary()) return;
  std::set<std::string> unique;
  for (const auto& e : events) unique.insert(e.key);
  auto run = engine_->lockTriggers({unique.begin(), unique.end()});
  services_.gate->lockExclusive();
  beginQuiet();
  run->fire(events);
  endQuiet();
  services_.gate->unlockExclusive();
}

void KeyspaceTriggers::writeSection(const std::vector<std::string>& keys, const Forward& forward,
                                    const std::function<void(std::string)>& done) {
  std::unique_ptr<scripting::TriggerRun> run;
  if (engine_ != nullptr) run = engine_->lockTriggers(keys);
  services_.gate->lockExclusive();
  {
    std::lock_guard lock(mutex_);
    collecting_ = true;
    window_.clear();
    collected_.clear();
  }
  auto reply = std::make_shared<std::promise<std::string>>();
  std::future<std::string> answer = reply->get_future();
  forward([reply](std::string frame) { reply->set_value(std::move(frame)); });
  while (answer.wait_for(std::chrono::milliseconds(100)) != std::future_status::ready) {
    std::lock_guard lock(mutex_);
    if (stopping_) break;
  }
  std::string frame = answer.wait_for(std::chrono::seconds(0)) == std::future_status::ready
                          ? answer.get()
                          : std::string();
  // Every event of the write is in once the marker sent after its reply is back.
  if (const uint64_t id = mark(Marker::kCollect)) waitMarker(id);
  std::vector<scripting::KeyEvent> events;
  {
    std::lock_guard lock(mutex_);
    if (collecting_) {
      collected_ = std::move(window_);
      window_.clear();
      collecting_ = false;
    }
    events = std::move(collected_);
    collected_.clear();
    // The write's own events are those of its keys; the rest (a client of Redis itself, an
    // expiry) nobody proxied.
    auto others = std::stable_partition(events.begin(), events.end(), [&](const auto& e) {
      return std::find(keys.begin(), keys.end(), e.key) != keys.end();
    });
    for (auto it = others; it != events.end(); ++it) unproxied_.push_back(std::move(*it));
    events.erase(others, events.end());
  }
  if (run && !events.empty() && services_.status->writablePrimary()) {
    beginQuiet();
    run->fire(events);
    endQuiet();
  }
  services_.gate->unlockExclusive();
  run.reset();
  done(std::move(frame));
}

}  // namespace tfproxy::functions
