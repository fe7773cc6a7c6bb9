#include "server/pipeline.h"

#include <gtest/gtest.h>

#include "backend/command_table.h"

namespace tfproxy::server {
namespace {

class FakeGate : public ForwardGate {
 public:
  bool tryAdmit(uint32_t counted) override {
    if (closed) return false;
    in_flight += counted;
    return true;
  }
  void release(uint32_t counted) override { in_flight -= counted; }
  bool closed = false;
  int64_t in_flight = 0;
};

// Drives a Pipeline like a session would, with strings instead of sockets.
class PipelineTest : public ::testing::Test {
 protected:
  PipelineTest() : index_(backend::CommandTable::builtin()) {
    index_.intercept("tfcall", -3);
    pipeline_ = std::make_unique<Pipeline>(index_, gate_, PipelineLimits{});
  }

  Pipeline::Stop client(const std::string& bytes) {
    input_ += bytes;
    auto r = pipeline_->onClientInput(input_, &to_backend_, &to_client_);
    input_.erase(0, r.consumed);
    return r.stop;
  }
  void backend(const std::string& bytes) {
    backend_in_ += bytes;
    size_t used = pipeline_->onBackendInput(backend_in_, &to_client_);
    ASSERT_NE(used, std::string::npos);
    backend_in_.erase(0, used);
  }
  std::string takeBackend() { return std::exchange(to_backend_, {}); }
  std::string takeClient() { return std::exchange(to_client_, {}); }

