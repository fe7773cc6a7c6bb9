#include "tests/fakes/scripted_backend.h"

#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <map>
#include <stdexcept>

#include "resp/request_parser.h"

namespace tfproxy::fakes {

ScriptedBackend::ScriptedBackend(Answer answer) : answer_(std::move(answer)) {
  listen_fd_ = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof addr;
  if (::bind(listen_fd_, reinterpret_cast<sockaddr*>(&addr), len) != 0 ||
      ::listen(listen_fd_, 64) != 0 ||
      ::getsockname(listen_fd_, reinterpret_cast<sockaddr*>(&addr), &len) != 0 ||
      ::pipe(wake_) != 0) {
    throw std::runtime_error("cannot listen on loopback");
  }
  port_ = ntohs(addr.sin_port);
  thread_ = std::thread([this] { serve(); });
}

ScriptedBackend::~ScriptedBackend() {
  stop_ = true;
  (void)!::write(wake_[1], "x", 1);
  thread_.join();
  ::close(listen_fd_);
  ::close(wake_[0]);
  ::close(wake_[1]);
}

std::vector<std::string> ScriptedBackend::received() {
  std::lock_guard lock(mutex_);
  return received_;
}

void ScriptedBackend::serve() {
  struct Conn {
    std::string in;
    resp::RequestParser parser;
  };
  std::map<int, Conn> conns;
  auto drop = [&](int fd) {
    ::close(fd);
    conns.erase(fd);
    --open_;
  };
  while (!stop_) {
    if (close_all_.exchange(false)) {
      while (!conns.empty()) drop(conns.begin()->first);
    }
    std::vector<pollfd> fds = {{listen_fd_, POLLIN, 0}, {wake_[0], POLLIN, 0}};
    for (auto& [fd, c] : conns) fds.push_back({fd, POLLIN, 0});
    if (::poll(fds.data(), fds.size(), 20) <= 0) continue;
    if (fds[0].revents & POLLIN) {
      int fd = ::accept(listen_fd_, nullptr, nullptr);
      if (fd >= 0) {
        conns[fd];
        ++accepted_;
        ++open_;
      }
    }
    for (size_t i = 2; i < fds.size(); ++i) {
      if ((fds[i].revents & (POLLIN | POLLHUP | POLLERR)) == 0) continue;
      const int fd = fds[i].fd;
      char buf[16384];
      ssize_t n = ::read(fd, buf, sizeof buf);
      if (n <= 0) {
        drop(fd);
        continue;
      }
      Conn& c = conns[fd];
      c.in.append(buf, static_cast<size_t>(n));
      std::string out;
      while (true) {
        auto r = c.parser.parse(c.in);
        if (r.status != resp::RequestParser::Status::kComplete) break;
        std::vector<std::string> argv;
        for (size_t a = 0; a < c.parser.argc(); ++a) argv.emplace_back(c.parser.arg(a));
        c.in.erase(0, r.consumed);
        if (argv.empty()) continue;
        std::string line;
        for (const auto& word : argv) line += (line.empty() ? "" : " ") + word;
        {
          std::lock_guard lock(mutex_);
          received_.push_back(line);
        }
        if (auto reply = answer_(argv)) out += *reply;
      }
      if (!out.empty()) (void)!::write(fd, out.data(), out.size());
    }
  }
  while (!conns.empty()) drop(conns.begin()->first);
}

}  // namespace tfproxy::fakes
