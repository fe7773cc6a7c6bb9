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

#include <boost/asio/generic/stream_protocol.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>

#include "config/options.h"
#include "io/socket_address.h"

namespace tfproxy::backend {

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
  std::vector<io::SocketAddress> addresses() const;
  std::chrono::milliseconds connectTimeout() const { return connect_timeout_; }

  // Outcome of a connect made elsewhere: a failure marks the backend down (logged once, probed
  // with backoff); a success after an outage marks it up.
  void markDown(const std::string& reason);
  void markUp();

 private:
  using Socket = boost::asio::generic::stream_protocol::socket;
  using ConnectHandler = std::function<void(const boost::system::error_code&)>;
  void asyncConnect(Socket& socket, ConnectHandler handler);
  // Resolves the endpoint into resolved_ (blocking); false, marked down, if it does not.
  bool resolveNow();

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
  std::vector<io::SocketAddress> resolved_;  // guarded by mutex_
  std::chrono::milliseconds backoff_{100};
  boost::asio::steady_timer probe_timer_;
  std::shared_ptr<Socket> probe_socket_;
};

}  // namespace tfproxy::backend
