#include "tests/support/client.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/time.h>
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

Client::Client(uint16_t port, const ClientTls& tls, std::chrono::milliseconds timeout)
    : Client(port, timeout) {
  SSL_CTX* ctx = SSL_CTX_new(TLS_client_method());
  SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, nullptr);
  std::string problem;
  if (SSL_CTX_load_verify_locations(ctx, tls.ca_file.c_str(), nullptr) != 1) {
    problem = "cannot load " + tls.ca_file;
  } else if (!tls.cert_file.empty() &&
             (SSL_CTX_use_certificate_chain_file(ctx, tls.cert_file.c_str()) != 1 ||
              SSL_CTX_use_PrivateKey_file(ctx, tls.key_file.c_str(), SSL_FILETYPE_PEM) != 1)) {
    problem = "cannot load " + tls.cert_file;
  }
  if (problem.empty()) {
    ssl_ = SSL_new(ctx);
    SSL_set_fd(ssl_, fd_);
    // A read timeout bounds a handshake the server never answers.
    timeval tv{static_cast<time_t>(timeout.count() / 1000),
               static_cast<suseconds_t>(timeout.count() % 1000 * 1000)};
    ::setsockopt(fd_, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    if (SSL_connect(ssl_) != 1) {
      char text[256] = "handshake failed";
      if (unsigned long code = ERR_get_error()) ERR_error_string_n(code, text, sizeof text);
      problem = std::string("TLS handshake: ") + text;
    }
    timeval none{};
    ::setsockopt(fd_, SOL_SOCKET, SO_RCVTIMEO, &none, sizeof none);
  }
  ERR_clear_error();
  SSL_CTX_free(ctx);  // ssl_ holds its own reference
  if (problem.empty()) {
    // TLS 1.3 tells a refused client certificate only with the first read: a PING shows it.
    try {
      sendCommand({"PING"});
      readRaw();
    } catch (const std::runtime_error& e) {
      problem = std::string("TLS: no answer after the handshake (") + e.what() + ")";
    }
  }
  if (!problem.empty()) {
    close();
    throw std::runtime_error(problem);
  }
}

Client::~Client() { close(); }

void Client::close() {
  if (ssl_ != nullptr) SSL_free(ssl_);
  ssl_ = nullptr;
  if (fd_ >= 0) ::close(fd_);
  fd_ = -1;
}

std::string Client::peerSubject() const {
  if (ssl_ == nullptr) return {};
  X509* cert = SSL_get1_peer_certificate(ssl_);
  if (cert == nullptr) return {};
  char text[512];
  X509_NAME_oneline(X509_get_subject_name(cert), text, sizeof text);
  X509_free(cert);
  return text;
}

void Client::send(std::string_view bytes) {
  while (!bytes.empty()) {
    if (ssl_ != nullptr) {
      const int n = SSL_write(ssl_, bytes.data(), static_cast<int>(bytes.size()));
      if (n <= 0) throw std::runtime_error("TLS send failed");
      bytes.remove_prefix(static_cast<size_t>(n));
      continue;
    }
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
  if (ssl_ == nullptr || SSL_pending(ssl_) == 0) {
    pollfd p{fd_, POLLIN, 0};
    int r = ::poll(&p, 1, static_cast<int>(wait.count()));
    if (r <= 0) return true;  // nothing yet
  }
  char buf[65536];
  ssize_t n;
  if (ssl_ != nullptr) {
    // The socket is readable but may hold no whole record yet: wait for the rest of it.
    n = SSL_read(ssl_, buf, sizeof buf);
    if (n <= 0 && SSL_get_error(ssl_, static_cast<int>(n)) == SSL_ERROR_WANT_READ) return true;
  } else {
    n = ::recv(fd_, buf, sizeof buf, 0);
  }
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
