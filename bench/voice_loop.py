"""Voice-to-voice latency, its floor, recognizer A/B and capacity on real phone calls.

``.venv/bin/python bench/voice_loop.py [--quick] [--digits-loop]``

Default (realistic, see ``_realistic.py``): a cold process; real human sentences and FSDD
digit strings over the simulated phone line (8 kHz μ-law both ways) to an agent that asks
what the call is about, then for an account number, and repeats it back; no TTS cache
warmed by the bench. Reported: per-stage times, the floor of issue 9's target 1 and the
overhead over it, the recognizer A/B (faster-whisper 30-s window vs the engine, speakers
split), and the capacity curve (1, 4, 8, 12, 16 calls: p50/p95, turns answered, refused).
Writes ``bench/results/voice_loop-<time>.json`` and ``voice_loop-latest.json``.

``--digits-loop``: the older run: FSDD digits and Piper-made caller sentences to an agent
that asks for a 3-4 digit number again and again (``bench/agents/digits-loop.yaml``), with
digit accuracy with and without the STT hint, CPU per turn and event-loop stalls; writes
``voice_loop_digits-<time>.json``.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import dataclasses
import json
import os
import platform
import random
import resource
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _audio import (
    DEV_TAKES,
    HELD_OUT_TAKES,
    DigitBank,
    Utterance,
    caller_sentences,
    fsdd_dir,
)
from _calls import CallOutcome, TurnOutcome, timed_call
from _realistic import REALISTIC, REALISTIC_QUICK, realistic
from _realistic import summary_line as realistic_summary
from _stt_eval import DigitScore, score
from voxplane.agents.loader import load_agent_file
from voxplane.agents.schema import AgentConfig
from voxplane.pipeline.session import PREROLL_MS
from voxplane.providers.flow.brain import FlowBrain
from voxplane.providers.whisper import WhisperOptions
from voxplane.runtime.factory import LocalModels

BENCH = Path(__file__).resolve().parent
AGENT = BENCH / "agents" / "digits-loop.yaml"
RESULTS = BENCH / "results"
GAPS = (0.15, 0.35)
"""Pause between spoken digits, seconds."""


@dataclass(frozen=True, slots=True)
class Plan:
    single_digits: int
    single_sentences: int
    unhinted_digits: int
    standalone: int
    concurrency: tuple[int, ...]
    turns_per_call: tuple[int, int]


FULL = Plan(16, 4, 12, 60, (1, 4, 8, 16), (4, 6))
QUICK = Plan(5, 1, 3, 12, (1, 4, 8), (3, 3))


def pct(values: Sequence[float | None], q: float) -> float | None:
    present = sorted(v for v in values if v is not None)
    if not present:
        return None
    rank = (len(present) - 1) * q / 100
    low = int(rank)
    high = min(low + 1, len(present) - 1)
    return round(present[low] + (present[high] - present[low]) * (rank - low), 1)


class WhisperCounter:
    """Counts recognitions the shared Whisper engine really decodes (cancelled included)."""

    def __init__(self, models: LocalModels) -> None:
        self._engine = models.whisper

    @property
    def runs(self) -> int:
        return self._engine.decoded


class LoopMonitor:
    """Sleeps 5 ms over and over and records how late it wakes: the loop's stalls."""

    PERIOD_S = 0.005

    def __init__(self) -> None:
        self.late_ms: list[float] = []
        self._task: asyncio.Task[None] | None = None

    async def _run(self) -> None:
        while True:
            before = time.perf_counter()
            await asyncio.sleep(self.PERIOD_S)
            self.late_ms.append(1000 * (time.perf_counter() - before - self.PERIOD_S))

    async def __aenter__(self) -> LoopMonitor:
        self._task = asyncio.create_task(self._run())
        return self

    async def __aexit__(self, *exc: object) -> None:
        assert self._task is not None
        self._task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self._task

    def document(self) -> dict[str, float | None]:
        return {"max_ms": pct(self.late_ms, 100), "p99_ms": pct(self.late_ms, 99)}


