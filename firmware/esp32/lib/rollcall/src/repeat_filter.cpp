#include "repeat_filter.h"

#include <cstring>

namespace rollcall {

bool RepeatFilter::accept(uint32_t now_ms, const char* key) {
  if (seen_ && now_ms - last_ms_ < window_ms_ && std::strncmp(key, last_key_, kMaxTagChars) == 0) return false;
  seen_ = true;
  last_ms_ = now_ms;
  std::strncpy(last_key_, key, kMaxTagChars);  // last_key_[kMaxTagChars] stays '\0'
  return true;
}

}  // namespace rollcall
