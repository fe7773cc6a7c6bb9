#include "io/tls.h"

#include <arpa/inet.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>

#include <sstream>

namespace tfproxy::io {
namespace {

// An OpenSSL context behind a shared_ptr: connections hold their own reference (SSL_new), so the
// last owner frees it whenever that is.
std::shared_ptr<SSL_CTX> adopt(SSL_CTX* ctx) { return {ctx, SSL_CTX_free}; }

bool isIpAddress(const std::string& host) {
  unsigned char buf[sizeof(in6_addr)];
  return ::inet_pton(AF_INET, host.c_str(), buf) == 1 ||
         ::inet_pton(AF_INET6, host.c_str(), buf) == 1;
}

// "TLSv1.2 TLSv1.3" -> the lowest and highest version allowed; false for an unknown word.
bool protocolRange(const std::string& list, int* min, int* max) {
  std::istringstream words(list);
  std::string word;
  *min = 0;
  *max = 0;
  while (words >> word) {
    int version = word == "TLSv1.2" ? TLS1_2_VERSION : word == "TLSv1.3" ? TLS1_3_VERSION : 0;
    if (version == 0) return false;
    if (*min == 0 || version < *min) *min = version;
    if (version > *max) *max = version;
  }
  if (*min == 0) {
    *min = TLS1_2_VERSION;
    *max = 0;  // the newest OpenSSL knows
  }
  return true;
}

// Settings every context of tfproxy shares: writes that may be partial and may resume from a
// buffer that has moved (output strings grow and reallocate), buffers released while idle, a
// peer closing the TCP connection without close_notify read as an ordinary close (as Redis),
// no renegotiation (TLS 1.2's costly handshake on a peer's demand), and reads ahead.
void commonSettings(SSL_CTX* ctx) {
  SSL_CTX_set_mode(ctx, SSL_MODE_ENABLE_PARTIAL_WRITE | SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER |
                            SSL_MODE_RELEASE_BUFFERS);
  SSL_CTX_set_options(
      ctx, SSL_OP_NO_COMPRESSION | SSL_OP_IGNORE_UNEXPECTED_EOF | SSL_OP_NO_RENEGOTIATION);
  // One recv() takes whatever the socket holds, rather than a record header and then its body.
  SSL_CTX_set_read_ahead(ctx, 1);
}

bool loadCaLocations(SSL_CTX* ctx, const std::string& file, const std::string& dir,
                     std::string* error) {
  if (SSL_CTX_load_verify_locations(ctx, file.empty() ? nullptr : file.c_str(),
                                    dir.empty() ? nullptr : dir.c_str()) != 1) {
    *error = "cannot load CA certificates from " + (file.empty() ? dir : file) + ": " +
             tlsFailure(nullptr);
    return false;
  }
  return true;
}

bool loadKeyPair(SSL_CTX* ctx, const std::string& cert, const std::string& key,
                 std::string* error) {
  if (SSL_CTX_use_certificate_chain_file(ctx, cert.c_str()) != 1) {
    *error = "cannot load certificate " + cert + ": " + tlsFailure(nullptr);
    return false;
  }
  if (SSL_CTX_use_PrivateKey_file(ctx, key.c_str(), SSL_FILETYPE_PEM) != 1) {
    *error = "cannot load private key " + key + ": " + tlsFailure(nullptr);
    return false;
  }
  if (SSL_CTX_check_private_key(ctx) != 1) {
    *error = "private key " + key + " does not match certificate " + cert;
    ERR_clear_error();
    return false;
  }
  return true;
}

}  // namespace

std::string tlsFailure(const ssl_st* ssl) {
  std::string out;
  if (ssl != nullptr) {
    const long verify = SSL_get_verify_result(ssl);
    if (verify != X509_V_OK) {
      out = std::string("certificate verify failed: ") + X509_verify_cert_error_string(verify);
    }
  }
  while (unsigned long code = ERR_get_error()) {
    if (!out.empty()) {
      // The verification result already says why the handshake failed.
      if (ERR_GET_REASON(code) == SSL_R_CERTIFICATE_VERIFY_FAILED) continue;
      out += "; ";
    }
    char text[256];
    ERR_error_string_n(code, text, sizeof text);
    out += text;
  }
  return out.empty() ? "TLS failure" : out;
}

TlsContext::TlsContext(bool server, config::TlsServerOptions server_options,
                       config::TlsClientOptions client_options, std::string peer_name)
    : server_(server),
      server_options_(std::move(server_options)),
      client_options_(std::move(client_options)),
      peer_name_(std::move(peer_name)) {}

TlsContext::~TlsContext() = default;

std::shared_ptr<TlsContext> TlsContext::forServer(const config::TlsServerOptions& options,
                                                  std::string* error) {
  std::shared_ptr<TlsContext> context(new TlsContext(true, options, {}, {}));
  if (!context->reload(error)) return nullptr;
  return context;
}

std::shared_ptr<TlsContext> TlsContext::forClient(const config::TlsClientOptions& options,
                                                  const std::string& host, std::string* error) {
  std::shared_ptr<TlsContext> context(
      new TlsContext(false, {}, options, options.server_name.empty() ? host : options.server_name));
  if (!context->reload(error)) return nullptr;
  return context;
}

bool TlsContext::reload(std::string* error) {
  std::shared_ptr<SSL_CTX> fresh = build(error);
  if (!fresh) return false;
  std::lock_guard lock(mutex_);
  ctx_ = std::move(fresh);
  return true;
}

std::shared_ptr<SSL_CTX> TlsContext::build(std::string* error) const {
  ERR_clear_error();
  if (server_) {
    const config::TlsServerOptions& o = server_options_;
    auto ctx = adopt(SSL_CTX_new(TLS_server_method()));
    if (!ctx) {
      *error = tlsFailure(nullptr);
      return nullptr;
    }
    commonSettings(ctx.get());
    int min = 0, max = 0;
    if (!protocolRange(o.protocols, &min, &max)) {
      *error = "--tls-protocols: expects TLSv1.2 and/or TLSv1.3, got '" + o.protocols + "'";
      return nullptr;
    }
    SSL_CTX_set_min_proto_version(ctx.get(), min);
    SSL_CTX_set_max_proto_version(ctx.get(), max);
    if (!o.ciphersuites.empty() &&
        SSL_CTX_set_ciphersuites(ctx.get(), o.ciphersuites.c_str()) != 1) {
      *error = "--tls-ciphersuites: no usable suite in '" + o.ciphersuites + "'";
      ERR_clear_error();
      return nullptr;
    }
    if (!o.ciphers.empty() && SSL_CTX_set_cipher_list(ctx.get(), o.ciphers.c_str()) != 1) {
      *error = "--tls-ciphers: no usable cipher in '" + o.ciphers + "'";
      ERR_clear_error();
      return nullptr;
    }
    if (!loadKeyPair(ctx.get(), o.cert_file, o.key_file, error)) return nullptr;
    if (!o.ca_cert_file.empty() || !o.ca_cert_dir.empty()) {
      if (!loadCaLocations(ctx.get(), o.ca_cert_file, o.ca_cert_dir, error)) return nullptr;
    }
    using Auth = config::TlsServerOptions::AuthClients;
    const int verify = o.auth_clients == Auth::kYes
                           ? SSL_VERIFY_PEER | SSL_VERIFY_FAIL_IF_NO_PEER_CERT
                       : o.auth_clients == Auth::kOptional ? SSL_VERIFY_PEER
                                                           : SSL_VERIFY_NONE;
    SSL_CTX_set_verify(ctx.get(), verify, nullptr);
    // Resumed sessions must carry the verified client certificate's context.
    static const unsigned char kSessionContext[] = "tfproxy";
    SSL_CTX_set_session_id_context(ctx.get(), kSessionContext, sizeof kSessionContext - 1);
    return ctx;
  }
  const config::TlsClientOptions& o = client_options_;
  auto ctx = adopt(SSL_CTX_new(TLS_client_method()));
  if (!ctx) {
    *error = tlsFailure(nullptr);
    return nullptr;
  }
  commonSettings(ctx.get());
  SSL_CTX_set_min_proto_version(ctx.get(), TLS1_2_VERSION);
  if (o.ca_cert_file.empty() && o.ca_cert_dir.empty()) {
    if (SSL_CTX_set_default_verify_paths(ctx.get()) != 1) {
      *error = "cannot load the system's CA certificates: " + tlsFailure(nullptr);
      return nullptr;
    }
  } else if (!loadCaLocations(ctx.get(), o.ca_cert_file, o.ca_cert_dir, error)) {
    return nullptr;
  }
  if (!o.cert_file.empty() && !loadKeyPair(ctx.get(), o.cert_file, o.key_file, error)) {
    return nullptr;
  }
  SSL_CTX_set_verify(ctx.get(), o.insecure ? SSL_VERIFY_NONE : SSL_VERIFY_PEER, nullptr);
  return ctx;
}

ssl_st* TlsContext::newConnection(std::string* error) const {
  std::shared_ptr<SSL_CTX> ctx;
  {
    std::lock_guard lock(mutex_);
    ctx = ctx_;
  }
  ERR_clear_error();
  SSL* ssl = SSL_new(ctx.get());
  if (ssl == nullptr) {
    *error = tlsFailure(nullptr);
    SSL_free(ssl);
    return nullptr;
  }
  if (server_) {
    SSL_set_accept_state(ssl);
    return ssl;
  }
  SSL_set_connect_state(ssl);
  if (!peer_name_.empty()) {
    const bool ip = isIpAddress(peer_name_);
    // SNI carries host names only; an address is checked against the certificate's IP entries.
    if (!ip) SSL_set_tlsext_host_name(ssl, peer_name_.c_str());
    if (!client_options_.insecure) {
      X509_VERIFY_PARAM* param = SSL_get0_param(ssl);
      const int ok = ip ? X509_VERIFY_PARAM_set1_ip_asc(param, peer_name_.c_str())
                        : X509_VERIFY_PARAM_set1_host(param, peer_name_.c_str(), 0);
      if (ok != 1) {
        *error = "cannot check the backend's certificate against '" + peer_name_ + "'";
        SSL_free(ssl);
        ERR_clear_error();
        return nullptr;
      }
    }
  }
  return ssl;
}

}  // namespace tfproxy::io
