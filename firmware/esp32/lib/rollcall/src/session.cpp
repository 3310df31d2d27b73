#include "session.h"

namespace rollcall {

BootSession::BootSession(uint32_t random_word) : boot_id_{} {
  static const char kDigits[] = "0123456789abcdef";
  for (int i = 0; i < 8; ++i) boot_id_[i] = kDigits[(random_word >> (28 - 4 * i)) & 0xf];
}

}  // namespace rollcall
