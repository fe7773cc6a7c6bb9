// TFUNCTION SLOWLOG GET [count] | LEN | RESET | HELP: the slow log of functions and triggers
// (scripting/slow_log.h), answered as Redis answers SLOWLOG.
#include "functions/errors.h"
#include "functions/handler_support.h"
#include "functions/tf_commands.h"
#include "resp/errors.h"
#include "resp/number.h"

namespace tfproxy::functions {
namespace {

// SLOWLOG GET's default count, as Redis'.
constexpr int64_t kDefaultCount = 10;

constexpr const char* kHelp[] = {
    "TFUNCTION SLOWLOG <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
    "GET [<count>]",
    "    Return top <count> entries from the slowlog (default: 10, -1 mean all).",
    "    Entries are made of:",
    "    id, timestamp, time in microseconds, arguments array, client IP and port,",
    "    client name (the function or trigger that ran)",
    "LEN",
    "    Return the length of the slowlog.",
    "RESET",
    "    Reset the slowlog.",
    "HELP",
    "    Print this help.",
};

}  // namespace

void TfCommands::slowlog(const Args& argv, const ClientContext& client, Done done) {
  scripting::SlowLog& log = services_.engine->slowLog();
  const std::string sub = lower(argv[2]);
  using resp::Value;
  if (sub == "help" && argv.size() == 3) {
    std::vector<Value> lines;
    for (const char* line : kHelp) lines.push_back(Value::simple(line));
    return done(valueReply(client, Value::array(std::move(lines))));
  }
  if (sub == "len" && argv.size() == 3) {
    return done(valueReply(client, Value::integerValue(static_cast<int64_t>(log.length()))));
  }
  if (sub == "reset" && argv.size() == 3) {
    log.reset();
    return done(std::string(kOk));
  }
  if (sub == "get" && argv.size() <= 4) {
    int64_t count = kDefaultCount;
    if (argv.size() == 4) {
      const std::optional<int64_t> given = resp::parseInt64(argv[3]);
      if (!given) return done(errorReply(client, resp::errors::kNotInteger));
      if (*given < -1) return done(errorReply(client, errors::kSlowlogCount));
      count = *given;
    }
    std::vector<Value> entries;
    for (const scripting::SlowLog::Entry& e : log.get(count)) {
      std::vector<Value> args;
      for (const std::string& a : e.args) args.push_back(Value::bulk(a));
      entries.push_back(Value::array({Value::integerValue(static_cast<int64_t>(e.id)),
                                      Value::integerValue(e.unix_time),
                                      Value::integerValue(e.micros), Value::array(std::move(args)),
                                      Value::bulk(e.client), Value::bulk(e.name)}));
    }
    return done(valueReply(client, Value::array(std::move(entries))));
  }
  done(errorReply(client, errors::unknownSlowlogSubcommand(argv[2])));
}

}  // namespace tfproxy::functions
