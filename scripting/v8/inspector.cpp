#include "scripting/v8/inspector.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <spdlog/spdlog.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstring>

#include "io/http.h"
#include "io/websocket.h"
#include "scripting/v8/library.h"

namespace tfproxy::scripting {
namespace {

// The inspector's one context group: a library has one context.
constexpr int kContextGroup = 1;
// An HTTP request (DevTools' /json, the WebSocket's upgrade) must arrive within this.
constexpr int kRequestTimeoutMs = 2000;

v8_inspector::StringView view(const std::string& s) {
  return {reinterpret_cast<const uint8_t*>(s.data()), s.size()};
}

// A protocol message from V8 (Latin-1 or UTF-16) as UTF-8.
std::string utf8(const v8_inspector::StringView& v) {
  std::string out;
  if (v.is8Bit()) {
    for (size_t i = 0; i < v.length(); ++i) {
      const uint8_t c = v.characters8()[i];
      if (c < 0x80) {
        out.push_back(static_cast<char>(c));
      } else {
        out.push_back(static_cast<char>(0xC0 | (c >> 6)));
        out.push_back(static_cast<char>(0x80 | (c & 0x3F)));
      }
    }
    return out;
  }
  const uint16_t* s = v.characters16();
  for (size_t i = 0; i < v.length(); ++i) {
    uint32_t c = s[i];
    if (c >= 0xD800 && c <= 0xDBFF && i + 1 < v.length() && s[i + 1] >= 0xDC00 &&
        s[i + 1] <= 0xDFFF) {
      c = 0x10000 + ((c - 0xD800) << 10) + (s[++i] - 0xDC00);
    }
    if (c < 0x80) {
      out.push_back(static_cast<char>(c));
    } else if (c < 0x800) {
      out.push_back(static_cast<char>(0xC0 | (c >> 6)));
      out.push_back(static_cast<char>(0x80 | (c & 0x3F)));
    } else if (c < 0x10000) {
      out.push_back(static_cast<char>(0xE0 | (c >> 12)));
      out.push_back(static_cast<char>(0x80 | ((c >> 6) & 0x3F)));
      out.push_back(static_cast<char>(0x80 | (c & 0x3F)));
    } else {
      out.push_back(static_cast<char>(0xF0 | (c >> 18)));
      out.push_back(static_cast<char>(0x80 | ((c >> 12) & 0x3F)));
      out.push_back(static_cast<char>(0x80 | ((c >> 6) & 0x3F)));
      out.push_back(static_cast<char>(0x80 | (c & 0x3F)));
    }
  }
  return out;
}

void writeAll(int fd, std::string_view bytes) {
  while (!bytes.empty()) {
    const ssize_t n = ::send(fd, bytes.data(), bytes.size(), MSG_NOSIGNAL);
    if (n <= 0) {
      if (n < 0 && errno == EINTR) continue;
      return;
    }
    bytes.remove_prefix(static_cast<size_t>(n));
  }
}

}  // namespace

// ---- LibraryDebugger ---------------------------------------------------------------------

LibraryDebugger::LibraryDebugger(Library& library, DebugServer& server)
    : library_(library), server_(server), name_(library.name()) {
  inspector_ = v8_inspector::V8Inspector::create(library.isolate(), this);
  inspector_->contextCreated(
      v8_inspector::V8ContextInfo(library.context(), kContextGroup, view(name_)));
}

LibraryDebugger::~LibraryDebugger() {
  server_.detach(this);
  session_.reset();
  inspector_.reset();
}

void LibraryDebugger::connected() {
  std::lock_guard lock(mutex_);
  connected_ = true;
}

void LibraryDebugger::received(std::string message) {
  std::lock_guard lock(mutex_);
  inbox_.push_back(std::move(message));
  if (paused_) {
    wake_.notify_one();
  } else if (!drain_posted_) {
    drain_posted_ = true;
    postDrain();
  }
}

void LibraryDebugger::disconnected() {
  std::lock_guard lock(mutex_);
  connected_ = false;
  if (paused_) {
    wake_.notify_one();
  } else if (!drain_posted_) {
    drain_posted_ = true;
    postDrain();
  }
}

void LibraryDebugger::postDrain() {
  // A job on the library's queue: it runs with the isolate locked (or not at all, the library
  // deleted -- the debugger went with it).
  // A library being destroyed has no owner left to lend: nothing to drain then.
  std::shared_ptr<Library> owner = library_.weak_from_this().lock();
  if (owner == nullptr) return;
  std::weak_ptr<Library> weak = owner;
  owner->postJob(0, [weak](JsScope&) {
    auto library = weak.lock();
    LibraryDebugger* debugger = library ? library->debugger() : nullptr;
    if (debugger == nullptr) return;
    std::deque<std::string> messages;
    bool connected;
    {
      std::lock_guard lock(debugger->mutex_);
      messages.swap(debugger->inbox_);
      debugger->drain_posted_ = false;
      connected = debugger->connected_;
    }
    debugger->dispatch(std::move(messages));
    if (!connected) debugger->session_.reset();  // DevTools left: breakpoints go with it
  });
}

void LibraryDebugger::dispatch(std::deque<std::string> messages) {
  for (const std::string& m : messages) {
    if (!session_) session_ = inspector_->connect(kContextGroup, this, {});
    session_->dispatchProtocolMessage(view(m));
  }
}

void LibraryDebugger::runMessageLoopOnPause(int) {
  // Paused at a breakpoint: this thread serves DevTools until it resumes (no time limit runs
  // for a debugged library; see JsScope).
  quit_ = false;
  std::unique_lock lock(mutex_);
  paused_ = true;
  while (!quit_) {
    wake_.wait(lock, [this] { return !inbox_.empty() || !connected_; });
    std::deque<std::string> messages;
    messages.swap(inbox_);
    const bool connected = connected_;
    lock.unlock();
    dispatch(std::move(messages));
    if (!connected && !quit_) {
      // DevTools went away while paused: the run goes on as if it had resumed.
      session_->dispatchProtocolMessage(view(R"({"id":0,"method":"Debugger.resume"})"));
      quit_ = true;
    }
    lock.lock();
  }
  paused_ = false;
}

void LibraryDebugger::quitMessageLoopOnPause() { quit_ = true; }

double LibraryDebugger::currentTimeMS() {
  return std::chrono::duration<double, std::milli>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

void LibraryDebugger::sendResponse(int, std::unique_ptr<v8_inspector::StringBuffer> message) {
  server_.send(utf8(message->string()));
}

void LibraryDebugger::sendNotification(std::unique_ptr<v8_inspector::StringBuffer> message) {
  server_.send(utf8(message->string()));
}

// ---- DebugServer -------------------------------------------------------------------------

DebugServer::DebugServer(std::string address) : address_(std::move(address)) {}

DebugServer::~DebugServer() {
  {
    std::lock_guard lock(mutex_);
    stopping_ = true;
  }
  if (wake_ >= 0) {
    const uint64_t one = 1;
    (void)::write(wake_, &one, sizeof one);
  }
  if (thread_.joinable()) thread_.join();
  closeSocket();
  if (listener_ >= 0) ::close(listener_);
  if (wake_ >= 0) ::close(wake_);
}

Status DebugServer::start() {
  if (listener_ >= 0) return {};
  const size_t colon = address_.rfind(':');
  host_ = colon == std::string::npos ? std::string("127.0.0.1") : address_.substr(0, colon);
  port_ = std::atoi(address_.substr(colon == std::string::npos ? 0 : colon + 1).c_str());
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(static_cast<uint16_t>(port_));
  if (port_ <= 0 || port_ > 65535 || ::inet_pton(AF_INET, host_.c_str(), &addr.sin_addr) != 1) {
    return Status::failure("the debug server address must be IPv4-ADDRESS:PORT, got '" + address_ +
                           "'");
  }
  listener_ = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  const int on = 1;
  ::setsockopt(listener_, SOL_SOCKET, SO_REUSEADDR, &on, sizeof on);
  if (::bind(listener_, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0 ||
      ::listen(listener_, 8) != 0) {
    const std::string why = std::strerror(errno);
    ::close(listener_);
    listener_ = -1;
    return Status::failure("the debug server cannot listen on " + address_ + ": " + why);
  }
  wake_ = ::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
  thread_ = std::thread([this] { serve(); });
  spdlog::info("debug server for TFUNCTION LOAD DEBUG listening on {}", address_);
  return {};
}

bool DebugServer::attach(LibraryDebugger* debugger) {
  std::lock_guard lock(mutex_);
  if (debugger_ != nullptr && debugger_->name() != debugger->name()) return false;
  debugger_ = debugger;
  return true;
}

void DebugServer::detach(LibraryDebugger* debugger) {
  std::lock_guard lock(mutex_);
  if (debugger_ == debugger) debugger_ = nullptr;
}

void DebugServer::send(std::string message) {
  {
    std::lock_guard lock(mutex_);
    outbox_ += io::websocketFrame(message);
  }
  const uint64_t one = 1;
  (void)::write(wake_, &one, sizeof one);
}

void DebugServer::closeSocket() {
  if (socket_ < 0) return;
  ::close(socket_);
  socket_ = -1;
  std::lock_guard lock(mutex_);
  outbox_.clear();
  if (debugger_ != nullptr) debugger_->disconnected();
}

void DebugServer::serve() {
  io::WebSocketReader reader;
  while (true) {
    pollfd fds[3] = {{listener_, POLLIN, 0}, {wake_, POLLIN, 0}, {socket_, POLLIN, 0}};
    ::poll(fds, socket_ >= 0 ? 3 : 2, -1);
    std::string frames;
    {
      std::lock_guard lock(mutex_);
      if (stopping_) return;
      frames.swap(outbox_);
    }
    if ((fds[1].revents & POLLIN) != 0) {
      uint64_t ignored;
      (void)::read(wake_, &ignored, sizeof ignored);
    }
    if (socket_ >= 0 && !frames.empty()) writeAll(socket_, frames);
    if (socket_ >= 0 && (fds[2].revents & (POLLIN | POLLHUP | POLLERR)) != 0) {
      char buffer[65536];
      const ssize_t n = ::recv(socket_, buffer, sizeof buffer, 0);
      std::vector<std::string> messages;
      std::string replies;
      const bool open = n > 0 && reader.feed({buffer, static_cast<size_t>(n)}, &messages, &replies);
      if (!replies.empty()) writeAll(socket_, replies);
      {
        std::lock_guard lock(mutex_);
        for (std::string& m : messages) {
          if (debugger_ != nullptr) debugger_->received(std::move(m));
        }
      }
      if (!open && !(n < 0 && errno == EINTR)) {
        closeSocket();
        reader = io::WebSocketReader();
      }
    }
    if ((fds[0].revents & POLLIN) != 0) {
      const int fd = ::accept4(listener_, nullptr, nullptr, SOCK_CLOEXEC);
      if (fd >= 0) handle(fd);
    }
  }
}

void DebugServer::handle(int fd) {
  // Read the request head (a local debugger's: small and prompt).
  std::string head;
  char buffer[4096];
  while (head.find("\r\n\r\n") == std::string::npos && head.size() < 16384) {
    pollfd p{fd, POLLIN, 0};
    if (::poll(&p, 1, kRequestTimeoutMs) <= 0) break;
    const ssize_t n = ::recv(fd, buffer, sizeof buffer, 0);
    if (n <= 0) break;
    head.append(buffer, static_cast<size_t>(n));
  }
  io::HttpRequest request;
  const bool parsed = io::parseHttpHead(head, &request);
  const std::string& path = request.path;
  const std::string key = parsed ? request.headers["sec-websocket-key"] : std::string();
  auto respond = [fd](int status, const char* type, std::string body) {
    writeAll(fd, io::HttpResponse{status, type, std::move(body), {}}.serialize(false));
  };
  std::string name;
  {
    std::lock_guard lock(mutex_);
    if (debugger_ != nullptr) name = debugger_->name();
  }
  const std::string target = host_ + ":" + std::to_string(port_) + "/" + name;
  if (path == "/json" || path == "/json/list") {
    std::string body = "[]";
    if (!name.empty()) {
      body = "[{\"description\":\"tfproxy library\",\"id\":\"" + name + "\",\"title\":\"" + name +
             "\",\"type\":\"node\",\"url\":\"" + name +
             "\",\"devtoolsFrontendUrl\":\"devtools://devtools/bundled/js_app.html?experiments="
             "true&v8only=true&ws=" +
             target + "\",\"webSocketDebuggerUrl\":\"ws://" + target + "\"}]";
    }
    respond(200, "application/json", body);
  } else if (path == "/json/version") {
    respond(200, "application/json", "{\"Browser\":\"tfproxy\",\"Protocol-Version\":\"1.3\"}");
  } else if (!name.empty() && path == "/" + name && !key.empty()) {
    if (socket_ >= 0) {
      respond(409, "text/plain", "a debugger is connected already\n");
    } else {
      writeAll(fd,
               "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n"
               "Connection: Upgrade\r\nSec-WebSocket-Accept: " +
                   io::websocketAccept(key) + "\r\n\r\n");
      socket_ = fd;
      std::lock_guard lock(mutex_);
      if (debugger_ != nullptr) debugger_->connected();
      return;
    }
  } else {
    respond(404, "text/plain", "GET /json/list, or the WebSocket of the library debugged\n");
  }
  ::close(fd);
}

}  // namespace tfproxy::scripting
