#include "config/gears.h"

#include <cctype>
#include <limits>

#include "config/errors.h"
#include "config/glob.h"
#include "config/units.h"
#include "resp/number.h"

namespace tfproxy::config {
namespace {

enum class Kind { kInt, kMemory, kEnum, kBool, kString };

struct OptionSpec {
  const char* name;
  Kind kind;
  int64_t min;
  int64_t max;
  bool runtime;
};

constexpr int64_t kMb = 1024 * 1024;
const OptionSpec kOptions[] = {
    {"execution-threads", Kind::kInt, 1, 32, false},
    {"library-fatal-failure-policy", Kind::kEnum, 0, 0, true},
    {"lock-redis-timeout", Kind::kInt, 100, 1000000000, true},
    {"db-loading-lock-redis-timeout", Kind::kInt, 100, 1000000000, true},
    {"remote-task-default-timeout", Kind::kInt, 1, std::numeric_limits<int64_t>::max(), true},
    {"error-verbosity", Kind::kInt, 1, 2, true},
    {"v8-maxmemory", Kind::kMemory, 50 * kMb, 1024 * kMb, false},
    {"v8-library-initial-memory-usage", Kind::kMemory, 1 * kMb, 10 * kMb, false},
    {"v8-library-initial-memory-limit", Kind::kMemory, 2 * kMb, 20 * kMb, false},
    {"v8-library-memory-usage-delta", Kind::kMemory, 1 * kMb, 10 * kMb, false},
    {"v8-flags", Kind::kString, 0, 0, false},
    {"v8-plugin-path", Kind::kString, 0, 0, false},
    {"v8-debug-server-address", Kind::kString, 0, 0, false},
    {"enable-debug-command", Kind::kBool, 0, 0, false},
    {"gearsbox-address", Kind::kString, 0, 0, true},
};

std::string lower(std::string_view s) {
  std::string out(s);
  for (char& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

const OptionSpec* findOption(std::string_view full_name) {
  std::string name = lower(full_name);
  if (name.rfind(GearsConfig::kPrefix, 0) != 0) return nullptr;
  std::string_view shortname = std::string_view(name).substr(GearsConfig::kPrefix.size());
  for (const OptionSpec& o : kOptions) {
    if (shortname == o.name) return &o;
  }
  return nullptr;
}

Status failed(std::string_view given_name, std::string_view reason) {
  return Status::failure(errors::configSetFailed(given_name, reason));
}

}  // namespace

Status validateStartup(const GearsSettings& s) {
  if (s.v8_library_initial_memory_usage > s.v8_maxmemory) {
    return Status::failure(errors::kInitialUsageOverMax);
  }
  if (s.v8_library_initial_memory_limit > s.v8_maxmemory) {
    return Status::failure(errors::kInitialLimitOverMax);
  }
  if (s.v8_library_memory_usage_delta > s.v8_maxmemory) {
    return Status::failure(errors::kDeltaOverMax);
  }
  if (s.v8_library_initial_memory_usage > s.v8_library_initial_memory_limit) {
    return Status::failure(errors::kInitialUsageOverLimit);
  }
  if (s.db_loading_lock_redis_timeout < s.lock_redis_timeout) {
    return Status::failure(errors::kLoadingTimeoutBelowLock);
  }
  return {};
}

std::string effectiveV8Flags(const std::string& v8_flags) {
  if (v8_flags.size() >= 2 && v8_flags.front() == '\'' && v8_flags.back() == '\'') {
    return v8_flags.substr(1, v8_flags.size() - 2);
  }
  return v8_flags;
}

GearsConfig::GearsConfig(GearsSettings initial)
    : startup_(std::move(initial)),
      policy_(startup_.library_fatal_failure_policy),
      lock_timeout_(startup_.lock_redis_timeout),
      loading_timeout_(startup_.db_loading_lock_redis_timeout),
      remote_timeout_(startup_.remote_task_default_timeout),
      verbosity_(startup_.error_verbosity),
      gearsbox_address_(startup_.gearsbox_address) {}

bool GearsConfig::isOption(std::string_view full_name) { return findOption(full_name) != nullptr; }

bool GearsConfig::patternMatchesAny(std::string_view pattern) {
  for (const OptionSpec& o : kOptions) {
    if (globMatch(pattern, std::string(kPrefix) + o.name, true)) return true;
  }
  return false;
}

std::vector<std::pair<std::string, std::string>> GearsConfig::get(
    const std::vector<std::string>& patterns) const {
  std::vector<std::pair<std::string, std::string>> out;
  for (const OptionSpec& o : kOptions) {
    std::string full = std::string(kPrefix) + o.name;
    bool wanted = false;
    for (const std::string& p : patterns) wanted = wanted || globMatch(p, full, true);
    if (!wanted) continue;
    std::string_view n = o.name;
    std::string value;
    if (n == "execution-threads") value = std::to_string(startup_.execution_threads);
    if (n == "library-fatal-failure-policy") {
      value = policy() == FatalFailurePolicy::kAbort ? "Abort" : "Kill";
    }
    if (n == "lock-redis-timeout") value = std::to_string(lockTimeoutMs());
    if (n == "db-loading-lock-redis-timeout") value = std::to_string(loadingLockTimeoutMs());
    if (n == "remote-task-default-timeout") value = std::to_string(remoteTaskTimeoutMs());
    if (n == "error-verbosity") value = std::to_string(errorVerbosity());
    if (n == "v8-maxmemory") value = std::to_string(startup_.v8_maxmemory);
    if (n == "v8-library-initial-memory-usage") {
      value = std::to_string(startup_.v8_library_initial_memory_usage);
    }
    if (n == "v8-library-initial-memory-limit") {
      value = std::to_string(startup_.v8_library_initial_memory_limit);
    }
    if (n == "v8-library-memory-usage-delta") {
      value = std::to_string(startup_.v8_library_memory_usage_delta);
    }
    if (n == "v8-flags") value = startup_.v8_flags;
    if (n == "v8-plugin-path") value = startup_.v8_plugin_path;
    if (n == "v8-debug-server-address") value = startup_.v8_debug_server_address;
    if (n == "enable-debug-command") value = startup_.enable_debug_command ? "yes" : "no";
    if (n == "gearsbox-address") {
      std::lock_guard lock(mutex_);
      value = gearsbox_address_;
    }
    out.emplace_back(std::move(full), std::move(value));
  }
  return out;
}

Status GearsConfig::set(const std::vector<std::pair<std::string, std::string>>& pairs,
                        bool dry_run) {
  struct Parsed {
    const OptionSpec* spec = nullptr;
    int64_t number = 0;
    std::string text;
  };
  std::vector<Parsed> parsed;
  for (const auto& [given, value] : pairs) {
    const OptionSpec* spec = findOption(given);
    if (spec == nullptr) {
      return Status::failure(errors::unknownOption(given));
    }
    for (const Parsed& p : parsed) {
      if (p.spec == spec) return failed(given, errors::kDuplicateParameter);
    }
    if (!spec->runtime) return failed(given, errors::kImmutable);
    Parsed p;
    p.spec = spec;
    switch (spec->kind) {
      case Kind::kInt: {
        auto n = resp::parseInt64(value);
        if (!n) return failed(given, errors::kNotInteger);
        if (*n < spec->min || *n > spec->max) {
          return failed(given, errors::outOfRange(spec->min, spec->max));
        }
        p.number = *n;
        break;
      }
      case Kind::kMemory: {
        auto n = parseMemory(value);
        if (!n) return failed(given, errors::kNotMemory);
        p.number = static_cast<int64_t>(*n);
        break;
      }
      case Kind::kEnum: {
        std::string v = lower(value);
        if (v != "abort" && v != "kill") {
          return failed(given, errors::kNotPolicy);
        }
        p.number = v == "abort" ? 0 : 1;
        break;
      }
      case Kind::kBool: {
        std::string v = lower(value);
        if (v != "yes" && v != "no") return failed(given, errors::kNotYesNo);
        p.number = v == "yes";
        break;
      }
      case Kind::kString:
        p.text = value;
        break;
    }
    parsed.push_back(std::move(p));
  }
  // The timeouts depend on each other: check with the values this command would leave.
  int64_t lock = lockTimeoutMs();
  int64_t loading = loadingLockTimeoutMs();
  bool loading_given = false;
  std::string loading_name;
  for (size_t i = 0; i < parsed.size(); ++i) {
    std::string_view n = parsed[i].spec->name;
    if (n == "lock-redis-timeout") lock = parsed[i].number;
    if (n == "db-loading-lock-redis-timeout") {
      loading = parsed[i].number;
      loading_given = true;
      loading_name = pairs[i].first;
    }
  }
  if (loading_given && loading < lock) {
    return failed(loading_name, errors::kLoadingTimeoutBelowLock);
  }
  if (dry_run) return {};
  for (const Parsed& p : parsed) {
    std::string_view n = p.spec->name;
    if (n == "library-fatal-failure-policy") {
      policy_ = p.number == 0 ? FatalFailurePolicy::kAbort : FatalFailurePolicy::kKill;
    } else if (n == "lock-redis-timeout") {
      lock_timeout_ = p.number;
      // Raising the lock timeout raises the loading one with it.
      if (loadingLockTimeoutMs() < p.number) loading_timeout_ = p.number;
    } else if (n == "db-loading-lock-redis-timeout") {
      loading_timeout_ = p.number;
    } else if (n == "remote-task-default-timeout") {
      remote_timeout_ = p.number;
    } else if (n == "error-verbosity") {
      verbosity_ = p.number;
    } else if (n == "gearsbox-address") {
      std::lock_guard lock_guard(mutex_);
      gearsbox_address_ = p.text;
    }
  }
  return {};
}

}  // namespace tfproxy::config
