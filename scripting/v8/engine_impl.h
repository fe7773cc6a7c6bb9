// The V8 implementation of scripting::Engine.
#pragma once

#include <v8.h>

#include <atomic>
#include <chrono>
#include <map>
#include <memory>
#include <mutex>
#include <set>

#include "backend/command_table.h"
#include "scripting/engine.h"
#include "scripting/v8/executor.h"
#include "scripting/v8/watchdog.h"

namespace tfproxy::scripting {

class DebugServer;

class Library;
class Platform;

class EngineImpl : public Engine {
 public:
  EngineImpl(config::GearsConfig& config, Host& host);
  ~EngineImpl() override;

  // Engine
  void load(LoadRequest request, Persist persist, std::function<void(Status)> done) override;
  void remove(std::string name, Persist persist, std::function<void(Status)> done) override;
  void call(CallRequest request, std::function<void(std::string reply)> done) override;
  resp::Value list(const ListRequest& request) override;
  resp::Value debug(const std::vector<std::string>& args) override;
  std::unique_ptr<TriggerRun> lockTriggers(const std::vector<std::string>& keys) override;
  std::unique_ptr<TriggerRun> lockLibraries(const std::vector<std::string>& names) override;
  std::vector<LibraryDefinition> definitions() override;
  EngineStats stats() override;
  SlowLog& slowLog() override { return slow_log_; }
  void allowIoThreadRuns(bool allow) override {
    io_thread_runs_.store(allow, std::memory_order_relaxed);
  }
  void shutdown() override;

  // For libraries and bindings.
  config::GearsConfig& config() { return config_; }
  Host& host() { return host_; }
  Executor& executor() { return executor_; }
  Watchdog& watchdog() { return watchdog_; }
  v8::ArrayBuffer::Allocator* allocator() { return allocator_.get(); }
  const backend::CommandTable& commands() const { return backend::CommandTable::builtin(); }
  bool avoidGlobalAllowList() const { return avoid_global_allow_list_; }
  // The heap an initialized library holds before its code runs (alike for every library:
  // measured by the first one); 0 until then. Admin thread.
  size_t isolateBaseline() const { return isolate_baseline_; }
  void setIsolateBaseline(size_t bytes) { isolate_baseline_ = bytes; }
  bool allowUnsafeCommands() const { return allow_unsafe_commands_; }

  // Heap in use by every live isolate (loaded, loading, or replaced but still finishing work).
  size_t totalHeap();
  // spec §6.10: the total heap is at or above v8-maxmemory.
  bool oomState();
  void libraryCreated(Library* library);
  void libraryDestroyed(Library* library);

 private:
  // The load pipeline (spec §2.5), on the admin queue. Returns the error reply or nullopt.
  Status loadNow(const LoadRequest& request, const Persist& persist);
  // Tells the host every key space trigger's prefix (after a change of the libraries).
  void announceTriggers();
  void invoke(std::shared_ptr<Library> library, const struct Function* function,
              CallRequest request, std::function<void(std::string)> done);
  // Runs a sync function's body (spec §6.1) and answers; `section_held`: the caller holds the
  // atomic gate already. Library's queue (or the caller holding the library).
  void runSync(Library& library, struct Function& function, const CallRequest& request,
               std::function<void(std::string)>& done, bool section_held,
               bool on_io_thread = false);
  // A sync function's call outside a transaction: on the calling I/O thread when that needs no
  // waiting, otherwise on the library's queue -- lent to that I/O thread on its turn when only
  // the library stood in the way.
  void callSync(std::shared_ptr<Library> library, struct Function& function, CallRequest request,
                std::function<void(std::string)> done);
  // Whether a call may run on the I/O thread that received it at all (design §3).
  bool mayRunOnIoThread(const Library& library, const struct Function& function,
                        const CallRequest& request) const;
  // Runs it on the calling I/O thread when that needs no waiting (CallRequest::io_thread), or
  // says what stood in the way. runOnIoThread: the same with the library's queue taken for this
  // thread.
  enum class IoRun { kRan, kNotEligible, kLibraryBusy, kGateBusy, kEnterFirst };
  IoRun tryRunOnIoThread(Library& library, struct Function& function, const CallRequest& request,
                         std::function<void(std::string)>& done);
  IoRun runOnIoThread(Library& library, struct Function& function, const CallRequest& request,
                      std::function<void(std::string)>& done);

  config::GearsConfig& config_;
  Host& host_;
  std::unique_ptr<v8::ArrayBuffer::Allocator> allocator_;
  Watchdog watchdog_;
  Executor executor_;
  // LOAD and DELETE, one at a time, in order, on a thread of their own: JavaScript that keeps
  // the script threads busy (an endless loop in a coroutine) cannot hold them up.
  Executor admin_executor_;
  std::shared_ptr<JobQueue> admin_;

  std::mutex mutex_;
  // Serves TFUNCTION LOAD DEBUG's library to DevTools; started at the first one. Declared before
  // the libraries: their debuggers use it to the end.
  std::unique_ptr<DebugServer> debug_server_;  // admin thread
  std::map<std::string, std::shared_ptr<Library>> libraries_;
  std::set<Library*> live_;
  std::chrono::steady_clock::time_point last_oom_gc_;
  size_t isolate_baseline_ = 0;
  uint64_t last_order_ = 0;  // admin thread

  SlowLog slow_log_;
  std::atomic<bool> avoid_global_allow_list_{false};
  std::atomic<bool> allow_unsafe_commands_{false};
  std::atomic<bool> io_thread_runs_{true};
  metrics::Counter io_thread_calls_;
};

}  // namespace tfproxy::scripting
