// Maps millis() to Unix time once NTP has answered, so events seen before that get a real timestamp later.
#pragma once

#include <cstdint>

namespace rollcall {

class WallClock {
 public:
  // Anything before 2024-01-01 means SNTP has not set the clock yet (it starts at 1970).
  static constexpr int64_t kEarliestValidUnixMs = 1704067200000;

  // Records that Unix time unix_ms was read at millis() == now_ms. Returns false (and ignores it) if too early.
  bool sync(int64_t unix_ms, uint32_t now_ms);
  bool valid() const { return valid_; }
  // Unix ms at millis() == at_ms; at_ms may be before or after the sync point (within 24 days, wrap-safe).
  int64_t unix_ms(uint32_t at_ms) const;
  int64_t unix_s(uint32_t now_ms) const { return unix_ms(now_ms) / 1000; }

 private:
  bool valid_ = false;
  int64_t sync_unix_ms_ = 0;
  uint32_t sync_at_ms_ = 0;
};

}  // namespace rollcall
