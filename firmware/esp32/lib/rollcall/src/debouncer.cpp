#include "debouncer.h"

namespace rollcall {

bool Debouncer::update(bool active, uint32_t now_ms) {
  if (state_ == State::Clearing) {
    if (now_ms - since_ms_ >= rearm_ms_) {
      state_ = State::Armed;  // clear long enough: the next break is a new person
    } else if (active) {
      state_ = State::Held;  // broken again too soon: same person
      return false;
    }
  }
  switch (state_) {
    case State::Armed:
      if (!active) return false;
      state_ = State::Breaking;
      since_ms_ = now_ms;
      break;
    case State::Breaking:
      if (!active) {
        state_ = State::Armed;  // a glitch shorter than stable_ms
        return false;
      }
      break;
    case State::Held:
      if (!active) {
        state_ = State::Clearing;
        since_ms_ = now_ms;
      }
      return false;
    case State::Clearing:
      return false;
  }
  if (now_ms - since_ms_ < stable_ms_) return false;
  state_ = State::Held;
  return true;
}

}  // namespace rollcall