  CommandIndex index_;
  FakeGate gate_;
  std::unique_ptr<Pipeline> pipeline_;
  std::string input_, backend_in_, to_backend_, to_client_;
};

TEST_F(PipelineTest, ForwardsBytesUnchangedAndRepliesInOrder) {
  std::string cmds =
      "*2\r\n$3\r\nGET\r\n$1\r\na\r\nPING\r\n*3\r\n$3\r\nSET\r\n$1\r\nb\r\n$1\r\n1\r\n";
  EXPECT_EQ(client(cmds), Pipeline::Stop::kNeedMore);
  EXPECT_EQ(takeBackend(), cmds);
  EXPECT_EQ(gate_.in_flight, 3);
  backend("$1\r\nx\r\n+PO");
  EXPECT_EQ(takeClient(), "$1\r\nx\r\n");
  backend("NG\r\n+OK\r\n");
  EXPECT_EQ(takeClient(), "+PONG\r\n+OK\r\n");
  EXPECT_EQ(gate_.in_flight, 0);
  EXPECT_TRUE(pipeline_->idle());
}

TEST_F(PipelineTest, PartialCommandWaits) {
  EXPECT_EQ(client("*2\r\n$3\r\nGET\r\n$1\r"), Pipeline::Stop::kNeedMore);
  EXPECT_EQ(takeBackend(), "");
  EXPECT_EQ(client("\na\r\n"), Pipeline::Stop::kNeedMore);
  EXPECT_EQ(takeBackend(), "*2\r\n$3\r\nGET\r\n$1\r\na\r\n");
}

TEST_F(PipelineTest, ClosedGateHoldsCommandsBack) {
  gate_.closed = true;
  EXPECT_EQ(client("PING\r\nPING\r\n"), Pipeline::Stop::kPaused);
  EXPECT_EQ(takeBackend(), "");
  EXPECT_EQ(gate_.in_flight, 0);
  gate_.closed = false;
  EXPECT_EQ(client(""), Pipeline::Stop::kNeedMore);
  EXPECT_EQ(takeBackend(), "PING\r\nPING\r\n");
  EXPECT_EQ(gate_.in_flight, 2);
}

TEST_F(PipelineTest, BlockingCommandsAreNotCounted) {
  client("BLPOP l 0\r\nXREAD BLOCK 0 STREAMS s $\r\nXREAD COUNT 1 STREAMS s 0\r\nWAIT 1 0\r\n");
  EXPECT_EQ(gate_.in_flight, 1);  // only the non-blocking XREAD
  backend("*-1\r\n*-1\r\n*-1\r\n:0\r\n");
  EXPECT_EQ(gate_.in_flight, 0);
  EXPECT_EQ(takeClient(), "*-1\r\n*-1\r\n*-1\r\n:0\r\n");
}

TEST_F(PipelineTest, ProtocolErrorAfterEarlierReplies) {
  EXPECT_EQ(client("PING\r\n*1\r\n#4\r\n"), Pipeline::Stop::kClose);
  EXPECT_EQ(takeBackend(), "PING\r\n");
  EXPECT_EQ(takeClient(), "");  // the error waits for PING's reply
  backend("+PONG\r\n");
  EXPECT_EQ(takeClient(), "+PONG\r\n-ERR Protocol error: expected '$', got '#'\r\n");
  EXPECT_TRUE(pipeline_->idle());
}

TEST_F(PipelineTest, QuitIsAnsweredLocallyAfterEarlierReplies) {
  EXPECT_EQ(client("GET a\r\nQUIT\r\nGET b\r\n"), Pipeline::Stop::kClose);
  EXPECT_EQ(takeBackend(), "GET a\r\n");
  backend("$-1\r\n");
  EXPECT_EQ(takeClient(), "$-1\r\n+OK\r\n");
}

TEST_F(PipelineTest, TracksConnectionStateFromReplies) {
  client("SELECT 3\r\nHELLO 3 AUTH alice pw\r\n");
  backend("+OK\r\n%1\r\n$6\r\nserver\r\n$5\r\nredis\r\n");
  EXPECT_EQ(pipeline_->db(), 3);
  EXPECT_EQ(pipeline_->protocol(), resp::Protocol::kResp3);
  EXPECT_EQ(pipeline_->user(), "alice");
  client("AUTH bob wrong\r\n");
  backend("-WRONGPASS invalid username-password pair or user is disabled.\r\n");
  EXPECT_EQ(pipeline_->user(), "alice");
  client("RESET\r\n");
  backend("+RESET\r\n");
  EXPECT_EQ(pipeline_->db(), 0);
  EXPECT_EQ(pipeline_->protocol(), resp::Protocol::kResp2);
  EXPECT_EQ(pipeline_->user(), "default");
}

// Inside MULTI, SELECT and AUTH only change the connection once EXEC ran them successfully.
TEST_F(PipelineTest, QueuedStateChangesApplyWhenExecRunsThem) {
  client("MULTI\r\nSELECT 3\r\nAUTH alice pw\r\nSELECT 99\r\nEXEC\r\n");
  backend("+OK\r\n+QUEUED\r\n+QUEUED\r\n+QUEUED\r\n");
  EXPECT_EQ(pipeline_->db(), 0);  // queued, not run
  EXPECT_EQ(pipeline_->user(), "default");
  backend("*3\r\n+OK\r\n+OK\r\n-ERR DB index is out of range\r\n");
  EXPECT_EQ(pipeline_->db(), 3);
  EXPECT_EQ(pipeline_->user(), "alice");
  EXPECT_FALSE(pipeline_->inMulti());

  client("MULTI\r\nSELECT 5\r\nDISCARD\r\n");
  backend("+OK\r\n+QUEUED\r\n+OK\r\n");
  EXPECT_EQ(pipeline_->db(), 3);

  client("MULTI\r\nSELECT 6\r\nEXEC\r\n");  // a WATCHed key changed
  backend("+OK\r\n+QUEUED\r\n*-1\r\n");
  EXPECT_EQ(pipeline_->db(), 3);

  client("MULTI\r\nSELECT 7\r\nNOSUCH\r\nEXEC\r\n");
  backend("+OK\r\n+QUEUED\r\n-ERR unknown command 'NOSUCH'\r\n");
  backend("-EXECABORT Transaction discarded because of previous errors.\r\n");
  EXPECT_EQ(pipeline_->db(), 3);
  EXPECT_TRUE(pipeline_->idle());
}

TEST_F(PipelineTest, Resp2SubscribeConfirmationsAndMessages) {
  client("SUBSCRIBE a b\r\n");
  backend("*3\r\n$9\r\nsubscribe\r\n$1\r\na\r\n:1\r\n");
  EXPECT_FALSE(pipeline_->idle());
  backend("*3\r\n$9\r\nsubscribe\r\n$1\r\nb\r\n:2\r\n");
  EXPECT_TRUE(pipeline_->idle());
  EXPECT_EQ(gate_.in_flight, 0);
  // A message arrives while a PING is pending: it goes out first, PING's reply still pairs.
  client("PING\r\n");
  backend("*3\r\n$7\r\nmessage\r\n$1\r\na\r\n$2\r\nhi\r\n");
  EXPECT_FALSE(pipeline_->idle());
  backend("*2\r\n$4\r\npong\r\n$0\r\n\r\n");
  EXPECT_TRUE(pipeline_->idle());
  takeClient();
  // Unsubscribe from everything: one confirmation per channel.
  client("UNSUBSCRIBE\r\n");
  backend("*3\r\n$11\r\nunsubscribe\r\n$1\r\nb\r\n:1\r\n");
  EXPECT_FALSE(pipeline_->idle());
  backend("*3\r\n$11\r\nunsubscribe\r\n$1\r\na\r\n:0\r\n");
  EXPECT_TRUE(pipeline_->idle());
  EXPECT_FALSE(pipeline_->subscribed());
  // Nothing subscribed: a single confirmation with a nil channel.
  client("PUNSUBSCRIBE\r\n");
  backend("*3\r\n$12\r\npunsubscribe\r\n$-1\r\n:0\r\n");
  EXPECT_TRUE(pipeline_->idle());
}

TEST_F(PipelineTest, Resp3PushesPassThroughInStreamOrder) {
  client("HELLO 3\r\n");
  backend("%0\r\n");
  takeClient();
  client("SUBSCRIBE a\r\nGET k\r\n");
  backend(
      ">3\r\n$9\r\nsubscribe\r\n$1\r\na\r\n:1\r\n>3\r\n$7\r\nmessage\r\n$1\r\na\r\n$1\r\nm\r\n");
  EXPECT_FALSE(pipeline_->idle());  // GET still pending: the message is not its reply
  backend("_\r\n");
  EXPECT_TRUE(pipeline_->idle());
  EXPECT_EQ(
      takeClient(),
      ">3\r\n$9\r\nsubscribe\r\n$1\r\na\r\n:1\r\n>3\r\n$7\r\nmessage\r\n$1\r\na\r\n$1\r\nm\r\n"
      "_\r\n");
  // A push with nothing pending is written at once.
  backend(">2\r\n$10\r\ninvalidate\r\n*1\r\n$1\r\nk\r\n");
  EXPECT_EQ(takeClient(), ">2\r\n$10\r\ninvalidate\r\n*1\r\n$1\r\nk\r\n");
}

TEST_F(PipelineTest, MonitorLinesAreNotReplies) {
  client("MONITOR\r\n");
  backend("+OK\r\n");
  EXPECT_TRUE(pipeline_->monitoring());
  client("PING\r\n");
  backend("+1795756192.665538 [0 127.0.0.1:39836] \"get\" \"x\"\r\n");
  EXPECT_FALSE(pipeline_->idle());
  backend("+PONG\r\n");
  EXPECT_TRUE(pipeline_->idle());
}

TEST_F(PipelineTest, ClientReplyOffAndSkip) {
  client(
      "CLIENT REPLY OFF\r\nPING\r\nCLIENT REPLY SKIP\r\nCLIENT REPLY ON\r\nPING\r\n"
      "CLIENT REPLY SKIP\r\nPING\r\nPING\r\n");
  backend("+OK\r\n+PONG\r\n");
  EXPECT_FALSE(pipeline_->idle());
  backend("+PONG\r\n");
  EXPECT_TRUE(pipeline_->idle());
  EXPECT_EQ(takeClient(), "+OK\r\n+PONG\r\n+PONG\r\n");
}

TEST_F(PipelineTest, TransactionRepliesAreQueued) {
  client("MULTI\r\nSUBSCRIBE a b\r\nEXEC\r\n");
  backend("+OK\r\n+QUEUED\r\n");
  EXPECT_TRUE(pipeline_->inMulti());
  EXPECT_FALSE(pipeline_->idle());
  backend("*1\r\n*3\r\n$9\r\nsubscribe\r\n$1\r\na\r\n:1\r\n");
  EXPECT_TRUE(pipeline_->idle());
  EXPECT_FALSE(pipeline_->inMulti());
}

TEST_F(PipelineTest, InterceptedCommandWaitsForEarlierRepliesAndHoldsLaterOnes) {
  EXPECT_EQ(client("SELECT 2\r\nTFCALL lib.f 0\r\nGET after\r\n"), Pipeline::Stop::kBarrier);
  EXPECT_EQ(takeBackend(), "SELECT 2\r\n");
  EXPECT_EQ(pipeline_->readyIntercepted(), nullptr);  // SELECT not answered yet
  backend("+OK\r\n");
  const auto* request = pipeline_->readyIntercepted();
  ASSERT_NE(request, nullptr);
  EXPECT_EQ(request->argv, (std::vector<std::string>{"TFCALL", "lib.f", "0"}));
  EXPECT_EQ(pipeline_->db(), 2);
  EXPECT_EQ(client(""), Pipeline::Stop::kBarrier);
  EXPECT_EQ(takeBackend(), "");
  pipeline_->completeIntercepted(":42\r\n", &to_client_);
  EXPECT_EQ(client(""), Pipeline::Stop::kNeedMore);
  EXPECT_EQ(takeBackend(), "GET after\r\n");
  backend("$-1\r\n");
  EXPECT_EQ(takeClient(), "+OK\r\n:42\r\n$-1\r\n");
}

TEST_F(PipelineTest, UnavailableBackendAnswersErrors) {
  pipeline_->setUnavailable("ERR tfproxy: backend unavailable: Connection refused");
  client("PING\r\nGET a\r\n");
  EXPECT_EQ(takeBackend(), "");
  EXPECT_EQ(takeClient(),
            "-ERR tfproxy: backend unavailable: Connection refused\r\n"
            "-ERR tfproxy: backend unavailable: Connection refused\r\n");
}

TEST_F(PipelineTest, BackendLossAnswersEveryPendingReply) {
  client("GET a\r\nGET b\r\nSUBSCRIBE c\r\n");
  backend("$1\r\n1\r\n");
  pipeline_->onBackendLost("ERR gone", &to_client_);
  EXPECT_EQ(takeClient(), "$1\r\n1\r\n-ERR gone\r\n-ERR gone\r\n");
  EXPECT_EQ(gate_.in_flight, 0);
  EXPECT_TRUE(pipeline_->idle());
}

TEST_F(PipelineTest, AbandonReturnsGateCounts) {
  client("GET a\r\nGET b\r\nSUBSCRIBE c\r\n");
  EXPECT_EQ(gate_.in_flight, 3);
  pipeline_.reset();
  EXPECT_EQ(gate_.in_flight, 0);
}

TEST_F(PipelineTest, ThousandsOfPipelinedCommandsShareOneSlot) {
  std::string cmds, replies;
  for (int i = 0; i < 5000; ++i) {
    cmds += "INCR n\r\n";
    replies += ":" + std::to_string(i + 1) + "\r\n";
  }
  client(cmds);
  EXPECT_EQ(takeBackend(), cmds);
  for (size_t i = 0; i < replies.size(); i += 777) backend(replies.substr(i, 777));
  EXPECT_EQ(takeClient(), replies);
  EXPECT_EQ(gate_.in_flight, 0);
}

}  // namespace
}  // namespace tfproxy::server

