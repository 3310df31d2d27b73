// Host stand-in for the ESP32 WiFi library (see Arduino.h): declarations only.
#pragma once

#include <Arduino.h>

typedef enum { WL_IDLE_STATUS = 0, WL_CONNECTED = 3, WL_DISCONNECTED = 6 } wl_status_t;
typedef enum { WIFI_OFF = 0, WIFI_STA = 1 } wifi_mode_t;

class WiFiClass {
 public:
  bool mode(wifi_mode_t mode);
  wl_status_t begin(const char* ssid, const char* passphrase = nullptr);
  wl_status_t status();
  bool reconnect();
  bool setAutoReconnect(bool on);
  int8_t RSSI();
};
extern WiFiClass WiFi;

class WiFiClient {
 public:
  WiFiClient();
};
