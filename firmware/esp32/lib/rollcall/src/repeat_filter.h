// Drops a repeat of the same key within window_ms of the last accepted one: a card waved twice over the
// RFID reader, or a PIR that keeps firing while one person stands in front of the camera.
#pragma once

#include <cstdint>

#include "event.h"

namespace rollcall {

class RepeatFilter {
 public:
  explicit RepeatFilter(uint32_t window_ms) : window_ms_(window_ms) {}
  bool accept(uint32_t now_ms, const char* key = "");  // key: at most kMaxTagChars are compared

 private:
  uint32_t window_ms_;
  bool seen_ = false;
  uint32_t last_ms_ = 0;
  char last_key_[kMaxTagChars + 1] = {};
};

}  // namespace rollcall
