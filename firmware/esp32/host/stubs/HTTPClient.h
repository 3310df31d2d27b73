// Host stand-in for the ESP32 HTTPClient library (see Arduino.h): declarations only.
#pragma once

#include <Arduino.h>
#include <WiFi.h>

class HTTPClient {
 public:
  bool begin(WiFiClient& client, String url);
  void end();
  void setTimeout(uint16_t timeout_ms);
  void setConnectTimeout(int32_t timeout_ms);
  void addHeader(const String& name, const String& value, bool first = false, bool replace = true);
  int POST(uint8_t* payload, size_t size);
  String getString();
  static String errorToString(int error);
};
