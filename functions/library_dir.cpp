#include "functions/library_dir.h"

#include <poll.h>
#include <spdlog/spdlog.h>
#include <sys/eventfd.h>
#include <sys/inotify.h>
#include <unistd.h>

#include <chrono>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <future>
#include <sstream>

#include "functions/errors.h"
#include "scripting/prologue.h"

namespace tfproxy::functions {
namespace {

namespace fs = std::filesystem;

// Events come in bursts (an editor's save, a ConfigMap's swap): the folder is scanned once they
// have been quiet this long.
constexpr int kSettleMs = 200;
// A scan without events, for filesystems that send none (network mounts, some overlays).
constexpr int kRescanMs = 5000;

// The outcome of an action that answers on another thread.
Status waitFor(const std::function<void(std::function<void(Status)>)>& action) {
  auto promise = std::make_shared<std::promise<Status>>();
  std::future<Status> outcome = promise->get_future();
  action([promise](Status s) { promise->set_value(std::move(s)); });
  return outcome.get();
}

// A failure of the backend rather than of the code: worth trying again at the next scan.
bool transient(const Status& s) { return s.message().rfind(errors::kPrefix, 0) == 0; }

int64_t unixNow() {
  return std::chrono::duration_cast<std::chrono::seconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

}  // namespace

LibraryDir::LibraryDir(std::string dir, Actions actions)
    : dir_(std::move(dir)), actions_(std::move(actions)) {}

LibraryDir::~LibraryDir() { stop(); }

bool LibraryDir::start(std::string* error) {
  std::error_code ec;
  if (!fs::is_directory(dir_, ec)) {
    *error = "--library-dir " + dir_ + " is not a readable folder";
    return false;
  }
  inotify_ = ::inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
  wake_ = ::eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
  if (inotify_ < 0 || wake_ < 0 ||
      ::inotify_add_watch(inotify_, dir_.c_str(),
                          IN_CLOSE_WRITE | IN_MOVED_TO | IN_MOVED_FROM | IN_CREATE | IN_DELETE |
                              IN_ATTRIB | IN_DELETE_SELF | IN_MOVE_SELF) < 0) {
    *error = "cannot watch --library-dir " + dir_ + ": " + std::strerror(errno);
    return false;
  }
  rescan();
  thread_ = std::thread([this] { watch(); });
  return true;
}

void LibraryDir::stop() {
  if (!stopping_.exchange(true) && wake_ >= 0) {
    const uint64_t one = 1;
    (void)::write(wake_, &one, sizeof one);
  }
  if (thread_.joinable()) thread_.join();
  if (inotify_ >= 0) ::close(inotify_);
  if (wake_ >= 0) ::close(wake_);
  inotify_ = wake_ = -1;
}

std::vector<LibraryDir::File> LibraryDir::files() const {
  std::lock_guard lock(mutex_);
  std::vector<File> out;
  for (const auto& [path, known] : known_) out.push_back(known.file);
  return out;
}

void LibraryDir::watch() {
  pollfd fds[2] = {{inotify_, POLLIN, 0}, {wake_, POLLIN, 0}};
  while (!stopping_) {
    const int ready = ::poll(fds, 2, kRescanMs);
    if (stopping_) return;
    if (ready > 0 && (fds[0].revents & POLLIN) != 0) {
      // Drain the burst until it has been quiet for a moment.
      alignas(inotify_event) char buffer[4096];
      do {
        while (::read(inotify_, buffer, sizeof buffer) > 0) {
        }
      } while (::poll(fds, 1, kSettleMs) > 0 && !stopping_);
    }
    if (!stopping_) rescan();
  }
}

void LibraryDir::rescan() {
  // The folder's *.js files (hidden ones, such as a ConfigMap's own entries, left out).
  std::map<std::string, std::string> present;
  std::error_code ec;
  for (fs::directory_iterator it(dir_, ec), end; !ec && it != end; it.increment(ec)) {
    const fs::path& path = it->path();
    const std::string name = path.filename().string();
    if (name.empty() || name[0] == '.' || path.extension() != ".js") continue;
    std::error_code type_ec;
    if (!fs::is_regular_file(path, type_ec)) continue;  // follows symlinks
    std::ifstream in(path, std::ios::binary);
    if (!in) continue;
    std::ostringstream code;
    code << in.rdbuf();
    present[path.string()] = code.str();
  }
  if (ec) {
    spdlog::warn("--library-dir {} cannot be read ({}); its libraries stay as they are", dir_,
                 ec.message());
    return;
  }
  for (const auto& [path, code] : present) {
    const size_t hash = std::hash<std::string>{}(code);
    auto it = known_.find(path);
    if (it != known_.end() && it->second.tried && it->second.hash == hash) continue;
    loadFile(path, code, hash);
  }
  // Removed files delete the libraries they loaded.
  std::vector<std::string> gone;
  for (const auto& [path, known] : known_) {
    if (present.count(path) == 0) gone.push_back(path);
  }
  for (const std::string& path : gone) {
    const std::string library = known_[path].file.library;
    if (!library.empty()) {
      const Status removed = waitFor([&](auto done) { actions_.remove(library, done); });
      if (!removed.ok()) {
        spdlog::error("--library-dir: {} was removed but library '{}' stays: {}", path, library,
                      removed.message());
        if (transient(removed)) continue;  // tried again at the next scan
      } else {
        spdlog::info("--library-dir: {} removed, library '{}' deleted", path, library);
      }
    }
    std::lock_guard lock(mutex_);
    known_.erase(path);
  }
}

void LibraryDir::loadFile(const std::string& path, const std::string& code, size_t hash) {
  Known known;
  if (auto it = known_.find(path); it != known_.end()) known = it->second;
  std::string prologue_error;
  const std::optional<scripting::Prologue> prologue =
      scripting::parsePrologue(code, &prologue_error);
  Status outcome;
  const std::string name = prologue ? prologue->name : std::string();
  // Another file holds that library already: loading this one would replace it.
  std::string owner;
  for (const auto& [other, k] : known_) {
    if (other != path && !name.empty() && k.file.library == name) owner = other;
  }
  if (!owner.empty()) {
    outcome = Status::failure("library '" + name + "' is already loaded from " + owner);
  } else if (prologue && actions_.loaded_code(name) == code) {
    outcome = {};  // already runs (restored from the backend, or loaded by another instance)
  } else {
    outcome = waitFor([&](auto done) { actions_.load(code, done); });
  }
  known.file.path = path;
  if (outcome.ok()) {
    // A file that now names another library deletes the one it loaded before.
    if (!known.file.library.empty() && known.file.library != name) {
      const std::string previous = known.file.library;
      const Status removed = waitFor([&](auto done) { actions_.remove(previous, done); });
      if (!removed.ok()) {
        spdlog::warn("--library-dir: {} now holds library '{}'; '{}' stays: {}", path, name,
                     previous, removed.message());
      }
    }
    spdlog::info("--library-dir: {} loaded library '{}'", path, name);
    known.file.library = name;
    known.file.error.clear();
    known.file.loaded_at = unixNow();
  } else {
    known.file.error = outcome.message();
    spdlog::error("--library-dir: {} not loaded{}: {}", path,
                  known.file.library.empty()
                      ? std::string()
                      : " (library '" + known.file.library + "' keeps its previous version)",
                  outcome.message());
  }
  // A failure of the backend is tried again at the next scan; one of the code when it changes.
  known.tried = outcome.ok() || !transient(outcome);
  known.hash = hash;
  std::lock_guard lock(mutex_);
  known_[path] = std::move(known);
}

}  // namespace tfproxy::functions
