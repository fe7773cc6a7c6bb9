#include "server/shared_connection.h"

#include <spdlog/spdlog.h>

#include <boost/asio/post.hpp>

#include "backend/link.h"
#include "server/session.h"
#include "server/worker.h"

namespace tfproxy::server {

namespace asio = boost::asio;
using tcp = asio::ip::tcp;

SharedConnection::SharedConnection(Worker& worker, backend::BackendLink& link)
    : worker_(worker), link_(link), socket_(worker.context()) {}

SharedConnection::~SharedConnection() = default;

void SharedConnection::send(const std::shared_ptr<Session>& session, std::string_view bytes,
                            uint32_t replies) {
  out_.append(bytes);
  if (replies > 0) {
    if (!fifo_.empty() && fifo_.back().session.lock() == session) {
      fifo_.back().replies += replies;
    } else {
      fifo_.push_back({session, replies});
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
  socket_ = tcp::socket(worker_.context());
  auto self = shared_from_this();
  link_.asyncConnect(socket_, [self](const boost::system::error_code& ec) {
    if (ec) {
      self->state_ = State::kIdle;
      self->fail("cannot connect: " + ec.message());
      return;
    }
    self->state_ = State::kConnected;
    boost::system::error_code ignored;
    self->socket_.non_blocking(true, ignored);
    self->read();
    self->scheduleFlush();
  });
}

void SharedConnection::scheduleFlush() {
  if (flush_scheduled_ || waiting_writable_) return;
  flush_scheduled_ = true;
  // Runs after the handlers already queued in this round: their commands go out together.
  asio::post(worker_.context(), [self = shared_from_this()] {
    self->flush_scheduled_ = false;
    self->flush();
  });
}

void SharedConnection::flush() {
  if (state_ != State::kConnected || waiting_writable_) return;
  while (written_ < out_.size()) {
    boost::system::error_code ec;
    size_t n = socket_.write_some(asio::buffer(out_.data() + written_, out_.size() - written_), ec);
    if (ec == asio::error::would_block) break;
    if (ec) {
      fail(ec.message());
      return;
    }
    written_ += n;
  }
  if (written_ == out_.size()) {
    out_.clear();
    written_ = 0;
    if (out_.capacity() > 1024 * 1024) std::string().swap(out_);
    return;
  }
  waiting_writable_ = true;
  auto self = shared_from_this();
  socket_.async_wait(tcp::socket::wait_write, [self](const boost::system::error_code& ec) {
    self->waiting_writable_ = false;
    if (ec) {
      if (ec != asio::error::operation_aborted) self->fail(ec.message());
      return;
    }
    self->flush();
  });
}

void SharedConnection::read() {
  if (reading_ || state_ != State::kConnected) return;
  reading_ = true;
  auto space = in_.prepare();
  auto self = shared_from_this();
  socket_.async_read_some(asio::buffer(space.data(), space.size()),
                          [self](const boost::system::error_code& ec, size_t n) {
                            self->onRead(ec, n);
                          });
}

void SharedConnection::onRead(const boost::system::error_code& ec, size_t n) {
  reading_ = false;
  if (state_ != State::kConnected) return;
  if (ec) {
    fail(ec == asio::error::eof ? "closed by the backend" : ec.message());
    return;
  }
  in_.commit(n);
  // Hand each session the run of complete replies that belongs to it.
  std::string_view data = in_.view();
  size_t pos = 0;
  size_t run_start = 0;
  while (pos < data.size()) {
    auto r = framer_.scan(data.substr(pos));
    if (r.status == resp::ReplyFramer::Status::kNeedMore) break;
    if (r.status == resp::ReplyFramer::Status::kError || fifo_.empty()) {
      spdlog::error("shared backend connection: unexpected or malformed reply");
      fail("malformed reply");
      return;
    }
    pos += r.consumed;
    Pending& front = fifo_.front();
    if (--front.replies == 0) {
      if (auto session = front.session.lock()) {
        session->onSharedReplies(data.substr(run_start, pos - run_start));
      }
      fifo_.pop_front();
      run_start = pos;
    }
  }
  if (run_start < pos) {
    if (auto session = fifo_.front().session.lock()) {
      session->onSharedReplies(data.substr(run_start, pos - run_start));
    }
  }
  in_.consume(pos);
  read();
}

void SharedConnection::fail(const std::string& why) {
  spdlog::debug("shared backend connection lost ({})", why);
  boost::system::error_code ignored;
  socket_.close(ignored);
  state_ = State::kIdle;
  out_.clear();
  written_ = 0;
  in_.consume(in_.size());
  framer_.reset();
  std::deque<Pending> waiting;
  waiting.swap(fifo_);
  for (Pending& p : waiting) {
    if (auto session = p.session.lock()) session->onSharedLost();
  }
}

void SharedConnection::close() {
  boost::system::error_code ignored;
  socket_.close(ignored);
  state_ = State::kIdle;
}

}  // namespace tfproxy::server
