#include "server/pipeline.h"

#include <algorithm>
#include <cstring>

#include "resp/decoder.h"
#include "resp/errors.h"
#include "resp/number.h"
#include "server/errors.h"

namespace tfproxy::server {
namespace {

using backend::equalsLower;

// The parsed command's arguments (views into the input).
std::vector<std::string_view> arguments(const resp::RequestParser& cmd) {
  std::vector<std::string_view> argv;
  for (size_t i = 0; i < cmd.argc(); ++i) argv.push_back(cmd.arg(i));
  return argv;
}

// XREAD/XREADGROUP block only when they carry a BLOCK option before STREAMS.
bool hasBlockOption(const resp::RequestParser& cmd) {
  size_t i = equalsLower(cmd.arg(0), "xreadgroup") ? 4 : 1;
  while (i < cmd.argc()) {
    std::string_view a = cmd.arg(i);
    if (equalsLower(a, "streams")) return false;
    if (equalsLower(a, "block")) return true;
    i += equalsLower(a, "count") ? 2 : 1;
  }
  return false;
}

// The first element of an array or push frame if it is a bulk or simple string, else empty.
std::string_view firstString(std::string_view frame) {
  size_t line = frame.find("\r\n");
  if (line == std::string_view::npos || line + 2 >= frame.size()) return {};
  std::string_view rest = frame.substr(line + 2);
  if (rest.empty()) return {};
  if (rest[0] == '+') {
    size_t end = rest.find("\r\n");
    return end == std::string_view::npos ? std::string_view() : rest.substr(1, end - 1);
  }
  if (rest[0] != '$') return {};
  size_t end = rest.find("\r\n");
  if (end == std::string_view::npos) return {};
  auto len = resp::parseInt64(rest.substr(1, end - 1));
  if (!len || *len < 0 || end + 2 + static_cast<size_t>(*len) > rest.size()) return {};
  return rest.substr(end + 2, static_cast<size_t>(*len));
}

bool isConfirmationName(std::string_view name) {
  return name == "subscribe" || name == "unsubscribe" || name == "psubscribe" ||
         name == "punsubscribe" || name == "ssubscribe" || name == "sunsubscribe";
}

// `+1700000000.123456 [0 127.0.0.1:5000] "get" "k"`
bool isMonitorLine(std::string_view frame) {
  size_t i = 1;
  auto digits = [&] {
    size_t start = i;
    while (i < frame.size() && frame[i] >= '0' && frame[i] <= '9') ++i;
    return i > start;
  };
  if (!digits() || i >= frame.size() || frame[i] != '.') return false;
  ++i;
  if (!digits()) return false;
  return frame.substr(i, 2) == " [";
}

// Where a pipeline nobody reads counts (unit tests, tools).
ForwardingCounters& uncounted() {
  static ForwardingCounters counters;
  return counters;
}

}  // namespace

Pipeline::Pipeline(const CommandIndex& index, ForwardGate& gate, PipelineLimits limits,
                   const functions::ReplyEditor* editor, const functions::WriteTriggers* triggers)
    : index_(index),
      counters_(&uncounted()),
      editor_(editor),
      triggers_(triggers),
      gate_(gate),
      limits_(limits),
      parser_(limits.parser) {}

bool Pipeline::firingKeys(const CommandEntry& entry, const resp::RequestParser& cmd,
                          std::vector<std::string>* keys) const {
  if (entry.info == nullptr || !backend::mayWrite(*entry.info)) return false;  // inside MULTI
  bool fires = false;
  backend::forEachKeyPosition(*entry.info, cmd.argc(), [&](size_t i) {
    std::string_view key = cmd.arg(i);
    if (!triggers_->mayFire(key)) return;
    fires = true;
    keys->emplace_back(key);
  });
  return fires;
}

Pipeline::~Pipeline() { abandon(); }

void Pipeline::abandon() {
  uint32_t counted = released_;
  for (Slot& s : slots_) {
    counted += s.weight;
    if (s.capture) std::exchange(s.capture, nullptr)(errors::kClientClosed);
  }
  if (counted > 0) gate_.release(counted);
  released_ = 0;
  slots_.clear();
  target_ = kNone;
}

// HELLO, AUTH and SELECT: the connection state their success changes.
bool Pipeline::describeState(const CommandEntry& entry, const resp::RequestParser& cmd,
                             Slot* slot) {
  switch (entry.kind) {
    case CommandKind::kHello:
    case CommandKind::kAuth:
    case CommandKind::kSelect: {
      using Kind = backend::StateChange::Kind;
      const Kind kind = entry.kind == CommandKind::kHello  ? Kind::kHello
                        : entry.kind == CommandKind::kAuth ? Kind::kAuth
                                                           : Kind::kSelect;
      slot->observe = Observe::kState;
      slot->change =
          backend::StateChange::read(kind, cmd.argc(), [&cmd](size_t i) { return cmd.arg(i); });
      return true;
    }
    default:
      return false;
  }
}

void Pipeline::noteBinding(const CommandEntry& entry, const resp::RequestParser& cmd) {
  switch (entry.kind) {
    case CommandKind::kExec:
    case CommandKind::kDiscard:
      watching_ = false;
      return;
    case CommandKind::kReset:
      watching_ = client_bound_ = false;
      return;
    case CommandKind::kClient: {
      // What only names or describes the connection leaves nothing behind that matters.
      static constexpr std::string_view kHarmless[] = {
          "setname", "setinfo", "getname", "id", "info", "list", "no-evict", "no-touch"};
      const std::string_view sub = cmd.argc() > 1 ? cmd.arg(1) : std::string_view();
      if (std::none_of(std::begin(kHarmless), std::end(kHarmless),
                       [&](std::string_view h) { return equalsLower(sub, h); })) {
        client_bound_ = true;
      }
      return;
    }
    default:
      if (entry.info == nullptr) return;
      if (std::strcmp(entry.info->name, "watch") == 0) watching_ = true;
      if (std::strcmp(entry.info->name, "unwatch") == 0) watching_ = false;
      return;
  }
}

bool Pipeline::describe(const CommandEntry& entry, const resp::RequestParser& cmd, ScanState* scan,
                        Slot* slot) const {
  // CLIENT REPLY ON|OFF|SKIP decides whether this and later commands are answered at all.
  if (entry.kind == CommandKind::kClient && cmd.argc() == 3 && equalsLower(cmd.arg(1), "reply")) {
    std::string_view mode = cmd.arg(2);
    if (equalsLower(mode, "off")) {
      scan->mode = ReplyMode::kOff;
      return false;
    }
    if (equalsLower(mode, "skip")) {
      if (scan->mode == ReplyMode::kOn) scan->mode = ReplyMode::kSkipNext;
      return false;
    }
    if (equalsLower(mode, "on")) scan->mode = ReplyMode::kOn;
  }
  if (entry.kind == CommandKind::kReset) scan->mode = ReplyMode::kOn;
  if (scan->mode == ReplyMode::kOff) return false;
  if (scan->mode == ReplyMode::kSkipNext) {
    scan->mode = ReplyMode::kOn;
    return false;
  }

  slot->forward = true;
  slot->expected = 1;
  slot->counted = true;
  // Commands that may wait forever are not counted: an exclusive section cannot wait for them.
  // (Inside MULTI they are only queued, and not counting them there is harmless.)
  if (entry.kind == CommandKind::kBlocking ||
      (entry.kind == CommandKind::kXread && hasBlockOption(cmd))) {
    slot->counted = false;
  }
  // Inside MULTI the backend answers QUEUED to everything but these.
  const bool queued = scan->multi && entry.kind != CommandKind::kExec &&
                      entry.kind != CommandKind::kDiscard && entry.kind != CommandKind::kMulti &&
                      entry.kind != CommandKind::kReset &&
                      !(entry.info != nullptr && std::strcmp(entry.info->name, "watch") == 0);
  if (queued) {
    // Connection state a queued command changes only if EXEC runs it successfully: kept aside
    // when its QUEUED arrives, applied when EXEC's reply shows it succeeded (endMulti).
    const uint32_t index = scan->queued++;
    if (describeState(entry, cmd, slot)) {
      slot->effect = slot->observe;
      slot->observe = Observe::kQueued;
      slot->queue_index = index;
    }
  } else if (!describeState(entry, cmd, slot)) {
    switch (entry.kind) {
      case CommandKind::kReset:
        slot->observe = Observe::kReset;
        break;
      case CommandKind::kMulti:
        slot->observe = Observe::kMulti;
        break;
      case CommandKind::kExec:
      case CommandKind::kDiscard:
        slot->observe = Observe::kEndMulti;
        break;
      case CommandKind::kSubscribe:
        slot->observe = Observe::kSubscribe;
        slot->channel_kind = entry.channel_kind;
        slot->expected = cmd.argc() > 1 ? static_cast<uint32_t>(cmd.argc() - 1) : 1;
        break;
      case CommandKind::kUnsubscribe:
        slot->observe = Observe::kUnsubscribe;
        slot->channel_kind = entry.channel_kind;
        slot->expected = cmd.argc() > 1 ? static_cast<uint32_t>(cmd.argc() - 1) : kAll;
        break;
      case CommandKind::kMonitor:
        slot->observe = Observe::kMonitor;
        break;
      case CommandKind::kFlush:
        slot->observe = Observe::kFlush;
        break;
      default:
        if (entry.changes_status && (entry.kind != CommandKind::kConditional ||
                                     (cmd.argc() > 1 && equalsLower(cmd.arg(1), "set")))) {
          slot->observe = Observe::kStatusChange;
        }
        break;
    }
  }
  // Scan-side transaction state: assumes MULTI succeeds (see inMulti() for the observed one).
  if (entry.kind == CommandKind::kMulti) {
    scan->multi = true;
    scan->queued = 0;
    scan->multi_keyed = false;
    scan->multi_prefix.reset();
    scan->firing_keys.clear();
  }
  if (entry.kind == CommandKind::kExec || entry.kind == CommandKind::kDiscard ||
      entry.kind == CommandKind::kReset) {
    scan->multi = false;
    scan->firing_keys.clear();
  }
  slot->weight = slot->counted ? (slot->observe == Observe::kNone ? slot->expected : 1) : 0;
  return true;
}

bool Pipeline::planEdit(const resp::RequestParser& cmd, const ScanState& scan, Slot* slot,
                        std::string* local_reply, std::string* extra) const {
  if (editor_ == nullptr || scan.multi || scan.mode != ReplyMode::kOn) return false;
  functions::ReplyEdit edit;
  if (!editor_->plan(arguments(cmd), state_, &edit)) return false;
  if (!edit.local_reply.empty()) {
    *local_reply = std::move(edit.local_reply);
    return true;
  }
  for (const auto& command : edit.extra) {
    std::vector<std::string_view> args(command.begin(), command.end());
    resp::encodeCommand(args, extra);
  }
  slot->forward = true;
  slot->counted = true;
  slot->observe = Observe::kEdit;
  slot->expected = static_cast<uint32_t>(1 + edit.extra.size());
  slot->weight = slot->expected;
  slot->edit = std::make_unique<Slot::Edit>();
  slot->edit->merge = std::move(edit.merge);
  return true;
}

void Pipeline::finishEdit(Slot& slot, std::string* to_client) {
  const Slot::Edit& edit = *slot.edit;
  std::vector<resp::Value> replies(edit.frames.size());
  for (size_t i = 0; i < edit.frames.size(); ++i) {
    if (!resp::decodeValue(edit.frames[i], &replies[i])) replies[i] = resp::Value::null();
  }
  appendForClient(target_, edit.merge(replies), to_client);
  slot.edit.reset();
}

void Pipeline::addToBatch(Slot&& slot) {
  batch_counted_ += slot.weight;
  if (!batch_.empty() && slot.observe == Observe::kNone) {
    Slot& last = batch_.back();
    if (last.observe == Observe::kNone && last.counted == slot.counted) {
      last.expected += slot.expected;
      last.weight += slot.weight;
      return;
    }
  }
  batch_.push_back(std::move(slot));
}

bool Pipeline::commitBatch(std::string_view bytes, std::string* to_backend) {
  if (bytes.empty()) return true;
  if (!gate_.tryAdmit(batch_counted_)) {
    batch_.clear();
    batch_counted_ = 0;
    batch_families_ = {};
    return false;
  }
  to_backend->append(bytes);
  for (size_t i = 0; i < backend::kCommandFamilies; ++i) {
    if (batch_families_[i] != 0) counters_->commands[i].add(batch_families_[i]);
  }
  batch_families_ = {};
  for (Slot& s : batch_) {
    if (shared_) expected_added_ += s.expected;
    if (s.observe == Observe::kNone && !slots_.empty()) {
      Slot& back = slots_.back();
      if (back.forward && !back.ready && back.observe == Observe::kNone &&
          back.counted == s.counted) {
        back.expected += s.expected;
        back.weight += s.weight;
        continue;
      }
    }
    slots_.push_back(std::move(s));
    if (target_ == kNone) target_ = slots_.size() - 1;
  }
  batch_.clear();
  batch_counted_ = 0;
  return true;
}

void Pipeline::pushError(std::string_view text) {
  std::string reply;
  resp::ReplyWriter(&reply, state_.protocol).error(text);
  pushLocal(std::move(reply));
}

void Pipeline::pushLocal(std::string reply) {
  if (!slots_.empty() && !slots_.back().forward && slots_.back().ready) {
    slots_.back().buffer.append(reply);
    return;
  }
  Slot s;
  s.forward = false;
  s.ready = true;
  s.buffer = std::move(reply);
  slots_.push_back(std::move(s));
}

Pipeline::InputResult Pipeline::onClientInput(std::string_view in, std::string* to_backend,
                                              std::string* to_client) {
  if (closing_) return {Stop::kClose, in.size()};
  if (barrier_) return {Stop::kBarrier, 0};

  size_t pos = 0;          // end of the commands handled so far
  size_t batch_start = 0;  // first byte of the batch not yet admitted
  ScanState scan = scan_;
  auto commit = [&]() -> bool {
    if (!commitBatch(in.substr(batch_start, pos - batch_start), to_backend)) {
      parser_.reset();
      return false;
    }
    scan_ = scan;
    batch_start = pos;
    return true;
  };

  while (pos < in.size()) {
    auto r = parser_.parse(in.substr(pos));
    const bool need_more = r.status == resp::RequestParser::Status::kNeedMore;
    // One command may not outgrow the query buffer limit, whether its end is still to come or
    // arrived in the same read (how much one read brings must not decide).
    const size_t command_bytes =
        need_more ? std::max(parser_.parsedBytes(), in.size() - pos) : r.consumed;
    if (r.status != resp::RequestParser::Status::kError &&
        command_bytes > limits_.query_buffer_limit) {
      if (!commit()) return {Stop::kPaused, batch_start};
      protocol_error_ = errors::kQueryBufferLimit;
      closing_ = true;
      flush(to_client);
      return {Stop::kClose, in.size()};
    }
    if (need_more) break;
    if (r.status == resp::RequestParser::Status::kError) {
      if (!commit()) return {Stop::kPaused, batch_start};
      protocol_error_ = parser_.error();
      pushError(parser_.error());
      closing_ = true;
      flush(to_client);
      return {Stop::kClose, in.size()};
    }
    if (parser_.argc() == 0) {  // empty command: skipped, as Redis does
      pos += r.consumed;
      continue;
    }
    const CommandEntry& entry = index_.lookup(parser_.arg(0));
    // The proxy runs this command itself: its reply slot waits, nothing after it is taken.
    auto handOver = [&](Intercepted request) -> InputResult {
      const bool skip_pending = scan.mode == ReplyMode::kSkipNext;
      const bool silent = !takesReply(&scan);
      if (!commit()) return {Stop::kPaused, batch_start};
      // The backend still waits to skip a reply: a PING uses that up, unanswered.
      if (skip_pending) resp::encodeCommand({"PING"}, to_backend);
      for (size_t i = 0; i < parser_.argc(); ++i) request.argv.emplace_back(parser_.arg(i));
      pos += r.consumed;
      raiseBarrier(std::move(request), silent, to_client);
      return {Stop::kBarrier, pos};
    };
    if (entry.kind == CommandKind::kQuit) {
      if (!commit()) return {Stop::kPaused, batch_start};
      if (scan_.mode == ReplyMode::kOn) pushLocal("+OK\r\n");
      closing_ = true;
      flush(to_client);
      return {Stop::kClose, in.size()};
    }
    bool intercept = entry.kind == CommandKind::kIntercepted;
    if (entry.kind == CommandKind::kConditional) {
      intercept = index_.conditionHolds(arguments(parser_));
    }
    // From the first intercepted command inside MULTI the proxy runs the transaction itself.
    if (intercept && scan.multi && !transaction_.active && !unavailable()) {
      if (!commit()) return {Stop::kPaused, batch_start};
      transaction_ = Transaction{};
      transaction_.active = true;
    }
    if (transaction_.active) {
      if (entry.kind == CommandKind::kExec) {
        pos += r.consumed;
        batch_start = pos;
        scan.multi = false;
        const bool silent = !takesReply(&scan);
        scan_ = scan;
        Transaction done = std::move(transaction_);
        transaction_ = Transaction{};
        if (done.aborted) {
          // The backend still holds the forwarded prefix in MULTI: end it quietly.
          std::string discard;
          resp::encodeCommand({"DISCARD"}, &discard);
          forwardCaptured(
              discard, [](std::string_view) {}, to_backend, /*ends_multi=*/true);
          if (!silent) pushError(resp::errors::kExecAbort);
          continue;
        }
        raiseBarrier(Intercepted{{"EXEC"}, std::move(done.queued)}, silent, to_client);
        return {Stop::kBarrier, pos};
      }
      if (entry.kind == CommandKind::kDiscard || entry.kind == CommandKind::kReset) {
        transaction_ = Transaction{};  // forwarded below: the backend ends its MULTI
      } else {
        queueInTransaction(entry, !takesReply(&scan));
        pos += r.consumed;
        batch_start = pos;
        continue;
      }
    } else if (intercept) {
      return handOver(Intercepted{});
    }
    if (unavailable()) {
      if (takesReply(&scan)) pushError(unavailable_error_);
      pos += r.consumed;
      batch_start = pos;
      continue;
    }
    if (shared_ && (entry.pins || (entry.kind == CommandKind::kXread && hasBlockOption(parser_)))) {
      parser_.reset();  // the command is presented again once the session is pinned
      if (!commit()) return {Stop::kPaused, batch_start};
      flush(to_client);
      return {Stop::kPin, pos};
    }
    if (node_check_ && !shared_) {
      // Cluster: a command for another node (or several) on the client's own connection, when
      // nothing binds the client to that connection, waits until the replies owed are in and
      // goes to its node (the session returns to routing by slot). A transaction opened on one
      // node moves to the node of its first key. Checked before a write that fires a trigger is
      // handed over: its section forwards it on this session's path.
      const bool free = !scan.multi && !watching_ && !client_bound_ && !monitor_ && !subscribed() &&
                        scan.mode == ReplyMode::kOn;
      const bool opening = scan.multi && !scan.multi_keyed && entry.kind != CommandKind::kExec &&
                           entry.kind != CommandKind::kDiscard && entry.kind != CommandKind::kMulti;
      const NodePlace place = free || opening ? node_check_(parser_) : NodePlace::kHere;
      const bool routed =
          place == NodePlace::kProxy || place == NodePlace::kSplit || place == NodePlace::kWhole;
      if (place == NodePlace::kElsewhere || (free && routed)) {
        parser_.reset();  // presented again on the node it belongs to
        if (!commit()) return {Stop::kPaused, batch_start};
        flush(to_client);
        return {Stop::kPin, pos};
      }
      if (opening && (place == NodePlace::kHere || place == NodePlace::kSplit)) {
        scan.multi_keyed = true;
      }
      if (opening && (place == NodePlace::kKeyless || place == NodePlace::kProxy ||
                      place == NodePlace::kWhole)) {
        auto prefix = scan.multi_prefix
                          ? std::make_shared<std::vector<std::string>>(*scan.multi_prefix)
                          : std::make_shared<std::vector<std::string>>();
        prefix->emplace_back(in.substr(pos, r.consumed));
        scan.multi_prefix = std::move(prefix);
      }
    }
    // A write whose key may fire a key space trigger runs with the trigger, sent by the proxy
    // in an atomic section; inside MULTI the EXEC does, for all of its writes.
    // Reads pay one flag test; writes one more load while no trigger exists.
    if (triggers_ != nullptr &&
        (scan.multi || (entry.info != nullptr && backend::mayWrite(*entry.info))) &&
        triggers_->active()) {
      const bool exec = entry.kind == CommandKind::kExec && scan.multi;
      std::vector<std::string> keys;
      if (scan.multi && !exec) {
        firingKeys(entry, parser_, &scan.firing_keys);
      } else if (exec ? !scan.firing_keys.empty() : firingKeys(entry, parser_, &keys)) {
        if (exec) {
          keys = std::move(scan.firing_keys);
          scan.firing_keys.clear();
          scan.multi = false;
        }
        Intercepted request;
        request.fires = true;
        request.keys = std::move(keys);
        return handOver(std::move(request));
      }
    }
    Slot slot;
    if (entry.edited) {
      std::string local_reply;
      std::string extra;
      if (planEdit(parser_, scan, &slot, &local_reply, &extra)) {
        if (!local_reply.empty()) {
          if (!commit()) return {Stop::kPaused, batch_start};
          pushLocal(std::move(local_reply));
          pos += r.consumed;
          batch_start = pos;
          continue;
        }
        pos += r.consumed;
        addToBatch(std::move(slot));
        ++batch_families_[static_cast<size_t>(entry.family)];
        if (!commit()) return {Stop::kPaused, batch_start};
        to_backend->append(extra);
        continue;
      }
    }
    if (node_check_ && entry.pins) noteBinding(entry, parser_);
    if (describe(entry, parser_, &scan, &slot)) addToBatch(std::move(slot));
    ++batch_families_[static_cast<size_t>(entry.family)];
    pos += r.consumed;
  }
  if (!commit()) return {Stop::kPaused, batch_start};
  flush(to_client);
  return {Stop::kNeedMore, pos};
}

// The proxy runs `request` itself: its reply slot is local, and nothing after it is taken until
// that reply is in (completeIntercepted).
void Pipeline::raiseBarrier(Intercepted request, bool silent, std::string* to_client) {
  intercepted_ = std::move(request);
  barrier_ = true;
  intercept_dispatched_ = false;
  Slot s;
  s.forward = false;
  s.silent = silent;
  slots_.push_back(std::move(s));
  flush(to_client);
}

bool Pipeline::takesReply(ScanState* scan) {
  if (scan->mode == ReplyMode::kSkipNext) {
    scan->mode = ReplyMode::kOn;
    return false;
  }
  return scan->mode == ReplyMode::kOn;
}

void Pipeline::queueInTransaction(const CommandEntry& entry, bool silent) {
  std::string name;
  backend::toLower(parser_.arg(0), &name);
  if (entry.kind == CommandKind::kMulti) {
    if (!silent) pushError(resp::errors::kNestedMulti);
    return;
  }
  if (name == "watch") {
    if (!silent) pushError(resp::errors::kWatchInMulti);
    return;
  }
  // Queuing checks as Redis makes them; a failure discards the transaction at EXEC.
  std::string error;
  const backend::CommandInfo* info = entry.info;
  if (info == nullptr && entry.kind != CommandKind::kIntercepted &&
      entry.kind != CommandKind::kConditional) {
    std::string args;
    for (size_t i = 1; i < parser_.argc() && args.size() < 128; ++i) {
      std::string_view a = parser_.arg(i).substr(0, 128 - args.size());
      args += "'" + std::string(a) + "' ";
    }
    error = resp::errors::unknownCommand(parser_.arg(0).substr(0, 128), args);
  } else {
    const backend::CommandInfo* sub =
        info != nullptr && parser_.argc() > 1 ? index_.subcommand(info, parser_.arg(1)) : info;
    int arity = sub != nullptr ? sub->arity : entry.arity;
    const std::string shown = sub != nullptr ? sub->name : name;
    int argc = static_cast<int>(parser_.argc());
    if ((arity > 0 && argc != arity) || (arity < 0 && argc < -arity)) {
      error = resp::errors::wrongArity(shown);
    }
  }
  if (!error.empty()) {
    transaction_.aborted = true;
    if (!silent) pushError(error);
    return;
  }
  std::vector<std::string> argv;
  for (size_t i = 0; i < parser_.argc(); ++i) argv.emplace_back(parser_.arg(i));
  transaction_.queued.push_back(std::move(argv));
  if (!silent) pushLocal("+QUEUED\r\n");
}

void Pipeline::forwardCaptured(std::string_view bytes,
                               std::function<void(std::string_view)> on_reply,
                               std::string* to_backend, bool ends_multi) {
  // Under CLIENT REPLY OFF the backend would not answer: replies are on around the command.
  const bool replies_off = scan_.mode == ReplyMode::kOff;
  if (replies_off) {
    resp::encodeCommand({"CLIENT", "REPLY", "ON"}, to_backend);
    Slot on;
    on.observe = Observe::kCapture;
    on.expected = 1;
    slots_.push_back(std::move(on));
    if (target_ == kNone) target_ = slots_.size() - 1;
  }
  to_backend->append(bytes);
  if (shared_) expected_added_ += replies_off ? 2 : 1;
  Slot s;
  s.forward = true;
  s.expected = 1;
  s.observe = Observe::kCapture;
  s.capture = std::move(on_reply);
  s.ends_multi = ends_multi;
  slots_.push_back(std::move(s));
  if (target_ == kNone) target_ = slots_.size() - 1;
  if (replies_off) resp::encodeCommand({"CLIENT", "REPLY", "OFF"}, to_backend);
}

const Pipeline::Intercepted* Pipeline::readyIntercepted() {
  if (!barrier_ || intercept_dispatched_ || slots_.empty()) return nullptr;
  const Slot& front = slots_.front();
  if (front.forward || front.ready) return nullptr;
  intercept_dispatched_ = true;
  return &intercepted_;
}

void Pipeline::completeIntercepted(std::string reply, std::string* to_client) {
  for (Slot& s : slots_) {
    if (!s.forward && !s.ready) {
      if (!s.silent) s.buffer = std::move(reply);
      s.ready = true;
      break;
    }
  }
  barrier_ = false;
  intercept_dispatched_ = false;
  flush(to_client);
}

void Pipeline::appendForClient(size_t slot_index, std::string_view bytes, std::string* to_client) {
  if (slot_index == 0) {
    to_client->append(bytes);
  } else {
    slots_[slot_index].buffer.append(bytes);
  }
}

size_t Pipeline::onBackendInput(std::string_view in, std::string* to_client) {
  size_t pos = 0;
  while (pos < in.size()) {
    auto r = framer_.scan(in.substr(pos));
    if (r.status == resp::ReplyFramer::Status::kNeedMore) break;
    if (r.status == resp::ReplyFramer::Status::kError) return std::string_view::npos;
    handleFrame(in.substr(pos, r.consumed), to_client);
    pos += r.consumed;
  }
  if (released_ > 0) {
    gate_.release(released_);
    released_ = 0;
  }
  return pos;
}

bool Pipeline::isUnrequested(std::string_view frame, const Slot* target) const {
  const char type = frame[0];
  if (type == '>') {
    // RESP3 subscribe confirmations are pushes, but they answer the (un)subscribe command.
    return target == nullptr ||
           !(target->observe == Observe::kSubscribe || target->observe == Observe::kUnsubscribe) ||
           !isConfirmationName(firstString(frame));
  }
  if (target == nullptr) return true;
  if (type == '*' && state_.protocol == resp::Protocol::kResp2 && subscribed()) {
    std::string_view kind = firstString(frame);
    return kind == "message" || kind == "pmessage" || kind == "smessage";
  }
  if (type == '+' && monitor_) return isMonitorLine(frame);
  return false;
}

void Pipeline::handleFrame(std::string_view frame, std::string* to_client) {
  Slot* target = target_ != kNone ? &slots_[target_] : nullptr;
  if (isUnrequested(frame, target)) {
    // Out of band (pushes, pub/sub messages, MONITOR lines): on to the client at once, as Redis
    // delivers them, whatever reply is still pending. Nothing can be split: every earlier
    // complete reply has been flushed or waits behind a pending one, and a pending reply is
    // only ever a command the proxy runs (nothing is read after it) or a forwarded one whose
    // replies are whole frames.
    to_client->append(frame);
    return;
  }
  Slot& slot = *target;
  if (frame[0] == '-' || frame[0] == '!') noteError(frame);
  if (slot.observe == Observe::kCapture) {
    if (slot.ends_multi) endMulti(frame);
    auto capture = std::move(slot.capture);
    slot.ready = true;
    advanceTarget();
    flush(to_client);
    if (capture) capture(frame);
    return;
  }
  bool done;
  if (slot.observe == Observe::kEdit) {
    // The replies are held until the last is in; the client gets what merge makes of them.
    slot.edit->frames.emplace_back(frame);
    done = --slot.expected == 0;
    if (done) finishEdit(slot, to_client);
  } else if (slot.observe == Observe::kNone) {
    appendForClient(target_, frame, to_client);
    --slot.expected;
    if (slot.counted) {
      --slot.weight;
      ++released_;
    }
    done = slot.expected == 0;
  } else {
    appendForClient(target_, frame, to_client);
    done = observe(slot, frame);
  }
  if (done) {
    released_ += slot.weight;
    slot.weight = 0;
    slot.ready = true;
    advanceTarget();
    flush(to_client);
  }
}

void Pipeline::noteError(std::string_view frame) {
  std::string_view text = frame.substr(1);
  if (frame[0] == '!') {  // RESP3 bulk error: the text follows the length line
    const size_t line = text.find('\n');
    text = line == std::string_view::npos ? std::string_view() : text.substr(line + 1);
  }
  for (std::string_view prefix : {"OOM ", "READONLY ", "UNBLOCKED "}) {
    if (text.substr(0, prefix.size()) == prefix) ++status_changes_;
  }
}

bool Pipeline::observe(Slot& slot, std::string_view frame) {
  const bool error = frame[0] == '-' || frame[0] == '!';
  switch (slot.observe) {
    case Observe::kNone:
      return true;
    case Observe::kState:
      if (!error) slot.change.applyTo(&state_);
      return true;
    case Observe::kReset:
      if (!error) resetConnectionState();
      return true;
    case Observe::kMulti:
      if (!error) in_multi_ = true;
      queued_effects_.clear();
      return true;
    case Observe::kEndMulti:
      endMulti(frame);
      return true;
    case Observe::kQueued:
      if (!error) {
        Slot effect;
        effect.observe = slot.effect;
        effect.queue_index = slot.queue_index;
        effect.change = slot.change;
        queued_effects_.push_back(std::move(effect));
      }
      return true;
    case Observe::kMonitor:
      if (!error) monitor_ = true;
      return true;
    case Observe::kFlush:
      if (!error) ++flushes_;
      return true;
    case Observe::kStatusChange:
      if (!error) ++status_changes_;
      return true;
    case Observe::kCapture:
    case Observe::kEdit:  // handled in handleFrame
      return true;
    case Observe::kSubscribe:
    case Observe::kUnsubscribe: {
      if (error) return true;
      int64_t* count = slot.channel_kind == ChannelKind::kShard     ? &shard_channels_
                       : slot.channel_kind == ChannelKind::kPattern ? &patterns_
                                                                    : &channels_;
      if (slot.expected == kAll) {
        // Unsubscribing from everything: one confirmation per current subscription, or one.
        slot.expected = static_cast<uint32_t>(std::max<int64_t>(1, *count));
      }
      // The confirmation's last element is the number of subscriptions left: for channels and
      // patterns both together, for shard channels their own.
      resp::Value v;
      if (resp::decodeValue(frame, &v) && v.elements.size() == 3 &&
          v.elements[2].type == resp::Type::kInteger) {
        int64_t total = v.elements[2].integer;
        if (slot.channel_kind == ChannelKind::kShard) {
          shard_channels_ = total;
        } else if (slot.channel_kind == ChannelKind::kPattern) {
          patterns_ = total - channels_;
        } else {
          channels_ = total - patterns_;
        }
      }
      return --slot.expected == 0;
    }
  }
  return true;
}

void Pipeline::endMulti(std::string_view frame) {
  in_multi_ = false;
  std::vector<Slot> effects = std::move(queued_effects_);
  queued_effects_.clear();
  if (effects.empty() || frame.empty() || frame[0] != '*') return;
  resp::Value results;
  if (!resp::decodeValue(frame, &results) || results.type != resp::Type::kArray) return;
  for (Slot& effect : effects) {
    if (effect.queue_index >= results.elements.size()) continue;
    if (results.elements[effect.queue_index].isError()) continue;
    observe(effect, "+OK\r\n");
  }
}

void Pipeline::advanceTarget() {
  for (size_t i = target_ + 1; i < slots_.size(); ++i) {
    if (slots_[i].forward && !slots_[i].ready) {
      target_ = i;
      return;
    }
  }
  target_ = kNone;
}

void Pipeline::flush(std::string* to_client) {
  while (!slots_.empty() && slots_.front().ready) {
    to_client->append(slots_.front().buffer);
    slots_.pop_front();
    if (target_ != kNone) --target_;
  }
  if (!slots_.empty() && slots_.front().forward && !slots_.front().buffer.empty()) {
    to_client->append(slots_.front().buffer);
    slots_.front().buffer.clear();
  }
}

void Pipeline::onBackendLost(std::string_view error, std::string* to_client) {
  std::string reply;
  resp::ReplyWriter(&reply, state_.protocol).error(error);
  for (size_t i = 0; i < slots_.size(); ++i) {
    Slot& s = slots_[i];
    if (!s.forward || s.ready) continue;
    if (s.capture) {
      std::exchange(s.capture, nullptr)(reply);
      s.ready = true;
      continue;
    }
    uint32_t replies = s.observe == Observe::kNone ? s.expected : 1;
    for (uint32_t n = 0; n < replies; ++n) appendForClient(i, reply, to_client);
    released_ += s.weight;
    s.weight = 0;
    s.ready = true;
  }
  target_ = kNone;
  if (released_ > 0) {
    gate_.release(released_);
    released_ = 0;
  }
  flush(to_client);
}

void Pipeline::resetConnectionState() {
  state_ = backend::ConnectionState{};
  in_multi_ = false;
  queued_effects_.clear();
  channels_ = patterns_ = shard_channels_ = 0;
  monitor_ = false;
}

}  // namespace tfproxy::server
