#include "tests/support/client.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <stdexcept>

#include "resp/decoder.h"
#include "resp/encoder.h"

namespace tfproxy::testing {

Client::Client(uint16_t port, std::chrono::milliseconds timeout) : timeout_(timeout) {
  fd_ = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = htons(port);
  if (::connect(fd_, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) {
    ::close(fd_);
    throw std::runtime_error("cannot connect to port " + std::to_string(port));
  }
  int one = 1;
  ::setsockopt(fd_, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
}

Client::~Client() { close(); }

void Client::close() {
  if (fd_ >= 0) ::close(fd_);
  fd_ = -1;
}

void Client::send(std::string_view bytes) {
  while (!bytes.empty()) {
    ssize_t n = ::send(fd_, bytes.data(), bytes.size(), MSG_NOSIGNAL);
    if (n < 0) {
      if (errno == EINTR) continue;
      throw std::runtime_error("send failed");
    }
    bytes.remove_prefix(static_cast<size_t>(n));
  }
}

void Client::sendCommand(const std::vector<std::string>& args) {
  std::vector<std::string_view> views(args.begin(), args.end());
  std::string out;
  resp::encodeCommand(views, &out);
  send(out);
}

bool Client::fill(std::chrono::milliseconds wait) {
  if (eof_) return false;
  pollfd p{fd_, POLLIN, 0};
  int r = ::poll(&p, 1, static_cast<int>(wait.count()));
  if (r <= 0) return true;  // nothing yet
  char buf[65536];
  ssize_t n = ::recv(fd_, buf, sizeof buf, 0);
  if (n <= 0) {
    eof_ = true;
    return false;
  }
  in_.append(buf, static_cast<size_t>(n));
  return true;
}

std::string Client::readRaw() {
  auto deadline = std::chrono::steady_clock::now() + timeout_;
  while (true) {
    auto r = framer_.scan(in_);
    if (r.status == resp::ReplyFramer::Status::kComplete) {
      std::string frame = in_.substr(0, r.consumed);
      in_.erase(0, r.consumed);
      return frame;
    }
    if (r.status == resp::ReplyFramer::Status::kError) throw std::runtime_error("bad RESP");
    // Rounded up, and at least one read attempt even when the time is up.
    auto left =
        std::chrono::ceil<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
    const bool last = left.count() <= 0;
    if (!fill(last ? std::chrono::milliseconds(0) : left)) {
      throw std::runtime_error("connection closed while waiting for a reply");
    }
    if (last) {
      if (framer_.scan(in_).status == resp::ReplyFramer::Status::kComplete) continue;
      throw std::runtime_error("timed out waiting for a reply");
    }
  }
}

resp::Value Client::read() {
  std::string frame = readRaw();
  resp::Value v;
  if (!resp::decodeValue(frame, &v)) throw std::runtime_error("undecodable reply");
  return v;
}

std::optional<resp::Value> Client::tryRead(std::chrono::milliseconds wait) {
  auto saved = timeout_;
  timeout_ = wait;
  std::optional<resp::Value> result;
  try {
    result = read();
  } catch (const std::runtime_error&) {
  }
  timeout_ = saved;
  return result;
}

resp::Value Client::call(const std::vector<std::string>& args) {
  sendCommand(args);
  return read();
}

std::string Client::run(const std::vector<std::string>& args) {
  return resp::toDebugString(call(args));
}

bool Client::closedByPeer(std::chrono::milliseconds wait) {
  auto deadline = std::chrono::steady_clock::now() + wait;
  while (std::chrono::steady_clock::now() < deadline) {
    if (!fill(std::chrono::milliseconds(20))) return true;
  }
  return false;
}

void deleteLibraries(Client& c) {
  const resp::Value list = c.call({"TFUNCTION", "LIST"});
  for (const resp::Value& library : list.elements) {
    for (size_t i = 0; i + 1 < library.elements.size(); i += 2) {
      if (library.elements[i].str == "name") {
        c.call({"TFUNCTION", "DELETE", library.elements[i + 1].str});
      }
    }
  }
}

}  // namespace tfproxy::testing
