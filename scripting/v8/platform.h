// The process-wide V8 platform (created once, in main or a test) and a smoke evaluation.
// V8 types do not appear in this header, so including it costs nothing.
#pragma once

#include <memory>
#include <string>

namespace v8 {
class Isolate;
}

namespace tfproxy::scripting {

class Platform {
 public:
  // Initialises V8 with `flags` (e.g. "--noexpose-wasm"). One per process.
  explicit Platform(const std::string& flags);
  ~Platform();
  Platform(const Platform&) = delete;
  Platform& operator=(const Platform&) = delete;

  static std::string v8Version();
  // Runs the tasks V8 posted for `isolate` (finishing incremental marking, finalization
  // callbacks, memory reduction...). The default platform runs them only when asked, so every
  // run ends with this; without it they would pile up for the life of the isolate. Isolate
  // lock held; no-op before a Platform exists.
  static void runPendingTasks(v8::Isolate* isolate);

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

// Evaluates `source` in a fresh isolate and context and returns String(result), or the
// exception text. For the build smoke test and diagnostics.
std::string evaluateOnce(const std::string& source);

}  // namespace tfproxy::scripting
