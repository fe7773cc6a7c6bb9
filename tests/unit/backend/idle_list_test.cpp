#include "backend/idle_list.h"

#include <gtest/gtest.h>

#include <string>

namespace tfproxy::backend {
namespace {

struct Conn {
  std::string user;
  int id;
};
using List = IdleList<Conn>;
using namespace std::chrono_literals;

TEST(IdleList, EvictsTheLeastRecentlyUsedOverTheCap) {
  List list;
  const auto t = List::Clock::now();
  for (int i = 0; i < static_cast<int>(List::kMax); ++i) {
    EXPECT_EQ(list.put(std::make_unique<Conn>(Conn{"u", i}), t), nullptr);
  }
  auto evicted = list.put(std::make_unique<Conn>(Conn{"u", 999}), t);
  ASSERT_NE(evicted, nullptr);
  EXPECT_EQ(evicted->id, 0);
  EXPECT_EQ(list.size(), List::kMax);
}

TEST(IdleList, TakesTheMostRecentlyUsedMatch) {
  List list;
  const auto t = List::Clock::now();
  list.put(std::make_unique<Conn>(Conn{"a", 1}), t);
  list.put(std::make_unique<Conn>(Conn{"b", 2}), t);
  list.put(std::make_unique<Conn>(Conn{"a", 3}), t);
  auto is_a = [](Conn& c, List::Clock::time_point) { return c.user == "a"; };
  EXPECT_EQ(list.take(is_a)->id, 3);
  EXPECT_EQ(list.take(is_a)->id, 1);
  EXPECT_EQ(list.take(is_a), nullptr);
  EXPECT_EQ(list.size(), 1u);
}

TEST(IdleList, RemovesDroppedAndExpiredConnections) {
  List list;
  const auto t = List::Clock::now();
  list.put(std::make_unique<Conn>(Conn{"old", 1}), t - List::kExpiry - 1s);
  list.put(std::make_unique<Conn>(Conn{"dead", 2}), t);
  list.put(std::make_unique<Conn>(Conn{"fine", 3}), t);
  auto removed = list.remove([](Conn& c) { return c.user == "dead"; }, t);
  ASSERT_EQ(removed.size(), 2u);
  EXPECT_EQ(list.size(), 1u);
  // Without a time, only what the predicate names goes.
  list.put(std::make_unique<Conn>(Conn{"old", 4}), t - List::kExpiry - 1s);
  EXPECT_TRUE(list.remove([](Conn&) { return false; }).empty());
  EXPECT_EQ(list.size(), 2u);
}

}  // namespace
}  // namespace tfproxy::backend
