// The device's side of the receiver protocol, shared by both sketches: keeps WiFi up, keeps the clock
// from NTP, uploads queued events with back-off, sends a heartbeat every 30 s, and signs every request.
// Network traffic waits until the clock is valid, because the receiver checks X-Timestamp.
#pragma once

#include <cstddef>
#include <cstdint>
#include <mutex>
#include <string>

#include <rollcall.h>

struct LinkConfig {
  const char* wifi_ssid;
  const char* wifi_password;
  const char* receiver_url;  // "http://192.168.1.10:8502", no trailing slash
  const char* ntp_server;
  const char* device_id;
  const char* device_secret;
};

struct ExtraHeader {
  const char* name;
  std::string value;
};

class DeviceLink {
 public:
  explicit DeviceLink(const LinkConfig& config);

  // Starts WiFi and draws the boot id. Halts with a message if the device id is malformed.
  void begin();
  // Queues an event that happened at millis() == at_ms. Safe to call from another task.
  void record(rollcall::EventKind kind, uint32_t at_ms, const char* tag = "");
  // One step of upkeep: WiFi, clock, at most one event batch, the heartbeat. Blocks during a request.
  void loop();

  bool online() const;  // WiFi up and clock valid: requests can be sent
  uint32_t next_seq();  // for the frames, which share the events' sequence
  const char* boot_id() const { return session_.boot_id(); }
  int64_t unix_ms(uint32_t at_ms) const { return clock_.unix_ms(at_ms); }
  // Signed POST of body to path; returns the HTTP status, or HTTPClient's negative code on network errors.
  int post(const char* path, const char* content_type, const uint8_t* body, size_t len,
           const ExtraHeader* extra = nullptr, size_t extra_count = 0);

 private:
  void keep_wifi(uint32_t now_ms);
  void keep_clock(uint32_t now_ms);
  void send_events(uint32_t now_ms);
  void send_heartbeat(uint32_t now_ms);

  LinkConfig config_;
  std::mutex mutex_;  // guards queue_ and the seq in session_: record() runs on the sensor task
                      // (the boot id is fixed once begin() has run, so it is read without the lock)
  rollcall::EventQueue<rollcall::kQueueCapacity> queue_;
  rollcall::BootSession session_{0};
  rollcall::WallClock clock_;
  rollcall::Backoff backoff_;
  bool ntp_started_ = false;
  uint32_t dropped_reported_ = 0;
  uint32_t wifi_kick_ms_ = 0;
  uint32_t clock_read_ms_ = 0;
  uint32_t heartbeat_ms_ = 0;
  bool heartbeat_sent_ = false;
};
