#include "io/event_loop.h"

#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sched.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <memory>
#include <stdexcept>

#include "io/check.h"

namespace tfproxy::io {

namespace {

// The wake-up eventfd's watcher: drains the counter; the posted tasks run later in the round.
class WakeWatcher : public EventLoop::Watcher {
 public:
  explicit WakeWatcher(int fd) : fd_(fd) {}
  void onEvents(uint32_t) override {
    uint64_t value;
    while (::read(fd_, &value, sizeof value) > 0) {
    }
  }

 private:
  int fd_;
};

}  // namespace

EventLoop::EventLoop() {
  epoll_fd_ = ::epoll_create1(EPOLL_CLOEXEC);
  wake_fd_ = ::eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
  if (epoll_fd_ < 0 || wake_fd_ < 0) throw std::runtime_error("cannot create an event loop");
  epoll_event ev{};
  ev.events = EPOLLIN | EPOLLET;
  ev.data.ptr = nullptr;  // nullptr marks the wake-up eventfd
  ::epoll_ctl(epoll_fd_, EPOLL_CTL_ADD, wake_fd_, &ev);
}

EventLoop::~EventLoop() {
  ::close(wake_fd_);
  ::close(epoll_fd_);
}

bool EventLoop::add(int fd, Watcher* watcher) {
  TFPROXY_CHECK(inLoopThread());
  epoll_event ev{};
  ev.events = EPOLLIN | EPOLLOUT | EPOLLRDHUP | EPOLLET;
  ev.data.ptr = watcher;
  return ::epoll_ctl(epoll_fd_, EPOLL_CTL_ADD, fd, &ev) == 0;
}

void EventLoop::remove(int fd) { ::epoll_ctl(epoll_fd_, EPOLL_CTL_DEL, fd, nullptr); }

void EventLoop::post(std::function<void()> task) {
  bool first;
  {
    std::lock_guard lock(posted_mutex_);
    first = posted_.empty();
    posted_.push_back(std::move(task));
  }
  if (first) {
    uint64_t one = 1;
    ssize_t ignored = ::write(wake_fd_, &one, sizeof one);
    (void)ignored;
  }
}

void EventLoop::defer(std::function<void()> task) {
  TFPROXY_CHECK(inLoopThread());
  deferred_.push_back(std::move(task));
}

EventLoop::TimerId EventLoop::runAfter(std::chrono::milliseconds delay,
                                       std::function<void()> task) {
  TFPROXY_CHECK(inLoopThread());
  TimerId id = next_timer_++;
  timers_.push(Timer{Clock::now() + delay, id, std::move(task)});
  return id;
}

void EventLoop::cancel(TimerId id) { cancelled_.insert(id); }

void EventLoop::stop() {
  stopped_ = true;
  uint64_t one = 1;
  ssize_t ignored = ::write(wake_fd_, &one, sizeof one);
  (void)ignored;
}

int EventLoop::timeoutMillis() const {
  if (!deferred_.empty()) return 0;
  if (timers_.empty()) return -1;
  auto left =
      std::chrono::duration_cast<std::chrono::milliseconds>(timers_.top().when - Clock::now());
  return left.count() < 0 ? 0 : static_cast<int>(left.count()) + 1;
}

void EventLoop::runTimers() {
  const auto now = Clock::now();
  while (!timers_.empty() && timers_.top().when <= now) {
    Timer t = timers_.top();
    timers_.pop();
    if (cancelled_.erase(t.id) > 0) continue;
    t.task();
  }
  if (timers_.empty()) cancelled_.clear();
}

void EventLoop::runPosted() {
  std::vector<std::function<void()>> tasks;
  {
    std::lock_guard lock(posted_mutex_);
    tasks.swap(posted_);
  }
  for (auto& task : tasks) task();
}

void EventLoop::runDeferred() {
  // Tasks deferred by deferred tasks run in the same round.
  while (!deferred_.empty()) {
    std::vector<std::function<void()>> tasks;
    tasks.swap(deferred_);
    for (auto& task : tasks) task();
  }
}

void EventLoop::run() {
  owner_.store(std::this_thread::get_id(), std::memory_order_relaxed);
  WakeWatcher wake(wake_fd_);
  epoll_event events[kMaxEvents];
  while (!stopped_) {
    // Look first; only when nothing is ready, maybe give the CPU away once before sleeping.
    int n = ::epoll_wait(epoll_fd_, events, kMaxEvents, 0);
    if (n == 0 && timeoutMillis() != 0) {
      const auto start = Clock::now();
      if (yield_policy_.mayYield(start)) {
        ::sched_yield();
        yield_policy_.yielded(start, Clock::now() - start);
      }
      n = ::epoll_wait(epoll_fd_, events, kMaxEvents, timeoutMillis());
    }
    if (n < 0 && errno != EINTR) break;
    for (int i = 0; i < n; ++i) {
      auto* watcher = static_cast<Watcher*>(events[i].data.ptr);
      if (watcher == nullptr) {
        wake.onEvents(events[i].events);
      } else {
        watcher->onEvents(events[i].events);
      }
    }
    runTimers();
    runPosted();
    runDeferred();
  }
  // Last posted work (e.g. closing sessions at shutdown) still runs.
  runPosted();
  runDeferred();
}

}  // namespace tfproxy::io
