"""voxplane.media: pure audio code (no I/O, no clocks; time is passed in by callers).

Import from the submodules: ``frame`` (Pcm16, AudioFrame), ``g711`` (μ-law / A-law),
``resample`` (streaming soxr resampler), ``wav`` (decode / encode), ``level`` (dBFS),
``vad`` (EnergyVad, SileroVad), ``turn`` (the turn detector), and for telephony ``rtp``
(packets, RtpSender), ``rtcp`` (SR/RR, receiver statistics), ``jitter`` (JitterBuffer) and
``dtmf`` (RFC 4733 telephone-events).
"""
