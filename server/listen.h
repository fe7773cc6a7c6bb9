// Opening a listening TCP socket on the main context: the client listeners and the health
// endpoint bind the same way and fail with the same texts.
#pragma once

#include <cstdint>
#include <string>

#include <boost/asio/ip/tcp.hpp>

namespace tfproxy::server {

// Opens `acceptor` on `bind`:`port` (address reuse on, the system's longest backlog). Returns
// the port bound, or 0 with `error` set ("invalid --bind address ...", "cannot listen on ...").
uint16_t listenOn(boost::asio::ip::tcp::acceptor& acceptor, const std::string& bind, uint16_t port,
                  std::string* error);

}  // namespace tfproxy::server
