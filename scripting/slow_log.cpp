#include "scripting/slow_log.h"

namespace tfproxy::scripting {
namespace {

// As Redis' slow log: at most 32 arguments (the last saying how many more there were), each at
// most 128 bytes (saying how many more bytes it had).
constexpr size_t kMaxArgs = 32;
constexpr size_t kMaxArgBytes = 128;

std::vector<std::string> cut(std::vector<std::string> args) {
  if (args.size() > kMaxArgs) {
    const size_t more = args.size() - kMaxArgs + 1;
    args.resize(kMaxArgs - 1);
    args.push_back("... (" + std::to_string(more) + " more arguments)");
  }
  for (std::string& a : args) {
    if (a.size() > kMaxArgBytes) {
      const size_t more = a.size() - kMaxArgBytes;
      a.resize(kMaxArgBytes);
      a += "... (" + std::to_string(more) + " more bytes)";
    }
  }
  return args;
}

}  // namespace

void SlowLog::configure(int64_t slower_than_us, size_t max_len) {
  slower_than_us_.store(slower_than_us, std::memory_order_relaxed);
  std::lock_guard lock(mutex_);
  max_len_ = max_len;
  while (entries_.size() > max_len_) entries_.pop_back();
}

void SlowLog::add(std::chrono::nanoseconds took, std::vector<std::string> args, std::string client,
                  std::string name) {
  Entry entry;
  entry.unix_time = std::chrono::duration_cast<std::chrono::seconds>(
                        std::chrono::system_clock::now().time_since_epoch())
                        .count();
  entry.micros = std::chrono::duration_cast<std::chrono::microseconds>(took).count();
  entry.args = cut(std::move(args));
  entry.client = std::move(client);
  entry.name = std::move(name);
  std::lock_guard lock(mutex_);
  if (max_len_ == 0) return;
  entry.id = next_id_++;
  entries_.push_front(std::move(entry));
  while (entries_.size() > max_len_) entries_.pop_back();
}

std::vector<SlowLog::Entry> SlowLog::get(int64_t count) const {
  std::lock_guard lock(mutex_);
  const size_t n =
      count < 0 ? entries_.size() : std::min(entries_.size(), static_cast<size_t>(count));
  return {entries_.begin(), entries_.begin() + static_cast<std::ptrdiff_t>(n)};
}

size_t SlowLog::length() const {
  std::lock_guard lock(mutex_);
  return entries_.size();
}

void SlowLog::reset() {
  std::lock_guard lock(mutex_);
  entries_.clear();
}

}  // namespace tfproxy::scripting
