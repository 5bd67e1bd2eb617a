"""WebRTC calls (aiortc): Opus in and out, a data channel for live transcript and state."""
