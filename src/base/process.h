// Process-wide settings every cairn binary applies first thing in main().
#ifndef CAIRN_BASE_PROCESS_H_
#define CAIRN_BASE_PROCESS_H_

namespace cairn {

// Release builds turn off absl::Mutex's deadlock detector: Debian's abseil is built with
// it on, and it costs a lock-order graph update on every Lock (about 1% of a read-heavy
// profile). Debug and sanitizer builds keep it, so the test suite still catches
// lock-order inversions.
void InitProcess();

}  // namespace cairn

#endif  // CAIRN_BASE_PROCESS_H_