namespace tfproxy::server {
namespace {

// The query buffer limit holds for one command however the bytes arrive: in pieces (the command
// still unfinished) or all at once (complete in one read).
TEST(PipelineLimitTest, OneCommandOverTheQueryBufferLimitClosesInEveryArrival) {
  backend::CommandIndex index(backend::CommandTable::builtin());
  PipelineLimits limits;
  limits.query_buffer_limit = 1000;
  std::string command = "*201\r\n$3\r\nDEL\r\n";
  for (int i = 0; i < 200; ++i) command += "$1\r\nk\r\n";  // 1415 bytes, complete
  for (size_t piece : {command.size(), size_t{600}}) {
    FakeGate gate;
    Pipeline pipeline(index, gate, limits);
    std::string to_backend, to_client, input;
    Pipeline::Stop stop = Pipeline::Stop::kNeedMore;
    for (size_t at = 0; at < command.size() && stop == Pipeline::Stop::kNeedMore; at += piece) {
      input += command.substr(at, piece);
      auto r = pipeline.onClientInput(input, &to_backend, &to_client);
      input.erase(0, r.consumed);
      stop = r.stop;
    }
    EXPECT_EQ(stop, Pipeline::Stop::kClose) << "pieces of " << piece;
    EXPECT_EQ(to_backend, "") << "pieces of " << piece;
  }
  // A command within the limit is forwarded.
  FakeGate gate;
  Pipeline pipeline(index, gate, limits);
  std::string to_backend, to_client;
  auto r = pipeline.onClientInput("*2\r\n$3\r\nGET\r\n$1\r\nk\r\n", &to_backend, &to_client);
  EXPECT_EQ(r.stop, Pipeline::Stop::kNeedMore);
  EXPECT_FALSE(to_backend.empty());
}

}  // namespace
}  // namespace tfproxy::server
