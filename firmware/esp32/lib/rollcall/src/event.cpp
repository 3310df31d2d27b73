#include "event.h"

#include <cstring>

namespace rollcall {
namespace {

constexpr const char* kNames[] = {"beam.front", "beam.back", "rfid.scan", "pir.trigger", "button.press"};

}  // namespace

const char* kind_name(EventKind kind) { return kNames[static_cast<size_t>(kind)]; }

bool kind_from_name(const char* name, EventKind* kind) {
  for (size_t i = 0; i < sizeof(kNames) / sizeof(kNames[0]); ++i) {
    if (std::strcmp(name, kNames[i]) == 0) {
      *kind = static_cast<EventKind>(i);
      return true;
    }
  }
  return false;
}

bool uid_to_tag(const uint8_t* uid, size_t len, char (&tag)[kMaxTagChars + 1]) {
  static const char kDigits[] = "0123456789ABCDEF";
  tag[0] = '\0';
  if (2 * len > kMaxTagChars) return false;
  for (size_t i = 0; i < len; ++i) {
    tag[2 * i] = kDigits[uid[i] >> 4];
    tag[2 * i + 1] = kDigits[uid[i] & 0xf];
  }
  tag[2 * len] = '\0';
  return true;
}

}  // namespace rollcall
