"""An LLM agent presses keys: its ``send_dtmf`` tool call reaches the line as key presses
where the transport has them (RFC 4733 on SIP) and as DTMF tones in the agent's audio where
the line carries only audio (a carrier's media stream); where among the words they go is
the speaker's unit tests' business. The call
runs through the runtime with its brain on voxplane's ``openai`` provider against a
loopback server streaming OpenAI's documented chunks; the tones are read back out of the
recorded agent track by their two frequencies."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from test_llm_usage import ChatServer, llm_agent
from test_runtime import caller, inbound, runtime_of, tenant_with_number

from conftest import make_settings
from voxplane.media.dtmf import dtmf_tones
from voxplane.media.frame import Pcm16
from voxplane.media.resample import Resampler
from voxplane.providers.scripted import PresynthesizedTTS
from voxplane.runtime.factory import ProviderFactory
from voxplane.services.platform import open_platform
from voxplane.transports.simulated import SimulatedCaller

ROWS_HZ, COLUMNS_HZ = (697, 770, 852, 941), (1209, 1336, 1477, 1633)
KEYPAD = ("123A", "456B", "789C", "*0#D")
PRESS_KEYS: list[list[dict[str, Any]]] = [
    [
        {"role": "assistant", "content": "One moment."},
        {
            "tool_calls": [
                {
                    "index": 0,
                    "id": "call_1",
                    "type": "function",
                    "function": {"name": "send_dtmf", "arguments": json.dumps({"keys": "12#"})},
                }
            ]
        },
    ],
    [{"content": "Done."}],
]


def keys_in(audio: Pcm16, rate: int) -> str:
    """The DTMF keys played in ``audio``: 20-ms blocks whose energy is nearly all one row
    tone and one column tone, a key counted once per run of at least two such blocks."""
    block = rate // 50
    t = np.arange(block) / rate
    probes = {f: np.exp(-2j * np.pi * f * t) for f in ROWS_HZ + COLUMNS_HZ}
    found: list[str | None] = []
    for start in range(0, len(audio) - block + 1, block):
        x = audio[start : start + block].astype(np.float64)
        mean_square = float(np.mean(x * x))
        power = {f: 2 * abs(np.dot(x, p) / block) ** 2 for f, p in probes.items()}
        row = max(ROWS_HZ, key=power.__getitem__)
        column = max(COLUMNS_HZ, key=power.__getitem__)
        two_tones = power[row] + power[column]  # the mean square of the pair
        found.append(
            KEYPAD[ROWS_HZ.index(row)][COLUMNS_HZ.index(column)]
            if mean_square > 1e4 and two_tones > 0.8 * mean_square
            else None
        )
    keys, run = "", 0
    for previous, key in zip([None, *found], found, strict=False):
        run = run + 1 if key is not None and key == previous else 1
        if key is not None and run == 2:
            keys += key
    return keys


@pytest.mark.parametrize("in_band", [True, False], ids=["tones", "out_of_band"])
def test_an_llm_agents_keys_reach_the_line_as_tones_or_as_key_presses(
    database_url: str, tmp_path: Path, in_band: bool
) -> None:
    settings = make_settings(database_url, tmp_path, webhook_allow_private_networks=True)
    agent = llm_agent(0)

    async def main() -> tuple[SimulatedCaller, list[str]]:
        chat = ChatServer(script=PRESS_KEYS)
        server = await chat.start()
        try:
            agent["brain"] |= {
                "base_url": f"http://127.0.0.1:{chat.port}/v1",
                "tools": [{"type": "send_dtmf"}],
            }
            agent.pop("analysis")
            async with open_platform(settings) as platform:
                runtime = runtime_of(platform, ProviderFactory(allow_private_networks=True))
                _, number = await tenant_with_number(platform, agent=agent)
                line = caller(900)
                line.keys_in_band = in_band  # a carrier's media stream: audio only
                outcome = await runtime.run(await runtime.admit(inbound(number)), line)
                assert outcome.call_id
                return line, [m["role"] for m in chat.requests[-1]["messages"]]
        finally:
            server.close()
            await server.wait_closed()

    line, roles = asyncio.run(main())
    assert roles[-2:] == ["assistant", "tool"]  # the model was told the keys went out
    _, agent_track = line.recording()
    if in_band:
        assert keys_in(agent_track, line.sample_rate) == "12#"
        assert line.dtmf_sent == ""
    else:
        assert keys_in(agent_track, line.sample_rate) == ""
        assert line.dtmf_sent == "12#"


def test_the_key_reader_hears_tones_and_not_the_scripted_voice() -> None:
    """The reader above, on what it must tell apart: DTMF from voxplane's own tone maker,
    and the scripted TTS's speech-like signal (300 Hz + 1.1 kHz), which has no key in it."""

    async def voice() -> Pcm16:
        [frame] = [f async for f in PresynthesizedTTS(300).synthesize("one two three four")]
        resampler = Resampler(frame.sample_rate, 8000)
        return np.concatenate([resampler.process(frame.samples), resampler.flush()])

    assert keys_in(dtmf_tones("90*D", 8000), 8000) == "90*D"
    assert keys_in(asyncio.run(voice()), 8000) == ""
