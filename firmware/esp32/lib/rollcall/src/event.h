// One sensor event as it waits in the queue: fixed size, so the queue never allocates.
#pragma once

#include <cstddef>
#include <cstdint>

namespace rollcall {

enum class EventKind : uint8_t { BeamFront, BeamBack, RfidScan, PirTrigger, ButtonPress };

const char* kind_name(EventKind kind);                   // "beam.front", ...
bool kind_from_name(const char* name, EventKind* kind);  // false for an unknown name

constexpr size_t kMaxTagChars = 20;  // a 10-byte RFID UID in hex, the longest ISO 14443 UID

struct Event {
  uint32_t seq = 0;
  uint32_t at_ms = 0;  // millis() when it happened
  int64_t ts_ms = 0;   // Unix ms; 0 until the clock is valid (EventQueue::stamp fills it in)
  EventKind kind = EventKind::BeamFront;
  char tag[kMaxTagChars + 1] = {};  // rfid.scan only
};

// Upper-case hex of an RFID UID ("04A1B2C3"); false (tag left empty) if it is too long.
bool uid_to_tag(const uint8_t* uid, size_t len, char (&tag)[kMaxTagChars + 1]);

}  // namespace rollcall
