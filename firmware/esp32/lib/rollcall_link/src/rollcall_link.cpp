#include "rollcall_link.h"

#include <Arduino.h>
#include <HTTPClient.h>
#include <WiFi.h>
#include <esp_timer.h>
#include <sys/time.h>

#include <cstring>

using rollcall::Event;
using rollcall::Outcome;

namespace {

constexpr uint32_t kWifiRetryMs = 20000;   // nudge the WiFi stack if auto-reconnect has not managed
constexpr uint32_t kClockReadMs = 600000;  // re-read the NTP-disciplined system clock every 10 min
constexpr uint16_t kHttpTimeoutMs = 5000;  // a request blocks loop() for at most about this long

}  // namespace

DeviceLink::DeviceLink(const LinkConfig& config)
    : config_(config), backoff_(rollcall::kRetryBaseMs, rollcall::kRetryMaxMs, esp_random) {}

void DeviceLink::begin() {
  while (!rollcall::valid_device_id(config_.device_id)) {
    Serial.println("config.h: DEVICE_ID must be 1-64 characters of A-Z a-z 0-9 _ -");
    delay(5000);
  }
  WiFi.mode(WIFI_STA);
  WiFi.setAutoReconnect(true);
  WiFi.begin(config_.wifi_ssid, config_.wifi_password);
  wifi_kick_ms_ = millis();
  // esp_random() is only truly random while the radio runs, hence after WiFi.begin().
  std::lock_guard<std::mutex> lock(mutex_);
  session_ = rollcall::BootSession(esp_random());
  Serial.printf("rollcall: device %s boot %s firmware %s\n", config_.device_id, session_.boot_id(),
                rollcall::kFirmwareVersion);
}

void DeviceLink::record(rollcall::EventKind kind, uint32_t at_ms, const char* tag) {
  Event event;
  event.at_ms = at_ms;
  event.kind = kind;
  std::strncpy(event.tag, tag, rollcall::kMaxTagChars);
  std::lock_guard<std::mutex> lock(mutex_);
  event.seq = session_.next_seq();
  queue_.push(event);
}

uint32_t DeviceLink::next_seq() {
  std::lock_guard<std::mutex> lock(mutex_);
  return session_.next_seq();
}

bool DeviceLink::online() const { return WiFi.status() == WL_CONNECTED && clock_.valid(); }

void DeviceLink::loop() {
  uint32_t now = millis();
  keep_wifi(now);
  keep_clock(now);
  if (!online()) return;
  send_events(now);
  send_heartbeat(millis());
}

void DeviceLink::keep_wifi(uint32_t now_ms) {
  if (WiFi.status() == WL_CONNECTED) {
    if (!ntp_started_) {
      configTime(0, 0, config_.ntp_server);  // UTC; SNTP keeps the system clock in step from here on
      ntp_started_ = true;
    }
    wifi_kick_ms_ = now_ms;
  } else if (now_ms - wifi_kick_ms_ >= kWifiRetryMs) {
    Serial.println("rollcall: WiFi down, reconnecting");
    WiFi.reconnect();
    wifi_kick_ms_ = now_ms;
  }
}

void DeviceLink::keep_clock(uint32_t now_ms) {
  if (clock_.valid() && now_ms - clock_read_ms_ < kClockReadMs) return;
  timeval tv;
  gettimeofday(&tv, nullptr);
  int64_t unix_ms = int64_t(tv.tv_sec) * 1000 + tv.tv_usec / 1000;
  if (clock_.sync(unix_ms, millis())) clock_read_ms_ = now_ms;
}

void DeviceLink::send_events(uint32_t now_ms) {
  if (!backoff_.ready(now_ms)) return;
  Event batch[rollcall::kMaxBatch];
  size_t count;
  uint32_t dropped;
  {
    std::lock_guard<std::mutex> lock(mutex_);
    queue_.stamp(clock_);
    count = queue_.peek(batch, rollcall::kMaxBatch);
    dropped = queue_.dropped();
  }
  if (dropped != dropped_reported_) {
    Serial.printf("rollcall: queue full, %" PRIu32 " oldest events dropped so far\n", dropped);
    dropped_reported_ = dropped;
  }
  if (count == 0) return;
  std::string body = rollcall::events_json(config_.device_id, session_.boot_id(), batch, count);
  int status = post("/v1/events", "application/json", reinterpret_cast<const uint8_t*>(body.data()), body.size());
  Outcome outcome = rollcall::classify(status);
  if (outcome == Outcome::Retry) {
    uint32_t wait = backoff_.failed(now_ms);
    Serial.printf("rollcall: events not delivered (%d), retry in %" PRIu32 " ms\n", status, wait);
    return;
  }
  if (outcome == Outcome::Refused) {
    Serial.printf("rollcall: receiver refused %u events (seq %" PRIu32 "..%" PRIu32 "), dropping them\n",
                  unsigned(count), batch[0].seq, batch[count - 1].seq);
  }
  backoff_.succeeded();
  std::lock_guard<std::mutex> lock(mutex_);
  queue_.remove_through(batch[count - 1].seq);
}

void DeviceLink::send_heartbeat(uint32_t now_ms) {
  if (heartbeat_sent_ && now_ms - heartbeat_ms_ < rollcall::kHeartbeatMs) return;
  heartbeat_sent_ = true;
  heartbeat_ms_ = now_ms;
  size_t depth;
  {
    std::lock_guard<std::mutex> lock(mutex_);
    depth = queue_.size();
  }
  rollcall::Heartbeat heartbeat{config_.device_id,
                                session_.boot_id(),
                                rollcall::kFirmwareVersion,
                                uint64_t(esp_timer_get_time() / 1000000),
                                WiFi.RSSI(),
                                depth,
                                ESP.getFreeHeap()};
  std::string body = rollcall::heartbeat_json(heartbeat);
  // A lost heartbeat is not retried: the next one is due in 30 s anyway.
  post("/v1/heartbeat", "application/json", reinterpret_cast<const uint8_t*>(body.data()), body.size());
}

int DeviceLink::post(const char* path, const char* content_type, const uint8_t* body, size_t len,
                     const ExtraHeader* extra, size_t extra_count) {
  rollcall::SignedHeaders signed_headers = rollcall::sign_request(
      config_.device_secret, config_.device_id, "POST", path, clock_.unix_s(millis()), body, len);
  WiFiClient client;
  HTTPClient http;
  http.setConnectTimeout(kHttpTimeoutMs);
  http.setTimeout(kHttpTimeoutMs);
  if (!http.begin(client, String(config_.receiver_url) + path)) return -1;
  http.addHeader("Content-Type", content_type);
  http.addHeader("X-Device-Id", signed_headers.device_id.c_str());
  http.addHeader("X-Timestamp", signed_headers.timestamp.c_str());
  http.addHeader("X-Signature", signed_headers.signature.c_str());
  for (size_t i = 0; i < extra_count; ++i) http.addHeader(extra[i].name, extra[i].value.c_str());
  // HTTPClient takes a non-const pointer but only reads the payload.
  int status = http.POST(const_cast<uint8_t*>(body), len);
  if (status < 0) {
    Serial.printf("rollcall: POST %s failed: %s\n", path, HTTPClient::errorToString(status).c_str());
  } else if (status >= 300) {
    Serial.printf("rollcall: POST %s -> %d %s\n", path, status, http.getString().c_str());
  }
  http.end();
  return status;
}
