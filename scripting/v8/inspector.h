// Debugging a library from Chrome DevTools (TFUNCTION LOAD DEBUG, --v8-debug-server-address):
// V8's inspector on the library's isolate, and a small server that speaks what DevTools
// expects of a debug target -- GET /json/list and /json/version, and the inspector protocol over
// one WebSocket. One library is debugged at a time.
//
// Threads: the server has a thread of its own (HTTP, the WebSocket). The inspector runs on
// whichever script thread holds the library's isolate: messages from DevTools are dispatched in
// a job on the library's queue, or, while the library is paused at a breakpoint, by the paused
// thread itself, which waits in runMessageLoopOnPause for them.
#pragma once

#include <v8-inspector.h>
#include <v8.h>

#include <condition_variable>
#include <deque>
#include <memory>
#include <mutex>
#include <string>
#include <thread>

#include "base/status.h"

namespace tfproxy::scripting {

class Library;
class DebugServer;

// The inspector of one library. Created and destroyed with the library's isolate locked.
class LibraryDebugger : public v8_inspector::V8InspectorClient,
                        public v8_inspector::V8Inspector::Channel {
 public:
  // Announces the library's context to a new inspector; `server` serves it.
  LibraryDebugger(Library& library, DebugServer& server);
  ~LibraryDebugger() override;

  // From the server's thread.
  void connected();
  void received(std::string message);
  void disconnected();

  const std::string& name() const { return name_; }

  // v8_inspector::V8InspectorClient (the library's thread)
  void runMessageLoopOnPause(int context_group_id) override;
  void quitMessageLoopOnPause() override;
  double currentTimeMS() override;
  // v8_inspector::V8Inspector::Channel
  void sendResponse(int call_id, std::unique_ptr<v8_inspector::StringBuffer> message) override;
  void sendNotification(std::unique_ptr<v8_inspector::StringBuffer> message) override;
  void flushProtocolNotifications() override {}

 private:
  // Dispatches what DevTools sent (isolate locked): opens the session at the first message.
  void dispatch(std::deque<std::string> messages);
  void postDrain();

  Library& library_;
  DebugServer& server_;
  const std::string name_;
  std::unique_ptr<v8_inspector::V8Inspector> inspector_;
  std::unique_ptr<v8_inspector::V8InspectorSession> session_;  // isolate lock
  std::mutex mutex_;
  std::condition_variable wake_;
  std::deque<std::string> inbox_;  // mutex_
  bool connected_ = false;         // mutex_
  bool paused_ = false;            // mutex_
  bool drain_posted_ = false;      // mutex_
  bool quit_ = false;              // the paused thread only
};

class DebugServer {
 public:
  explicit DebugServer(std::string address);
  ~DebugServer();
  DebugServer(const DebugServer&) = delete;
  DebugServer& operator=(const DebugServer&) = delete;

  // Listens (once); fails with the reason.
  Status start();
  // The library to debug: false if another library is debugged (one replacing a library of
  // the same name takes its place).
  bool attach(LibraryDebugger* debugger);
  void detach(LibraryDebugger* debugger);
  // A protocol message for DevTools (any thread).
  void send(std::string message);

 private:
  void serve();
  // Answers one HTTP request on `fd` (closing it), or takes it as the WebSocket.
  void handle(int fd);
  void closeSocket();

  const std::string address_;
  std::string host_;
  int port_ = 0;
  int listener_ = -1;
  int wake_ = -1;  // eventfd: outbox filled, or stopping
  std::thread thread_;
  std::mutex mutex_;
  LibraryDebugger* debugger_ = nullptr;  // mutex_
  std::string outbox_;                   // mutex_: frames to write
  int socket_ = -1;                      // the WebSocket (server thread)
  bool stopping_ = false;                // mutex_
};

}  // namespace tfproxy::scripting
