"""The realistic voice loop (bench/voice_loop.py's default): real speakers, cold process.

A fresh process loads the models, then calls over the simulated phone line (8 kHz μ-law
both ways) say real human sentences (``../shared/audio/sentences``) and real human digit
strings (FSDD) to ``bench/agents/realistic.yaml``, which asks what the call is about, then
for an account number, and repeats the number back (synthesized on the spot). Nothing is
put in the TTS cache by the bench: what is cached is what the process cached by itself.

Floor (issue 9, target 1), per answered turn of the single call: max(end-of-speech silence,
the raw recognizer time on the turn's audio) + the raw time to the first synthesized audio
of the reply (zero when the pipeline took that sentence from the TTS cache), both measured
in the same run, outside the pipeline, on the same engines, after the call.
"""

from __future__ import annotations

import asyncio
import os
import random
import time
from collections.abc import Callable, Sequence
from concurrent.futures import Executor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from _audio import HELD_OUT_TAKES, DigitBank, Utterance, fsdd_dir, real_sentences
from _calls import CallOutcome, TurnOutcome, timed_call
from _stt_eval import DigitScore, levenshtein_words, pipeline_input
from stt_ab import OLD_OPTIONS, ab, words
from voxplane.agents.loader import load_agent_file
from voxplane.agents.schema import AgentConfig
from voxplane.providers.cache import PhraseCache, PhraseKey
from voxplane.providers.flow.brain import FlowBrain
from voxplane.providers.whisper import WhisperEngine, WhisperOptions
from voxplane.runtime.factory import LocalModels

AGENT = Path(__file__).resolve().parent / "agents" / "realistic.yaml"
GAPS = (0.15, 0.35)


@dataclass(frozen=True, slots=True)
class RealisticPlan:
    single_pairs: int
    """Sentence + number pairs in the single call."""
    concurrency: tuple[int, ...]
    pairs_per_call: int
    ab_digits: int
    """Digit strings per speaker in the recognizer A/B."""
    spread_s: float = 1.0
    """Concurrent calls start within this many seconds."""


REALISTIC = RealisticPlan(6, (1, 4, 8, 12, 16), 2, 16)
REALISTIC_QUICK = RealisticPlan(3, (1, 4, 8, 12, 16), 1, 6)


class CacheWatch:
    """Notes every TTS cache lookup: (loop time, text, hit)."""

    def __init__(self, cache: PhraseCache) -> None:
        self.lookups: list[tuple[float, str, bool]] = []
        inner = cache.get

        async def get(key: PhraseKey) -> Any:
            found = await inner(key)
            self.lookups.append((time.monotonic(), key.text, found is not None))
            return found

        cache.get = get  # type: ignore[method-assign]

    def first_sentence(self, turn: TurnOutcome) -> tuple[str, bool] | None:
        """The reply's first synthesized sentence and whether it came from the cache."""
        m = turn.metrics
        if m is None or m.first_frame_out is None or not turn.reply:
            return None
        for at, text, hit in self.lookups:
            if m.speech_end <= at <= m.first_frame_out and turn.reply.startswith(text):
                return text, hit
        return None


def scripts(bank: DigitBank, calls: int, pairs: int, seed: int) -> list[list[Utterance]]:
    """Per call: ``pairs`` times a real sentence then a held-out digit string."""
    rng = random.Random(seed)
    sentences = real_sentences()
    digits = bank.utterances(calls * pairs, HELD_OUT_TAKES, seed=seed, gaps=GAPS)
    out: list[list[Utterance]] = []
    for _ in range(calls):
        script: list[Utterance] = []
        for _ in range(pairs):
            script += [rng.choice(sentences), digits.pop()]
        out.append(script)
    return out


