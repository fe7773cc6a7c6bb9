#include "functions/stream_triggers.h"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <charconv>

namespace tfproxy::functions {
namespace {

using Clock = std::chrono::steady_clock;
using scripting::StreamId;
using scripting::StreamTriggerInfo;

// Entries read ahead per XRANGE (they are still handed over one by one, within the window).
constexpr size_t kReadAhead = 100;

std::optional<StreamId> parseId(std::string_view text) {
  const size_t dash = text.find('-');
  if (dash == std::string_view::npos) return std::nullopt;
  StreamId id;
  if (std::from_chars(text.data(), text.data() + dash, id.ms).ec != std::errc() ||
      std::from_chars(text.data() + dash + 1, text.data() + text.size(), id.seq).ec !=
          std::errc()) {
    return std::nullopt;
  }
  return id;
}

std::string lengthPrefixed(std::string_view s) {
  return std::to_string(s.size()) + ":" + std::string(s);
}

// The field prefix of one trigger's positions.
std::string triggerField(const std::string& library, const std::string& trigger) {
  return lengthPrefixed(library) + lengthPrefixed(trigger);
}

int64_t nowMs() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

// A key space event that may change what a stream holds.
bool streamEvent(std::string_view event) {
  return (!event.empty() && event[0] == 'x') || event == "rename_to" || event == "restore";
}

}  // namespace

StreamTriggers::StreamTriggers(Services services)
    : services_(std::move(services)), conn_(services_.connections, services_.identity) {}

std::string StreamTriggers::field(const StreamTriggerInfo& t, const StreamKey& stream) {
  return triggerField(t.library, t.name) + std::to_string(stream.db) + ":" + stream.key;
}

void StreamTriggers::setTriggers(std::vector<StreamTriggerInfo> triggers) {
  {
    std::lock_guard lock(mutex_);
    auto has = [](const std::vector<StreamTriggerInfo>& list, const StreamTriggerInfo& t) {
      return std::any_of(list.begin(), list.end(),
                         [&](const StreamTriggerInfo& o) { return o.state == t.state; });
    };
    for (const auto& old : triggers_) {
      if (!has(triggers, old)) removed_.emplace_back(old.library, old.name);
    }
    for (const auto& t : triggers) {
      if (!has(triggers_, t)) added_.push_back(t);
    }
    triggers_ = std::move(triggers);
  }
  services_.wake();
}

bool StreamTriggers::matches(std::string_view key) const {
  std::lock_guard lock(mutex_);
  return std::any_of(triggers_.begin(), triggers_.end(),
                     [key](const StreamTriggerInfo& t) { return t.matches(key); });
}

void StreamTriggers::onEvent(int64_t db, std::string_view event, std::string_view key) {
  {
    std::lock_guard lock(mutex_);
    if (!reading_) return;
    StreamKey stream{db, std::string(key)};
    if (event == "del") {
      touched_.erase(stream);
      dropped_.insert(std::move(stream));
    } else if (streamEvent(event)) {
      touched_.insert(std::move(stream));
    } else {
      return;
    }
  }
  services_.wake();
}

void StreamTriggers::flushed() {
  {
    std::lock_guard lock(mutex_);
    flushed_ = true;
  }
  services_.wake();
}

void StreamTriggers::setReading(bool reading) {
  {
    std::lock_guard lock(mutex_);
    if (reading && !reading_) start_reading_ = true;
    reading_ = reading;
    if (!reading) {
      touched_.clear();
      for (auto& t : triggers_) {
        std::lock_guard state_lock(t.state->mutex);
        t.state->streams.clear();  // another instance reads them now
      }
    }
  }
  services_.wake();
}

void StreamTriggers::rediscover() {
  {
    std::lock_guard lock(mutex_);
    if (!reading_) return;
    rediscover_ = true;
  }
  services_.wake();
}

bool StreamTriggers::reading() const {
  std::lock_guard lock(mutex_);
  return reading_;
}

bool StreamTriggers::hasWork() const {
  std::lock_guard lock(mutex_);
  if (!removed_.empty()) return true;
  if (!reading_) return false;
  return !touched_.empty() || !completions_.empty() || start_reading_ || rediscover_ ||
         !added_.empty() || !dropped_.empty() || flushed_;
}

std::vector<std::string> StreamTriggers::workKeys() const {
  std::lock_guard lock(mutex_);
  std::vector<std::string> keys;
  for (const auto& s : touched_) keys.push_back(s.key);
  for (const auto& c : completions_) keys.push_back(c.stream.key);
  return keys;
}

std::optional<resp::Value> StreamTriggers::call(int64_t db, std::vector<std::string> args) {
  std::vector<std::string_view> views(args.begin(), args.end());
  // Every command sent here may be sent twice (reads, HSET of a position, XTRIM MINID).
  std::optional<resp::Value> reply = conn_.run(db, views);
  if (!reply) {
    spdlog::warn("stream triggers: cannot reach the backend: {}", conn_.error());
    return std::nullopt;
  }
  if (reply && reply->isError()) {
    spdlog::warn("stream triggers: {} failed: {}", args[0], reply->str);
  }
  return reply;
}

void StreamTriggers::loadPositions(const StreamTriggerInfo& t) {
  auto all = call(0, {"HGETALL", services_.positions_key});
  if (!all || all->isError()) return;
  const std::string head = triggerField(t.library, t.name);
  const auto& e = all->elements;  // RESP2: field, value, ...
  for (size_t i = 0; i + 1 < e.size(); i += 2) {
    std::string_view f = e[i].str;
    if (f.substr(0, head.size()) != head) continue;
    f.remove_prefix(head.size());
    const size_t colon = f.find(':');
    int64_t db = 0;
    if (colon == std::string_view::npos ||
        std::from_chars(f.data(), f.data() + colon, db).ec != std::errc()) {
      continue;
    }
    std::optional<StreamId> id = parseId(e[i + 1].str);
    if (!id) continue;
    std::lock_guard lock(t.state->mutex);
    auto& progress = t.state->streams[{db, std::string(f.substr(colon + 1))}];
    if (!progress.last_read) progress.last_read = id;
  }
}

void StreamTriggers::forgetPositions(const std::string& library, const std::string& trigger) {
  auto all = call(0, {"HKEYS", services_.positions_key});
  if (!all || all->isError()) return;
  const std::string head = triggerField(library, trigger);
  std::vector<std::string> command = {"HDEL", services_.positions_key};
  for (const auto& f : all->elements) {
    if (std::string_view(f.str).substr(0, head.size()) == head) command.push_back(f.str);
  }
  if (command.size() > 2) call(0, std::move(command));
}

void StreamTriggers::discover() {
  // The streams of database 0, as upstream's discovery scan (spec §8.3).
  std::string cursor = "0";
  do {
    auto page = call(0, {"SCAN", cursor, "COUNT", "1000", "TYPE", "stream"});
    if (!page || page->isError() || page->elements.size() != 2) return;
    cursor = page->elements[0].str;
    std::lock_guard lock(mutex_);
    for (const auto& key : page->elements[1].elements) {
      if (std::any_of(triggers_.begin(), triggers_.end(),
                      [&](const StreamTriggerInfo& t) { return t.matches(key.str); })) {
        touched_.insert({0, key.str});
      }
    }
  } while (cursor != "0");
}

void StreamTriggers::process(scripting::TriggerRun& run) {
  std::vector<StreamTriggerInfo> triggers;
  std::vector<std::pair<std::string, std::string>> removed;
  std::vector<StreamTriggerInfo> added;
  std::set<StreamKey> dropped;
  bool flushed = false;
  bool starting = false;
  bool again = false;
  {
    std::lock_guard lock(mutex_);
    triggers = triggers_;
    removed.swap(removed_);
    dropped.swap(dropped_);
    std::swap(flushed, flushed_);
    if (reading_) {
      added.swap(added_);
      std::swap(starting, start_reading_);
    }
    std::swap(again, rediscover_);
  }
  for (const auto& [library, trigger] : removed) forgetPositions(library, trigger);
  if (flushed) {
    for (const auto& t : triggers) {
      std::lock_guard lock(t.state->mutex);
      t.state->streams.clear();
    }
  }
  for (const StreamKey& stream : dropped) {
    if (services_.keys_move) {
      // MIGRATE deletes a stream on the node its slot leaves after restoring it on the next:
      // one that still exists moved, and is read on from its position there.
      auto type = call(stream.db, {"TYPE", stream.key});
      if (type && type->str == "stream") {
        std::lock_guard lock(mutex_);
        touched_.insert(stream);
        continue;
      }
    }
    for (const auto& t : triggers) {
      {
        std::lock_guard lock(t.state->mutex);
        t.state->streams.erase({stream.db, stream.key});
      }
      if (t.matches(stream.key)) call(0, {"HDEL", services_.positions_key, field(t, stream)});
    }
  }
  if (starting || !added.empty()) {
    // Positions first, then every matching stream is read from there (or the beginning): the
    // streams of libraries this round has locked now, the others in the next round.
    for (const auto& t : starting ? triggers : added) loadPositions(t);
    discover();
  } else if (again) {
    discover();
  }
  applyCompletions(triggers, /*retouch=*/true);
  std::set<StreamKey> touched;
  {
    std::lock_guard lock(mutex_);
    touched.swap(touched_);
  }
  for (const StreamKey& stream : touched) {
    for (const auto& t : triggers) {
      if (t.matches(stream.key)) deliver(run, t, stream, triggers);
    }
  }
  // Trimmed once every trigger had its turn: one without a position yet would lose entries.
  for (const StreamKey& stream : trims_) trim(stream, triggers);
  trims_.clear();
}

void StreamTriggers::applyCompletions(const std::vector<StreamTriggerInfo>& triggers,
                                      bool retouch) {
  while (true) {
    Completion c;
    {
      std::lock_guard lock(mutex_);
      if (completions_.empty()) return;
      c = std::move(completions_.front());
      completions_.pop_front();
    }
    complete(c, triggers, retouch);
  }
}

void StreamTriggers::complete(const Completion& c, const std::vector<StreamTriggerInfo>& triggers,
                              bool retouch) {
  auto t = std::find_if(triggers.begin(), triggers.end(),
                        [&](const StreamTriggerInfo& info) { return info.state == c.state; });
  if (t == triggers.end()) return;  // the trigger went: its completions are ignored (§8.8)
  bool oldest = false;
  {
    std::lock_guard lock(c.state->mutex);
    auto it = c.state->streams.find({c.stream.db, c.stream.key});
    if (it == c.state->streams.end()) return;  // the stream went (§8.5)
    scripting::StreamProgress& p = it->second;
    const int64_t took =
        std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - c.handed).count();
    ++p.total_record_processed;
    p.last_processed_time = took;
    p.total_processed_time += took;
    p.last_lag = nowMs() - static_cast<int64_t>(c.id.ms);
    p.total_lag += p.last_lag;
    if (c.error) p.last_error = c.error;
    auto pending = std::find(p.pending.begin(), p.pending.end(), c.id);
    if (pending == p.pending.end()) return;
    oldest = pending == p.pending.begin();
    p.pending.erase(pending);
  }
  if (oldest) {
    // Acknowledged: a restart resumes after it (spec §8.6).
    call(0, {"HSET", services_.positions_key, field(*t, c.stream), c.id.text()});
    if (t->trim) trims_.insert(c.stream);
  }
  if (!retouch) return;
  std::lock_guard lock(mutex_);
  touched_.insert(c.stream);  // the window has room again
}

