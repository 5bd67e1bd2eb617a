"""Recordings are taken by the runtime for every transport: a phone call (the simulated
caller at 8 kHz) leaves a stereo recording with the caller left and the agent right."""

from __future__ import annotations

import asyncio
import io
import wave

import numpy as np
from test_runtime import caller, control_plane, inbound, runtime_of, tenant_with_number

from voxplane.services.principal import system_principal
from voxplane.settings import Settings


def test_a_phone_call_is_recorded_in_stereo(settings: Settings) -> None:
    async def main() -> None:
        async with control_plane(settings) as platform:
            runtime = runtime_of(platform, record=True)
            tenant, number = await tenant_with_number(platform)
            outcome = await runtime.run(await runtime.admit(inbound(number)), caller(800))
            assert outcome.recorded
            found = await platform.calls.recording(system_principal(tenant), outcome.call_id)
            data = b"".join([chunk async for chunk in found.read(0, found.size)])
            with wave.open(io.BytesIO(data)) as wav:
                assert (wav.getnchannels(), wav.getframerate()) == (2, 16_000)
                audio = np.frombuffer(wav.readframes(wav.getnframes()), np.int16).reshape(-1, 2)
            call = await platform.calls.get(system_principal(tenant), outcome.call_id)
            seconds = len(audio) / 16_000
            assert abs(seconds - call.duration_s) < 0.5
            loud = np.abs(audio) > 1000
            caller_s = np.flatnonzero(loud[:, 0]) / 16_000
            agent_s = np.flatnonzero(loud[:, 1]) / 16_000
            # The greeting first (agent), the caller's turn after it, then the answer.
            user = next(t for t in call.turns if t.role == "user")
            assert caller_s.size and agent_s.size
            assert agent_s[0] < caller_s[0]
            assert abs(caller_s[0] - user.start_ms / 1000) < 0.3
            assert agent_s[-1] > caller_s[-1]

    asyncio.run(main())
