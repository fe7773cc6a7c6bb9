#include "functions/keyspace_triggers.h"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <charconv>
#include <future>
#include <set>

#include "backend/command_table.h"
#include "backend/fleet.h"
#include "base/instance_id.h"
#include "functions/errors.h"

namespace tfproxy::functions {
namespace {

using Clock = std::chrono::steady_clock;

// How long a section waits for its marker before it carries on without (a frozen backend).
constexpr std::chrono::seconds kMarkerTimeout{5};
// Another instance's window open this long was left by an instance that died in it.
constexpr std::chrono::seconds kStaleWindow{30};
// The lease lives this long unless renewed; its holder renews it at a third of that.
constexpr std::chrono::milliseconds kLeaseTime{6000};
constexpr std::chrono::milliseconds kLeaseRenewal{2000};
// Events nobody proxied waiting for their triggers; beyond this (writers of Redis itself faster
// than the triggers) new ones are dropped, counted and logged, as Redis drops a subscriber that
// falls behind.
constexpr size_t kMaxQueuedEvents = 100000;
// How often the trigger thread looks for a new primary (a failover) in front of a cluster.
constexpr std::chrono::milliseconds kPrimariesCheck{250};
// How long the first trigger's load waits for the events to flow.
constexpr std::chrono::seconds kStartWait{2};

// A marker's payload: kind, instance, '#', id, '|', then each key as "<length>:<bytes>".
std::string encodeMarker(char kind, const std::string& instance, uint64_t id,
                         const std::vector<std::string>& keys) {
  std::string out(1, kind);
  out += instance;
  out += '#';
  out += std::to_string(id);
  out += '|';
  for (const std::string& key : keys) {
    out += std::to_string(key.size());
    out += ':';
    out += key;
  }
  return out;
}

struct ParsedMarker {
  char kind = 0;
  std::string_view instance;
  uint64_t id = 0;
  std::vector<std::string> keys;
};

bool decodeMarker(std::string_view p, ParsedMarker* out) {
  const size_t hash = p.find('#');
  const size_t bar = p.find('|');
  if (p.empty() || hash == std::string_view::npos || bar == std::string_view::npos || bar < hash) {
    return false;
  }
  out->kind = p[0];
  out->instance = p.substr(1, hash - 1);
  if (std::from_chars(p.data() + hash + 1, p.data() + bar, out->id).ec != std::errc()) {
    return false;
  }
  std::string_view rest = p.substr(bar + 1);
  while (!rest.empty()) {
    const size_t colon = rest.find(':');
    size_t length = 0;
    if (colon == std::string_view::npos ||
        std::from_chars(rest.data(), rest.data() + colon, length).ec != std::errc() ||
        colon + 1 + length > rest.size()) {
      return false;
    }
    out->keys.emplace_back(rest.substr(colon + 1, length));
    rest.remove_prefix(colon + 1 + length);
  }
  return true;
}

}  // namespace

KeyspaceTriggers::Source::Source(KeyspaceTriggers& owner, std::string node, io::Target target)
    : owner(owner),
      node(std::move(node)),
      // A primary's markers have a channel of their own: Redis Cluster hands every PUBLISH to
      // every node, where the copy would arrive out of order with that node's events.
      events(
          std::move(target), owner.services_.identity, owner.services_.connect_timeout,
          owner.services_.library_key + ":markers" + (this->node.empty() ? "" : ":") + this->node,
          *this) {}

KeyspaceTriggers::KeyspaceTriggers(Services services)
    : services_(std::move(services)),
      instance_(randomInstanceId()),
      lease_key_(leaseKey(services_.library_key)),
      positions_key_(positionsKey(services_.library_key)),
      fleet_lock_key_(backend::Fleet::lockKey(services_.library_key)),
      fleet_members_key_(backend::Fleet::membersKey(services_.library_key)),
      lease_conn_(services_.connections, services_.identity),
      streams_({.connections = services_.connections,
                .identity = services_.identity,
                .positions_key = positions_key_,
                .keys_move = services_.topology != nullptr,
                .wake = [this] { cv_.notify_all(); }}),
      thread_([this] { loop(); }) {}

KeyspaceTriggers::~KeyspaceTriggers() { stop(); }

void KeyspaceTriggers::stop() {
  {
    std::lock_guard lock(mutex_);
    stopping_ = true;
  }
  cv_.notify_all();
  if (thread_.joinable()) thread_.join();
  for (const SourcePtr& source : allSources()) source->events.stop();
  // A graceful stop hands the lease on at once rather than at its expiry.
  if (lease_held_ && lease_conn_.held()) {
    auto holder = leaseCall({"GET", lease_key_});
    if (holder && holder->str == instance_) leaseCall({"DEL", lease_key_});
    lease_held_ = false;
  }
  lease_conn_.reset();
}

std::vector<KeyspaceTriggers::SourcePtr> KeyspaceTriggers::allSources() const {
  std::lock_guard lock(mutex_);
  std::vector<SourcePtr> out;
  for (const auto& [node, source] : sources_) out.push_back(source);
  return out;
}

std::vector<KeyspaceTriggers::SourcePtr> KeyspaceTriggers::sourcesOf(
    const std::vector<std::string>& keys) const {
  if (services_.topology == nullptr) return allSources();  // the one backend
  std::shared_ptr<const backend::SlotMap> map = services_.topology->map();
  std::set<std::string> nodes;
  for (const std::string& key : keys) {
    std::string node = map->primaryAddress(map->ownerOf(backend::keySlot(key)));
    if (!node.empty()) nodes.insert(std::move(node));
  }
  std::lock_guard lock(mutex_);
  std::vector<SourcePtr> out;
  for (const std::string& node : nodes) {
    auto it = sources_.find(node);
    if (it != sources_.end()) out.push_back(it->second);
  }
  return out;
}

void KeyspaceTriggers::syncSources() {
  std::lock_guard change(sources_change_);
  const uint64_t version = services_.topology != nullptr ? services_.topology->version() : 0;
  {
    std::lock_guard lock(mutex_);
    if (!started_ || (version == sources_version_ && !sources_.empty())) return;
  }
  std::map<std::string, io::Target> wanted;
  if (services_.topology == nullptr) {
    wanted.emplace("", services_.target);
  } else {
    for (const backend::ClusterNode& primary : services_.topology->map()->primaries()) {
      wanted.emplace(backend::nodeKey(primary.endpoint),
                     io::Target{primary.endpoint, services_.target.tls});
    }
  }
  std::vector<SourcePtr> retired;
  std::vector<SourcePtr> added;
  std::shared_ptr<const Prefixes> prefixes;
  {
    std::lock_guard lock(mutex_);
    for (auto it = sources_.begin(); it != sources_.end();) {
      if (wanted.count(it->first) > 0) {
        ++it;
        continue;
      }
      // Its markers will not come back; what it held goes with it (lost, as on a break).
      it->second->gone = true;
      retired.push_back(it->second);
      it = sources_.erase(it);
    }
    for (auto& [node, target] : wanted) {
      if (sources_.count(node) > 0) continue;
      auto source = std::make_shared<Source>(*this, node, std::move(target));
      sources_.emplace(node, source);
      added.push_back(std::move(source));
    }
    prefixes = snapshot_.load();
    sources_version_ = version;
  }
  cv_.notify_all();
  for (const SourcePtr& source : retired) source->events.stop();
  for (const SourcePtr& source : added) {
    if (prefixes) source->events.setPrefixes(*prefixes);
    source->events.start();
  }
  if (!added.empty() || !retired.empty()) {
    spdlog::info("key space triggers: events from {} node(s){}", wanted.size(),
                 services_.topology != nullptr ? " (the cluster's primaries)" : "");
  }
}

void KeyspaceTriggers::setTriggers(std::vector<std::string> keyspace_prefixes,
                                   std::vector<scripting::StreamTriggerInfo> streams) {
  std::vector<std::string> prefixes = keyspace_prefixes;
  for (const auto& t : streams) prefixes.push_back(t.prefix);
  std::sort(prefixes.begin(), prefixes.end());
  prefixes.erase(std::unique(prefixes.begin(), prefixes.end()), prefixes.end());
  streams_.setTriggers(std::move(streams));
  bool start = false;
  {
    std::lock_guard lock(mutex_);
    keyspace_prefixes_ = std::move(keyspace_prefixes);
    start = !prefixes.empty() && !active();
    // The flags may have changed since the last trigger went (or never been set).
    if (start) flags_due_ = true;
    snapshot_.store(std::make_shared<const Prefixes>(prefixes));
    version_.fetch_add(1, std::memory_order_release);
    active_.store(!prefixes.empty(), std::memory_order_relaxed);
    lease_due_ = {};  // the loop takes the lease now
  }
  cv_.notify_all();
  {
    std::lock_guard change(sources_change_);
    for (const SourcePtr& source : allSources()) source->events.setPrefixes(prefixes);
  }
  if (prefixes.empty()) return;
  if (start) {
    {
      std::lock_guard lock(mutex_);
      started_ = true;
    }
    syncSources();
    // The first trigger's LOAD is answered once events flow (or after a short wait).
    const auto deadline = Clock::now() + kStartWait;
    while ((problem() || !lease_held_ || flags_due_ || flags_ensuring_) &&
           Clock::now() < deadline && problem() != errors::kNoEventsFlags) {
      std::this_thread::sleep_for(std::chrono::milliseconds(5));
    }
  }
  // A write answered after this returns has its events: the subscriptions are in place.
  waitMarkers(mark(Marker::kSync, {}, allSources()));
}

std::optional<std::string> KeyspaceTriggers::problem() const {
  if (!active()) return std::nullopt;
  std::vector<SourcePtr> sources = allSources();
  for (const SourcePtr& source : sources) {
    if (source->events.flags() == backend::KeyspaceEvents::Flags::kRefused) {
      return errors::kNoEventsFlags;
    }
  }
  for (const SourcePtr& source : sources) {
    if (!source->events.up()) return errors::kNoEventsConnection;
  }
  if (sources.empty()) return errors::kNoEventsConnection;
  return std::nullopt;
}

bool KeyspaceTriggers::matchesLocked(std::string_view key) const {
  return std::any_of(
      keyspace_prefixes_.begin(), keyspace_prefixes_.end(),
      [key](const std::string& prefix) { return key.substr(0, prefix.size()) == prefix; });
}

bool KeyspaceTriggers::mayFire(std::string_view key) const {
  if (!active()) return false;
  struct Cache {
    const KeyspaceTriggers* owner = nullptr;
    uint64_t version = 0;
    std::shared_ptr<const Prefixes> prefixes;
  };
  thread_local Cache cache;
  const uint64_t version = version_.load(std::memory_order_acquire);
  if (cache.owner != this || cache.version != version) {
    cache = {this, version, snapshot_.load()};
  }
  const Prefixes& prefixes = *cache.prefixes;
  return std::any_of(prefixes.begin(), prefixes.end(), [key](const std::string& prefix) {
    return key.substr(0, prefix.size()) == prefix;
  });
}

std::vector<KeyspaceTriggers::Sent> KeyspaceTriggers::mark(Marker kind,
                                                           const std::vector<std::string>& keys,
                                                           const std::vector<SourcePtr>& sources) {
  std::vector<Sent> sent;
  std::lock_guard lock(mutex_);
  for (const SourcePtr& source : sources) {
    // Published under the lock: each source sees this instance's ids rising.
    const uint64_t id = last_marker_ + 1;
    if (!source->events.publish(encodeMarker(static_cast<char>(kind), instance_, id, keys))) {
      continue;
    }
    last_marker_ = id;
    sent.push_back({source, id, source->epoch});
  }
  return sent;
}

void KeyspaceTriggers::waitMarkers(const std::vector<Sent>& sent) {
  if (sent.empty()) return;
  std::unique_lock lock(mutex_);
  const bool back = cv_.wait_for(lock, kMarkerTimeout, [&] {
    return stopping_ || std::all_of(sent.begin(), sent.end(), [](const Sent& s) {
             return s.source->marker_back >= s.id || s.source->epoch != s.epoch || s.source->gone;
           });
  });
  if (!back) spdlog::warn("key space triggers: the backend did not deliver a marker in time");
}

void KeyspaceTriggers::beginQuiet() {
  quiet_open_ = true;
  // A section's commands may go to any primary.
  waitMarkers(mark(Marker::kQuiet, {}, allSources()));
}

void KeyspaceTriggers::noteCommand(const std::vector<std::string>& args) {
  if (!quiet_open_ || args.empty()) return;
  const backend::CommandInfo* info = backend::CommandTable::builtin().find(
      args[0], args.size() > 1 ? std::string_view(args[1]) : std::string_view());
  if (info == nullptr) return;
  std::lock_guard lock(mutex_);
  backend::forEachKeyPosition(*info, args.size(), [&](size_t i) {
    if (matchesLocked(args[i])) quiet_keys_.push_back(args[i]);
  });
}

void KeyspaceTriggers::endQuiet() {
  std::vector<std::string> keys;
  {
    std::lock_guard lock(mutex_);
    keys.swap(quiet_keys_);
  }
  std::sort(keys.begin(), keys.end());
  keys.erase(std::unique(keys.begin(), keys.end()), keys.end());
  mark(Marker::kLoud, keys, allSources());
  quiet_open_ = false;
}

void KeyspaceTriggers::onMessage(Source& source, std::string_view payload) {
  ParsedMarker m;
  if (!decodeMarker(payload, &m)) return;
  std::lock_guard lock(mutex_);
  Window& w = source.windows[std::string(m.instance)];
  w.since = Clock::now();
  switch (static_cast<Marker>(m.kind)) {
    case Marker::kQuiet:
      w.quiet = true;
      break;
    case Marker::kLoud:
      w.quiet = false;
      closeQuietLocked(source, std::string(m.instance), m.keys);
      break;
    case Marker::kWrite:
      w.keys = std::move(m.keys);
      break;
    case Marker::kEnd:
      // The write is over and the section goes on to run its triggers: quiet.
      w.keys.clear();
      w.quiet = true;
      break;
    case Marker::kSync:
      break;
    case Marker::kKeysBegin:
      w.own_keys.insert(m.keys.begin(), m.keys.end());
      break;
    case Marker::kKeysEnd:
      for (const std::string& key : m.keys) {
        auto it = w.own_keys.find(key);
        if (it != w.own_keys.end()) w.own_keys.erase(it);
      }
      break;
  }
  if (m.instance == instance_) {
    source.marker_back = m.id;
    if (static_cast<Marker>(m.kind) == Marker::kEnd) {
      source.collected = std::move(source.window);
      source.window.clear();
    }
    cv_.notify_all();
  }
}

std::vector<std::string> KeyspaceTriggers::beginOutside(const std::vector<std::string>& args) {
  std::vector<std::string> keys;
  if (!active() || args.empty()) return keys;
  const backend::CommandInfo* info = backend::CommandTable::builtin().find(
      args[0], args.size() > 1 ? std::string_view(args[1]) : std::string_view());
  if (info == nullptr) return keys;
  backend::forEachKeyPosition(*info, args.size(), [&](size_t i) {
    if (mayFire(args[i])) keys.push_back(args[i]);
  });
  if (!keys.empty()) waitMarkers(mark(Marker::kKeysBegin, keys, sourcesOf(keys)));
  return keys;
}

void KeyspaceTriggers::endOutside(const std::vector<std::string>& keys) {
  if (!keys.empty()) mark(Marker::kKeysEnd, keys, sourcesOf(keys));
}

void KeyspaceTriggers::onEvent(Source& source, int64_t db, std::string_view event,
                               std::string_view key) {
  std::lock_guard lock(mutex_);
  if (key == services_.library_key || key == lease_key_ || key == positions_key_ ||
      key == fleet_lock_key_ || key == fleet_members_key_) {
    return;
  }
  // Stream events are never a section's own (spec §6.13): a stream trigger reads them all.
  if (streams_.matches(key)) streams_.onEvent(db, event, key);
  if (!matchesLocked(key)) return;
  const auto now = Clock::now();
  std::vector<std::string> quiet;
  for (auto it = source.windows.begin(); it != source.windows.end();) {
    Window& w = it->second;
    if (it->first != instance_ && (w.quiet || !w.keys.empty() || !w.own_keys.empty()) &&
        now - w.since > kStaleWindow) {
      // Its instance died inside it: what waited for it goes on.
      const std::string gone = it->first;
      it = source.windows.erase(it);
      closeQuietLocked(source, gone, {});
      continue;
    }
    // A write's own key: that instance's event.
    if (std::find(w.keys.begin(), w.keys.end(), key) != w.keys.end()) {
      if (it->first == instance_) {
        source.window.push_back({db, std::string(event), std::string(key)});
      }
      return;
    }
    // A key a callAsync command of that instance works on: its event fires nothing.
    if (w.own_keys.count(std::string(key)) > 0) return;
    if (w.quiet) quiet.push_back(it->first);
    ++it;
  }
  scripting::KeyEvent e{db, std::string(event), std::string(key)};
  if (!quiet.empty()) {
    if (source.held.size() < kMaxQueuedEvents) {
      source.held.push_back({std::move(e), std::move(quiet)});
    }
    return;
  }
  deliverLocked(std::move(e));
}

void KeyspaceTriggers::deliverLocked(scripting::KeyEvent event) {
  if (!lease_held_.load()) return;
  if (unproxied_.size() >= kMaxQueuedEvents) {
    if (dropped_events_++ % kMaxQueuedEvents == 0) {
      spdlog::warn(
          "key space triggers fall behind the writes of clients of Redis itself: {} "
          "events were dropped so far ({} wait)",
          dropped_events_, unproxied_.size());
    }
    return;
  }
  unproxied_.push_back(std::move(event));
  cv_.notify_all();
}

void KeyspaceTriggers::closeQuietLocked(Source& source, const std::string& instance,
                                        const std::vector<std::string>& keys) {
  std::deque<Held> still;
  for (Held& h : source.held) {
    auto it = std::find(h.quiet.begin(), h.quiet.end(), instance);
    if (it != h.quiet.end()) {
      if (std::binary_search(keys.begin(), keys.end(), h.event.key)) continue;  // its own
      h.quiet.erase(it);
    }
    if (h.quiet.empty()) {
      deliverLocked(std::move(h.event));
    } else {
      still.push_back(std::move(h));
    }
  }
  source.held.swap(still);
}

void KeyspaceTriggers::onConnection(Source& source, bool up) {
  if (up) {
    streams_.rediscover();  // stream events may have been missed meanwhile
    return;
  }
  std::lock_guard lock(mutex_);
  // Markers in flight are lost, and so is what the others' windows are.
  ++source.epoch;
  source.windows.clear();
  source.held.clear();  // their windows' ends will not come: lost, as events are while down
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
    bool tend = false;
    {
      std::unique_lock lock(mutex_);
      // In front of a cluster the loop also looks for failovers between renewals.
      const auto until = services_.topology != nullptr && started_
                             ? std::min(lease_due_, Clock::now() + kPrimariesCheck)
                             : lease_due_;
      cv_.wait_until(lock, until, [&] {
        return stopping_ || !writes_.empty() || !unproxied_.empty() || Clock::now() >= lease_due_ ||
               streams_.hasWork();
      });
      if (stopping_) return;
      tend = Clock::now() >= lease_due_;
      if (!unproxied_.empty()) {
        batch.assign(std::make_move_iterator(unproxied_.begin()),
                     std::make_move_iterator(unproxied_.end()));
        unproxied_.clear();
      } else if (!writes_.empty()) {
        write = std::move(writes_.front());
        writes_.pop_front();
      }
    }
    if (tend) {
      tendLease();
    } else if (services_.topology != nullptr) {
      syncSources();  // cheap while the map stays the same
    }
    if (write) {
      write();
    } else if (!batch.empty()) {
      fireUnproxied(std::move(batch));
    } else if (engine_ != nullptr && streams_.hasWork()) {
      processStreams();
    }
  }
}

