// What to do with a receiver's answer, and how long to wait before trying again.
#pragma once

#include <cstdint>

namespace rollcall {

enum class Outcome {
  Stored,   // 2xx: the receiver has the data (new or duplicate); forget it
  Refused,  // 4xx except 429: it will never be accepted; log and drop it rather than retry forever
  Retry,    // 429, 5xx, or a network error (HTTPClient's negative codes): keep it, back off
};

Outcome classify(int http_status);

// Exponential back-off with "equal jitter": after n failures wait a random time in [d/2, d],
// d = min(base * 2^(n-1), max). The jitter keeps many devices from retrying in lock-step after an outage.
class Backoff {
 public:
  using Random = uint32_t (*)();  // esp_random on the device; a fixed sequence in tests

  Backoff(uint32_t base_ms, uint32_t max_ms, Random random) : base_ms_(base_ms), max_ms_(max_ms), random_(random) {}

  bool ready(uint32_t now_ms) const;   // may we try now?
  uint32_t failed(uint32_t now_ms);    // records a failure; returns the wait chosen
  void succeeded() { failures_ = 0; }  // back to full speed
  uint32_t failures() const { return failures_; }

 private:
  uint32_t base_ms_;
  uint32_t max_ms_;
  Random random_;
  uint32_t failures_ = 0;
  uint32_t retry_at_ms_ = 0;
};

}  // namespace rollcall
