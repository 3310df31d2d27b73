#include "json.h"

namespace rollcall {

void append_json_string(std::string& out, const char* s) {
  static const char kDigits[] = "0123456789abcdef";
  out += '"';
  for (; *s != '\0'; ++s) {
    unsigned char c = static_cast<unsigned char>(*s);
    switch (c) {
      case '"': out += "\\\""; break;
      case '\\': out += "\\\\"; break;
      case '\b': out += "\\b"; break;
      case '\f': out += "\\f"; break;
      case '\n': out += "\\n"; break;
      case '\r': out += "\\r"; break;
      case '\t': out += "\\t"; break;
      default:
        if (c < 0x20) {
          out += "\\u00";
          out += kDigits[c >> 4];
          out += kDigits[c & 0xf];
        } else {
          out += static_cast<char>(c);
        }
    }
  }
  out += '"';
}

std::string events_json(const char* device_id, const char* boot_id, const Event* events, size_t count) {
  std::string out = "{\"events\":[";
  out.reserve(16 + 128 * count);
  for (size_t i = 0; i < count; ++i) {
    const Event& event = events[i];
    out += i == 0 ? "{\"device_id\":" : ",{\"device_id\":";
    append_json_string(out, device_id);
    out += ",\"boot_id\":";
    append_json_string(out, boot_id);
    out += ",\"seq\":" + std::to_string(event.seq) + ",\"kind\":";
    append_json_string(out, kind_name(event.kind));
    out += ",\"ts_ms\":" + std::to_string(event.ts_ms) + ",\"payload\":{";
    if (event.kind == EventKind::RfidScan) {
      out += "\"tag\":";
      append_json_string(out, event.tag);
    }
    out += "}}";
  }
  out += "]}";
  return out;
}

std::string heartbeat_json(const Heartbeat& heartbeat) {
  std::string out = "{\"device_id\":";
  append_json_string(out, heartbeat.device_id);
  out += ",\"boot_id\":";
  append_json_string(out, heartbeat.boot_id);
  out += ",\"firmware\":";
  append_json_string(out, heartbeat.firmware);
  out += ",\"uptime_s\":" + std::to_string(heartbeat.uptime_s);
  out += ",\"rssi\":" + std::to_string(heartbeat.rssi);
  out += ",\"queue_depth\":" + std::to_string(heartbeat.queue_depth);
  out += ",\"free_heap\":" + std::to_string(heartbeat.free_heap) + "}";
  return out;
}

}  // namespace rollcall
