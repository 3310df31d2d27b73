// Rollcall stage sensor (ESP32 DevKit): two IR break-beams around the stage and, optionally, an RC522
// RFID reader. Each person crossing a beam becomes one event (beam.front / beam.back / rfid.scan) that is
// queued in RAM and uploaded to the receiver; see ../README.md for wiring and the protocol.
//
// Sensors are sampled on their own FreeRTOS task, so a slow HTTP request in loop() never hides a break.
// Plain static functions, no namespaces: the Arduino builder generates prototypes for .ino functions.

#include <Arduino.h>
#include <rollcall.h>
#include <rollcall_link.h>

#include "config.h"

#if RFID_ENABLED
#include <MFRC522.h>
#include <SPI.h>
#endif

static const uint32_t kPollMs = 2;        // sampling period, far shorter than any real break
static const uint32_t kRfidPollMs = 100;  // each RC522 poll is an SPI exchange; 10 per second is plenty

static DeviceLink device({WIFI_SSID, WIFI_PASSWORD, RECEIVER_URL, NTP_SERVER, DEVICE_ID, DEVICE_SECRET});
static rollcall::Debouncer front_beam(BEAM_STABLE_MS, BEAM_REARM_MS);
static rollcall::Debouncer back_beam(BEAM_STABLE_MS, BEAM_REARM_MS);

#if RFID_ENABLED
static MFRC522 rfid(RFID_SS_PIN, RFID_RST_PIN);
static rollcall::RepeatFilter card_filter(RFID_REPEAT_MS);
static uint32_t rfid_poll_ms = 0;

static void poll_rfid(uint32_t now) {
  if (now - rfid_poll_ms < kRfidPollMs) return;
  rfid_poll_ms = now;
  if (!rfid.PICC_IsNewCardPresent() || !rfid.PICC_ReadCardSerial()) return;
  char tag[rollcall::kMaxTagChars + 1];
  bool ok = rollcall::uid_to_tag(rfid.uid.uidByte, rfid.uid.size, tag);
  rfid.PICC_HaltA();  // a halted card left on the reader is not read again
  if (ok && card_filter.accept(now, tag)) device.record(rollcall::EventKind::RfidScan, now, tag);
}
#endif

static void sensor_task(void*) {
  for (;;) {
    uint32_t now = millis();
    bool front = digitalRead(BEAM_FRONT_PIN) == BEAM_BROKEN_LEVEL;
    bool back = digitalRead(BEAM_BACK_PIN) == BEAM_BROKEN_LEVEL;
    digitalWrite(STATUS_LED_PIN, front || back ? HIGH : LOW);
    if (front_beam.update(front, now)) device.record(rollcall::EventKind::BeamFront, now);
    if (back_beam.update(back, now)) device.record(rollcall::EventKind::BeamBack, now);
#if RFID_ENABLED
    poll_rfid(now);
#endif
    vTaskDelay(pdMS_TO_TICKS(kPollMs));
  }
}

void setup() {
  Serial.begin(115200);
  pinMode(BEAM_FRONT_PIN, INPUT_PULLUP);
  pinMode(BEAM_BACK_PIN, INPUT_PULLUP);
  pinMode(STATUS_LED_PIN, OUTPUT);
#if RFID_ENABLED
  SPI.begin(RFID_SCK_PIN, RFID_MISO_PIN, RFID_MOSI_PIN, RFID_SS_PIN);
  rfid.PCD_Init();
#endif
  device.begin();
  // Core 1 beside loop(), at a higher priority: it preempts loop() and yields for kPollMs each round.
  xTaskCreatePinnedToCore(sensor_task, "sensors", 4096, nullptr, 2, nullptr, 1);
}

void loop() {
  device.loop();
  delay(10);
}
