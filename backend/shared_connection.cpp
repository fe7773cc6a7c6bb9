#include "backend/shared_connection.h"

#include <spdlog/spdlog.h>
#include <sys/epoll.h>

#include "backend/errors.h"
#include "backend/link.h"

namespace tfproxy::backend {

SharedConnection::SharedConnection(io::EventLoop& loop, BackendLink& link)
    : loop_(loop), link_(link) {}

SharedConnection::~SharedConnection() = default;

void SharedConnection::send(const std::shared_ptr<User>& user, std::string_view bytes,
                            uint32_t replies) {
  out_.append(bytes);
  if (replies > 0) {
    if (!fifo_.empty() && fifo_.back().user.lock() == user) {
      fifo_.back().replies += replies;
    } else {
      fifo_.push_back({user, replies});
    }
  }
  if (state_ == State::kIdle) {
    connect();
  } else if (state_ == State::kConnected) {
    scheduleFlush();
  }
}

void SharedConnection::connect() {
  state_ = State::kConnecting;
  std::weak_ptr<SharedConnection> weak = shared_from_this();
  io::connectAsync(loop_, link_.addresses(), link_.connectTimeout(), link_.target().tls,
                   [weak](io::Stream stream, const std::string& error) {
                     auto self = weak.lock();
                     if (!self || self->state_ != State::kConnecting) return;
                     if (!stream.isOpen()) {
                       self->link_.markDown(error);
                       self->fail("cannot connect: " + error, errors::kLost, /*sent=*/false);
                       return;
                     }
                     self->link_.markUp();
                     if (self->preamble_replies_ > 0) {
                       self->out_.insert(0, self->preamble_);
                       self->fifo_.push_front({std::weak_ptr<User>(), self->preamble_replies_});
                     }
                     self->stream_ = std::move(stream);
                     self->state_ = State::kConnected;
                     self->blocked_ = false;
                     self->readable_ = self->stream_.buffered();
                     self->hung_up_ = false;
                     self->loop_.add(self->stream_.fd(), self.get());
                     self->scheduleFlush();
                   });
}

void SharedConnection::scheduleFlush() {
  if (flush_scheduled_) return;
  flush_scheduled_ = true;
  // After the round's events: every session's commands of this round go out in one send.
  loop_.defer([self = shared_from_this()] {
    self->flush_scheduled_ = false;
    self->flush();
  });
}

void SharedConnection::onEvents(uint32_t events) {
  if (state_ != State::kConnected) return;
  if (stream_.writableOn(events)) {
    blocked_ = false;
    flush();
  }
  if ((events & (EPOLLRDHUP | EPOLLHUP)) != 0) hung_up_ = true;
  if (stream_.readableOn(events)) {
    readable_ = true;
    read();
  }
}

void SharedConnection::flush() {
  if (state_ != State::kConnected || blocked_) return;
  switch (stream_.write(&out_, &written_)) {
    case io::IoResult::kWouldBlock:
      blocked_ = true;  // the writable edge calls again
      return;
    case io::IoResult::kError:
      fail(stream_.error(), errors::kLost);
      return;
    default:
      return;
  }
}

void SharedConnection::read() {
  while (readable_ && state_ == State::kConnected) {
    bool drained = false;
    const io::IoResult r = stream_.read(&in_, hung_up_, &drained);
    if (drained) readable_ = false;
    if (r == io::IoResult::kClosed) {
      fail("closed by the backend", errors::kLost);
      return;
    }
    if (r == io::IoResult::kError) {
      fail(stream_.error(), errors::kLost);
      return;
    }
    if (r == io::IoResult::kWouldBlock) return;
    ++reads_;

    // Hand each user the run of complete replies that belongs to it.
    std::string_view data = in_.view();
    size_t pos = 0;
    size_t run_start = 0;
    while (pos < data.size()) {
      auto r = framer_.scan(data.substr(pos));
      if (r.status == resp::ReplyFramer::Status::kNeedMore) break;
      if (r.status == resp::ReplyFramer::Status::kError || fifo_.empty()) {
        spdlog::error("shared backend connection: unexpected or malformed reply");
        fail("malformed reply", errors::kLost);
        return;
      }
      pos += r.consumed;
      Pending& front = fifo_.front();
      if (--front.replies == 0) {
        if (auto user = front.user.lock()) {
          user->onSharedReplies(data.substr(run_start, pos - run_start));
        }
        fifo_.pop_front();
        run_start = pos;
      }
    }
    if (run_start < pos) {
      if (auto user = fifo_.front().user.lock()) {
        user->onSharedReplies(data.substr(run_start, pos - run_start));
      }
    }
    in_.consume(pos);
  }
}

void SharedConnection::fail(const std::string& why, const char* text, bool sent) {
  spdlog::debug("shared backend connection lost ({})", why);
  close();
  std::deque<Pending> waiting;
  waiting.swap(fifo_);
  for (Pending& p : waiting) {
    if (auto user = p.user.lock()) user->onSharedLost(text, sent);
  }
}

void SharedConnection::checkTimeout(std::chrono::steady_clock::time_point now,
                                    std::chrono::milliseconds limit) {
  if (!stall_.expired(!fifo_.empty(), reads_, now, limit)) return;
  spdlog::warn("shared backend connection: no reply within {} ms; replacing it", limit.count());
  fail("backend timeout", errors::kTimedOut);
}

void SharedConnection::close() {
  if (stream_.isOpen()) {
    loop_.remove(stream_.fd());
    stream_.close();
  }
  state_ = State::kIdle;
  out_.clear();
  written_ = 0;
  in_.consume(in_.size());
  framer_.reset();
  blocked_ = false;
  readable_ = false;
}

}  // namespace tfproxy::backend
