// Host stand-in for ESP-IDF's esp_timer.h (see Arduino.h): declarations only.
#pragma once

#include <cstdint>

int64_t esp_timer_get_time(void);  // microseconds since boot; 64-bit, so it does not wrap like millis()
