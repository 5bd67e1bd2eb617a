"""False starts and held turns: callers who pause mid-number or mid-sentence, on real calls.

``.venv/bin/python bench/turn_taking.py [--speakers report|tune] [--full] [--decisions-only]``

Caller turns are real human speech with pauses inside them, played over the simulated
phone line (8 kHz μ-law both ways) into calls on the real local models:

- **digits**: 4-digit numbers from FSDD, one speaker each, read digit by digit or in groups
  (2+2, 3+1, 1+3) with pauses of 0.3-0.7 s, to an agent that gathers 4 digits
  (``bench/agents/turn-digits.yaml``). Speakers are split: ``jackson`` tunes, ``nicolas``
  and ``theo`` report (``--speakers``);
- **sentences**: the 12 real sentences of ``../shared/audio/sentences``, each cut at its
  longest word gap (found by energy) with the gap made a 0.4-0.7 s pause, to an agent that
  takes free speech (``bench/agents/turn-sentences.yaml``);
- **complete**: the same numbers with short gaps (0.15-0.25 s) and the whole sentences,
  with holding on and off in alternate calls, for voice-to-voice of complete turns;
- **replies** (decisions only): things a caller says instead of the number ("I don't have
  it.", "What?", "Can you repeat that?"), in a Piper voice, which must be answered at once
  (a tuning set and a reporting set of phrases, chosen with ``--speakers``).

``--decisions-only`` runs only the first part below (no calls: minutes, not load-bound).

With the decisions goes an audio cue measured on the same audio (``voxplane.media.prosody``:
where the pitch ends against the onset, and the pitch slope over the last 300 ms), and how
"text complete and the pitch sounds final" would decide, per speaker: the sentences'
``spk1`` tuned the rule, ``spk2`` reports it. Not used by the pipeline (see README).

Each caller turn is a call of its own (greeting, the turn, the answer), so a slow answer
on a loaded machine never spills into the next turn. Reported: false starts per caller
turn (the call's own ``false_starts``, and independently, turns where agent audio went out
before the caller's voice ended), held turns, caller turns split in two, digit accuracy,
and voice-to-voice of complete turns with holding on and off. Writes
``bench/results/turn_taking-<time>.json`` and ``turn_taking-latest.json``; one summary line
on stdout.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _audio import (
    FSDD_RATE,
    WORDS,
    DigitBank,
    Utterance,
    caller_sentences,
    fsdd_dir,
    phone_line,
    read_wav,
    shared_dir,
)
from _calls import CallOutcome, TurnOutcome, timed_call
from _prosody import EndProsody, ProsodyRule, end_prosody, pitch_track
from _stt_eval import DigitScore
from voice_loop import pct
from voxplane.agents.loader import load_agent_file
from voxplane.agents.schema import AgentConfig
from voxplane.media.frame import Pcm16
from voxplane.media.resample import resample
from voxplane.providers.flow.brain import FlowBrain
from voxplane.runtime.local import LocalModels
from voxplane.transports.simulated import CallerPolicy

BENCH = Path(__file__).resolve().parent
RESULTS = BENCH / "results"
SPEAKERS = {"tune": ("jackson",), "report": ("nicolas", "theo")}
GROUPINGS = ((1, 1, 1, 1), (2, 2), (3, 1), (1, 3))
"""How a 4-digit number is read: digit by digit, or in groups with a pause between."""
PAUSE_S = (0.3, 0.7)
WITHIN_GROUP_S = (0.1, 0.25)
SENTENCE_PAUSE_S = (0.4, 0.7)
POLICY = CallerPolicy(agent_idle_ms=1500, answer_timeout_s=20.0)
"""The caller hangs up 1.5 s after the agent went quiet: time for a cut answer's repair."""


@dataclass(frozen=True, slots=True)
class Plan:
    decision_digits: int
    paused_digits: int
    paused_digits_off: int
    complete_digits: int
    complete_sentences: int


