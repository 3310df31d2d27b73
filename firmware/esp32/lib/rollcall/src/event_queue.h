// Bounded FIFO of events in RAM (a ring buffer). When full the OLDEST event is dropped and counted:
// during a long outage the newest events are the ones worth keeping. A power loss loses the queue.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>

#include "clock.h"
#include "event.h"

namespace rollcall {

template <size_t Capacity>
class EventQueue {
  static_assert(Capacity > 0, "EventQueue needs room for one event");

 public:
  static constexpr size_t capacity() { return Capacity; }
  size_t size() const { return size_; }
  uint32_t dropped() const { return dropped_; }

  void push(const Event& event) {
    if (size_ == Capacity) {
      head_ = (head_ + 1) % Capacity;
      --size_;
      ++dropped_;
    }
    items_[(head_ + size_) % Capacity] = event;
    ++size_;
  }

  // Gives events recorded before the clock was valid their Unix timestamp.
  void stamp(const WallClock& clock) {
    if (!clock.valid()) return;
    for (size_t i = 0; i < size_; ++i) {
      Event& event = items_[(head_ + i) % Capacity];
      if (event.ts_ms == 0) event.ts_ms = clock.unix_ms(event.at_ms);
    }
  }

  // Copies up to max of the oldest events into out, oldest first; returns how many.
  size_t peek(Event* out, size_t max) const {
    size_t count = size_ < max ? size_ : max;
    for (size_t i = 0; i < count; ++i) out[i] = items_[(head_ + i) % Capacity];
    return count;
  }

  // Removes the events up to and including seq once the receiver has them. By seq rather than by count,
  // because while a batch is in flight the queue may overflow and drop some of that batch itself.
  void remove_through(uint32_t seq) {
    while (size_ > 0 && items_[head_].seq <= seq) {
      head_ = (head_ + 1) % Capacity;
      --size_;
    }
  }

 private:
  std::array<Event, Capacity> items_{};
  size_t head_ = 0;
  size_t size_ = 0;
  uint32_t dropped_ = 0;
};

}  // namespace rollcall
