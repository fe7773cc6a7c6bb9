// TLS settings made into OpenSSL contexts: one for the client listener, one for the backend
// connections. Certificates and keys are read when the context is made and again by reload()
// (SIGHUP); a connection keeps the context it began with, so a reload drops nobody.
#pragma once

#include <memory>
#include <mutex>
#include <string>

#include "config/options.h"

struct ssl_st;
struct ssl_ctx_st;

namespace tfproxy::io {

class TlsContext {
 public:
  // The client listener's context; nullptr with `error` set when a file cannot be used.
  static std::shared_ptr<TlsContext> forServer(const config::TlsServerOptions& options,
                                               std::string* error);
  // The backend connections' context for a backend reached at `host` (the name checked against
  // its certificate unless options.server_name says otherwise).
  static std::shared_ptr<TlsContext> forClient(const config::TlsClientOptions& options,
                                               const std::string& host, std::string* error);
  ~TlsContext();
  TlsContext(const TlsContext&) = delete;
  TlsContext& operator=(const TlsContext&) = delete;

  // Reads the certificates and keys again; on failure the context in use stays and `error`
  // says why.
  bool reload(std::string* error);
  // A new connection's TLS state, set up to accept (server) or to connect and verify (client),
  // for a Stream to put over its socket; nullptr with `error` set on failure.
  ssl_st* newConnection(std::string* error) const;

 private:
  TlsContext(bool server, config::TlsServerOptions server_options,
             config::TlsClientOptions client_options, std::string peer_name);
  // A new OpenSSL context from the files; nullptr with `error` set.
  std::shared_ptr<ssl_ctx_st> build(std::string* error) const;

  const bool server_;
  const config::TlsServerOptions server_options_;
  const config::TlsClientOptions client_options_;
  const std::string peer_name_;
  mutable std::mutex mutex_;
  std::shared_ptr<ssl_ctx_st> ctx_;  // mutex_
};

// What went wrong in the last OpenSSL call on this thread, as one line (the error queue, and
// `ssl`'s certificate verification result when that failed), clearing the queue. `ssl` may be
// null.
std::string tlsFailure(const ssl_st* ssl);

}  // namespace tfproxy::io
