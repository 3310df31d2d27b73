"""Live check-in from a webcam: tracking, voting, liveness, and the frame processor that ties them together."""
