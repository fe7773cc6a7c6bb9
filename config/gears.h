// The Triggers and Functions settings (spec §10): upstream names, defaults, ranges and
// runtime-settability, read as CLI flags/config file at start and through
// CONFIG GET/SET redisgears_2.<name> (and TCONFIG_GET/SET) at run time.
#pragma once

#include <atomic>
#include <cstdint>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "base/status.h"

namespace tfproxy::config {

enum class FatalFailurePolicy { kAbort, kKill };

// Start-up values, as parsed from flags or the config file.
struct GearsSettings {
  uint32_t execution_threads = 1;
  FatalFailurePolicy library_fatal_failure_policy = FatalFailurePolicy::kAbort;
  int64_t lock_redis_timeout = 500;               // ms
  int64_t db_loading_lock_redis_timeout = 30000;  // ms
  int64_t remote_task_default_timeout = 500;      // ms
  int64_t error_verbosity = 1;
  uint64_t v8_maxmemory = 200ull * 1024 * 1024;
  uint64_t v8_library_initial_memory_usage = 2ull * 1024 * 1024;
  uint64_t v8_library_initial_memory_limit = 3ull * 1024 * 1024;
  uint64_t v8_library_memory_usage_delta = 1ull * 1024 * 1024;
  std::string v8_flags = "'--noexpose-wasm'";
  std::string v8_plugin_path = "libredisgears_v8_plugin.so";
  std::string v8_debug_server_address;
  bool enable_debug_command = false;
  std::string gearsbox_address = "http://localhost:3000";
};

// Checks the start-up combination; returns the upstream message if it cannot be used.
Status validateStartup(const GearsSettings& s);

// V8 flags to pass to V8: v8-flags with one pair of surrounding single quotes removed.
std::string effectiveV8Flags(const std::string& v8_flags);

// The live settings, safe to read from any thread; CONFIG SET changes the runtime ones.
class GearsConfig {
 public:
  explicit GearsConfig(GearsSettings initial);

  FatalFailurePolicy policy() const { return policy_.load(std::memory_order_relaxed); }
  int64_t lockTimeoutMs() const { return lock_timeout_.load(std::memory_order_relaxed); }
  int64_t loadingLockTimeoutMs() const { return loading_timeout_.load(std::memory_order_relaxed); }
  int64_t remoteTaskTimeoutMs() const { return remote_timeout_.load(std::memory_order_relaxed); }
  int64_t errorVerbosity() const { return verbosity_.load(std::memory_order_relaxed); }
  // The immutable ones.
  const GearsSettings& startup() const { return startup_; }

  // CONFIG GET: every option whose full name (redisgears_2.<name>) matches one of `patterns`
  // (Redis glob, case-insensitive), as (full name, value) in table order, each at most once.
  std::vector<std::pair<std::string, std::string>> get(
      const std::vector<std::string>& patterns) const;

  // Is `full_name` (any case) one of ours? Does a CONFIG GET `pattern` match one of ours?
  static bool isOption(std::string_view full_name);
  static bool patternMatchesAny(std::string_view pattern);
  static constexpr std::string_view kPrefix = "redisgears_2.";

  // CONFIG SET of (full name, value) pairs, all or nothing: fails with the Redis-style error
  // text of the first invalid pair. With `dry_run` only validates.
  Status set(const std::vector<std::pair<std::string, std::string>>& pairs, bool dry_run = false);

 private:
  GearsSettings startup_;
  std::atomic<FatalFailurePolicy> policy_;
  std::atomic<int64_t> lock_timeout_;
  std::atomic<int64_t> loading_timeout_;
  std::atomic<int64_t> remote_timeout_;
  std::atomic<int64_t> verbosity_;
  mutable std::mutex mutex_;  // guards gearsbox_address_
  std::string gearsbox_address_;
};

}  // namespace tfproxy::config
