// Client- and operator-visible texts of the config module.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

namespace tfproxy::config::errors {

inline constexpr char kBadEndpoint[] =
    "expects HOST:PORT with a port from 1 to 65535, unix:PATH to a Unix socket, or a URL: "
    "redis://[USER[:PASSWORD]@]HOST:PORT, rediss://... (TLS), unix://PATH";
inline constexpr char kBadBackendPath[] =
    "a backend URL may name database 0 only (tfproxy's own connections use it; clients SELECT "
    "their own)";
inline constexpr char kBadBackendCredentials[] =
    "the backend URL's user or password has a malformed %-escape";
inline constexpr char kNoListener[] =
    "--port 0 turns the plaintext listener off; give --tls-port so that clients can connect";
inline constexpr char kTlsNeedsCertificate[] =
    "--tls-port needs --tls-cert-file and --tls-key-file";
inline constexpr char kTlsNeedsCa[] =
    "--tls-auth-clients yes|optional needs --tls-ca-cert-file or --tls-ca-cert-dir to verify "
    "client certificates (or --tls-auth-clients no)";
inline constexpr char kBackendTlsOff[] =
    "--backend-tls-* options need TLS towards the backend: --backend-tls or a rediss:// backend";
inline constexpr char kDataDirWithBackend[] =
    "applies to the embedded redis-server only, not with --backend";
inline constexpr char kDataDirEphemeral[] = "--data-dir and --ephemeral exclude each other";
inline constexpr char kBackendTlsEmbedded[] =
    "TLS towards the backend needs --backend (the embedded redis-server is reached over a Unix "
    "socket)";
inline constexpr char kBackendTlsPair[] =
    "--backend-tls-cert-file and --backend-tls-key-file go together";
inline constexpr char kBadMemory[] = "expects a size such as 1048576, 512mb or 1gb";

// Triggers and Functions settings at start (upstream's module-load texts).
inline constexpr char kInitialUsageOverMax[] =
    "V8 library initial memory usage can not bypass the v8 max memory.";
inline constexpr char kInitialLimitOverMax[] =
    "V8 library initial memory limit can not bypass the v8 max memory.";
inline constexpr char kDeltaOverMax[] = "V8 library memory delta can not bypass the v8 max memory.";
inline constexpr char kInitialUsageOverLimit[] =
    "V8 library initial initial memory usage can not bypass the initial memory limit.";
inline constexpr char kLoadingTimeoutBelowLock[] =
    "The db-loading-lock-redis-timeout value can't be less than lock-redis-timeout value.";

// CONFIG SET of those settings, as Redis words its failures.
inline std::string configSetFailed(std::string_view given_name, std::string_view reason) {
  return "ERR CONFIG SET failed (possibly related to argument '" + std::string(given_name) +
         "') - " + std::string(reason);
}
inline std::string unknownOption(std::string_view given_name) {
  return "ERR Unknown option or number of arguments for CONFIG SET - '" + std::string(given_name) +
         "'";
}
inline constexpr char kDuplicateParameter[] = "duplicate parameter";
inline constexpr char kImmutable[] = "can't set immutable config";
inline constexpr char kNotInteger[] = "argument couldn't be parsed into an integer";
inline constexpr char kNotMemory[] = "argument must be a memory value";
inline constexpr char kNotPolicy[] = "argument(s) must be one of the following: Abort, Kill";
inline constexpr char kNotYesNo[] = "argument must be 'yes' or 'no'";
inline std::string outOfRange(int64_t min, int64_t max) {
  return "argument must be between " + std::to_string(min) + " and " + std::to_string(max) +
         " inclusive";
}

}  // namespace tfproxy::config::errors