def hints(agent: AgentConfig) -> dict[str, str | None]:
    """The prompt Whisper gets for a sentence turn and for a digits turn in this agent."""
    brain = FlowBrain(agent.brain, agent.call.first_message)

    async def walk() -> dict[str, str | None]:
        _ = [e async for e in brain.greet()]
        sentence = brain.stt_hint()
        _ = [e async for e in brain.respond("I have a question about my bill.")]
        digits = brain.stt_hint()
        return {
            "sentence": sentence.prompt or None if sentence else None,
            "digits": digits.prompt or None if digits else None,
        }

    return asyncio.run(walk())


def pct(values: Sequence[float | None], q: float) -> float | None:
    present = sorted(v for v in values if v is not None)
    if not present:
        return None
    rank = (len(present) - 1) * q / 100
    low = int(rank)
    high = min(low + 1, len(present) - 1)
    return round(present[low] + (present[high] - present[low]) * (rank - low), 1)


def accuracy(turns: Sequence[TurnOutcome]) -> dict[str, Any]:
    digits = DigitScore()
    edits = total = 0
    for t in turns:
        if t.utterance.digits is not None:
            digits.add(t.utterance.digits, t.heard)
        else:
            truth = words(t.utterance.text)
            edits += levenshtein_words(truth, words(t.heard))
            total += len(truth)
    return {
        "digit_accuracy": None if not digits.digits else round(digits.accuracy, 4),
        "sentence_wer": round(edits / total, 4) if total else None,
        "speakers": "all (jackson, nicolas, theo takes 3-4; spk1, spk2): not a tuning split",
    }


async def run(
    agent: AgentConfig,
    models: LocalModels,
    scripts_: Sequence[Sequence[Utterance]],
    spread_s: float = 1.0,
) -> tuple[list[CallOutcome], float, float]:
    """Every script as one call, starts spread over ``spread_s``; the outcomes, wall and
    CPU s. Within 1 s the calls' turns come in bursts (everyone's first turn, then
    everyone's number); over a turn's length or more, their phases are independent."""
    rng = random.Random(len(scripts_))

    async def one(script: Sequence[Utterance], delay: float) -> CallOutcome:
        await asyncio.sleep(delay)
        return await timed_call(agent, models, script, timeout_s=30 + 15 * len(script))

    delays = [0.0] + [rng.uniform(0, spread_s) for _ in scripts_[1:]]
    cpu, wall = time.process_time(), time.perf_counter()
    calls = await asyncio.gather(*(one(s, d) for s, d in zip(scripts_, delays, strict=True)))
    return list(calls), time.perf_counter() - wall, time.process_time() - cpu


def stages(turns: Sequence[TurnOutcome], q: float = 50) -> dict[str, float | None]:
    metrics = [t.metrics for t in turns if t.metrics is not None]
    return {
        "endpoint": pct([m.endpoint_ms for m in metrics], q),
        "stt": pct([m.stt_ms for m in metrics], q),
        "brain": pct([m.brain_ms for m in metrics], q),
        "tts_first_audio": pct([m.tts_ms for m in metrics], q),
        "playout": pct(
            [
                None
                if m.first_frame_out is None or m.tts_first_audio is None
                else 1000 * (m.first_frame_out - m.tts_first_audio)
                for m in metrics
            ],
            q,
        ),
    }