void KeyspaceTriggers::configChanged() {
  if (!active()) return;
  {
    std::lock_guard lock(mutex_);
    flags_due_ = true;
    lease_due_ = {};
  }
  cv_.notify_all();
}

std::optional<resp::Value> KeyspaceTriggers::leaseCall(std::vector<std::string_view> args) {
  return lease_conn_.run(0, args);  // GET, PEXPIRE, SET NX, DEL: each may be sent twice
}

void KeyspaceTriggers::tendLease() {
  {
    std::lock_guard lock(mutex_);
    // Without triggers, setTriggers wakes the loop.
    lease_due_ = Clock::now() + (active() ? kLeaseRenewal : std::chrono::hours(1));
  }
  if (!active()) return;
  syncSources();  // a failover or a new primary
  if (flags_due_) {
    // Marked in progress before the request is taken: a LOAD waiting for the flags sees one of
    // the two until they are set.
    flags_ensuring_ = true;
    flags_due_ = false;
    for (const SourcePtr& source : allSources()) source->events.ensureFlagsNow();
    flags_ensuring_ = false;
  }
  // Without key space events (a backend that refuses CONFIG and lacks the flags) nothing tells
  // the stream triggers of new records: their reader looks at the streams at every renewal.
  if (problem() == errors::kNoEventsFlags && streams_.reading()) streams_.rediscover();
  const std::string ms = std::to_string(kLeaseTime.count());
  std::optional<resp::Value> reply;
  if (lease_held_) {
    // Still ours? Then it lives on.
    reply = leaseCall({"GET", lease_key_});
    if (reply && reply->str == instance_) reply = leaseCall({"PEXPIRE", lease_key_, ms});
    if (reply && !reply->isError() && reply->integer == 1) return setLeaseHeld(true);
    // Gone (a FLUSHALL) or another's: taken again below, or given up.
  }
  reply = leaseCall({"SET", lease_key_, instance_, "NX", "PX", ms});
  if (!reply) {
    setLeaseHeld(false);  // the backend cannot be reached
    return;
  }
  if (reply->isError()) {
    // A backend that refuses the lease (an ACL, a read-only user): alone, this instance fires.
    if (!lease_warned_) {
      spdlog::warn(
          "key space triggers: the trigger lease {} cannot be taken ({}); this instance "
          "fires every event nobody proxied",
          lease_key_, reply->str);
      lease_warned_ = true;
    }
    setLeaseHeld(true);
    return;
  }
  setLeaseHeld(!reply->isNull());
}

