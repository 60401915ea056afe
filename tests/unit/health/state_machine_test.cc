// SPDX-License-Identifier: Apache-2.0
// Rise/fall hysteresis of the health state machine, driven with explicit (fake) time points.
#include "health/state_machine.h"

#include <gtest/gtest.h>

namespace xlb::health {
namespace {

const ProbeResult kOk{true, "connected"};
const ProbeResult kRefused{false, "connect: connection refused"};

class StateMachineTest : public ::testing::Test {
 protected:
  Clock::time_point t0_{};
  Clock::time_point at(int ms) { return t0_ + Millis(ms); }
};

TEST_F(StateMachineTest, StartsUnknownAndOneSuccessConfirmsUp) {
  HealthStateMachine sm(3, 2);
  EXPECT_EQ(sm.health(), Health::kUnknown);
  auto tr = sm.onResult(kOk, at(0));
  ASSERT_TRUE(tr.has_value());
  EXPECT_EQ(tr->from, Health::kUnknown);
  EXPECT_EQ(tr->to, Health::kUp);
  EXPECT_FALSE(sm.onResult(kOk, at(100)).has_value());
}

TEST_F(StateMachineTest, FallConsecutiveFailuresTakeItDown) {
  HealthStateMachine sm(2, 3);
  sm.onResult(kOk, at(0));
  EXPECT_FALSE(sm.onResult(kRefused, at(100)).has_value());
  EXPECT_FALSE(sm.onResult(kRefused, at(200)).has_value());
  auto tr = sm.onResult(kRefused, at(300));
  ASSERT_TRUE(tr.has_value());
  EXPECT_EQ(tr->from, Health::kUp);
  EXPECT_EQ(tr->to, Health::kDown);
  EXPECT_EQ(tr->reason, "connect: connection refused");
  EXPECT_EQ(tr->at, at(300));
  EXPECT_EQ(sm.lastTransition()->to, Health::kDown);
}

TEST_F(StateMachineTest, UnknownGoesDownAfterFallFailures) {
  HealthStateMachine sm(2, 2);
  EXPECT_FALSE(sm.onResult(kRefused, at(0)).has_value());
  auto tr = sm.onResult(kRefused, at(100));
  ASSERT_TRUE(tr.has_value());
  EXPECT_EQ(tr->from, Health::kUnknown);
  EXPECT_EQ(tr->to, Health::kDown);
}

TEST_F(StateMachineTest, SuccessInterruptsAFailureRun) {
  HealthStateMachine sm(2, 3);
  sm.onResult(kOk, at(0));
  sm.onResult(kRefused, at(1));
  sm.onResult(kRefused, at(2));
  sm.onResult(kOk, at(3));  // resets the failure run
  EXPECT_FALSE(sm.onResult(kRefused, at(4)).has_value());
  EXPECT_FALSE(sm.onResult(kRefused, at(5)).has_value());
  EXPECT_EQ(sm.health(), Health::kUp);
  EXPECT_TRUE(sm.onResult(kRefused, at(6)).has_value());
}

TEST_F(StateMachineTest, RiseConsecutiveSuccessesBringItBack) {
  HealthStateMachine sm(3, 1);
  sm.onResult(kRefused, at(0));
  ASSERT_EQ(sm.health(), Health::kDown);
  EXPECT_FALSE(sm.onResult(kOk, at(1)).has_value());
  EXPECT_FALSE(sm.onResult(kOk, at(2)).has_value());
  sm.onResult(kRefused, at(3));  // resets the success run
  EXPECT_FALSE(sm.onResult(kOk, at(4)).has_value());
  EXPECT_FALSE(sm.onResult(kOk, at(5)).has_value());
  auto tr = sm.onResult(kOk, at(6));
  ASSERT_TRUE(tr.has_value());
  EXPECT_EQ(tr->to, Health::kUp);
  EXPECT_EQ(sm.consecutiveSuccesses(), 3u);
}

TEST_F(StateMachineTest, ACarriedOverDownVerdictNeedsRiseSuccesses) {
  HealthStateMachine sm(2, 3, Health::kDown);  // e.g. adopted from the previous agent's maps
  EXPECT_EQ(sm.health(), Health::kDown);
  EXPECT_FALSE(sm.onResult(kRefused, at(0)).has_value());  // already down: no transition
  EXPECT_FALSE(sm.onResult(kOk, at(1)).has_value());       // one success is not enough
  auto tr = sm.onResult(kOk, at(2));
  ASSERT_TRUE(tr.has_value());
  EXPECT_EQ(tr->from, Health::kDown);
  EXPECT_EQ(tr->to, Health::kUp);
}

TEST_F(StateMachineTest, ZeroThresholdsBehaveAsOne) {
  HealthStateMachine sm(0, 0);
  EXPECT_TRUE(sm.onResult(kRefused, at(0)).has_value());
  EXPECT_TRUE(sm.onResult(kOk, at(1)).has_value());
}

TEST_F(StateMachineTest, NewThresholdsKeepHealth) {
  HealthStateMachine sm(1, 1);
  sm.onResult(kRefused, at(0));
  sm.setThresholds(2, 5);
  EXPECT_EQ(sm.health(), Health::kDown);
  EXPECT_FALSE(sm.onResult(kOk, at(1)).has_value());
  EXPECT_TRUE(sm.onResult(kOk, at(2)).has_value());
}

}  // namespace
}  // namespace xlb::health
