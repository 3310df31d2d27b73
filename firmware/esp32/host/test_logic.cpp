// Unit tests of the firmware library (lib/rollcall), built natively and with -m32 like the ESP32.
#include <doctest/doctest.h>

#include <rollcall.h>

#include <cstring>
#include <string>
#include <vector>

using namespace rollcall;

namespace {

std::string sha256_hex(const std::string& text) {
  Sha256 sha;
  sha.update(text);
  Digest digest = sha.finish();
  return to_hex(digest.data(), digest.size());
}

std::vector<uint8_t> from_hex(const std::string& hex) {
  std::vector<uint8_t> out;
  for (size_t i = 0; i + 1 < hex.size(); i += 2) out.push_back(uint8_t(std::stoul(hex.substr(i, 2), nullptr, 16)));
  return out;
}

std::string hmac_hex(const std::vector<uint8_t>& key, const std::vector<uint8_t>& data) {
  HmacSha256 mac(key.data(), key.size());
  mac.update(data.data(), data.size());
  Digest digest = mac.finish();
  return to_hex(digest.data(), digest.size());
}

std::vector<uint8_t> bytes(const std::string& text) { return {text.begin(), text.end()}; }

Event make_event(uint32_t seq, EventKind kind = EventKind::BeamFront, int64_t ts_ms = 1795000000000) {
  Event event;
  event.seq = seq;
  event.kind = kind;
  event.ts_ms = ts_ms;
  return event;
}

// A fixed "random" source for the back-off: the test sets what it returns.
uint32_t g_random = 0;
uint32_t fixed_random() { return g_random; }

}  // namespace

