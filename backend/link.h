// The proxy's view of its backend: where it is, whether it is reachable, and how to open a
// forwarding connection to it. While the backend is unreachable, a probe retries with backoff
// (100 ms doubling to 5 s) and logs the outage once and the recovery once; sessions meanwhile
// answer errors at once instead of waiting on connects that will fail.
#pragma once

#include <atomic>
#include <chrono>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include <sys/socket.h>

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/steady_timer.hpp>

#include "config/options.h"

namespace tfproxy::backend {

// A resolved backend address, for connects made without Asio.
struct SocketAddress {
  sockaddr_storage storage;
  socklen_t length;
};

class BackendLink {
 public:
  // `probe_context` runs the probe timer; it must outlive the link.
  BackendLink(boost::asio::io_context& probe_context, config::Endpoint endpoint,
              std::chrono::milliseconds connect_timeout);
  ~BackendLink();

  // Resolves the backend's name and checks reachability (blocking, before serving), then keeps
  // probing in the background while it is down. Returns false if it is unreachable now.
  bool start();
  void stop();

  const config::Endpoint& endpoint() const { return endpoint_; }
  bool up() const { return up_.load(std::memory_order_relaxed); }
  // Reason of the last failure, for error replies ("Connection refused").
  std::string lastError() const;

  // Where to connect (resolved by the probe, so connecting never waits for DNS) and how long a
  // connect may take.
  std::vector<SocketAddress> addresses() const;
  std::chrono::milliseconds connectTimeout() const { return connect_timeout_; }

  // Outcome of a connect made elsewhere: a failure marks the backend down (logged once, probed
  // with backoff); a success after an outage marks it up.
  void markDown(const std::string& reason);
  void markUp();

 private:
  using ConnectHandler = std::function<void(const boost::system::error_code&)>;
  void asyncConnect(boost::asio::ip::tcp::socket& socket, ConnectHandler handler);

  void scheduleProbe();
  void probe();

  boost::asio::io_context& probe_context_;
  config::Endpoint endpoint_;
  std::chrono::milliseconds connect_timeout_;
  std::atomic<bool> up_{true};
  std::atomic<bool> probing_{false};
  std::atomic<bool> stopped_{false};
  mutable std::mutex mutex_;
  std::string last_error_;
  boost::asio::ip::tcp::resolver::results_type resolved_;  // guarded by mutex_
  std::chrono::milliseconds backoff_{100};
  boost::asio::steady_timer probe_timer_;
  std::shared_ptr<boost::asio::ip::tcp::socket> probe_socket_;
};

}  // namespace tfproxy::backend
