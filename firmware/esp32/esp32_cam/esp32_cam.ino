// Rollcall gate camera (AI-Thinker ESP32-CAM). Event-driven: the camera sensor is powered down until the
// PIR fires; then a pir.trigger event is queued, the camera wakes, one JPEG is taken and posted to
// /v1/frames/{boot_id}/{seq}/{captured_ms}, and the sensor sleeps again. Heartbeats go out every 30 s.
// See ../README.md.
//
// The frame takes its own seq from the boot's event sequence (right after its pir.trigger), so every
// (boot_id, seq) stays unique. One unsent frame is kept for retries; a newer one replaces it.
// Plain static functions, no namespaces: the Arduino builder generates prototypes for .ino functions.

#include <Arduino.h>
#include <esp_camera.h>
#include <rollcall.h>
#include <rollcall_link.h>

#include <string>
#include <utility>
#include <vector>

#include "config.h"

// AI-Thinker ESP32-CAM camera pins (fixed by the board).
#define CAM_PIN_PWDN 32
#define CAM_PIN_XCLK 0
#define CAM_PIN_SIOD 26
#define CAM_PIN_SIOC 27
#define CAM_PIN_D7 35
#define CAM_PIN_D6 34
#define CAM_PIN_D5 39
#define CAM_PIN_D4 36
#define CAM_PIN_D3 21
#define CAM_PIN_D2 19
#define CAM_PIN_D1 18
#define CAM_PIN_D0 5
#define CAM_PIN_VSYNC 25
#define CAM_PIN_HREF 23
#define CAM_PIN_PCLK 22

static const int kSettleFrames = 3;  // frames thrown away after waking, while auto-exposure settles

static DeviceLink device({WIFI_SSID, WIFI_PASSWORD, RECEIVER_URL, NTP_SERVER, DEVICE_ID, DEVICE_SECRET});
static rollcall::RepeatFilter pir_filter(PIR_COOLDOWN_MS);
static rollcall::Backoff frame_backoff(rollcall::kRetryBaseMs, rollcall::kRetryMaxMs, esp_random);

static volatile bool pir_fired = false;
static volatile uint32_t pir_at_ms = 0;

struct Frame {
  std::vector<uint8_t> jpeg;  // empty = nothing to send
  uint32_t seq = 0;
  uint32_t at_ms = 0;  // millis() when the JPEG was taken
};
static Frame pending;

static void IRAM_ATTR on_pir() {
  if (!pir_fired) {
    pir_at_ms = millis();
    pir_fired = true;
  }
}

static camera_config_t camera_config() {
  camera_config_t config = {};
  config.pin_pwdn = CAM_PIN_PWDN;
  config.pin_reset = -1;
  config.pin_xclk = CAM_PIN_XCLK;
  config.pin_sccb_sda = CAM_PIN_SIOD;
  config.pin_sccb_scl = CAM_PIN_SIOC;
  config.pin_d7 = CAM_PIN_D7;
  config.pin_d6 = CAM_PIN_D6;
  config.pin_d5 = CAM_PIN_D5;
  config.pin_d4 = CAM_PIN_D4;
  config.pin_d3 = CAM_PIN_D3;
  config.pin_d2 = CAM_PIN_D2;
  config.pin_d1 = CAM_PIN_D1;
  config.pin_d0 = CAM_PIN_D0;
  config.pin_vsync = CAM_PIN_VSYNC;
  config.pin_href = CAM_PIN_HREF;
  config.pin_pclk = CAM_PIN_PCLK;
  config.xclk_freq_hz = 20000000;
  config.ledc_timer = LEDC_TIMER_0;
  config.ledc_channel = LEDC_CHANNEL_0;
  config.pixel_format = PIXFORMAT_JPEG;
  config.frame_size = CAMERA_FRAME_SIZE;
  config.jpeg_quality = CAMERA_JPEG_QUALITY;
  config.fb_count = 1;
  config.fb_location = psramFound() ? CAMERA_FB_IN_PSRAM : CAMERA_FB_IN_DRAM;
  config.grab_mode = CAMERA_GRAB_LATEST;
  return config;
}

static void camera_sleep() {
  pinMode(CAM_PIN_PWDN, OUTPUT);
  digitalWrite(CAM_PIN_PWDN, HIGH);  // OV2640 power-down
}

// Wakes the camera, takes one JPEG into frame (with its time), and puts the camera back to sleep.
static bool capture(Frame& frame) {
  camera_config_t config = camera_config();
  esp_err_t err = esp_camera_init(&config);
  if (err != ESP_OK) {
    Serial.printf("camera: init failed (0x%x)\n", err);
    camera_sleep();
    return false;
  }
  for (int i = 0; i < kSettleFrames; ++i) {
    camera_fb_t* fb = esp_camera_fb_get();
    if (fb != nullptr) esp_camera_fb_return(fb);
  }
  camera_fb_t* fb = esp_camera_fb_get();
  if (fb != nullptr) {
    frame.at_ms = millis();
    frame.jpeg.assign(fb->buf, fb->buf + fb->len);  // copied out so the driver can be shut down now
    esp_camera_fb_return(fb);
  }
  esp_camera_deinit();
  camera_sleep();
  return fb != nullptr;
}

static void on_trigger(uint32_t at_ms) {
  device.record(rollcall::EventKind::PirTrigger, at_ms);
  Frame frame;
  if (!capture(frame)) {
    Serial.println("camera: no frame");
    return;
  }
  if (!pending.jpeg.empty()) Serial.printf("camera: unsent frame seq %" PRIu32 " replaced\n", pending.seq);
  frame.seq = device.next_seq();
  pending = std::move(frame);
}

static void send_frame(uint32_t now) {
  if (pending.jpeg.empty() || !device.online() || !frame_backoff.ready(now)) return;
  int64_t captured_ms = device.unix_ms(pending.at_ms);
  // The receiver reads the metadata from the (signed) path; the X- headers repeat it for readers of the headers.
  ExtraHeader extra[] = {{"X-Boot-Id", device.boot_id()},
                         {"X-Seq", std::to_string(pending.seq)},
                         {"X-Captured-Ms", std::to_string(captured_ms)}};
  std::string path = rollcall::frame_path(device.boot_id(), pending.seq, captured_ms);
  int status = device.post(path.c_str(), "image/jpeg", pending.jpeg.data(), pending.jpeg.size(), extra, 3);
  rollcall::Outcome outcome = rollcall::classify(status);
  if (outcome == rollcall::Outcome::Retry) {
    uint32_t wait = frame_backoff.failed(now);
    Serial.printf("camera: frame seq %" PRIu32 " not delivered (%d), retry in %" PRIu32 " ms\n", pending.seq,
                  status, wait);
    return;
  }
  if (outcome == rollcall::Outcome::Refused) Serial.printf("camera: frame seq %" PRIu32 " refused\n", pending.seq);
  frame_backoff.succeeded();
  std::vector<uint8_t>().swap(pending.jpeg);  // give the memory back, not just the size
}

void setup() {
  Serial.begin(115200);
  camera_sleep();
  pinMode(PIR_PIN, INPUT);
  device.begin();
  attachInterrupt(digitalPinToInterrupt(PIR_PIN), on_pir, RISING);
}

void loop() {
  if (pir_fired) {
    uint32_t at_ms = pir_at_ms;
    pir_fired = false;  // on_pir() leaves pir_at_ms alone while the flag is set, so at_ms is consistent
    if (pir_filter.accept(at_ms)) on_trigger(at_ms);
  }
  send_frame(millis());
  device.loop();
  delay(10);
}