REPLIES = {
    "tune": (
        "I don't have it.",
        "What?",
        "Can you repeat that?",
        "Sorry, say that again?",
        "I don't know.",
        "No.",
        "I'd rather not say.",
        "Where do I find it?",
        "Hello?",
        "Which number?",
    ),
    "report": (
        "I'm not sure.",
        "Nope.",
        "Say again?",
        "Sorry?",
        "I can't find it.",
        "Huh?",
        "Could you say that again?",
        "Who is this?",
        "I don't have one.",
        "Hello, are you there?",
    ),
}
"""Replies to "Next number?" that are not a number: each must be answered at once. Split
like the speakers: the rules were tuned on the first set (Piper voice), reported on the
second."""

DEFAULT = Plan(24, paused_digits=6, paused_digits_off=4, complete_digits=4, complete_sentences=4)
FULL = Plan(60, paused_digits=20, paused_digits_off=12, complete_digits=12, complete_sentences=12)


# --- caller speech -------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Case:
    """A caller turn and where its pauses (longer than the end-of-speech silence) begin."""

    utterance: Utterance
    pauses_s: tuple[float, ...]
    speaker: str = ""


def numbers(
    bank: DigitBank, speakers: Sequence[str], count: int, seed: int, *, paused: bool
) -> list[Case]:
    """4-digit numbers, one speaker each; ``paused``: read in groups with real pauses."""
    rng = random.Random(seed)
    out: list[Case] = []
    while len(out) < count:
        speaker = rng.choice(speakers)
        digits = [rng.randrange(10) for _ in range(4)]
        grouping = rng.choice(GROUPINGS) if paused else (4,)
        ends = set(np.cumsum(grouping)[:-1].tolist())
        parts: list[Pcm16] = []
        pauses: list[float] = []
        for i, digit in enumerate(digits):
            if i:
                gap = PAUSE_S if i in ends else WITHIN_GROUP_S
                if i in ends:  # where the speech stops (clips keep 30 ms after it)
                    pauses.append(sum(map(len, parts)) / FSDD_RATE - 0.03)
                parts.append(np.zeros(round(rng.uniform(*gap) * FSDD_RATE), np.int16))
            parts.append(bank.clip(digit, speaker, rng.randrange(5)))
        samples = np.concatenate(parts)
        end = len(samples) / FSDD_RATE - 0.03
        text = " ".join(WORDS[d] for d in digits)
        said = Utterance(samples, FSDD_RATE, end, "".join(map(str, digits)), text)
        out.append(Case(said, tuple(pauses), speaker))
    return out


