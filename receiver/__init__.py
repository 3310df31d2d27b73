"""The device receiver: a small stateless HTTP service that ESP32 boards post to."""
