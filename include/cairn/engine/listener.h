// EventListener: how an application hears that the database turned read-only after a
// background error and that it resumed (Options::listener), e.g. to log it.
#ifndef CAIRN_ENGINE_LISTENER_H_
#define CAIRN_ENGINE_LISTENER_H_

#include "absl/status/status.h"

namespace cairn::engine {

// Called with the database's internal lock held, from the thread that saw the event:
// return quickly and do not call into the DB.
class EventListener {
 public:
  virtual ~EventListener() = default;
  // From now on writes fail with `error` (a failed WAL write or sync, flush, compaction
  // or MANIFEST write; DB::BackgroundError returns it).
  virtual void OnBackgroundError(const absl::Status& error) { (void)error; }
  // DB::Resume (or the automatic retry) cleared `error`: writes are accepted again.
  virtual void OnResumed(const absl::Status& error) { (void)error; }
  // A resume attempt failed with `error`; the database stays read-only.
  virtual void OnResumeFailed(const absl::Status& error) { (void)error; }
};

}  // namespace cairn::engine

#endif  // CAIRN_ENGINE_LISTENER_H_