TEST_CASE("SHA-256 matches the FIPS 180-2 examples") {
  CHECK(sha256_hex("") == "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
  CHECK(sha256_hex("abc") == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
  CHECK(sha256_hex("abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq") ==
        "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1");
  CHECK(sha256_hex("abcdefghbcdefghicdefghijdefghijkefghijklfghijklmghijklmnhijklmnoijklmnopjklmnopqklmnopqrlmnopqrs"
                   "mnopqrstnopqrstu") == "cf5b16a778af8380036ce59e7b0492370b249b11e8f07a51afac45037afee9d1");
  CHECK(sha256_hex(std::string(1000000, 'a')) == "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0");
}

TEST_CASE("SHA-256 gives the same digest however the input is split") {
  std::string text;
  for (int i = 0; i < 200; ++i) text += char('a' + i % 26);
  for (size_t len : {0, 1, 55, 56, 63, 64, 65, 119, 120, 128, 200}) {
    std::string part = text.substr(0, len);
    for (size_t chunk : {1, 3, 64, 65}) {
      Sha256 sha;
      for (size_t at = 0; at < part.size(); at += chunk) sha.update(part.substr(at, chunk));
      Digest digest = sha.finish();
      CHECK(to_hex(digest.data(), digest.size()) == sha256_hex(part));
    }
  }
}

TEST_CASE("HMAC-SHA256 matches RFC 4231") {
  // Test cases 1-4, 6 and 7 (case 5 only defines a truncated output).
  CHECK(hmac_hex(std::vector<uint8_t>(20, 0x0b), bytes("Hi There")) ==
        "b0344c61d8db38535ca8afceaf0bf12b881dc200c9833da726e9376c2e32cff7");
  CHECK(hmac_hex(bytes("Jefe"), bytes("what do ya want for nothing?")) ==
        "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843");
  CHECK(hmac_hex(std::vector<uint8_t>(20, 0xaa), std::vector<uint8_t>(50, 0xdd)) ==
        "773ea91e36800e46854db8ebd09181a72959098b3ef8c122d9635514ced565fe");
  CHECK(hmac_hex(from_hex("0102030405060708090a0b0c0d0e0f10111213141516171819"), std::vector<uint8_t>(50, 0xcd)) ==
        "82558a389a443c0ea4cc819899f2083a85f0faa3e578f8077a2e3ff46729665b");
  CHECK(hmac_hex(std::vector<uint8_t>(131, 0xaa), bytes("Test Using Larger Than Block-Size Key - Hash Key First")) ==
        "60e431591ee0b67f0d8a26aacbf5b77f8e0bc6213728c5140546040f0ee37f54");
  CHECK(hmac_hex(std::vector<uint8_t>(131, 0xaa),
                 bytes("This is a test using a larger than block-size key and a larger than block-size data. The key "
                       "needs to be hashed before being used by the HMAC algorithm.")) ==
        "9b09ffa71b942fcb27635fbcd5b0e944bfdc63644f0713938a7f51535c3a35e2");
  // Case 5: the first 128 bits.
  CHECK(hmac_hex(std::vector<uint8_t>(20, 0x0c), bytes("Test With Truncation")).substr(0, 32) ==
        "a3b6167473100ee06e0c796c2955552b");
}

TEST_CASE("requests are signed over METHOD, PATH, TIMESTAMP and the raw body") {
  // Expected values from Python: hmac.new(secret, b"POST\n/v1/events\n1795000000\n" + body, "sha256").
  const std::string body =
      R"({"events":[{"device_id":"stage-1","boot_id":"b7","seq":17,"kind":"beam.front","ts_ms":1795000000000,)"
      R"("payload":{}}]})";
  SignedHeaders headers = sign_request("topsecret", "stage-1", "POST", "/v1/events", 1795000000,
                                       reinterpret_cast<const uint8_t*>(body.data()), body.size());
  CHECK(headers.device_id == "stage-1");
  CHECK(headers.timestamp == "1795000000");
  CHECK(headers.signature == "787c4bab08839b2099b427336e8bb4f0f8fb225133e03b0a894f220f2821b67c");

  const uint8_t jpeg[] = {0xff, 0xd8, 0xff, 0x00, 0xd9};  // binary, with a NUL inside
  headers = sign_request("k", "cam-1", "POST", "/v1/frames", 1700000000, jpeg, sizeof(jpeg));
  CHECK(headers.signature == "efc4c3d758cd6020351d8ebd44dfe39f1272bd494164004b68b72c1573df3b14");

  std::string long_secret(131, 'a');  // longer than a block: hashed first
  headers = sign_request(long_secret.c_str(), "x", "POST", "/v1/heartbeat", 1700000000,
                         reinterpret_cast<const uint8_t*>("{}"), 2);
  CHECK(headers.signature == "a86319fe8e7041d34e76e01a7b3b07393e97c9c10fa116137a3772c02cbd9c56");
}

TEST_CASE("a frame's metadata goes into its (signed) path") {
  CHECK(frame_path("0badf00d", 18, 1795000000123) == "/v1/frames/0badf00d/18/1795000000123");
}

TEST_CASE("device ids are [A-Za-z0-9_-]{1,64}") {
  CHECK(valid_device_id("stage-1"));
  CHECK(valid_device_id("Gate_2"));
  CHECK(valid_device_id(std::string(64, 'a').c_str()));
  CHECK_FALSE(valid_device_id(""));
  CHECK_FALSE(valid_device_id(std::string(65, 'a').c_str()));
  CHECK_FALSE(valid_device_id("stage 1"));
  CHECK_FALSE(valid_device_id("stage\"1"));
  CHECK_FALSE(valid_device_id("ståge"));
}

TEST_CASE("event kinds have the protocol's names") {
  const char* names[] = {"beam.front", "beam.back", "rfid.scan", "pir.trigger", "button.press"};
  for (const char* name : names) {
    EventKind kind;
    REQUIRE(kind_from_name(name, &kind));
    CHECK(std::string(kind_name(kind)) == name);
  }
  EventKind kind;
  CHECK_FALSE(kind_from_name("beam", &kind));
}

TEST_CASE("RFID UIDs become upper-case hex tags") {
  char tag[kMaxTagChars + 1];
  const uint8_t four[] = {0x04, 0xa1, 0xb2, 0xc3};
  CHECK(uid_to_tag(four, sizeof(four), tag));
  CHECK(std::string(tag) == "04A1B2C3");
  const uint8_t ten[] = {0, 1, 2, 3, 4, 5, 6, 7, 8, 0xff};
  CHECK(uid_to_tag(ten, sizeof(ten), tag));
  CHECK(std::string(tag) == "000102030405060708FF");
  const uint8_t eleven[11] = {};
  CHECK_FALSE(uid_to_tag(eleven, sizeof(eleven), tag));
  CHECK(std::string(tag).empty());
}

TEST_CASE("an event batch serialises to the exact protocol bytes") {
  Event event = make_event(17);
  CHECK(events_json("stage-1", "b7", &event, 1) ==
        R"({"events":[{"device_id":"stage-1","boot_id":"b7","seq":17,"kind":"beam.front","ts_ms":1795000000000,)"
        R"("payload":{}}]})");

  Event batch[2] = {make_event(1, EventKind::RfidScan, 5), make_event(2, EventKind::PirTrigger, 6)};
  std::strcpy(batch[0].tag, "04A1B2C3");
  std::strcpy(batch[1].tag, "ignored");  // only rfid.scan has a payload
  CHECK(events_json("cam-1", "0badf00d", batch, 2) ==
        R"({"events":[{"device_id":"cam-1","boot_id":"0badf00d","seq":1,"kind":"rfid.scan","ts_ms":5,)"
        R"("payload":{"tag":"04A1B2C3"}},{"device_id":"cam-1","boot_id":"0badf00d","seq":2,"kind":"pir.trigger",)"
        R"("ts_ms":6,"payload":{}}]})");
  CHECK(events_json("d", "b", nullptr, 0) == R"({"events":[]})");
}

TEST_CASE("JSON strings are escaped") {
  std::string out;
  append_json_string(out, "a\"b\\c/\b\f\n\r\t\x01\x1f\x7f ü");
  CHECK(out == "\"a\\\"b\\\\c/\\b\\f\\n\\r\\t\\u0001\\u001f\x7f ü\"");
  Event event = make_event(3, EventKind::RfidScan, 7);
  std::strcpy(event.tag, "\"}");
  CHECK(events_json("x\"y", "b\\", &event, 1) ==
        R"({"events":[{"device_id":"x\"y","boot_id":"b\\","seq":3,"kind":"rfid.scan","ts_ms":7,)"
        R"("payload":{"tag":"\"}"}}]})");
}

