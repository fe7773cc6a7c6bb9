#include "backend/gate.h"

#include <gtest/gtest.h>

#include <atomic>
#include <thread>
#include <vector>

namespace tfproxy::backend {
namespace {

TEST(Gate, ExclusiveWaitsForInFlightCommands) {
  Gate gate(2);
  ASSERT_TRUE(gate.tryAdmit(0, 2));
  ASSERT_TRUE(gate.tryAdmit(1, 1));
  std::atomic<bool> entered{false};
  std::thread exclusive([&] {
    gate.lockExclusive();
    entered = true;
    gate.unlockExclusive();
  });
  std::this_thread::sleep_for(std::chrono::milliseconds(50));
  EXPECT_FALSE(entered);
  EXPECT_TRUE(gate.closed());
  EXPECT_FALSE(gate.tryAdmit(0, 1));  // closed: new commands wait
  gate.release(0, 2);
  std::this_thread::sleep_for(std::chrono::milliseconds(20));
  EXPECT_FALSE(entered);
  gate.release(1, 1);
  exclusive.join();
  EXPECT_TRUE(entered);
  EXPECT_FALSE(gate.closed());
  EXPECT_TRUE(gate.tryAdmit(0, 1));
}

// The try entry (an I/O thread running a short function) never waits: it enters only a free,
// drained gate, and leaves everything as it found it otherwise.
TEST(Gate, TryExclusiveEntersOnlyWithoutWaiting) {
  Gate gate(2);
  ASSERT_EQ(gate.tryLockExclusive(), Gate::TryResult::kEntered);
  EXPECT_TRUE(gate.closed());
  EXPECT_FALSE(gate.tryAdmit(1, 1));
  EXPECT_EQ(gate.tryLockExclusive(), Gate::TryResult::kBusy);  // one holder at a time
  gate.unlockExclusive();
  EXPECT_FALSE(gate.closed());

  // A command in flight on any thread: refused, and forwarding goes on.
  ASSERT_TRUE(gate.tryAdmit(1, 1));
  EXPECT_EQ(gate.tryLockExclusive(), Gate::TryResult::kBusy);
  EXPECT_FALSE(gate.closed());
  EXPECT_TRUE(gate.tryAdmit(0, 1));
  gate.release(0, 1);
  gate.release(1, 1);

  // A forwarder held back by an earlier section goes first.
  gate.addWaiter();
  EXPECT_EQ(gate.tryLockExclusive(), Gate::TryResult::kBusy);
  gate.removeWaiters(1);

  // A section waiting for the gate goes first.
  gate.lockExclusive();
  std::atomic<bool> second_entered{false};
  std::thread second([&] {
    gate.lockExclusive();
    second_entered = true;
    gate.unlockExclusive();
  });
  while (gate.sectionsWaiting() == 0) std::this_thread::yield();
  EXPECT_EQ(gate.tryLockExclusive(), Gate::TryResult::kBusy);
  gate.unlockExclusive();
  second.join();
  EXPECT_TRUE(second_entered);
  EXPECT_EQ(gate.tryLockExclusive(), Gate::TryResult::kEntered);
  gate.unlockExclusive();
  EXPECT_EQ(gate.exclusiveEntries(), 4u);
}

// With a coordinator (the fleet), the try entry needs its lock at hand: a coordinator that would
// have to ask other instances refuses, and the gate is left open.
TEST(Gate, TryExclusiveAsksTheCoordinatorWithoutWaiting) {
  struct Coordinator : GateCoordinator {
    bool lock(bool) override { return true; }
    void closeOthers() override {}
    void release(bool) override { ++released; }
    bool tryLock() override { return at_hand; }
    bool wouldKeepLock() override { return alone; }
    bool at_hand = false;
    bool alone = true;
    int released = 0;
  };
  Gate gate(1);
  Coordinator fleet;
  gate.setCoordinator(&fleet);
  EXPECT_EQ(gate.tryLockExclusive(), Gate::TryResult::kCoordinator);
  EXPECT_FALSE(gate.closed());
  fleet.alone = false;  // a section entered the slow way would not keep the lock: just busy
  EXPECT_EQ(gate.tryLockExclusive(), Gate::TryResult::kBusy);
  EXPECT_TRUE(gate.tryAdmit(0, 1));
  gate.release(0, 1);
  fleet.at_hand = true;
  ASSERT_EQ(gate.tryLockExclusive(), Gate::TryResult::kEntered);
  gate.unlockExclusive();
  EXPECT_EQ(fleet.released, 1);
}

// Forwarders and exclusive holders race; no admitted command may ever be in flight while an
// exclusive section runs.
// A section that held a forwarder back leaves the gate open for a while before the next one;
// one that held nobody back does not delay the next.
TEST(Gate, SectionsThatHeldForwardersBackLeaveTheGateOpen) {
  using Clock = std::chrono::steady_clock;
  Gate gate(1);
  gate.lockExclusive();
  EXPECT_FALSE(gate.tryAdmit(0, 1));
  gate.addWaiter();  // a session registers as held back
  std::this_thread::sleep_for(std::chrono::milliseconds(10));
  gate.unlockExclusive();
  ASSERT_TRUE(gate.tryAdmit(0, 1));  // its turn: it sends and unregisters
  gate.removeWaiters(1);
  gate.release(0, 1);
  auto start = Clock::now();
  gate.lockExclusive();
  EXPECT_GE(Clock::now() - start, std::chrono::milliseconds(2));  // held 10 ms, open >= 2 ms
  gate.unlockExclusive();

  // Nobody was held back by that section: sections follow each other without a pause, which a
  // hundred of them in well under a hundred times the cap shows.
  start = Clock::now();
  for (int i = 0; i < 100; ++i) {
    gate.lockExclusive();
    gate.unlockExclusive();
  }
  EXPECT_LT(Clock::now() - start, std::chrono::milliseconds(100));
}

TEST(Gate, TheDrainCountsAsClosedTimeForTheOpenWindow) {
  using Clock = std::chrono::steady_clock;
  Gate gate(1);
  ASSERT_TRUE(gate.tryAdmit(0, 1));  // a forwarded command in flight
  std::thread forwarder([&] {
    while (!gate.closed()) std::this_thread::yield();
    std::this_thread::sleep_for(std::chrono::milliseconds(3));
    gate.addWaiter();    // a session held back meanwhile
    gate.release(0, 1);  // the reply: the drain ends
  });
  gate.lockExclusive();    // drains for at least 3 ms
  gate.unlockExclusive();  // held for next to nothing
  const auto opened = Clock::now();
  forwarder.join();
  gate.removeWaiters(1);  // its turn came
  gate.lockExclusive();
  // Closed for >= 3 ms (drain included), so open about as long; counting the hold alone would
  // not wait at all.
  EXPECT_GE(Clock::now() - opened, std::chrono::milliseconds(2));
  gate.unlockExclusive();
}

TEST(Gate, NoAdmittedCommandOverlapsAnExclusiveSection) {
  Gate gate(2);
  std::atomic<bool> inside{false};
  std::atomic<int> violations{0};
  std::atomic<bool> stop{false};
  std::vector<std::thread> forwarders;
  for (size_t t = 0; t < 2; ++t) {
    forwarders.emplace_back([&, t] {
      while (!stop) {
        if (gate.tryAdmit(t, 1)) {
          if (inside) ++violations;
          gate.release(t, 1);
        }
      }
    });
  }
  std::atomic<int> overlapping{0};  // exclusive holders inside at once
  auto section = [&] {
    if (overlapping.fetch_add(1) != 0) ++violations;
    inside = true;
    inside = false;
    overlapping.fetch_sub(1);
  };
  std::thread exclusive([&] {
    for (int i = 0; i < 2000; ++i) {
      gate.lockExclusive();
      section();
      gate.unlockExclusive();
    }
    stop = true;
  });
  // Sections entered by trying (an I/O thread running a short function) race with both.
  std::atomic<uint64_t> tried{0};
  std::thread trying([&] {
    while (!stop) {
      if (gate.tryLockExclusive() == Gate::TryResult::kEntered) {
        section();
        gate.unlockExclusive();
        ++tried;
      }
    }
  });
  exclusive.join();
  trying.join();
  for (auto& f : forwarders) f.join();
  EXPECT_EQ(violations, 0);
  EXPECT_EQ(gate.exclusiveEntries(), 2000u + tried);
}

// The coordinator (the fleet) takes its lock before this instance's gate closes, closes the
// others once it is closing, and is told before it opens; another instance's close keeps the gate
// closed until its open, whatever this instance's own sections do meanwhile.
TEST(Gate, CoordinatorAndOtherClosers) {
  struct Recorder : GateCoordinator {
    explicit Recorder(Gate& g) : gate(g) {}
    bool lock(bool) override {
      closed_at_lock = gate.closed();
      return true;
    }
    void closeOthers() override { closed_at_close = gate.closed(); }
    void release(bool) override { closed_at_release = gate.closed(); }
    Gate& gate;
    bool closed_at_lock = true;
    bool closed_at_close = false;
    bool closed_at_release = false;
  };
  Gate gate(1);
  Recorder fleet(gate);
  gate.setCoordinator(&fleet);
  gate.lockExclusive();
  gate.unlockExclusive();
  EXPECT_FALSE(fleet.closed_at_lock);
  EXPECT_TRUE(fleet.closed_at_close);
  EXPECT_TRUE(fleet.closed_at_release);
  EXPECT_FALSE(gate.closed());

  ASSERT_TRUE(gate.tryAdmit(0, 1));
  gate.close();  // another instance's section
  EXPECT_FALSE(gate.tryAdmit(0, 1));
  EXPECT_FALSE(gate.waitDrainedFor(std::chrono::milliseconds(20)));  // one still in flight
  gate.release(0, 1);
  EXPECT_TRUE(gate.waitDrainedFor(std::chrono::milliseconds(20)));
  gate.lockExclusive();
  gate.unlockExclusive();
  EXPECT_TRUE(gate.closed());  // still closed for the other instance
  gate.open();
  EXPECT_FALSE(gate.closed());
  EXPECT_TRUE(gate.tryAdmit(0, 1));
  gate.release(0, 1);
}

// Past the admission deadline (a heartbeat not answered in time) nothing is admitted, without
// any closer; a new deadline admits again.
TEST(Gate, AdmissionDeadline) {
  Gate gate(1);
  EXPECT_TRUE(gate.tryAdmit(0, 1));
  gate.release(0, 1);
  gate.setAdmitUntil(Gate::coarseMs() - 1);
  EXPECT_FALSE(gate.tryAdmit(0, 1));
  EXPECT_FALSE(gate.closed());
  gate.setAdmitUntil(Gate::coarseMs() + 60000);
  EXPECT_TRUE(gate.tryAdmit(0, 1));
  gate.release(0, 1);
}

}  // namespace
}  // namespace tfproxy::backend
