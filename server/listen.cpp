#include "server/listen.h"

namespace tfproxy::server {

namespace asio = boost::asio;
using tcp = asio::ip::tcp;

uint16_t listenOn(tcp::acceptor& acceptor, const std::string& bind, uint16_t port,
                  std::string* error) {
  boost::system::error_code ec;
  auto address = asio::ip::make_address(bind, ec);
  if (ec) {
    *error = "invalid --bind address '" + bind + "'";
    return 0;
  }
  tcp::endpoint endpoint(address, port);
  acceptor.open(endpoint.protocol(), ec);
  if (!ec) acceptor.set_option(tcp::acceptor::reuse_address(true), ec);
  if (!ec) acceptor.bind(endpoint, ec);
  if (!ec) acceptor.listen(asio::socket_base::max_listen_connections, ec);
  const uint16_t bound = ec ? 0 : acceptor.local_endpoint(ec).port();
  if (ec || bound == 0) {
    *error = "cannot listen on " + bind + ":" + std::to_string(port) + ": " + ec.message();
    return 0;
  }
  return bound;
}

}  // namespace tfproxy::server