TEST_CASE("a heartbeat serialises to the exact protocol bytes") {
  Heartbeat heartbeat{"stage-1", "b7", "1.0.0", 123, -61, 0, 123456};
  CHECK(heartbeat_json(heartbeat) ==
        R"({"device_id":"stage-1","boot_id":"b7","firmware":"1.0.0","uptime_s":123,"rssi":-61,"queue_depth":0,)"
        R"("free_heap":123456})");
  heartbeat.uptime_s = 5000000000ull;  // more than 32 bits
  heartbeat.queue_depth = 256;
  CHECK(heartbeat_json(heartbeat).find(R"("uptime_s":5000000000,"rssi":-61,"queue_depth":256,)") !=
        std::string::npos);
}

TEST_CASE("the event queue is a FIFO that drops the oldest when full") {
  EventQueue<4> queue;
  for (uint32_t seq = 1; seq <= 3; ++seq) queue.push(make_event(seq));
  Event out[8];
  REQUIRE(queue.peek(out, 2) == 2);
  CHECK(out[0].seq == 1);
  CHECK(out[1].seq == 2);
  CHECK(queue.size() == 3);  // peek does not remove

  for (uint32_t seq = 4; seq <= 6; ++seq) queue.push(make_event(seq));
  CHECK(queue.size() == 4);
  CHECK(queue.dropped() == 2);
  REQUIRE(queue.peek(out, 8) == 4);
  for (uint32_t i = 0; i < 4; ++i) CHECK(out[i].seq == i + 3);

  queue.remove_through(4);
  CHECK(queue.size() == 2);
  REQUIRE(queue.peek(out, 8) == 2);
  CHECK(out[0].seq == 5);
  queue.remove_through(100);
  CHECK(queue.size() == 0);
  CHECK(queue.peek(out, 8) == 0);
  CHECK(EventQueue<kQueueCapacity>::capacity() == 256);
}

TEST_CASE("removing a delivered batch is right even if the queue overflowed while it was in flight") {
  EventQueue<3> queue;
  for (uint32_t seq = 1; seq <= 3; ++seq) queue.push(make_event(seq));
  Event batch[3];
  REQUIRE(queue.peek(batch, 2) == 2);  // seq 1, 2 go out
  queue.push(make_event(4));           // meanwhile: drops 1
  queue.push(make_event(5));           // drops 2
  queue.remove_through(batch[1].seq);
  Event out[3];
  REQUIRE(queue.peek(out, 3) == 3);  // nothing undelivered was lost
  CHECK(out[0].seq == 3);
  CHECK(out[2].seq == 5);
}

