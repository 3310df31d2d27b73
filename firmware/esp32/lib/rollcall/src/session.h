// What identifies an event across reboots: a random boot id and a sequence number that starts at 1 each boot.
#pragma once

#include <cstdint>

namespace rollcall {

class BootSession {
 public:
  explicit BootSession(uint32_t random_word);  // boot id = the word as 8 lower-case hex chars
  const char* boot_id() const { return boot_id_; }
  uint32_t next_seq() { return ++seq_; }
  uint32_t last_seq() const { return seq_; }

 private:
  char boot_id_[9];
  uint32_t seq_ = 0;
};

}  // namespace rollcall
