// Host stand-in for the MFRC522 library (miguelbalboa/rfid; see Arduino.h): declarations only.
#pragma once

#include <Arduino.h>

class MFRC522 {
 public:
  typedef struct {
    byte size;
    byte uidByte[10];
    byte sak;
  } Uid;
  Uid uid;

  MFRC522(byte chip_select_pin, byte reset_power_down_pin);
  void PCD_Init();
  bool PICC_IsNewCardPresent();
  bool PICC_ReadCardSerial();
  byte PICC_HaltA();
};
