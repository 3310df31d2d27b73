// Turns a noisy "beam broken" input into one event per person. A break counts once it has been stable
// for stable_ms; after that nothing counts until the beam has been clear for rearm_ms, so legs, bags
// and a swinging gown crossing the beam in quick succession still give a single event.
#pragma once

#include <cstdint>

namespace rollcall {

class Debouncer {
 public:
  Debouncer(uint32_t stable_ms, uint32_t rearm_ms) : stable_ms_(stable_ms), rearm_ms_(rearm_ms) {}

  // Call often with the raw input (true = beam broken / input active). True exactly once per counted break.
  bool update(bool active, uint32_t now_ms);

 private:
  enum class State { Armed, Breaking, Held, Clearing };

  uint32_t stable_ms_;
  uint32_t rearm_ms_;
  State state_ = State::Armed;
  uint32_t since_ms_ = 0;  // start of the current Breaking or Clearing phase
};

}  // namespace rollcall
