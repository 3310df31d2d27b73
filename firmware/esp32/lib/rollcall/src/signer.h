// Request signing: X-Signature = hex(HMAC-SHA256(secret, METHOD \n PATH \n TIMESTAMP \n BODY)).
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>

namespace rollcall {

struct SignedHeaders {
  std::string device_id;  // X-Device-Id
  std::string timestamp;  // X-Timestamp: Unix seconds, decimal
  std::string signature;  // X-Signature: lower-case hex
};

// path is the path only ("/v1/events"): no host, no query. The secret's bytes are the HMAC key.
SignedHeaders sign_request(const char* secret, const char* device_id, const char* method, const char* path,
                           int64_t unix_s, const uint8_t* body, size_t body_len);

// The frame upload's path: /v1/frames/{boot_id}/{seq}/{captured_ms}. The metadata rides in the path
// because the signature covers the path (and not the X- headers).
std::string frame_path(const char* boot_id, uint32_t seq, int64_t captured_ms);

// Device ids the receiver accepts: [A-Za-z0-9_-]{1,64}.
bool valid_device_id(const char* id);

}  // namespace rollcall
