#include "backend/connection_state.h"

#include <gtest/gtest.h>

namespace tfproxy::backend {
namespace {

ConnectionState after(std::vector<std::vector<std::string>> commands) {
  ConnectionState state;
  for (const auto& command : commands) StateChange::read(command).applyTo(&state);
  return state;
}

TEST(ConnectionStateTest, SelectAuthHelloChangeWhatTheyName) {
  ConnectionState s = after({{"select", "3"}, {"AUTH", "alice", "pw"}, {"hello", "3"}});
  EXPECT_EQ(s.db, 3);
  EXPECT_EQ(s.user, "alice");
  EXPECT_EQ(s.password, "pw");
  EXPECT_EQ(s.protocol, resp::Protocol::kResp3);
}

TEST(ConnectionStateTest, AuthWithOnePasswordIsTheDefaultUser) {
  ConnectionState s = after({{"AUTH", "alice", "pw"}, {"AUTH", "secret"}});
  EXPECT_EQ(s.user, "default");
  EXPECT_EQ(s.password, "secret");
}

TEST(ConnectionStateTest, HelloAuthAndSetnameInAnyCase) {
  ConnectionState s = after({{"HELLO", "2", "SetName", "x", "Auth", "bob", "pw2"}});
  EXPECT_EQ(s.protocol, resp::Protocol::kResp2);
  EXPECT_EQ(s.user, "bob");
  EXPECT_EQ(s.password, "pw2");
}

TEST(ConnectionStateTest, MalformedArgumentsChangeNothing) {
  ConnectionState fresh;
  EXPECT_EQ(after({{"SELECT", "x"}}), fresh);
  EXPECT_EQ(after({{"SELECT", "1", "2"}}), fresh);
  EXPECT_EQ(after({{"AUTH", "a", "b", "c"}}), fresh);
  EXPECT_EQ(after({{"HELLO", "4"}}), fresh);
  EXPECT_EQ(after({{"GET", "k"}}), fresh);
}

TEST(ConnectionStateTest, ResetIsAFreshConnection) {
  EXPECT_EQ(after({{"SELECT", "5"}, {"AUTH", "a", "b"}, {"HELLO", "3"}, {"RESET"}}),
            ConnectionState{});
}

}  // namespace
}  // namespace tfproxy::backend