def floor(
    turns: Sequence[TurnOutcome],
    watch: CacheWatch,
    models: LocalModels,
    agent: AgentConfig,
    prompts: dict[str, str | None],
) -> dict[str, Any]:
    """Target 1: floor per answered turn, measured now on the idle engines."""
    eos = agent.turn.end_of_speech_ms
    rows: list[dict[str, Any]] = []
    for turn in turns:
        m = turn.metrics
        first = watch.first_sentence(turn)
        if m is None or m.voice_to_voice_ms is None or first is None:
            continue
        kind = "digits" if turn.utterance.digits is not None else "sentence"
        # On the engines' own threads (same priority as in a call), one at a time.
        audio = pipeline_input(turn.utterance)
        stt_ms = _timed(
            models.whisper._pool, models.whisper._transcribe, audio, "en", prompts[kind]
        )
        text, cached = first
        tts_ms = 0.0
        if not cached:
            tts_ms = _timed(
                models.piper.pool,
                lambda t: next(iter(models.piper.sentences(t, agent.tts.speed))),
                text,
            )
        rows.append(
            {
                "kind": kind,
                "stt_raw_ms": round(stt_ms),
                "tts_first_audio_raw_ms": round(tts_ms),
                "reply_cached": cached,
                "floor_ms": round(max(eos, stt_ms) + tts_ms),
                "v2v_ms": m.voice_to_voice_ms,
                "v2v_true_end_ms": None if turn.v2v_true_ms is None else round(turn.v2v_true_ms),
            }
        )
    floor_p50 = pct([r["floor_ms"] for r in rows], 50)
    v2v_p50 = pct([r["v2v_ms"] for r in rows], 50)
    true_p50 = pct([r["v2v_true_end_ms"] for r in rows], 50)
    return {
        "turns": len(rows),
        "end_of_speech_ms": eos,
        "floor_p50_ms": floor_p50,
        "v2v_p50_ms": v2v_p50,
        "overhead_p50_ms": None if floor_p50 is None or v2v_p50 is None else v2v_p50 - floor_p50,
        "v2v_true_end_p50_ms": true_p50,
        "overhead_true_end_p50_ms": None
        if floor_p50 is None or true_p50 is None
        else round(true_p50 - floor_p50, 1),
        "overhead_per_turn_p50_ms": pct([r["v2v_ms"] - r["floor_ms"] for r in rows], 50),
        "overhead_per_turn_p50_ms_by_kind": {
            kind: pct([r["v2v_ms"] - r["floor_ms"] for r in rows if r["kind"] == kind], 50)
            for kind in ("sentence", "digits")
        },
        "target_ms": 40,
        "per_turn": rows,
    }


def _timed(pool: Executor, work: Callable[..., object], *args: object) -> float:
    """Milliseconds ``work(*args)`` takes on ``pool``'s thread."""

    def timed() -> float:
        started = time.perf_counter()
        work(*args)
        return 1000 * (time.perf_counter() - started)

    return pool.submit(timed).result()


def capacity_row(calls: list[CallOutcome], wall: float, cpu: float) -> dict[str, Any]:
    turns = [t for c in calls for t in c.turns]
    answered = [t for t in turns if t.metrics is not None and t.metrics.complete]
    v2v = [t.metrics.voice_to_voice_ms for t in answered if t.metrics is not None]
    refused = [c for c in calls if c.ended_by == "refused" or "refus" in (c.error or "")]
    return {
        "calls": len(calls),
        "turns": len(turns),
        "turns_answered": len(answered),
        "refused": len(refused),
        "v2v_ms": {"p50": pct(v2v, 50), "p95": pct(v2v, 95), "max": pct(v2v, 100)},
        "v2v_true_end_ms_p50": pct([t.v2v_true_ms for t in answered], 50),
        "stages_p50_ms": stages(answered),
        "stages_p95_ms": stages(answered, 95),
        "call_errors": sorted({c.error for c in calls if c.error}),
        "cpu_utilisation": round(cpu / wall, 2),
        "cpu_s_per_answered_turn": round(cpu / max(1, len(answered)), 3),
        "cpu_bound_calls_per_2_cores": round(2 * len(calls) * wall / cpu, 1) if cpu else None,
        "load_avg_1m_after": round(os.getloadavg()[0], 1),
        "accuracy": accuracy(turns),
        "per_turn": [
            {
                "call": n,
                "turn": i,
                "kind": "digits" if t.utterance.digits is not None else "sentence",
                "speech_end": None if t.metrics is None else round(t.metrics.speech_end, 3),
                "v2v_ms": None if t.metrics is None else t.metrics.voice_to_voice_ms,
                "stt_ms": None if t.metrics is None else t.metrics.stt_ms,
                "tts_ms": None if t.metrics is None else t.metrics.tts_ms,
            }
            for n, c in enumerate(calls)
            for i, t in enumerate(c.turns)
        ],
    }


