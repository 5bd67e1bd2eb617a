"""Time to the first synthesized audio of a reply, three ways, in one run on real Piper:

- ``sentence``: the reply's first whole sentence synthesized (the chunker before issue 9);
- ``clause``: its first piece as the speaker now asks for it (the first clause when it is
  long enough, ``pipeline.chunker``);
- ``cached``: that piece from the phrase cache, where agent load put the agent's fixed lines.

``.venv/bin/python bench/first_audio.py [--rounds N]`` (about a minute: loads the Piper
voice; N rounds over the acme-dental agent's fixed lines and a few LLM-style replies).
Writes ``bench/results/first_audio-latest.json`` and prints a summary line.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import statistics
import time
from datetime import UTC, datetime
from pathlib import Path

from voxplane.agents.loader import load_agent_file
from voxplane.pipeline.chunker import SentenceChunker, spoken_pieces
from voxplane.providers.cache import CachedTTS, MemoryPhraseCache
from voxplane.providers.piper import PiperOptions, PiperTTS, shared_engine
from voxplane.runtime.factory import fixed_lines, prepare_lines

BENCH = Path(__file__).resolve().parent
AGENT = BENCH.parent / "examples" / "agents" / "acme-dental.yaml"
RESULTS = BENCH / "results"
REPLIES = [
    "Your cleaning is booked for Tuesday at ten thirty, and we'll text you a reminder.",
    "I checked the calendar for next week, and the earliest opening is Wednesday at nine.",
    "That depends on your plan; most plans cover two cleanings a year at no cost to you.",
    "Sure, I can help with that — let me look up your account while you wait.",
]
"""Replies an LLM might stream: not fixed, so never pre-synthesized."""


def first_sentence(text: str) -> str:
    chunker = SentenceChunker(min_clause_chars=10_000)  # no clause cuts: whole sentences
    return (chunker.push(text) + chunker.flush())[0]


async def first_audio_ms(tts: CachedTTS | PiperTTS, text: str) -> float:
    start = time.perf_counter()
    stream = tts.synthesize(text)
    await anext(stream)
    elapsed = (time.perf_counter() - start) * 1000
    await stream.aclose()
    return elapsed


async def run(rounds: int) -> dict[str, object]:
    agent = load_agent_file(AGENT)
    engine = shared_engine(PiperOptions())
    piper = PiperTTS(engine)
    cache = MemoryPhraseCache()
    cached = CachedTTS(piper, cache, "piper:joe:1.0:-20.0")
    lines = list(fixed_lines(agent))
    prepare_started = time.perf_counter()
    pieces = await prepare_lines(cached, lines)
    prepare_s = time.perf_counter() - prepare_started
    modes: dict[str, list[float]] = {"sentence": [], "clause": [], "cached": []}
    ratios: list[float] = []  # clause / sentence, for replies whose first piece is a clause
    cut = 0
    for _ in range(rounds):
        for text in lines + REPLIES:
            sentence, clause = first_sentence(text), spoken_pieces(text)[0]
            cut += clause != sentence
            modes["sentence"].append(await first_audio_ms(piper, sentence))
            modes["clause"].append(await first_audio_ms(piper, clause))
            if clause != sentence:
                ratios.append(modes["clause"][-1] / modes["sentence"][-1])
            if text in lines:
                modes["cached"].append(await first_audio_ms(cached, clause))
    summary = {
        mode: {
            "p50_ms": round(statistics.median(values), 2),
            "p95_ms": round(statistics.quantiles(values, n=20)[-1], 2),
            "n": len(values),
        }
        for mode, values in modes.items()
    }
    return {
        "bench": "first_audio",
        "started_at": datetime.now(UTC).isoformat(),
        "machine": {
            "cpus": os.cpu_count(),
            "python": platform.python_version(),
            "note": "shared machine: other processes ran alongside",
        },
        "agent": AGENT.name,
        "fixed_lines": len(lines),
        "fixed_pieces_synthesized_at_load": pieces,
        "prepare_s": round(prepare_s, 2),
        "replies_whose_first_piece_is_a_clause": cut // rounds,
        "clause_over_sentence_when_cut": {
            "median": round(statistics.median(ratios), 3) if ratios else None,
            "n": len(ratios),
        },
        "replies": len(lines) + len(REPLIES),
        "first_audio": summary,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--rounds", type=int, default=3, choices=range(1, 21), metavar="1-20")
    args = parser.parse_args()
    report = asyncio.run(run(args.rounds))
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "first_audio-latest.json").write_text(json.dumps(report, indent=2) + "\n")
    first = report["first_audio"]
    assert isinstance(first, dict)
    print(
        "first audio p50: sentence {s} ms, first clause {c} ms, cached {k} ms; "
        "clause/sentence {r} where cut; {n} fixed pieces pre-synthesized in {p} s".format(
            s=first["sentence"]["p50_ms"],
            c=first["clause"]["p50_ms"],
            k=first["cached"]["p50_ms"],
            r=report["clause_over_sentence_when_cut"]["median"],  # type: ignore[index]
            n=report["fixed_pieces_synthesized_at_load"],
            p=report["prepare_s"],
        )
    )


if __name__ == "__main__":
    main()