void StreamTriggers::trim(const StreamKey& stream, const std::vector<StreamTriggerInfo>& triggers) {
  // Everything every tracking trigger is done with (spec §8.4 step 3).
  std::optional<StreamId> minimum;
  for (const auto& t : triggers) {
    std::lock_guard lock(t.state->mutex);
    auto it = t.state->streams.find({stream.db, stream.key});
    if (it == t.state->streams.end()) continue;
    std::optional<StreamId> keep;
    if (!it->second.pending.empty()) {
      keep = it->second.pending.front();
    } else if (it->second.last_read) {
      keep = StreamId{it->second.last_read->ms, it->second.last_read->seq + 1};
    }
    if (keep && (!minimum || *keep < *minimum)) minimum = keep;
  }
  if (minimum) call(stream.db, {"XTRIM", stream.key, "MINID", minimum->text()});
}

void StreamTriggers::deliver(scripting::TriggerRun& run, const StreamTriggerInfo& t,
                             const StreamKey& stream,
                             const std::vector<StreamTriggerInfo>& triggers) {
  while (true) {
    std::optional<StreamId> after;
    size_t room = 0;
    {
      std::lock_guard lock(t.state->mutex);
      scripting::StreamProgress& p = t.state->streams[{stream.db, stream.key}];
      if (p.pending.size() >= static_cast<size_t>(t.window)) return;
      room = static_cast<size_t>(t.window) - p.pending.size();
      after = p.last_read;
    }
    const size_t count = std::max(room, kReadAhead);
    auto range = call(stream.db, {"XRANGE", stream.key, after ? "(" + after->text() : "-", "+",
                                  "COUNT", std::to_string(count)});
    if (!range || range->isError() || range->elements.empty()) return;
    for (const resp::Value& entry : range->elements) {
      if (entry.elements.size() != 2) return;
      std::optional<StreamId> id = parseId(entry.elements[0].str);
      if (!id) return;
      scripting::StreamRecord record{stream.db, stream.key, *id, {}};
      const auto& kv = entry.elements[1].elements;
      for (size_t i = 0; i + 1 < kv.size(); i += 2)
        record.fields.emplace_back(kv[i].str, kv[i + 1].str);
      {
        std::lock_guard lock(t.state->mutex);
        scripting::StreamProgress& p = t.state->streams[{stream.db, stream.key}];
        if (p.pending.size() >= static_cast<size_t>(t.window)) return;
        p.last_read = *id;
        p.pending.push_back(*id);
      }
      const auto handed = Clock::now();
      const bool handed_over = run.deliver(
          t, record,
          [this, state = t.state, stream, id = *id, handed](std::optional<std::string> error) {
            {
              std::lock_guard lock(mutex_);
              completions_.push_back({state, stream, id, handed, std::move(error)});
            }
            services_.wake();
          });
      if (!handed_over) {
        // Its library is not locked in this section (or went): taken back, read again later.
        std::lock_guard lock(t.state->mutex);
        scripting::StreamProgress& p = t.state->streams[{stream.db, stream.key}];
        p.pending.pop_back();
        p.last_read = after;
        std::lock_guard touched_lock(mutex_);
        touched_.insert(stream);
        return;
      }
      // A callback that returned completed already: its ack goes before the next hand-over.
      applyCompletions(triggers, /*retouch=*/false);
      after = id;
    }
    if (range->elements.size() < count) return;
  }
}

}  // namespace tfproxy::functions
