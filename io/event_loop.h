// The event loop of an I/O worker: edge-triggered epoll with each socket registered once, plus
// tasks posted from other threads, tasks deferred to the end of the current round, and timers.
//
// Why not Asio here (it serves the acceptor, signals and backend probes): Asio re-arms every
// read with a system call -- a speculative recv() that fails with EAGAIN or an epoll_ctl() --
// and routes each completion through its scheduler. On the forwarding path that measured as
// ~20% of the proxy's CPU per request (README, "Performance"). Here a socket costs one
// epoll_ctl() for its whole life, and a request one recv() and one send().
//
// One round:  epoll_wait -> socket events -> due timers -> posted tasks -> deferred tasks
// With nothing ready, the loop may yield its CPU once before it sleeps (io/yield_policy.h).
#pragma once

#include <sys/socket.h>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <mutex>
#include <queue>
#include <string>
#include <thread>
#include <unordered_set>
#include <vector>

#include "io/socket_address.h"
#include "io/yield_policy.h"

namespace tfproxy::io {

class EventLoop {
 public:
  using Clock = std::chrono::steady_clock;

  // Told about readiness of one registered socket. Edge-triggered: after an event, read until
  // the socket is drained (EAGAIN or a short read), write until it is full.
  class Watcher {
   public:
    virtual ~Watcher() = default;
    virtual void onEvents(uint32_t events) = 0;
  };

  EventLoop();
  ~EventLoop();
  EventLoop(const EventLoop&) = delete;
  EventLoop& operator=(const EventLoop&) = delete;

  // Registers a non-blocking socket for read, write and hang-up edges. Loop thread only. The
  // watcher must stay valid until remove() and the end of the round it is called in.
  bool add(int fd, Watcher* watcher);
  void remove(int fd);

  // Runs `task` on the loop thread, from any thread.
  void post(std::function<void()> task);
  // Runs `task` once the current round's events are handled (loop thread only): work queued by
  // many sockets in one round goes out together.
  void defer(std::function<void()> task);

  using TimerId = uint64_t;
  // Runs `task` after `delay` (loop thread only); cancel() before it fires to drop it.
  TimerId runAfter(std::chrono::milliseconds delay, std::function<void()> task);
  void cancel(TimerId id);

  // Runs rounds until stop(); stop() may be called from any thread.
  void run();
  void stop();
  // True on the thread that runs the loop (and on any thread before it runs).
  bool inLoopThread() const {
    const std::thread::id owner = owner_.load(std::memory_order_relaxed);
    return owner == std::thread::id() || owner == std::this_thread::get_id();
  }

 private:
  struct Timer {
    Clock::time_point when;
    TimerId id;
    std::function<void()> task;
    bool operator>(const Timer& other) const { return when > other.when; }
  };
  static constexpr int kMaxEvents = 256;

  int timeoutMillis() const;
  void runTimers();
  void runPosted();
  void runDeferred();

  int epoll_fd_;
  int wake_fd_;  // eventfd: posts from other threads interrupt epoll_wait
  std::atomic<bool> stopped_{false};
  std::atomic<std::thread::id> owner_{};
  std::mutex posted_mutex_;
  std::vector<std::function<void()>> posted_;
  std::vector<std::function<void()>> deferred_;
  std::priority_queue<Timer, std::vector<Timer>, std::greater<>> timers_;
  std::unordered_set<TimerId> cancelled_;
  TimerId next_timer_ = 1;
  YieldPolicy yield_policy_;
};

}  // namespace tfproxy::io
