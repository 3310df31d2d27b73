// SHA-256 (FIPS 180-4) and HMAC-SHA256 (RFC 2104), streaming so a JPEG is never copied to be signed.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <string>

namespace rollcall {

using Digest = std::array<uint8_t, 32>;

class Sha256 {
 public:
  Sha256();
  void update(const uint8_t* data, size_t len);
  void update(const std::string& text);
  Digest finish();  // the object must not be used afterwards

 private:
  void compress(const uint8_t* block);

  uint32_t state_[8];
  uint8_t block_[64];
  size_t block_len_ = 0;
  uint64_t total_len_ = 0;
};

class HmacSha256 {
 public:
  HmacSha256(const uint8_t* key, size_t key_len);
  void update(const uint8_t* data, size_t len);
  void update(const std::string& text);
  Digest finish();

 private:
  Sha256 inner_;
  uint8_t outer_key_[64];
};

std::string to_hex(const uint8_t* data, size_t len);  // lower case

}  // namespace rollcall
