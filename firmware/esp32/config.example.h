// Rollcall device settings: the one file to edit. Copy it next to the sketch you flash, as config.h
// (stage_sensor/config.h or esp32_cam/config.h); config.h is git-ignored because it holds the secret.
// Every device gets its own DEVICE_ID and DEVICE_SECRET: `python -m core.cli device add DEVICE_ID`.
#pragma once

// --- Network ---
#define WIFI_SSID "rollcall-wifi"
#define WIFI_PASSWORD "change-me"
#define RECEIVER_URL "http://192.168.1.10:8502"  // the receiver service; no trailing slash
#define NTP_SERVER "pool.ntp.org"                 // or the LAN's router / NTP server if offline

// --- Identity ---
#define DEVICE_ID "stage-1"        // [A-Za-z0-9_-]{1,64}
#define DEVICE_SECRET "change-me"  // printed once by `device add`; never commit it

// --- Stage sensor (ESP32 DevKit) ---
#define BEAM_FRONT_PIN 25          // IR receiver in front of the stage -> beam.front
#define BEAM_BACK_PIN 26           // IR receiver after the stage -> beam.back
#define BEAM_BROKEN_LEVEL LOW      // open-collector receivers pull LOW when the beam is broken
#define BEAM_STABLE_MS 30          // a break must last this long to count (filters flicker)
#define BEAM_REARM_MS 700          // the beam must be clear this long before the next person counts
#define STATUS_LED_PIN 2           // on while a beam is broken: helps aligning emitter and receiver

#define RFID_ENABLED 0             // 1 = RC522 reader attached (needs the MFRC522 library)
#define RFID_SS_PIN 5              // RC522 SDA/SS
#define RFID_RST_PIN 22
#define RFID_SCK_PIN 18
#define RFID_MISO_PIN 19
#define RFID_MOSI_PIN 23
#define RFID_REPEAT_MS 3000        // the same card again within this time is ignored

// --- ESP32-CAM (AI-Thinker) ---
#define PIR_PIN 13                 // HC-SR501 OUT; GPIO 13 is free while the SD card is unused
#define PIR_COOLDOWN_MS 5000       // at most one pir.trigger + frame per this time
#define CAMERA_FRAME_SIZE FRAMESIZE_VGA  // 640x480 is plenty for one face at a gate
#define CAMERA_JPEG_QUALITY 12     // 0-63, lower is better and bigger
