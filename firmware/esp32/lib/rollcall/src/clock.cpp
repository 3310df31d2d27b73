#include "clock.h"

namespace rollcall {

bool WallClock::sync(int64_t unix_ms, uint32_t now_ms) {
  if (unix_ms < kEarliestValidUnixMs) return false;
  valid_ = true;
  sync_unix_ms_ = unix_ms;
  sync_at_ms_ = now_ms;
  return true;
}

int64_t WallClock::unix_ms(uint32_t at_ms) const {
  // The unsigned difference read as signed survives the 49-day millis() wrap and times before the sync.
  return sync_unix_ms_ + static_cast<int32_t>(at_ms - sync_at_ms_);
}

}  // namespace rollcall
