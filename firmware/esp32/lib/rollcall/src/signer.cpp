#include "signer.h"

#include <cstring>

#include "sha256.h"

namespace rollcall {

SignedHeaders sign_request(const char* secret, const char* device_id, const char* method, const char* path,
                           int64_t unix_s, const uint8_t* body, size_t body_len) {
  SignedHeaders headers{device_id, std::to_string(unix_s), {}};
  HmacSha256 mac(reinterpret_cast<const uint8_t*>(secret), std::strlen(secret));
  mac.update(std::string(method) + "\n" + path + "\n" + headers.timestamp + "\n");
  mac.update(body, body_len);
  Digest digest = mac.finish();
  headers.signature = to_hex(digest.data(), digest.size());
  return headers;
}

std::string frame_path(const char* boot_id, uint32_t seq, int64_t captured_ms) {
  return std::string("/v1/frames/") + boot_id + "/" + std::to_string(seq) + "/" + std::to_string(captured_ms);
}

bool valid_device_id(const char* id) {
  size_t len = 0;
  for (; id[len] != '\0'; ++len) {
    char c = id[len];
    bool ok = (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_' || c == '-';
    if (!ok || len == 64) return false;
  }
  return len > 0;
}

}  // namespace rollcall
