// Rollcall device library: everything the sketches need that does not touch hardware.
// Plain C++17 with no Arduino headers, so host/test_logic.cpp tests exactly this code on a PC.
#pragma once

#include <cstddef>

#include "clock.h"
#include "debouncer.h"
#include "delivery.h"
#include "event.h"
#include "event_queue.h"
#include "json.h"
#include "repeat_filter.h"
#include "session.h"
#include "sha256.h"
#include "signer.h"

namespace rollcall {

constexpr const char* kFirmwareVersion = "1.0.0";
constexpr size_t kQueueCapacity = 256;  // events held in RAM while the receiver is unreachable
constexpr size_t kMaxBatch = 20;        // events per POST /v1/events
constexpr uint32_t kHeartbeatMs = 30000;
// Retry waits are random in [d/2, d], d = 2 s doubling to 60 s: never under 1 s, so a retry always carries
// a new X-Timestamp and so a new signature (the receiver answers the very same signed request with 409).
constexpr uint32_t kRetryBaseMs = 2000;
constexpr uint32_t kRetryMaxMs = 60000;

}  // namespace rollcall