void KeyspaceTriggers::setLeaseHeld(bool held) {
  lease_held_ = held;
  // Streams are read by the lease holder, on a writable primary (spec §8.2).
  const bool reading = held && services_.status->writablePrimary();
  if (reading != streams_.reading()) streams_.setReading(reading);
}

void KeyspaceTriggers::processStreams() {
  auto run = engine_.load()->lockTriggers(streams_.workKeys());
  services_.gate->lockExclusive();
  beginQuiet();
  streams_.process(*run);
  endQuiet();
  services_.gate->unlockExclusive();
}

void KeyspaceTriggers::fireUnproxied(std::vector<scripting::KeyEvent> events) {
  // Triggers fire on a writable primary only (spec §7.1).
  if (engine_ == nullptr || !services_.status->writablePrimary()) return;
  std::set<std::string> unique;
  for (const auto& e : events) unique.insert(e.key);
  auto run = engine_.load()->lockTriggers({unique.begin(), unique.end()});
  services_.gate->lockExclusive();
  beginQuiet();
  run->fire(events);
  endQuiet();
  services_.gate->unlockExclusive();
}

void KeyspaceTriggers::writeSection(const std::vector<std::string>& keys, const Forward& forward,
                                    const std::function<void(std::string)>& done) {
  std::unique_ptr<scripting::TriggerRun> run;
  if (engine_ != nullptr) run = engine_.load()->lockTriggers(keys);
  services_.gate->lockExclusive();
  // The write's events come from the primaries of its keys (the backend, on a single Redis).
  const std::vector<SourcePtr> involved = sourcesOf(keys);
  std::vector<SourcePtr> others;
  for (const SourcePtr& source : allSources()) {
    if (std::find(involved.begin(), involved.end(), source) == involved.end()) {
      others.push_back(source);
    }
  }
  {
    // This instance knows its write's keys before the write runs.
    std::lock_guard lock(mutex_);
    for (const SourcePtr& source : involved) {
      source->window.clear();
      source->collected.clear();
      Window& own = source->windows[instance_];
      own.keys = keys;
      own.since = Clock::now();
    }
  }
  // So do the others, before the write runs, unless this instance holds the lease: then an
  // event they cannot place is one they do not fire anyway.
  const std::vector<Sent> write_markers = mark(Marker::kWrite, keys, involved);
  if (!lease_held_) waitMarkers(write_markers);
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
  // Every event of the write is in once the marker published after its reply is back; the
  // triggers that follow are quiet, on every primary.
  quiet_open_ = true;
  std::vector<Sent> ends = mark(Marker::kEnd, {}, involved);
  std::vector<Sent> quiet = mark(Marker::kQuiet, {}, others);
  ends.insert(ends.end(), quiet.begin(), quiet.end());
  waitMarkers(ends);
  std::vector<scripting::KeyEvent> events;
  {
    std::lock_guard lock(mutex_);
    for (const SourcePtr& source : involved) {
      events.insert(events.end(), std::make_move_iterator(source->collected.begin()),
                    std::make_move_iterator(source->collected.end()));
      source->collected.clear();
      source->window.clear();
    }
  }
  if (run && services_.status->writablePrimary()) {
    if (!events.empty()) run->fire(events);
    // A stream the write added to is read within the section: a sync stream trigger is done
    // with its entry before the writer's reply (spec §8.4).
    if (streams_.hasWork()) streams_.process(*run);
  }
  endQuiet();
  services_.gate->unlockExclusive();
  run.reset();
  done(std::move(frame));
}

}  // namespace tfproxy::functions
