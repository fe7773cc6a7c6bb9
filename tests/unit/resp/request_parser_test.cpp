#include "resp/request_parser.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

namespace tfproxy::resp {
namespace {

struct Parsed {
  RequestParser::Status status;
  std::vector<std::vector<std::string>> commands;
  std::string error;
  size_t consumed = 0;
};

// Feeds `input` to a parser in pieces of `chunk` bytes (0: all at once), the way a socket
// would deliver it, and collects the commands.
Parsed parseAll(const std::string& input, size_t chunk = 0, ParserLimits limits = {}) {
  RequestParser parser(limits);
  Parsed out;
  size_t start = 0;  // first byte of the current command
  size_t avail = chunk == 0 ? input.size() : std::min(chunk, input.size());
  while (true) {
    auto r = parser.parse(std::string_view(input).substr(start, avail - start));
    if (r.status == RequestParser::Status::kComplete) {
      if (parser.argc() > 0) {
        std::vector<std::string> args;
        for (size_t i = 0; i < parser.argc(); ++i) args.emplace_back(parser.arg(i));
        out.commands.push_back(args);
      }
      start += r.consumed;
      out.consumed = start;
      continue;
    }
    if (r.status == RequestParser::Status::kError) {
      out.status = r.status;
      out.error = parser.error();
      return out;
    }
    if (avail == input.size()) break;
    avail = chunk == 0 ? input.size() : std::min(avail + chunk, input.size());
  }
  out.status =
      start == input.size() ? RequestParser::Status::kComplete : RequestParser::Status::kNeedMore;
  return out;
}

using Commands = std::vector<std::vector<std::string>>;

TEST(RequestParser, MultibulkCommand) {
  auto p = parseAll("*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$5\r\nhello\r\n");
  EXPECT_EQ(p.status, RequestParser::Status::kComplete);
  EXPECT_EQ(p.commands, (Commands{{"SET", "k", "hello"}}));
}

TEST(RequestParser, BinarySafeArguments) {
  std::string value("a\r\n\0b", 5);
  auto p = parseAll("*2\r\n$4\r\nECHO\r\n$5\r\n" + value + "\r\n");
  ASSERT_EQ(p.commands.size(), 1u);
  EXPECT_EQ(p.commands[0][1], value);
}

TEST(RequestParser, PipelineOfManyCommands) {
  std::string input;
  Commands expected;
  for (int i = 0; i < 1000; ++i) {
    std::string k = "key" + std::to_string(i);
    input += "*2\r\n$3\r\nGET\r\n$" + std::to_string(k.size()) + "\r\n" + k + "\r\n";
    expected.push_back({"GET", k});
  }
  EXPECT_EQ(parseAll(input).commands, expected);
}

TEST(RequestParser, SplitAtEveryByteBoundary) {
  const std::string input =
      "*3\r\n$3\r\nSET\r\n$3\r\nkey\r\n$10\r\n0123456789\r\nPING\r\n*1\r\n$4\r\nPING\r\n"
      "SET \"a b\" 'c'\r\n";
  const Commands expected = {{"SET", "key", "0123456789"}, {"PING"}, {"PING"}, {"SET", "a b", "c"}};
  for (size_t chunk = 1; chunk <= input.size(); ++chunk) {
    auto p = parseAll(input, chunk);
    EXPECT_EQ(p.commands, expected) << "chunk " << chunk;
    EXPECT_EQ(p.status, RequestParser::Status::kComplete) << "chunk " << chunk;
  }
  // And every single split point into two pieces.
  for (size_t cut = 0; cut <= input.size(); ++cut) {
    RequestParser parser;
    Commands got;
    size_t start = 0;
    for (size_t avail : {cut, input.size()}) {
      while (start <= avail) {
        auto r = parser.parse(std::string_view(input).substr(start, avail - start));
        if (r.status != RequestParser::Status::kComplete) break;
        std::vector<std::string> args;
        for (size_t i = 0; i < parser.argc(); ++i) args.emplace_back(parser.arg(i));
        if (!args.empty()) got.push_back(args);
        start += r.consumed;
      }
    }
    EXPECT_EQ(got, expected) << "cut " << cut;
  }
}

TEST(RequestParser, InlineCommands) {
  EXPECT_EQ(parseAll("PING\r\n").commands, (Commands{{"PING"}}));
  EXPECT_EQ(parseAll("PING\n").commands, (Commands{{"PING"}}));
  EXPECT_EQ(parseAll("  set  k   v \r\n").commands, (Commands{{"set", "k", "v"}}));
  EXPECT_EQ(parseAll("SET k \"a\\x41\\n\"\r\n").commands, (Commands{{"SET", "k", "aA\n"}}));
  EXPECT_EQ(parseAll("SET k 'it\\'s'\r\n").commands, (Commands{{"SET", "k", "it's"}}));
  EXPECT_EQ(parseAll("ECHO \"\"\r\n").commands, (Commands{{"ECHO", ""}}));
}

TEST(RequestParser, EmptyCommandsAreSkipped) {
  auto p = parseAll("\r\n\n*0\r\n*-1\r\n   \r\nPING\r\n");
  EXPECT_EQ(p.commands, (Commands{{"PING"}}));
  EXPECT_EQ(p.status, RequestParser::Status::kComplete);
}

TEST(RequestParser, RedisFramingQuirks) {
  // Redis does not check the byte after '\r' in headers, nor the two bytes after a payload.
  EXPECT_EQ(parseAll("*1\rX$4\rXPINGxx").commands, (Commands{{"PING"}}));
}

TEST(RequestParser, ProtocolErrorsUseRedisTexts) {
  EXPECT_EQ(parseAll("*1\r\n#4\r\nPING\r\n").error, "ERR Protocol error: expected '$', got '#'");
  EXPECT_EQ(parseAll("*x\r\n").error, "ERR Protocol error: invalid multibulk length");
  EXPECT_EQ(parseAll("*3000000000\r\n").error, "ERR Protocol error: invalid multibulk length");
  EXPECT_EQ(parseAll("*1\r\n$-3\r\n").error, "ERR Protocol error: invalid bulk length");
  EXPECT_EQ(parseAll("*1\r\n$abc\r\n").error, "ERR Protocol error: invalid bulk length");
  EXPECT_EQ(parseAll("*1\r\n$01\r\n").error, "ERR Protocol error: invalid bulk length");
  EXPECT_EQ(parseAll("SET k \"unterminated\r\n").error,
            "ERR Protocol error: unbalanced quotes in request");
  EXPECT_EQ(parseAll("SET k \"a\"b\r\n").error, "ERR Protocol error: unbalanced quotes in request");
}

TEST(RequestParser, CommandsBeforeAnErrorAreKept) {
  auto p = parseAll("PING\r\n*1\r\n!4\r\n");
  EXPECT_EQ(p.commands, (Commands{{"PING"}}));
  EXPECT_EQ(p.status, RequestParser::Status::kError);
}

TEST(RequestParser, LimitsBoundMemory) {
  ParserLimits limits;
  limits.max_bulk_len = 1024;
  EXPECT_EQ(parseAll("*1\r\n$1025\r\n", 0, limits).error,
            "ERR Protocol error: invalid bulk length");
  EXPECT_EQ(parseAll("*1\r\n$1024\r\n", 0, limits).status, RequestParser::Status::kNeedMore);
  // Endless garbage without a line ending.
  EXPECT_EQ(parseAll(std::string(70 * 1024, 'x')).error,
            "ERR Protocol error: too big inline request");
  EXPECT_EQ(parseAll("*" + std::string(70 * 1024, '1')).error,
            "ERR Protocol error: too big mbulk count string");
  EXPECT_EQ(parseAll("*1\r\n$" + std::string(70 * 1024, '1')).error,
            "ERR Protocol error: too big bulk count string");
  // Below the limit the parser just waits.
  EXPECT_EQ(parseAll(std::string(1000, 'x')).status, RequestParser::Status::kNeedMore);
}

TEST(RequestParser, NulHidesALineEndAsInRedis) {
  // Redis searches line ends with strchr: after a NUL it sees none and waits for more, until
  // the buffered bytes pass the 64 KB limit. The line is never complete.
  using S = RequestParser::Status;
  for (const std::string& input :
       {std::string("\0\r\n", 3), std::string("PING\0x\r\n", 8),
        std::string("*1\0\r\n$4\r\nPING\r\n", 15), std::string("*1\r\n$4\0\r\nPING\r\n", 15)}) {
    for (size_t chunk : {0, 1, 3}) {
      auto p = parseAll(input, chunk);
      EXPECT_EQ(p.status, S::kNeedMore) << "chunk " << chunk;
      EXPECT_TRUE(p.commands.empty());
    }
  }
  // A NUL after the line end belongs to the next command.
  EXPECT_EQ(parseAll(std::string("PING\r\n\0", 7)).commands, (Commands{{"PING"}}));
  // Bytes keep arriving after the NUL: refused once more than 64 KB are buffered.
  std::string stalled = std::string("PING\0\r\n", 7) + std::string(64 * 1024, 'x');
  EXPECT_EQ(parseAll(stalled + "\r\n").error, "ERR Protocol error: too big inline request");
  EXPECT_EQ(parseAll(std::string("*1\0\r\n", 5) + std::string(64 * 1024, 'x')).error,
            "ERR Protocol error: too big mbulk count string");
}

TEST(RequestParser, InlineLinesOver64KbAreRefusedWhereverTheLineEnds) {
  const size_t limit = 64 * 1024;
  // The line before '\n' (a '\r' included) may be up to the limit.
  for (size_t len : {limit - 2, limit - 1, limit}) {
    std::string line = "ECHO " + std::string(len - 5, 'a');
    auto p = parseAll(line + "\n");
    ASSERT_EQ(p.commands.size(), 1u) << len;
    EXPECT_EQ(p.commands[0][1].size(), len - 5);
  }
  for (size_t len : {limit + 1, limit + 2, 3 * limit, 16 * limit}) {
    std::string line = "ECHO " + std::string(len - 5, 'a');
    for (size_t chunk : {size_t{0}, size_t{16 * 1024}, size_t{1000}}) {
      EXPECT_EQ(parseAll(line + "\n" + "PING\r\n", chunk).error,
                "ERR Protocol error: too big inline request")
          << len << " chunk " << chunk;
    }
  }
}

TEST(RequestParser, HugeBulkLengthDoesNotAllocate) {
  // A 500 MB announced argument is accepted as a length but nothing is allocated for it.
  auto p = parseAll("*2\r\n$3\r\nSET\r\n$500000000\r\nabc");
  EXPECT_EQ(p.status, RequestParser::Status::kNeedMore);
  EXPECT_TRUE(p.commands.empty());
}

}  // namespace
}  // namespace tfproxy::resp
