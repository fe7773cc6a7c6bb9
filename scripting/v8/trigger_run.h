// The libraries of one key space trigger run, locked on the firing thread (engine.h TriggerRun).
#pragma once

#include <v8.h>

#include <memory>
#include <vector>

#include "scripting/engine.h"
#include "scripting/v8/library.h"

namespace tfproxy::scripting {

class EngineImpl;

class TriggerRunImpl : public TriggerRun {
 public:
  // Locks `libraries` in registration order (blocks while one runs JavaScript elsewhere).
  TriggerRunImpl(EngineImpl& engine, std::vector<std::shared_ptr<Library>> libraries);
  ~TriggerRunImpl() override;

  void fire(const std::vector<KeyEvent>& events) override;
  bool deliver(const StreamTriggerInfo& trigger, const StreamRecord& record,
               Completion done) override;

 private:
  // One event by one trigger (spec §7.2); the statistics record the outcome.
  void runTrigger(Library& library, const KeyspaceTrigger& trigger, const KeyEvent& event);

  struct Held {
    std::shared_ptr<Library> library;
    std::unique_lock<std::recursive_mutex> run_lock;  // taken before the Locker, let go after
    std::unique_ptr<v8::Locker> locker;
  };
  EngineImpl& engine_;
  std::vector<Held> held_;
};

}  // namespace tfproxy::scripting
