// A plain RESP client over a blocking socket, for integration tests: sends raw bytes or
// commands, reads whole replies (RESP2 or RESP3) and notices when the server closes.
#pragma once

#include <chrono>
#include <initializer_list>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "resp/framer.h"
#include "resp/value.h"

struct ssl_st;

namespace tfproxy::testing {

// How a client speaks TLS: the CA that must have signed the server's certificate, and the
// client's own certificate (empty: none).
struct ClientTls {
  std::string ca_file;
  std::string cert_file;
  std::string key_file;
};

class Client {
 public:
  explicit Client(uint16_t port, std::chrono::milliseconds timeout = std::chrono::seconds(10));
  // A TLS client; throws when the handshake fails (the reason in the message).
  Client(uint16_t port, const ClientTls& tls,
         std::chrono::milliseconds timeout = std::chrono::seconds(10));
  ~Client();
  Client(const Client&) = delete;
  Client& operator=(const Client&) = delete;

  void send(std::string_view bytes);
  void sendCommand(const std::vector<std::string>& args);
  // Reads the next reply; throws on timeout or a closed connection.
  resp::Value read();
  // The next reply's raw bytes.
  std::string readRaw();
  // Next reply if one arrives within `wait`.
  std::optional<resp::Value> tryRead(std::chrono::milliseconds wait);
  resp::Value call(const std::vector<std::string>& args);
  // Shorthand: call(args) and return the reply rendered by resp::toDebugString.
  std::string run(const std::vector<std::string>& args);
  // True if the server closes the connection within `wait` (bytes before the close are kept
  // for read()).
  bool closedByPeer(std::chrono::milliseconds wait = std::chrono::seconds(5));
  // The bytes received and not read as replies yet (for a peer that does not speak RESP).
  std::string takeReceived() { return std::exchange(in_, {}); }
  void setTimeout(std::chrono::milliseconds t) { timeout_ = t; }
  void close();
  // The subject of the server's certificate (TLS clients), as OpenSSL prints it one-line.
  std::string peerSubject() const;

 private:
  // Appends available bytes; returns false on EOF. Waits up to `wait` for data.
  bool fill(std::chrono::milliseconds wait);
  int fd_ = -1;
  ssl_st* ssl_ = nullptr;
  std::chrono::milliseconds timeout_;
  std::string in_;
  resp::ReplyFramer framer_;
  bool eof_ = false;
};

// Deletes every library the tfproxy behind `c` has loaded (a test's clean start).
void deleteLibraries(Client& c);

}  // namespace tfproxy::testing