TEST_CASE("events recorded before NTP get their timestamp once the clock is valid") {
  EventQueue<8> queue;
  Event early = make_event(1, EventKind::BeamFront, 0);
  early.at_ms = 1000;
  queue.push(early);
  WallClock clock;
  queue.stamp(clock);  // not valid yet: nothing changes
  Event out[2];
  queue.peek(out, 2);
  CHECK(out[0].ts_ms == 0);

  REQUIRE(clock.sync(1795000005000, 6000));
  Event late = make_event(2, EventKind::BeamBack, 0);
  late.at_ms = 6500;
  queue.push(late);
  queue.stamp(clock);
  REQUIRE(queue.peek(out, 2) == 2);
  CHECK(out[0].ts_ms == 1795000000000);
  CHECK(out[1].ts_ms == 1795000005500);

  WallClock resynced = clock;
  REQUIRE(resynced.sync(1795000009000, 9000));  // 500 ms of drift corrected: stamped events stay as they were
  queue.stamp(resynced);
  queue.peek(out, 2);
  CHECK(out[0].ts_ms == 1795000000000);
}

TEST_CASE("the wall clock ignores a clock SNTP has not set, and survives the millis() wrap") {
  WallClock clock;
  CHECK_FALSE(clock.valid());
  CHECK_FALSE(clock.sync(5000, 10));  // 1970: SNTP has not answered
  CHECK_FALSE(clock.sync(WallClock::kEarliestValidUnixMs - 1, 10));
  CHECK_FALSE(clock.valid());

  REQUIRE(clock.sync(1795000000000, 0xFFFFFF00u));  // just before millis() wraps
  CHECK(clock.unix_ms(0xFFFFFF00u) == 1795000000000);
  CHECK(clock.unix_ms(0x00000100u) == 1795000000512);  // after the wrap
  CHECK(clock.unix_ms(0xFFFFFE00u) == 1794999999744);  // before the sync
  CHECK(clock.unix_s(0x00000100u) == 1795000000);
}

TEST_CASE("a boot session has an 8-hex-char boot id and a sequence from 1") {
  BootSession session(0x0badf00d);
  CHECK(std::string(session.boot_id()) == "0badf00d");
  CHECK(std::string(BootSession(0xFFFFFFFFu).boot_id()) == "ffffffff");
  CHECK(std::string(BootSession(0).boot_id()) == "00000000");
  CHECK(session.last_seq() == 0);
  CHECK(session.next_seq() == 1);
  CHECK(session.next_seq() == 2);
  CHECK(session.last_seq() == 2);
}

TEST_CASE("the debouncer counts one event per stable break") {
  Debouncer beam(30, 500);
  CHECK_FALSE(beam.update(false, 0));
  SUBCASE("a flicker shorter than the stable time is ignored") {
    CHECK_FALSE(beam.update(true, 100));
    CHECK_FALSE(beam.update(true, 120));
    CHECK_FALSE(beam.update(false, 125));
    CHECK_FALSE(beam.update(true, 140));  // starts a new candidate break
    CHECK_FALSE(beam.update(true, 169));
    CHECK(beam.update(true, 170));
  }
  SUBCASE("a long break gives exactly one event") {
    int events = 0;
    for (uint32_t t = 100; t < 5000; t += 2) events += beam.update(true, t);
    CHECK(events == 1);
  }
  SUBCASE("a re-break within the re-arm time is the same person") {
    CHECK_FALSE(beam.update(true, 100));
    CHECK(beam.update(true, 130));
    CHECK_FALSE(beam.update(false, 400));  // clear...
    CHECK_FALSE(beam.update(true, 700));   // ...but for only 300 ms: the second leg
    CHECK_FALSE(beam.update(true, 800));
    CHECK_FALSE(beam.update(false, 900));
    CHECK_FALSE(beam.update(false, 1399));
    CHECK_FALSE(beam.update(true, 1450));  // clear for 550 ms: a new person
    CHECK(beam.update(true, 1480));
  }
  SUBCASE("re-arming needs only the clear time, even if no sample came in between") {
    CHECK_FALSE(beam.update(true, 10));
    CHECK(beam.update(true, 40));
    CHECK_FALSE(beam.update(false, 50));
    CHECK_FALSE(beam.update(true, 600));
    CHECK(beam.update(true, 630));
  }
}

TEST_CASE("the debouncer works across the millis() wrap") {
  Debouncer beam(30, 500);
  uint32_t t = 0xFFFFFFF0u;
  CHECK_FALSE(beam.update(true, t));
  CHECK(beam.update(true, t + 30));  // wraps to 14
  CHECK_FALSE(beam.update(false, t + 40));
  CHECK_FALSE(beam.update(false, t + 539));
  CHECK_FALSE(beam.update(true, t + 540));
  CHECK(beam.update(true, t + 570));
}