def with_hints(agent: AgentConfig, on: bool) -> AgentConfig:
    return agent.model_copy(update={"stt": agent.stt.model_copy(update={"use_hints": on})})


async def run_calls(
    agent: AgentConfig,
    models: LocalModels,
    counter: WhisperCounter,
    scripts: Sequence[Sequence[Utterance]],
    stagger_s: float = 0.0,
) -> dict[str, Any]:
    """Run one call per script at once (starts spread over ``stagger_s``) and sum them up."""
    rng = random.Random(len(scripts))

    async def one(script: Sequence[Utterance], delay: float) -> CallOutcome:
        await asyncio.sleep(delay)
        return await timed_call(agent, models, script, timeout_s=30 + 15 * len(script))

    cpu = time.process_time()
    runs = counter.runs
    started = time.perf_counter()
    async with LoopMonitor() as monitor:
        delays = [0.0] + [rng.uniform(0, stagger_s) for _ in scripts[1:]]
        calls = await asyncio.gather(*(one(s, d) for s, d in zip(scripts, delays, strict=True)))
    wall = time.perf_counter() - started
    cpu = time.process_time() - cpu
    turns = [t for c in calls for t in c.turns]
    summary = summarise(turns)
    summary.update(
        calls=len(calls),
        call_errors=[c.error for c in calls if c.error],
        ended_by=sorted({c.ended_by for c in calls}),
        wall_s=round(wall, 1),
        cpu_s_per_turn=round(cpu / max(1, summary["turns_answered"]), 3),
        cpu_utilisation=round(cpu / wall, 2),
        whisper_runs_per_turn=round((counter.runs - runs) / max(1, summary["turns_answered"]), 2),
        loop_stall=monitor.document(),
    )
    summary["_turns"] = turns
    return summary


def summarise(turns: Sequence[TurnOutcome]) -> dict[str, Any]:
    answered = [t for t in turns if t.metrics is not None]
    metrics = [t.metrics for t in answered if t.metrics is not None]
    digit_turns = [t for t in answered if t.utterance.digits is not None]
    accuracy = DigitScore()
    for t in [t for t in turns if t.utterance.digits is not None]:
        accuracy.add(t.utterance.digits or "", t.heard)
    v2v = [m.voice_to_voice_ms for m in metrics]
    true = [t.v2v_true_ms for t in answered]
    return {
        "turns": len(turns),
        "turns_answered": len(answered),
        "turns_split": sum(t.answered > 1 for t in turns),
        "v2v_ms": {"p50": pct(v2v, 50), "p95": pct(v2v, 95), "max": pct(v2v, 100)},
        "v2v_true_end_ms": {"p50": pct(true, 50), "p95": pct(true, 95), "max": pct(true, 100)},
        "v2v_digit_turns_ms_p50": pct([t.v2v_true_ms for t in digit_turns], 50),
        "vad_end_lag_ms_p50": pct([t.vad_end_lag_ms for t in answered], 50),
        "stages_p50_ms": {
            "endpoint": pct([m.endpoint_ms for m in metrics], 50),
            "stt": pct([m.stt_ms for m in metrics], 50),
            "brain": pct([m.brain_ms for m in metrics], 50),
            "tts_first_audio": pct([m.tts_ms for m in metrics], 50),
            "playout": pct(
                [
                    None
                    if m.first_frame_out is None or m.tts_first_audio is None
                    else 1000 * (m.first_frame_out - m.tts_first_audio)
                    for m in metrics
                ],
                50,
            ),
        },
        "speculative_hit_rate": round(sum(m.speculative_hit for m in metrics) / len(metrics), 3)
        if metrics
        else None,
        "digits_in_call": accuracy.document(),
    }