async def realistic(plan: RealisticPlan, whisper: WhisperOptions) -> dict[str, Any]:
    bank = DigitBank(fsdd_dir())
    agent = load_agent_file(AGENT)
    started = time.perf_counter()
    models = await asyncio.to_thread(LocalModels.load, whisper)
    load_s = time.perf_counter() - started
    watch = CacheWatch(models.tts_cache)
    prompts = await asyncio.to_thread(hints, agent)
    report: dict[str, Any] = {
        "mode": "realistic",
        "whisper": {
            "window_s": whisper.window_s,
            "cpu_threads": whisper.cpu_threads,
            "max_batch": whisper.max_batch,
            "speculation_budget": whisper.speculation_budget,
        },
        "models_load_s": round(load_s, 2),
        "end_of_speech_ms": agent.turn.end_of_speech_ms,
        "capacity_spread_s": plan.spread_s,
    }
    script = scripts(bank, 1, plan.single_pairs, seed=1)[0]
    print(f"single call: {len(script)} turns (cold: first turn first)", flush=True)
    calls, wall, cpu = await run(agent, models, [script])
    single = capacity_row(calls, wall, cpu)
    turns = calls[0].turns
    single["first_turn_v2v_ms"] = (
        turns[0].metrics.voice_to_voice_ms if turns and turns[0].metrics else None
    )
    single["transcripts"] = [
        {"said": t.utterance.digits or t.utterance.text, "heard": t.heard, "reply": t.reply}
        for t in turns
    ]
    report["single"] = single
    print("floor: raw recognizer and synthesis on the same turns", flush=True)
    report["floor"] = await asyncio.to_thread(floor, turns, watch, models, agent, prompts)
    print("recognizer A/B", flush=True)
    engine = models.whisper
    old = await asyncio.to_thread(WhisperEngine, OLD_OPTIONS)
    report["stt_ab"] = await asyncio.to_thread(ab, {"new": engine}, plan.ab_digits, old)
    report["capacity"] = {}
    for count in plan.concurrency:
        print(f"{count} concurrent calls", flush=True)
        batches, decoded = engine.batches, engine.decoded
        calls, wall, cpu = await run(
            agent,
            models,
            scripts(bank, count, plan.pairs_per_call, seed=100 + count),
            plan.spread_s,
        )
        row = capacity_row(calls, wall, cpu)
        row["whisper_batches"] = engine.batches - batches
        row["whisper_utterances"] = engine.decoded - decoded
        report["capacity"][str(count)] = row
    return report


def summary_line(report: dict[str, Any]) -> str:
    f = report["floor"]
    new = report["stt_ab"]["new"]
    cap = "/".join(
        f"{n}:{row['v2v_ms']['p50']:.0f}/{row['v2v_ms']['p95']:.0f}"
        if row["v2v_ms"]["p50"] is not None
        else f"{n}:-"
        for n, row in report["capacity"].items()
    )
    return (
        f"voice_loop realistic: v2v p50={f['v2v_p50_ms']:.0f}ms floor p50={f['floor_p50_ms']:.0f}ms"
        f" overhead={f['overhead_p50_ms']:.0f}ms (target 40); recognizer cut"
        f" {100 * new['time_cut']:.0f}% (target 40), report split digits"
        f" {100 * new['report']['digit_accuracy']:.1f}% vs"
        f" {100 * report['stt_ab']['old']['report']['digit_accuracy']:.1f}%, WER"
        f" {100 * new['report']['sentence_wer']:.1f}% vs"
        f" {100 * report['stt_ab']['old']['report']['sentence_wer']:.1f}%;"
        f" calls p50/p95 ms {cap}"
    )


__all__ = ["REALISTIC", "REALISTIC_QUICK", "realistic", "summary_line"]
