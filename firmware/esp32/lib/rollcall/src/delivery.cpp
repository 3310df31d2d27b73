#include "delivery.h"

namespace rollcall {

Outcome classify(int http_status) {
  if (http_status >= 200 && http_status < 300) return Outcome::Stored;
  if (http_status >= 400 && http_status < 500 && http_status != 429) return Outcome::Refused;
  return Outcome::Retry;
}

bool Backoff::ready(uint32_t now_ms) const {
  return failures_ == 0 || static_cast<int32_t>(now_ms - retry_at_ms_) >= 0;  // wrap-safe "now >= retry_at"
}

uint32_t Backoff::failed(uint32_t now_ms) {
  uint32_t ceiling = base_ms_;
  for (uint32_t i = 0; i < failures_ && ceiling < max_ms_; ++i) ceiling *= 2;
  if (ceiling > max_ms_) ceiling = max_ms_;
  ++failures_;
  uint32_t half = ceiling / 2;
  uint32_t wait = ceiling - half + random_() % (half + 1);
  retry_at_ms_ = now_ms + wait;
  return wait;
}

}  // namespace rollcall
