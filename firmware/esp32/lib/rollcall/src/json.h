// The receiver's JSON bodies, built by hand so the bytes (key order, no spaces) are fixed.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>

#include "event.h"

namespace rollcall {

// Appends s as a JSON string literal, quotes included. Escapes like Python's
// json.dumps(ensure_ascii=False): \" \\ \b \f \n \r \t, other control chars as \u00xx; UTF-8 passes through.
void append_json_string(std::string& out, const char* s);

// {"events":[{"device_id":..,"boot_id":..,"seq":..,"kind":..,"ts_ms":..,"payload":{..}},..]}
std::string events_json(const char* device_id, const char* boot_id, const Event* events, size_t count);

struct Heartbeat {
  const char* device_id;
  const char* boot_id;
  const char* firmware;
  uint64_t uptime_s;
  int rssi;
  size_t queue_depth;
  uint32_t free_heap;
};

// {"device_id":..,"boot_id":..,"firmware":..,"uptime_s":..,"rssi":..,"queue_depth":..,"free_heap":..}
std::string heartbeat_json(const Heartbeat& heartbeat);

}  // namespace rollcall
