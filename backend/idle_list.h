// The idle connections of a pool, least recently used first, with the bounds every pool of
// tfproxy keeps: at most kMax idle in all (the least recently used goes first) and none idle
// longer than kExpiry. Not thread-safe: the owner locks or keeps it on one thread. Connections
// leave it through return values, so the owner decides where they are closed.
#pragma once

#include <algorithm>
#include <chrono>
#include <cstddef>
#include <memory>
#include <vector>

namespace tfproxy::backend {

template <class Connection>
class IdleList {
 public:
  using Clock = std::chrono::steady_clock;
  using Owned = std::unique_ptr<Connection>;
  static constexpr size_t kMax = 64;
  static constexpr std::chrono::seconds kExpiry{30};

  // Keeps `conn` as the most recently used; returns the one evicted over kMax, if any.
  Owned put(Owned conn, Clock::time_point now) {
    entries_.push_back({now, std::move(conn)});
    if (entries_.size() <= kMax) return nullptr;
    Owned evicted = std::move(entries_.front().conn);
    entries_.erase(entries_.begin());
    return evicted;
  }

  // Takes the most recently used connection `match(conn, idle_since)` accepts.
  template <class Match>
  Owned take(Match match) {
    for (size_t i = entries_.size(); i-- > 0;) {
      if (!match(*entries_[i].conn, entries_[i].since)) continue;
      Owned conn = std::move(entries_[i].conn);
      entries_.erase(entries_.begin() + static_cast<std::ptrdiff_t>(i));
      return conn;
    }
    return nullptr;
  }

  // Removes the connections `drop(conn)` names, and those idle longer than kExpiry when `now`
  // is given; returns them.
  template <class Drop>
  std::vector<Owned> remove(Drop drop, Clock::time_point now = {}) {
    std::vector<Owned> removed;
    std::erase_if(entries_, [&](Entry& e) {
      const bool expired = now != Clock::time_point{} && now - e.since > kExpiry;
      if (!expired && !drop(*e.conn)) return false;
      removed.push_back(std::move(e.conn));
      return true;
    });
    return removed;
  }

  size_t size() const { return entries_.size(); }
  void clear() { entries_.clear(); }

 private:
  struct Entry {
    Clock::time_point since;
    Owned conn;
  };
  std::vector<Entry> entries_;
};

}  // namespace tfproxy::backend
