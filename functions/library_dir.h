// --library-dir DIR: every `*.js` file in DIR is a library, loaded at start and followed while
// tfproxy runs (inotify, and a rescan every few seconds for filesystems that send no events): a
// new or changed file is loaded with REPLACE, a removed file deletes its library. A file that
// fails to load is logged with the error and its place, shown on the admin page, and the
// library's previous version stays active. This is how libraries are deployed from Kubernetes
// ConfigMaps (a symlinked `..data` folder swapped at once) or a Git checkout.
//
// Threads: start() scans on the caller's thread; then a thread of its own waits for events.
// files() may be called from any thread.
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "base/status.h"

namespace tfproxy::functions {

class LibraryDir {
 public:
  // What loading means: TFUNCTION LOAD REPLACE and TFUNCTION DELETE, stored (TfCommands); the
  // code of a loaded library by name (nullopt when none), to skip loading what already runs.
  struct Actions {
    std::function<void(std::string code, std::function<void(Status)> done)> load;
    std::function<void(std::string name, std::function<void(Status)> done)> remove;
    std::function<std::optional<std::string>(const std::string& name)> loaded_code;
  };
  // One file's state, for the admin page.
  struct File {
    std::string path;
    std::string library;    // the library it loaded ("" if it never did)
    std::string error;      // why its last version did not load ("" if it did)
    int64_t loaded_at = 0;  // Unix time of its last successful load
  };

  LibraryDir(std::string dir, Actions actions);
  ~LibraryDir();
  LibraryDir(const LibraryDir&) = delete;
  LibraryDir& operator=(const LibraryDir&) = delete;

  // Loads the folder's libraries (blocking), then follows the folder. False with `error` set
  // when the folder cannot be read or watched.
  bool start(std::string* error);
  void stop();

  std::vector<File> files() const;
  const std::string& dir() const { return dir_; }

 private:
  struct Known {
    File file;
    size_t hash = 0;  // of the content last tried (a failed version is not retried)
    bool tried = false;
  };
  // Compares the folder with what was loaded and acts on the differences.
  void rescan();
  // Loads one file's content; records the outcome.
  void loadFile(const std::string& path, const std::string& code, size_t hash);
  void watch();

  const std::string dir_;
  const Actions actions_;
  int inotify_ = -1;
  int wake_ = -1;  // eventfd: stop()
  std::thread thread_;
  std::atomic<bool> stopping_{false};
  mutable std::mutex mutex_;
  std::map<std::string, Known> known_;  // by path; mutex_ for files(), else the scanning thread
};

}  // namespace tfproxy::functions
