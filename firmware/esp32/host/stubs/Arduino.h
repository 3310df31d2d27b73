// Host stand-in for the ESP32 Arduino core: declarations only, with the real signatures and the ESP32's
// 32-bit types (compiled with -m32), so the sketches can be type-checked without the ESP32 toolchain.
// Nothing here is ever linked or run.
#pragma once

#include <cinttypes>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <cstring>

typedef uint8_t byte;

#define HIGH 0x1
#define LOW 0x0
#define INPUT 0x01
#define OUTPUT 0x03
#define INPUT_PULLUP 0x05
#define RISING 0x01
#define IRAM_ATTR
#define digitalPinToInterrupt(p) (p)

unsigned long millis();
void delay(uint32_t ms);
void pinMode(uint8_t pin, uint8_t mode);
int digitalRead(uint8_t pin);
void digitalWrite(uint8_t pin, uint8_t value);
void attachInterrupt(uint8_t pin, void (*handler)(void), int mode);
uint32_t esp_random(void);
bool psramFound();
void configTime(long gmt_offset_s, int daylight_offset_s, const char* server1, const char* server2 = nullptr,
                const char* server3 = nullptr);

class String {
 public:
  String(const char* text = "");
  String& operator+=(const char* text);
  const char* c_str() const;
  unsigned int length() const;
};
String operator+(const String& left, const char* right);

class HardwareSerial {
 public:
  void begin(unsigned long baud);
  size_t printf(const char* format, ...) __attribute__((format(printf, 2, 3)));
  size_t println(const char* text);
};
extern HardwareSerial Serial;

class EspClass {
 public:
  uint32_t getFreeHeap();
};
extern EspClass ESP;

// FreeRTOS, which the real Arduino.h pulls in.
typedef int BaseType_t;
typedef unsigned int UBaseType_t;
typedef uint32_t TickType_t;
typedef void* TaskHandle_t;
typedef void (*TaskFunction_t)(void*);
#define pdMS_TO_TICKS(ms) ((TickType_t)(ms))
BaseType_t xTaskCreatePinnedToCore(TaskFunction_t code, const char* const name, const uint32_t stack_depth,
                                   void* const parameters, UBaseType_t priority, TaskHandle_t* const created,
                                   const BaseType_t core_id);
void vTaskDelay(const TickType_t ticks);
