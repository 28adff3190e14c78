#include "base/process.h"

#include "absl/synchronization/mutex.h"

namespace cairn {

void InitProcess() {
#ifdef NDEBUG
  absl::SetMutexDeadlockDetectionMode(absl::OnDeadlockCycle::kIgnore);
#endif
}

}  // namespace cairn
