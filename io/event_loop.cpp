#include "io/event_loop.h"

#include <netinet/in.h>
#include <netinet/tcp.h>
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
  epoll_event events[256];
  while (!stopped_) {
    int n = ::epoll_wait(epoll_fd_, events, 256, timeoutMillis());
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

namespace {

// One connection attempt in flight: a registered socket waiting for writability, and a timer.
class Connect : public EventLoop::Watcher, public std::enable_shared_from_this<Connect> {
 public:
  Connect(EventLoop& loop, std::vector<SocketAddress> addresses, std::chrono::milliseconds timeout,
          std::function<void(int, const std::string&)> done)
      : loop_(loop), addresses_(std::move(addresses)), timeout_(timeout), done_(std::move(done)) {}

  void start() {
    self_ = shared_from_this();  // alive until finished
    next();
  }

  void onEvents(uint32_t events) override {
    if (fd_ < 0) return;
    int so_error = 0;
    socklen_t len = sizeof so_error;
    ::getsockopt(fd_, SOL_SOCKET, SO_ERROR, &so_error, &len);
    if (so_error == 0 && (events & EPOLLOUT) != 0) {
      finishWith(takeSocket(), {});
    } else if (so_error != 0 || (events & (EPOLLERR | EPOLLHUP)) != 0) {
      error_ = std::strerror(so_error != 0 ? so_error : ECONNREFUSED);
      closeSocket();
      next();
    }
  }

 private:
  void next() {
    while (index_ < addresses_.size()) {
      const SocketAddress& a = addresses_[index_++];
      fd_ = ::socket(a.storage.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
      if (fd_ < 0) {
        error_ = std::strerror(errno);
        continue;
      }
      if (a.storage.ss_family != AF_UNIX) {
        int one = 1;
        ::setsockopt(fd_, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
      }
      int r = ::connect(fd_, reinterpret_cast<const sockaddr*>(&a.storage), a.length);
      if (r == 0) {
        finishWith(takeSocket(), {});
        return;
      }
      if (errno != EINPROGRESS) {
        error_ = std::strerror(errno);
        closeSocket();
        continue;
      }
      loop_.add(fd_, this);
      std::weak_ptr<Connect> weak = shared_from_this();
      timer_ = loop_.runAfter(timeout_, [weak] {
        if (auto self = weak.lock()) {
          self->timer_ = 0;
          self->error_ = "Connection timed out";
          self->closeSocket();
          self->next();
        }
      });
      return;
    }
    finishWith(-1, error_.empty() ? "no address to connect to" : error_);
  }

  int takeSocket() {
    int fd = fd_;
    if (timer_ != 0) loop_.cancel(timer_);
    timer_ = 0;
    loop_.remove(fd);
    fd_ = -1;
    return fd;
  }

  void closeSocket() {
    if (timer_ != 0) loop_.cancel(timer_);
    timer_ = 0;
    if (fd_ >= 0) {
      loop_.remove(fd_);
      ::close(fd_);
    }
    fd_ = -1;
  }

  // Reports from the end of the round, never from inside connectAsync() itself; this watcher
  // may still be named by events of the current round, so it lives until then too.
  void finishWith(int fd, const std::string& error) {
    loop_.defer([self = std::move(self_), done = std::move(done_), fd, error] { done(fd, error); });
  }

  EventLoop& loop_;
  std::vector<SocketAddress> addresses_;
  std::chrono::milliseconds timeout_;
  std::function<void(int, const std::string&)> done_;
  size_t index_ = 0;
  int fd_ = -1;
  EventLoop::TimerId timer_ = 0;
  std::string error_;
  std::shared_ptr<Connect> self_;
};

}  // namespace

void connectAsync(EventLoop& loop, std::vector<SocketAddress> addresses,
                  std::chrono::milliseconds timeout,
                  std::function<void(int fd, const std::string& error)> done) {
  std::make_shared<Connect>(loop, std::move(addresses), timeout, std::move(done))->start();
}

}  // namespace tfproxy::io
