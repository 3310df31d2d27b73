// Prints a signed request exactly as the firmware would send it, built with the firmware's own library,
// so tests on the PC can check the bytes against Python and post them to the real receiver.
//
//   sign_tool --secret S --device D --boot B --timestamp U --seq N --ts-ms T --count K [--kind KIND] [--tag TAG]
//   sign_tool --secret S --device D --boot B --timestamp U --heartbeat [--firmware V] [--uptime-s N]
//             [--rssi N] [--queue-depth N] [--free-heap N]
//
// Events get seq N, N+1, ... and ts_ms T, T+1, ...; --tag is the rfid.scan payload (default 04A1B2C3).
// Output, one line: {"path":..,"body":..,"headers":{"X-Device-Id":..,"X-Timestamp":..,"X-Signature":..}}
// The body is a JSON string whose UTF-8 encoding is the exact request body.
#include <rollcall.h>

#include <cerrno>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <map>
#include <string>
#include <vector>

using namespace rollcall;

namespace {

int usage(const char* problem) {
  std::fprintf(stderr,
               "sign_tool: %s\n"
               "usage: sign_tool --secret S --device D --boot B --timestamp U\n"
               "         (--seq N --ts-ms T --count K [--kind KIND] [--tag TAG]\n"
               "          | --heartbeat [--firmware V] [--uptime-s N] [--rssi N] [--queue-depth N] [--free-heap N])\n",
               problem);
  return 2;
}

// Reads a whole decimal integer in [min, max]; false if it is not one.
bool parse_int(const std::string& text, long long min, long long max, long long* out) {
  if (text.empty()) return false;
  errno = 0;
  char* end = nullptr;
  long long value = std::strtoll(text.c_str(), &end, 10);
  if (errno != 0 || *end != '\0' || value < min || value > max) return false;
  *out = value;
  return true;
}

}  // namespace

int main(int argc, char** argv) {
  std::map<std::string, std::string> options = {{"--kind", "beam.front"}, {"--tag", "04A1B2C3"},
                                                {"--firmware", kFirmwareVersion}, {"--uptime-s", "0"},
                                                {"--rssi", "-60"}, {"--queue-depth", "0"}, {"--free-heap", "200000"}};
  const char* valued[] = {"--secret", "--device", "--boot", "--timestamp", "--seq", "--ts-ms", "--count", "--kind",
                          "--tag", "--firmware", "--uptime-s", "--rssi", "--queue-depth", "--free-heap"};
  bool heartbeat = false;
  for (int i = 1; i < argc; ++i) {
    std::string arg = argv[i];
    if (arg == "--heartbeat") {
      heartbeat = true;
      continue;
    }
    bool known = false;
    for (const char* name : valued) known = known || arg == name;
    if (!known) return usage(("unknown argument " + arg).c_str());
    if (i + 1 == argc) return usage((arg + " needs a value").c_str());
    options[arg] = argv[++i];
  }
  for (const char* name : {"--secret", "--device", "--boot", "--timestamp"}) {
    if (options.count(name) == 0) return usage((std::string(name) + " is required").c_str());
  }
  long long timestamp;
  if (!parse_int(options["--timestamp"], 0, INT64_MAX, &timestamp)) return usage("bad --timestamp");
  const std::string& device = options["--device"];
  const std::string& boot = options["--boot"];

  std::string path;
  std::string body;
  if (heartbeat) {
    long long uptime, rssi, depth, heap;
    if (!parse_int(options["--uptime-s"], 0, INT64_MAX, &uptime) || !parse_int(options["--rssi"], -128, 127, &rssi) ||
        !parse_int(options["--queue-depth"], 0, UINT32_MAX, &depth) ||
        !parse_int(options["--free-heap"], 0, UINT32_MAX, &heap)) {
      return usage("bad heartbeat number");
    }
    path = "/v1/heartbeat";
    body = heartbeat_json({device.c_str(), boot.c_str(), options["--firmware"].c_str(), uint64_t(uptime), int(rssi),
                           size_t(depth), uint32_t(heap)});
  } else {
    for (const char* name : {"--seq", "--ts-ms", "--count"}) {
      if (options.count(name) == 0) return usage((std::string(name) + " is required for events").c_str());
    }
    long long seq, ts_ms, count;
    if (!parse_int(options["--seq"], 0, UINT32_MAX, &seq) || !parse_int(options["--ts-ms"], 0, INT64_MAX - 10000, &ts_ms) ||
        !parse_int(options["--count"], 0, 10000, &count) || seq + count - 1 > UINT32_MAX) {
      return usage("bad --seq, --ts-ms or --count");
    }
    EventKind kind;
    if (!kind_from_name(options["--kind"].c_str(), &kind)) return usage("unknown --kind");
    if (options["--tag"].size() > kMaxTagChars) return usage("--tag is longer than 20 characters");
    std::vector<Event> events(static_cast<size_t>(count));
    for (size_t i = 0; i < events.size(); ++i) {
      events[i].seq = uint32_t(seq + (long long)i);
      events[i].ts_ms = ts_ms + (long long)i;
      events[i].kind = kind;
      std::strcpy(events[i].tag, options["--tag"].c_str());
    }
    path = "/v1/events";
    body = events_json(device.c_str(), boot.c_str(), events.data(), events.size());
  }

  SignedHeaders headers = sign_request(options["--secret"].c_str(), device.c_str(), "POST", path.c_str(), timestamp,
                                       reinterpret_cast<const uint8_t*>(body.data()), body.size());
  std::string out = "{\"path\":";
  append_json_string(out, path.c_str());
  out += ",\"body\":";
  append_json_string(out, body.c_str());
  out += ",\"headers\":{\"X-Device-Id\":";
  append_json_string(out, headers.device_id.c_str());
  out += ",\"X-Timestamp\":";
  append_json_string(out, headers.timestamp.c_str());
  out += ",\"X-Signature\":";
  append_json_string(out, headers.signature.c_str());
  out += "}}\n";
  std::fputs(out.c_str(), stdout);
  return 0;
}
