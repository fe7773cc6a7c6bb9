#include "base/metrics.h"

#include <gtest/gtest.h>

#include <thread>
#include <vector>

namespace tfproxy::metrics {
namespace {

using std::chrono::microseconds;
using std::chrono::milliseconds;

TEST(HistogramTest, CountsEachObservationInTheFirstBucketThatHoldsIt) {
  Histogram h;
  h.observe(microseconds(10));     // <= 50 us
  h.observe(microseconds(50));     // on the bound: still that bucket
  h.observe(microseconds(51));     // <= 100 us
  h.observe(milliseconds(20000));  // above the last bound
  EXPECT_EQ(h.bucket(0), 2u);
  EXPECT_EQ(h.bucket(1), 1u);
  EXPECT_EQ(h.bucket(Histogram::kBounds.size()), 1u);
  EXPECT_EQ(h.count(), 4u);
  EXPECT_EQ(h.sumMicros(), 10u + 50 + 51 + 20000000);
}

TEST(HistogramTest, QuantilesAreBucketBounds) {
  Histogram h;
  EXPECT_EQ(h.quantile(0.5), 0);
  for (int i = 0; i < 98; ++i) h.observe(microseconds(80));  // <= 100 us
  h.observe(milliseconds(3));                                // <= 5 ms
  h.observe(milliseconds(3));
  EXPECT_DOUBLE_EQ(h.quantile(0.5), 0.0001);
  EXPECT_DOUBLE_EQ(h.quantile(0.98), 0.0001);
  EXPECT_DOUBLE_EQ(h.quantile(0.99), 0.005);
  EXPECT_DOUBLE_EQ(h.quantile(1.0), 0.005);
}

TEST(CounterTest, AddsFromManyThreads) {
  Counter c;
  Histogram h;
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&] {
      for (int i = 0; i < 10000; ++i) {
        c.add();
        h.observe(microseconds(1));
      }
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(c.value(), 40000u);
  EXPECT_EQ(h.count(), 40000u);
  EXPECT_EQ(h.bucket(0), 40000u);
}

TEST(OwnedCounterTest, OneWriterManyReaders) {
  OwnedCounter c;
  Gauge g;
  std::thread reader([&] {
    uint64_t last = 0;
    while (last < 100000) {
      const uint64_t now = c.value();
      EXPECT_GE(now, last);  // never goes back
      last = now;
    }
  });
  for (int i = 0; i < 100000; ++i) c.add();
  reader.join();
  g.add(3);
  g.sub();
  EXPECT_EQ(g.value(), 2);
}

}  // namespace
}  // namespace tfproxy::metrics