def standalone_accuracy(
    models: LocalModels, agent: AgentConfig, bank: DigitBank, count: int
) -> dict[str, Any]:
    """Digit accuracy of the engine alone on the phone-path audio, dev and held-out."""
    hint = FlowBrain(agent.brain, agent.call.first_message).stt_hint()
    assert hint is not None and hint.kind == "digits"
    engine = models.whisper
    out: dict[str, Any] = {"prompt": hint.prompt}
    for split, takes, seed in (("dev", DEV_TAKES, 3), ("held_out", HELD_OUT_TAKES, 7)):
        utterances = bank.utterances(count, takes, seed=seed, gaps=GAPS)
        for mode, prompt in (("hinted", hint.prompt), ("unhinted", None)):
            result, per, _misses = score(
                lambda s, p=prompt: engine._transcribe(s, "en", p), utterances
            )
            out[f"{split}_{mode}"] = {**result.document(), "ms_per_utterance": round(1000 * per)}
    return out


def call_scripts(
    bank: DigitBank, sentences: Sequence[Utterance], calls: int, turns: tuple[int, int], seed: int
) -> list[list[Utterance]]:
    """Per call: 4-6 turns, mostly held-out digit strings, sometimes a sentence."""
    rng = random.Random(seed)
    digits = bank.utterances(calls * turns[1], HELD_OUT_TAKES, seed=seed, gaps=GAPS)
    scripts: list[list[Utterance]] = []
    for _ in range(calls):
        script = [digits.pop() for _ in range(rng.randint(*turns) - 1)]
        script.insert(rng.randrange(len(script) + 1), rng.choice(sentences))
        scripts.append(script)
    return scripts


def single_script(
    bank: DigitBank, sentences: Sequence[Utterance], digit_turns: int, sentence_turns: int
) -> list[Utterance]:
    script = bank.utterances(digit_turns, HELD_OUT_TAKES, seed=11, gaps=GAPS)
    for i, sentence in enumerate(sentences[:sentence_turns]):
        script.insert(min(len(script), (i + 1) * 4 - 1), sentence)
    return script


def strip_turns(summary: dict[str, Any]) -> dict[str, Any]:
    turns: list[TurnOutcome] = summary.pop("_turns")
    summary["transcripts"] = [
        {
            "said": t.utterance.digits or t.utterance.text,
            "heard": t.heard,
            "v2v_true_ms": None if t.v2v_true_ms is None else round(t.v2v_true_ms),
        }
        for t in turns
    ]
    return summary


async def bench(plan: Plan, whisper: WhisperOptions, speculative: bool) -> dict[str, Any]:
    bank = DigitBank(fsdd_dir())
    agent = load_agent_file(AGENT)
    started = time.perf_counter()
    models = LocalModels.load(whisper)
    load_s = time.perf_counter() - started
    sentences = caller_sentences(models.piper)
    counter = WhisperCounter(models)
    if not speculative:
        agent = agent.model_copy(
            update={"turn": agent.turn.model_copy(update={"speculative_stt": False})}
        )
    report: dict[str, Any] = {
        "machine": {"cpus": _cpus(), "python": platform.python_version()},
        "whisper": {"window_s": whisper.window_s, "cpu_threads": whisper.cpu_threads},
        "models_load_s": round(load_s, 2),
        "end_of_speech_ms": agent.turn.end_of_speech_ms,
        "preroll_ms": PREROLL_MS,
        "speculative_stt": agent.turn.speculative_stt,
    }
    script = single_script(bank, sentences, plan.single_digits, plan.single_sentences)
    print(f"single call, hinted: {len(script)} turns", file=sys.stderr, flush=True)
    report["single_hinted"] = strip_turns(
        await run_calls(with_hints(agent, True), models, counter, [script])
    )
    unhinted = [u for u in script if u.digits][: plan.unhinted_digits]
    print(f"single call, unhinted: {len(unhinted)} turns", file=sys.stderr, flush=True)
    report["single_unhinted"] = strip_turns(
        await run_calls(with_hints(agent, False), models, counter, [unhinted])
    )
    print("digit accuracy, engine alone", file=sys.stderr, flush=True)
    report["accuracy"] = standalone_accuracy(models, agent, bank, plan.standalone)
    report["concurrency"] = {}
    for calls in plan.concurrency:
        print(f"{calls} concurrent calls", file=sys.stderr, flush=True)
        scripts = call_scripts(bank, sentences, calls, plan.turns_per_call, seed=100 + calls)
        summary = strip_turns(await run_calls(agent, models, counter, scripts, stagger_s=1.0))
        report["concurrency"][str(calls)] = summary
    report["peak_rss_mb"] = round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)
    return report


