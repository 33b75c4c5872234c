#include "runtime/admission.h"

#include <gtest/gtest.h>

namespace kiln::runtime {
namespace {

using Outcome = AdmissionControl::Outcome;

TEST(AdmissionControlTest, TurnsAwayAtOnceWhenRunningAndQueueAreFull) {
  AdmissionControl admission(1, 0, std::chrono::milliseconds(0));
  AdmissionControl::Ticket first, second;
  EXPECT_EQ(admission.admit(first), Outcome::kAdmitted);
  EXPECT_EQ(admission.admit(second), Outcome::kQueueFull);
  EXPECT_FALSE(second.admitted());
  EXPECT_EQ(admission.running(), 1u);
}

TEST(AdmissionControlTest, QueuedRequestTimesOutWhenNoSlotFrees) {
  AdmissionControl admission(1, 1, std::chrono::milliseconds(0));
  AdmissionControl::Ticket first, second;
  ASSERT_EQ(admission.admit(first), Outcome::kAdmitted);
  EXPECT_EQ(admission.admit(second), Outcome::kTimedOut);
}

TEST(AdmissionControlTest, ReleasingATicketAdmitsTheNextRequest) {
  AdmissionControl admission(2, 0, std::chrono::milliseconds(0));
  AdmissionControl::Ticket a, b, c;
  ASSERT_EQ(admission.admit(a), Outcome::kAdmitted);
  ASSERT_EQ(admission.admit(b), Outcome::kAdmitted);
  ASSERT_EQ(admission.admit(c), Outcome::kQueueFull);
  a = AdmissionControl::Ticket();  // Releases a's slot.
  EXPECT_EQ(admission.admit(c), Outcome::kAdmitted);
  EXPECT_EQ(admission.running(), 2u);
}

}  // namespace
}  // namespace kiln::runtime