TEST_CASE("a debouncer with no stable time fires on the first active sample") {
  Debouncer button(0, 100);
  CHECK(button.update(true, 5));
  CHECK_FALSE(button.update(true, 6));
}

TEST_CASE("receiver answers map to stored, refused or retry") {
  CHECK(classify(200) == Outcome::Stored);
  CHECK(classify(201) == Outcome::Stored);
  CHECK(classify(400) == Outcome::Refused);
  CHECK(classify(401) == Outcome::Refused);
  CHECK(classify(403) == Outcome::Refused);
  CHECK(classify(422) == Outcome::Refused);
  CHECK(classify(429) == Outcome::Retry);
  CHECK(classify(500) == Outcome::Retry);
  CHECK(classify(503) == Outcome::Retry);
  CHECK(classify(301) == Outcome::Retry);
  CHECK(classify(-1) == Outcome::Retry);   // HTTPC_ERROR_CONNECTION_REFUSED
  CHECK(classify(-11) == Outcome::Retry);  // HTTPC_ERROR_READ_TIMEOUT
}

TEST_CASE("back-off doubles from 1 s to 60 s with jitter in [d/2, d]") {
  Backoff backoff(1000, 60000, fixed_random);
  CHECK(backoff.ready(0));
  g_random = 0;  // the lowest jitter: d/2
  const uint32_t low[] = {500, 1000, 2000, 4000, 8000, 16000, 30000, 30000, 30000};
  uint32_t now = 0;
  for (uint32_t expected : low) {
    uint32_t wait = backoff.failed(now);
    CHECK(wait == expected);
    CHECK_FALSE(backoff.ready(now + wait - 1));
    CHECK(backoff.ready(now + wait));
    now += wait;
  }
  CHECK(backoff.failures() == 9);
  backoff.succeeded();
  CHECK(backoff.failures() == 0);
  CHECK(backoff.ready(now));

  g_random = 500;  // the highest jitter for d = 1 s: 500 + 500 % 501
  CHECK(backoff.failed(now) == 1000);
  g_random = 1001;  // wraps: 1000 + 1001 % 1001
  CHECK(backoff.failed(now) == 1000);
  g_random = 0xFFFFFFFFu;
  for (int i = 0; i < 40; ++i) {
    uint32_t wait = backoff.failed(now);
    CHECK(wait >= 1000);
    CHECK(wait <= 60000);
  }
}

TEST_CASE("the firmware's retries wait 1-2 s at first, at most 60 s, never under 1 s") {
  // Never under 1 s: a retry then has a new X-Timestamp, so it is not mistaken for a replay.
  Backoff lowest(kRetryBaseMs, kRetryMaxMs, fixed_random);
  Backoff highest(kRetryBaseMs, kRetryMaxMs, fixed_random);
  g_random = 0;
  CHECK(lowest.failed(0) == 1000);
  g_random = 0xFFFFFFFFu;
  uint32_t wait = highest.failed(0);
  CHECK(wait >= 1000);
  CHECK(wait <= 2000);
  for (int i = 0; i < 20; ++i) {
    g_random = 0;
    CHECK(lowest.failed(0) >= 1000);
    g_random = 30000;  // the largest jitter at the cap: 30000 + 30000 % 30001
    CHECK(highest.failed(0) <= 60000);
  }
  CHECK(highest.failed(0) == 60000);
}

TEST_CASE("back-off is wrap-safe") {
  Backoff backoff(1000, 60000, fixed_random);
  g_random = 0;
  uint32_t now = 0xFFFFFF00u;
  uint32_t wait = backoff.failed(now);  // 500 ms, the retry time wraps past 0
  CHECK_FALSE(backoff.ready(now + 100));
  CHECK(backoff.ready(now + wait));
}

TEST_CASE("the repeat filter drops the same key within the window") {
  RepeatFilter cards(3000);
  CHECK(cards.accept(1000, "04A1B2C3"));
  CHECK_FALSE(cards.accept(2000, "04A1B2C3"));
  CHECK(cards.accept(2500, "04FFFFFF"));  // another card: accepted at once
  CHECK(cards.accept(2600, "04A1B2C3"));
  CHECK_FALSE(cards.accept(5599, "04A1B2C3"));
  CHECK(cards.accept(5600, "04A1B2C3"));

  RepeatFilter pir(5000);
  CHECK(pir.accept(0xFFFFF000u));
  CHECK_FALSE(pir.accept(100));  // across the wrap, still inside the window
  CHECK(pir.accept(0xFFFFF000u + 5000));
}