def sentences(seed: int, *, paused: bool) -> list[Case]:
    """The real sentences, whole or cut at their longest word gap with a longer pause."""
    root = shared_dir() / "audio" / "sentences"
    texts: dict[str, str] = json.loads((root / "transcripts.json").read_text())
    rng = random.Random(seed)
    out: list[Case] = []
    for name, text in sorted(texts.items()):
        samples, rate = read_wav(root / name)
        first, last, gap = _speech_and_gap(samples, rate)
        if paused:
            pause = np.zeros(round(rng.uniform(*SENTENCE_PAUSE_S) * rate), np.int16)
            samples = np.concatenate([samples[: gap[0]], pause, samples[gap[1] :]])
            last += len(pause) - (gap[1] - gap[0])
        begin = max(0, first - rate // 20)
        samples, end = samples[begin:], (last - begin) / rate
        pauses = ((gap[0] - begin) / rate,) if paused else ()
        said = Utterance(resample(samples, rate, FSDD_RATE), FSDD_RATE, end, None, text)
        out.append(Case(said, pauses, name.split("_")[0]))
    return out


def _speech_and_gap(samples: Pcm16, rate: int) -> tuple[int, int, tuple[int, int]]:
    """First and last sample of speech, and the longest quiet stretch (10 ms frames more
    than 30 dB under the loudest) in the middle 60 % of it; else its quietest frame."""
    frame = rate // 100
    count = len(samples) // frame
    blocks = samples[: count * frame].astype(np.float64).reshape(count, frame)
    db = 20 * np.log10(np.sqrt(np.mean(blocks**2, axis=1)) / 32768 + 1e-9)
    loud = db > db.max() - 30
    voiced = np.flatnonzero(loud)
    first, last = int(voiced[0]), int(voiced[-1]) + 1
    low, high = first + 0.2 * (last - first), first + 0.8 * (last - first)
    best = (0, 0)
    i = first
    while i < last:
        j = i
        while j < last and not loud[j]:
            j += 1
        if j - i > best[1] - best[0] and low < i < high:
            best = (i, j)
        i = j + 1
    if best == (0, 0):
        k = int(low + np.argmin(db[int(low) : int(high)]))
        best = (k, k + 1)
    return first * frame, last * frame, (best[0] * frame, best[1] * frame)


# --- calls ---------------------------------------------------------------------------------


def holding(agent: AgentConfig, on: bool) -> AgentConfig:
    incomplete = agent.turn.incomplete_ms if on else 0
    turn = agent.turn.model_copy(update={"incomplete_ms": incomplete})
    return agent.model_copy(update={"turn": turn})


async def calls(
    agent: AgentConfig, models: LocalModels, utterances: Sequence[Utterance], label: str
) -> list[CallOutcome]:
    """One call per caller turn, so a slow answer never spills into the next turn."""
    print(f"{label}: {len(utterances)} calls", file=sys.stderr, flush=True)
    outcomes = [await timed_call(agent, models, [u], 45, POLICY) for u in utterances]
    for outcome in outcomes:
        if outcome.error:
            print(f"  {label}: {outcome.error}", file=sys.stderr, flush=True)
    return outcomes


def summary(calls: Sequence[CallOutcome]) -> dict[str, Any]:
    turns = [t for c in calls for t in c.turns]
    accuracy = DigitScore()
    for t in turns:
        if t.utterance.digits is not None:
            accuracy.add(t.utterance.digits, t.heard)
    metrics = [t.metrics for t in turns if t.metrics is not None]
    return {
        "caller_turns": len(turns),
        "false_starts": sum(c.false_starts for c in calls),
        "talked_over_turns": sum(t.talked_over for t in turns),
        "held_turns": sum(c.held_turns for c in calls),
        "split_turns": sum(t.answered > 1 for t in turns),
        "unanswered_turns": sum(t.answered == 0 for t in turns),
        "v2v_ms_p50": pct([m.voice_to_voice_ms for m in metrics], 50),
        "v2v_true_end_ms_p50": pct([t.v2v_true_ms for t in turns], 50),
        "digits": accuracy.document() if accuracy.utterances else None,
        "errors": [c.error for c in calls if c.error],
        "transcripts": [_transcript(t) for t in turns],
    }


def _transcript(t: TurnOutcome) -> dict[str, Any]:
    return {
        "said": t.utterance.digits or t.utterance.text,
        "heard": t.heard,
        "parts": t.answered,
        "talked_over": t.talked_over,
        "v2v_ms": None if t.metrics is None else t.metrics.voice_to_voice_ms,
    }


def decisions(models: LocalModels, agent: AgentConfig, cases: Sequence[Case]) -> dict[str, Any]:
    """How the brain judges each pause and each whole turn, on what Whisper makes of the
    audio so far (phone path, the flow's hint, 300 ms of silence before and 150 ms of the
    pause after, as the pipeline cuts it). Independent of timing, so of machine load: a
    pause judged complete is an answer started in the caller's pause (with holding off,
    every pause is); a whole turn judged incomplete waits ``incomplete_ms`` more."""
    brain = FlowBrain(agent.brain)
    hint = brain.stt_hint()
    prompt = hint.prompt if hint is not None and hint.prompt else None

    def heard(samples: Pcm16, until_s: float) -> tuple[str, EndProsody]:
        line = phone_line(samples[: round((until_s + 0.15) * FSDD_RATE)])
        audio = np.concatenate([np.zeros(4800, np.int16), resample(line, FSDD_RATE, 16_000)])
        text = models.whisper._transcribe(audio, "en", prompt)
        return text, end_prosody(pitch_track(audio, 16_000))

    in_pause: list[str] = []
    held_whole: list[str] = []
    heard_all: list[dict[str, Any]] = []
    cues: list[Cue] = []
    for case in cases:
        said = case.utterance
        at_pauses = [heard(said.samples, p) for p in case.pauses_s]
        in_pause += [t for t, _ in at_pauses if brain.turn_complete(t)]
        whole, whole_cue = heard(said.samples, said.speech_end_s)
        if not brain.turn_complete(whole):
            held_whole.append(whole)
        cues += [Cue(case.speaker, True, brain.turn_complete(t), c) for t, c in at_pauses]
        cues.append(Cue(case.speaker, False, brain.turn_complete(whole), whole_cue))
        heard_all.append(
            {"said": said.digits or said.text, "pauses": [t for t, _ in at_pauses], "whole": whole}
        )
    return {
        "turns": len(cases),
        "pauses": sum(len(c.pauses_s) for c in cases),
        "pauses_judged_complete": len(in_pause),
        "whole_turns_judged_incomplete": len(held_whole),
        "judged_complete_in_a_pause": in_pause,
        "whole_judged_incomplete": held_whole,
        "heard": heard_all,
        "prosody": prosody(cues),
    }


@dataclass(frozen=True, slots=True)
class Cue:
    """The audio cue at one decision point, with the text's judgement there."""

    speaker: str
    in_pause: bool
    text_complete: bool
    cue: EndProsody


RULE = ProsodyRule()
LOWERING_SWEEP = (0.0, 1.0, 2.0, 3.0, 3.5, 4.0, 5.0, 6.0)
SLOPE_SWEEP = (-10.0, -5.0, 0.0, 5.0, 10.0)


def prosody(cues: Sequence[Cue]) -> dict[str, Any]:
    """Per speaker, how "complete only if the text says so and the pitch sounds final"
    decides: the rule as tuned, and sweeps of the pitch lowering from the onset and of the
    pitch slope over the last 300 ms (a slope above the value sounds unfinished)."""

    def counts(group: Sequence[Cue], final: Any) -> dict[str, int]:
        pauses = [c for c in group if c.in_pause]
        wholes = [c for c in group if not c.in_pause]
        return {
            "pauses": len(pauses),
            "pauses_audio_unfinished": sum(not final(c.cue) for c in pauses),
            "pauses_judged_complete": sum(c.text_complete and final(c.cue) for c in pauses),
            "turns": len(wholes),
            "whole_audio_unfinished": sum(not final(c.cue) for c in wholes),
            "whole_held": sum(not (c.text_complete and final(c.cue)) for c in wholes),
        }

    out: dict[str, Any] = {"rule_min_lowering_st": RULE.min_lowering_st, "by_speaker": {}}
    for speaker in sorted({c.speaker for c in cues}):
        group = [c for c in cues if c.speaker == speaker]
        out["by_speaker"][speaker] = {
            "rule": counts(group, RULE.sounds_final),
            "text_only": counts(group, lambda _: True),
            "lowering_sweep": {
                str(t): counts(group, ProsodyRule(t).sounds_final) for t in LOWERING_SWEEP
            },
            "slope_sweep": {
                str(s): counts(group, lambda c, s=s: c.pitch_slope_st_s <= s) for s in SLOPE_SWEEP
            },
            "cues": [
                {
                    "in_pause": c.in_pause,
                    "text_complete": c.text_complete,
                    "final_vs_onset_st": round(c.cue.final_vs_onset_st, 2),
                    "pitch_slope_st_s": round(c.cue.pitch_slope_st_s, 1),
                    "final_vs_median_st": round(c.cue.final_vs_median_st, 2),
                    "level_slope_db_s": round(c.cue.level_slope_db_s, 1),
                    "voiced_frames": c.cue.voiced_frames,
                }
                for c in group
            ],
        }
    return out


def decision_cost(agent: AgentConfig, texts: Sequence[str]) -> dict[str, float]:
    """What deciding costs a turn: ``Brain.turn_complete`` on the run's transcripts."""
    brain = FlowBrain(agent.brain)
    rounds = 200
    started = time.perf_counter()
    for _ in range(rounds):
        for text in texts:
            brain.turn_complete(text)
    each = (time.perf_counter() - started) / (rounds * max(1, len(texts)))
    return {"texts": len(texts), "us_per_decision": round(1e6 * each, 1)}


def paired_v2v(on: Sequence[CallOutcome], off: Sequence[CallOutcome]) -> dict[str, Any]:
    """Voice-to-voice of the same complete turns with holding on and off."""
    pairs = [
        (a.metrics.voice_to_voice_ms, b.metrics.voice_to_voice_ms)
        for x, y in zip(on, off, strict=True)
        for a, b in zip(x.turns, y.turns, strict=True)
        if a.metrics is not None and b.metrics is not None
    ]
    both = [(a, b) for a, b in pairs if a is not None and b is not None]
    return {
        "pairs": len(both),
        "on_p50_ms": pct([a for a, _ in both], 50),
        "off_p50_ms": pct([b for _, b in both], 50),
        "difference_p50_ms": pct([a - b for a, b in both], 50),
    }


async def bench(
    plan: Plan, speakers: Sequence[str], replies_said: tuple[str, ...], *, decisions_only: bool
) -> dict[str, Any]:
    bank = DigitBank(fsdd_dir())
    digits_agent = load_agent_file(BENCH / "agents" / "turn-digits.yaml")
    sentence_agent = load_agent_file(BENCH / "agents" / "turn-sentences.yaml")
    models = LocalModels.load()
    report: dict[str, Any] = {
        "speakers": list(speakers),
        "end_of_speech_ms": digits_agent.turn.end_of_speech_ms,
        "incomplete_ms": digits_agent.turn.incomplete_ms,
    }
    paused = numbers(bank, speakers, plan.decision_digits, seed=1, paused=True)
    cut = sentences(seed=2, paused=True)
    whole_numbers = numbers(bank, speakers, plan.decision_digits, seed=3, paused=False)
    whole = sentences(seed=4, paused=False)
    replies = [Case(u, (), "piper") for u in caller_sentences(models.piper, replies_said)]
    print("decisions on what Whisper hears", file=sys.stderr, flush=True)
    report["decisions"] = {
        "paused_digits": decisions(models, digits_agent, paused),
        "paused_sentences": decisions(models, sentence_agent, cut),
        "whole_numbers": decisions(models, digits_agent, whole_numbers),
        "whole_sentences": decisions(models, sentence_agent, whole),
        "replies_to_digits": decisions(models, digits_agent, replies),
    }
    if decisions_only:
        return report
    live = [c.utterance for c in paused[: plan.paused_digits]]
    on = await calls(digits_agent, models, live, "paused digits, holding on")
    off_agent = holding(digits_agent, False)
    off = await calls(off_agent, models, live[: plan.paused_digits_off], "paused digits, off")
    report["paused_digits"] = {"on": summary(on), "off": summary(off)}
    report["paused_sentences"] = summary(
        await calls(sentence_agent, models, [c.utterance for c in cut], "paused sentences")
    )
    whole_numbers = whole_numbers[: plan.complete_digits]
    whole_sentences = whole[:: max(1, len(whole) // plan.complete_sentences)]
    print("complete turns, holding on and off in turn", file=sys.stderr, flush=True)
    complete_on: list[CallOutcome] = []
    complete_off: list[CallOutcome] = []
    for agent, script in ((digits_agent, whole_numbers), (sentence_agent, whole_sentences)):
        for case in script:  # alternating, so both see the same load
            said = [case.utterance]
            complete_on += await calls(agent, models, said, "  on")
            complete_off += await calls(holding(agent, False), models, said, "  off")
    report["complete"] = {
        "on": summary(complete_on),
        "off": summary(complete_off),
        "v2v_same_turns": paired_v2v(complete_on, complete_off),
    }
    heard = [t.heard for c in on + complete_on for t in c.turns if t.heard]
    report["decision_cost"] = decision_cost(digits_agent, heard)
    return report


def decisions_line(report: dict[str, Any]) -> str:
    d = report["decisions"]

    def held(name: str) -> str:
        return f"{d[name]['whole_turns_judged_incomplete']}/{d[name]['turns']}"

    def judged(name: str) -> str:
        return f"{d[name]['pauses_judged_complete']}/{d[name]['pauses']}"

    return (
        f"turn_taking ({'+'.join(report['speakers'])}): pauses judged complete (an answer "
        f"in the pause): digits {judged('paused_digits')}, sentences "
        f"{judged('paused_sentences')}; whole turns judged incomplete (held): numbers "
        f"{held('whole_numbers')}, sentences {held('whole_sentences')}, non-digit replies "
        f"to a digits question {held('replies_to_digits')}. {prosody_line(d)}"
    )


def prosody_line(d: dict[str, Any]) -> str:
    """The same with the pitch cue asked too (complete = text complete and pitch final)."""

    def total(name: str, key: str, of: str) -> str:
        groups = d[name]["prosody"]["by_speaker"].values()
        return f"{sum(g['rule'][key] for g in groups)}/{sum(g['rule'][of] for g in groups)}"

    def per_speaker(name: str, key: str, of: str) -> str:
        groups = d[name]["prosody"]["by_speaker"].items()
        return ", ".join(f"{s} {g['rule'][key]}/{g['rule'][of]}" for s, g in groups)

    return (
        f"With the pitch cue: sentence pauses judged complete "
        f"{per_speaker('paused_sentences', 'pauses_judged_complete', 'pauses')}; whole "
        f"sentences held {per_speaker('whole_sentences', 'whole_held', 'turns')}; digit "
        f"pauses judged complete {total('paused_digits', 'pauses_judged_complete', 'pauses')}; "
        f"whole numbers held {total('whole_numbers', 'whole_held', 'turns')}; replies held "
        f"{total('replies_to_digits', 'whole_held', 'turns')}"
    )


def summary_line(report: dict[str, Any]) -> str:
    digits, sentences_ = report["paused_digits"], report["paused_sentences"]
    complete = report["complete"]
    v2v = complete["v2v_same_turns"]

    def rate(run: dict[str, Any]) -> str:
        return (
            f"{run['false_starts']}/{run['caller_turns']} ({run['talked_over_turns']} talked over)"
        )

    return (
        f"{decisions_line(report)}. Live calls: false starts per turn: paused digits "
        f"{rate(digits['on'])} (holding off {rate(digits['off'])}), paused sentences "
        f"{rate(sentences_)}; held {digits['on']['held_turns']} digit / "
        f"{sentences_['held_turns']} sentence / {complete['on']['held_turns']} complete turns; "
        f"digits {_accuracy(digits['on'])} (off {_accuracy(digits['off'])}, complete "
        f"{_accuracy(complete['on'])}); complete-turn v2v p50 {v2v['on_p50_ms']} ms on / "
        f"{v2v['off_p50_ms']} ms off (paired difference p50 {v2v['difference_p50_ms']} ms); "
        f"deciding costs {report['decision_cost']['us_per_decision']} µs a turn"
    )


def _accuracy(run: dict[str, Any]) -> str:
    digits = run["digits"]
    return "-" if digits is None else f"{100 * digits['digit_accuracy']:.1f}%"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--speakers", choices=sorted(SPEAKERS), default="report")
    parser.add_argument("--full", action="store_true", help="more turns (about 10 min)")
    parser.add_argument(
        "--decisions-only", action="store_true", help="only the timing-independent decisions"
    )
    args = parser.parse_args()
    started = time.perf_counter()
    plan, speakers = FULL if args.full else DEFAULT, SPEAKERS[args.speakers]
    replies = REPLIES[args.speakers]
    report = asyncio.run(bench(plan, speakers, replies, decisions_only=args.decisions_only))
    report["bench_s"] = round(time.perf_counter() - started, 1)
    RESULTS.mkdir(exist_ok=True)
    stamp = time.strftime("%Y%m%d-%H%M%S")
    text = json.dumps(report, indent=2) + "\n"
    name = "turn_taking_decisions" if args.decisions_only else "turn_taking"
    path = RESULTS / f"{name}-{stamp}.json"
    path.write_text(text)
    (RESULTS / f"{name}-latest.json").write_text(text)
    print(f"wrote {path}", file=sys.stderr)
    print(decisions_line(report) if args.decisions_only else summary_line(report))


if __name__ == "__main__":
    main()