def _cpus() -> int:
    return len(os.sched_getaffinity(0))


def summary_line(report: dict[str, Any]) -> str:
    single = report["single_hinted"]
    acc = report["accuracy"]
    runs = [single, report["single_unhinted"], *report["concurrency"].values()]
    stalls = [run["loop_stall"]["max_ms"] for run in runs]
    calls = "/".join(report["concurrency"])
    conc = "/".join(f"{c['v2v_ms']['p50']:.0f}" for c in report["concurrency"].values())
    return (
        f"voice_loop: v2v p50={single['v2v_ms']['p50']:.0f}ms p95={single['v2v_ms']['p95']:.0f}ms"
        f" (true end p50={single['v2v_true_end_ms']['p50']:.0f}ms; eos="
        f"{report['end_of_speech_ms']}ms) digits="
        f"{100 * acc['held_out_hinted']['digit_accuracy']:.1f}% hinted / "
        f"{100 * acc['held_out_unhinted']['digit_accuracy']:.1f}% unhinted (held-out); "
        f"loop stall max={max(s for s in stalls if s is not None):.0f}ms; "
        f"calls {calls} v2v p50={conc}ms"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="a smaller run (a few minutes)")
    parser.add_argument(
        "--digits-loop",
        action="store_true",
        help="the older digits-only run (FSDD digits and Piper-made sentences, warm cache)",
    )
    parser.add_argument("--whisper-window", type=float, default=WhisperOptions().window_s)
    parser.add_argument("--whisper-threads", type=int, default=WhisperOptions().cpu_threads)
    parser.add_argument(
        "--speculation-budget", type=int, default=WhisperOptions().speculation_budget
    )
    parser.add_argument("--concurrency", type=int, nargs="*", help="override call counts")
    parser.add_argument("--pairs", type=int, help="sentence + number pairs per concurrent call")
    parser.add_argument(
        "--spread",
        type=float,
        default=1.0,
        help="concurrent calls start within this many seconds (1: their turns come in bursts)",
    )
    parser.add_argument("--no-speculative", action="store_true", help="turn.speculative_stt: false")
    args = parser.parse_args()
    whisper = WhisperOptions(
        window_s=args.whisper_window,
        cpu_threads=args.whisper_threads,
        speculation_budget=args.speculation_budget,
    )
    started = time.perf_counter()
    if args.digits_loop:
        plan = QUICK if args.quick else FULL
        if args.concurrency:
            plan = dataclasses.replace(plan, concurrency=tuple(args.concurrency))
        report = asyncio.run(bench(plan, whisper, not args.no_speculative))
        line = summary_line(report)
        name = "voice_loop_digits"
    else:
        real = REALISTIC_QUICK if args.quick else REALISTIC
        if args.concurrency:
            real = dataclasses.replace(real, concurrency=tuple(args.concurrency))
        if args.pairs:
            real = dataclasses.replace(real, pairs_per_call=args.pairs)
        real = dataclasses.replace(real, spread_s=args.spread)
        report = asyncio.run(realistic(real, whisper))
        line = realistic_summary(report)
        name = "voice_loop"
    report["machine"] = {
        "cpus": _cpus(),
        "python": platform.python_version(),
        "load_avg_at_end": list(os.getloadavg()),
    }
    report["quick"] = args.quick
    report["bench_s"] = round(time.perf_counter() - started, 1)
    report["peak_rss_mb"] = round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)
    RESULTS.mkdir(exist_ok=True)
    stamp = time.strftime("%Y%m%d-%H%M%S")
    text = json.dumps(report, indent=2) + "\n"
    path = RESULTS / f"{name}-{stamp}.json"
    path.write_text(text)
    (RESULTS / f"{name}-latest.json").write_text(text)
    print(f"wrote {path}", file=sys.stderr)
    print(line)


if __name__ == "__main__":
    main()
