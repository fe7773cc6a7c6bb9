// The notification connection (design §5): one RESP3 connection subscribed to the key space
// events of the keys that start with a trigger prefix, in every database (`PSUBSCRIBE
// __keyspace@*__:<prefix>*`: Redis sends nothing for other keys) and to the channel of the tfproxy
// instances in front of the backend, on which each of them publishes its markers. Redis
// delivers messages and events to every subscriber in the order it produced them, so every
// instance sees every marker in the same place among the events; once an instance's own marker
// is back, every event of a command answered before it was published has arrived.
//
// The connection turns on the notify-keyspace-events flags the triggers need, keeping every
// flag the operator set; where CONFIG is refused (managed services) it says once which flags
// the operator must set. It reconnects (and asserts the flags again) when the connection breaks.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <memory>
#include <mutex>
#include <set>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "backend/script_connection.h"
#include "config/options.h"
#include "io/stream.h"

namespace tfproxy::backend {

class SyncConnection;

class KeyspaceEvents {
 public:
  class Listener {
   public:
    virtual ~Listener() = default;
    // An event, on the connection's thread, in the backend's order.
    virtual void onEvent(int64_t db, std::string_view event, std::string_view key) = 0;
    // A message on the instances' channel (a marker of this instance or another), in order
    // with the events.
    virtual void onMessage(std::string_view payload) = 0;
    // The subscription is in place (`up`), or the connection broke: events may have been lost,
    // and markers sent before will not come back.
    virtual void onConnection(bool up) = 0;
  };

  // Whether the backend sends the events the triggers need.
  enum class Flags {
    kUnknown,  // not connected yet
    kEnabled,  // notify-keyspace-events has K, A and m (set by tfproxy or the operator)
    kRefused,  // CONFIG is refused and the flags are missing, or could not be read (until an
               // event arrives: then the operator has set them)
  };

  // The flags tfproxy needs in notify-keyspace-events.
  static constexpr char kNeededFlags[] = "KAm";

  // `channel`: the instances' channel.
  KeyspaceEvents(io::Target target, Identity identity, std::chrono::milliseconds connect_timeout,
                 std::string channel, Listener& listener);
  ~KeyspaceEvents();
  KeyspaceEvents(const KeyspaceEvents&) = delete;
  KeyspaceEvents& operator=(const KeyspaceEvents&) = delete;

  // Starts the connection's thread (once; later calls do nothing).
  void start();
  void stop();
  // Publishes `payload` on the instances' channel, from any thread; false when the connection
  // is not up (it will not come back).
  bool publish(std::string_view payload);
  // The key prefixes whose events are wanted (each event arrives once), from any thread. The
  // subscription changes in the connection's order: a marker published after this returned comes
  // back after it.
  void setPrefixes(const std::vector<std::string>& prefixes);
  // The subscription pattern of a prefix: `__keyspace@*__:` and the prefix, glob-escaped, `*`.
  static std::string pattern(std::string_view prefix);
  Flags flags() const { return flags_.load(std::memory_order_relaxed); }
  bool up() const { return up_.load(std::memory_order_relaxed); }

  // notify-keyspace-events `current` with the needed flags added; equal to `current` when it
  // has them all.
  static std::string withNeededFlags(std::string_view current);
  // Reads notify-keyspace-events over a connection of its own and adds what is missing (any
  // thread; the event connection does it on every connect). False when the node cannot be
  // reached.
  bool ensureFlagsNow();

 private:
  // The same on `conn`; false when `conn` broke.
  bool ensureFlags(SyncConnection& conn);
  void run();
  // Connects, authenticates, sets the flags and subscribes; nullptr after a failure (logged).
  std::unique_ptr<SyncConnection> open();
  void read(SyncConnection& conn);
  // Sends what makes the connection's patterns the wanted ones (send_mutex_ held).
  void syncPatternsLocked();
  bool sendLocked(std::string_view bytes);

  io::Target target_;
  Identity identity_;
  std::chrono::milliseconds connect_timeout_;
  std::string channel_;
  Listener& listener_;

  std::mutex send_mutex_;
  SyncConnection* live_ = nullptr;    // the connection while it is up, for markers; send_mutex_
  std::set<std::string> wanted_;      // patterns; send_mutex_
  std::set<std::string> subscribed_;  // on the live connection; send_mutex_

  std::mutex run_mutex_;
  std::condition_variable run_cv_;
  bool stopping_ = false;
  std::thread thread_;
  std::atomic<bool> up_{false};  // live_ != nullptr, for readers that do not take send_mutex_
  std::atomic<Flags> flags_{Flags::kUnknown};
  std::atomic<bool> warned_{false};  // the flags' advice was logged
};

}  // namespace tfproxy::backend
