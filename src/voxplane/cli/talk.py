"""``voxplane talk``: simulate a phone call with an agent, from recorded caller turns."""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np

from voxplane.agents.loader import load_agent_file
from voxplane.agents.schema import AgentConfig
from voxplane.cli.record import CallRecorder
from voxplane.errors import AudioError, ConfigError
from voxplane.media.level import FLOOR_DBFS, speech_dbfs
from voxplane.media.wav import decode_wav, encode_wav
from voxplane.pipeline.records import CallResult, TurnRecord, result_document
from voxplane.runtime.endpoints import check_reachable
from voxplane.runtime.factory import (
    LocalModels,
    llm_brain,
    needs_local_models,
)
from voxplane.runtime.keys import InlineKeys, resolve_keys
from voxplane.runtime.local import run_call
from voxplane.transports.simulated import CallerPolicy, CallerTurn, SimulatedCaller

MAX_INPUT_SECONDS = 120
CLIP_LEVEL = 32_700
MAX_CLIPPED = 0.01
"""More than this share of samples at full scale is distorted past what STT can use."""


def add_parser(commands: Any) -> None:
    parser = commands.add_parser(
        "talk",
        help="simulate a call: caller turns from WAV files, the agent answers",
        description="Simulate a call. Each --input WAV is one caller turn, said in real time "
        "once the agent has finished speaking.",
    )
    parser.add_argument("--agent", type=Path, required=True, help="agent YAML file")
    parser.add_argument(
        "--input", type=Path, action="append", required=True, help="caller turn (WAV)"
    )
    parser.add_argument("--phone", action="store_true", help="8 kHz μ-law both ways")
    parser.add_argument("--output", type=Path, help="stereo WAV: caller left, agent right")
    parser.add_argument("--json", type=Path, help="write the call's result as JSON")
    parser.add_argument(
        "--barge-in-at",
        type=int,
        metavar="MS",
        help="start each caller turn MS after the agent starts answering (talk over it)",
    )
    parser.add_argument(
        "--patience",
        type=float,
        default=CallerPolicy().answer_timeout_s,
        metavar="S",
        help="how long the caller waits for an answer before going on "
        "(default %(default)s s; raise it for a slow model)",
    )
    parser.add_argument(
        "--server",
        metavar="URL",
        help="also record the call on this voxplane server (e.g. http://127.0.0.1:8080)",
    )
    parser.add_argument("--api-key", help="API key for --server (default: env VOXPLANE_API_KEY)")
    parser.set_defaults(handler=run)


def _read_turn(path: Path, barge_in_at: int | None) -> CallerTurn:
    try:
        data = path.read_bytes()
    except OSError as error:
        raise AudioError(f"{path}: cannot read: {error.strerror}") from error
    try:
        samples, rate = decode_wav(data, max_seconds=MAX_INPUT_SECONDS)
    except AudioError as error:
        raise AudioError(f"{path}: {error}") from error
    if speech_dbfs(samples) <= FLOOR_DBFS:
        raise AudioError(f"{path}: contains only silence; a caller turn needs speech")
    clipped = float(np.mean(np.abs(samples.astype(np.int32)) >= CLIP_LEVEL))
    if clipped > MAX_CLIPPED:
        raise AudioError(
            f"{path}: is clipped ({clipped:.1%} of samples at full scale); "
            "record it at a lower level"
        )
    return CallerTurn(samples, rate, barge_in_at)


def run(args: argparse.Namespace) -> int:
    agent = load_agent_file(args.agent)
    keys = asyncio.run(resolve_keys(agent, InlineKeys(os.environ)))  # a missing key: exit 2
    asyncio.run(check_reachable(agent))  # a base_url nothing answers at: exit 2
    turns = [_read_turn(path, args.barge_in_at) for path in args.input]
    recorder = _recorder(args)
    if not 1 <= args.patience <= 600:
        raise ConfigError("--patience: give 1 to 600 seconds")
    policy = CallerPolicy(answer_timeout_s=args.patience)
    caller = SimulatedCaller(turns, phone=args.phone, policy=policy)
    result, started_at = asyncio.run(_call(agent, caller, keys))
    ended_at = datetime.now(UTC)
    print(render(result))
    if args.output:
        left, right = caller.recording()
        args.output.write_bytes(encode_wav([left, right], caller.sample_rate))
        _status(f"wrote {args.output}")
    if args.json:
        document = result_document(agent.name, result)
        args.json.write_text(json.dumps(document, indent=2) + "\n")
        _status(f"wrote {args.json}")
    if recorder is not None:  # last: a server refusing the record loses no local output
        try:
            call_id = recorder.record(agent, result, started_at, ended_at)
        finally:
            recorder.close()
        _status(f"recorded as {call_id} on {recorder.server}")
    return 0


async def _call(
    agent: AgentConfig, caller: SimulatedCaller, keys: dict[str, str] | None
) -> tuple[CallResult, datetime]:
    """An LLM brain first (a missing key or an unreachable server fails before models
    load), the local models the agent needs, its fixed lines into the phrase cache (said
    while it happens), then the call."""
    brain = await llm_brain(agent, allow_private=True, check_reachable=True)
    models = None
    if needs_local_models(agent) or agent.turn.vad == "silero":
        _status("loading models")
        started = time.monotonic()
        models = await asyncio.to_thread(LocalModels.load)
        _status(f"models ready in {time.monotonic() - started:.1f} s")
    started = time.monotonic()
    started_at = datetime.now(UTC)

    def ready(made: int) -> None:
        nonlocal started_at
        took = time.monotonic() - started
        _status(f"{made} fixed phrases synthesized in {took:.1f} s; calling {agent.name}")
        started_at = datetime.now(UTC)

    result = await run_call(
        agent, models, caller, on_turn=_show_turn, keys=keys, brain=brain, on_ready=ready
    )
    return result, started_at


def _recorder(args: argparse.Namespace) -> CallRecorder | None:
    if args.server is None:
        return None
    api_key = args.api_key or os.environ.get("VOXPLANE_API_KEY")
    if not api_key:
        raise ConfigError("--server needs --api-key or VOXPLANE_API_KEY")
    recorder = CallRecorder.connect(args.server, api_key)
    try:
        recorder.check()
    except ConfigError:
        recorder.close()
        raise
    return recorder


def _status(message: str) -> None:
    print(f"voxplane: {message}", file=sys.stderr, flush=True)


def _show_turn(turn: TurnRecord) -> None:
    """Live progress on stderr; the final transcript goes to stdout at the end."""
    print(f"  {_line(turn)}", file=sys.stderr, flush=True)


def _line(turn: TurnRecord) -> str:
    who = "agent " if turn.role == "agent" else "caller"
    cut = "  [interrupted]" if turn.interrupted else ""
    return f"{turn.start_ms / 1000:7.2f}s  {who}  {turn.text}{cut}"


def render(result: CallResult) -> str:
    """The transcript and the per-turn latency table, for a terminal."""
    lines = ["", "transcript"]
    lines.extend(f"  {_line(turn)}" for turn in result.turns)
    lines.append(f"\nended by: {result.ended_by}")
    if result.transfer_target:
        lines.append(f"transferred to: {result.transfer_target}")
    lines.append(
        f"turns held as incomplete: {result.held_turns}; false starts: {result.false_starts}"
    )
    lines.append("\nlatency (ms)   turn  endpoint   stt  brain   tts  voice-to-voice")
    for m in result.metrics:
        cells = [m.endpoint_ms, m.stt_ms, m.brain_ms, m.tts_ms, m.voice_to_voice_ms]
        text = ["-" if c is None else str(c) for c in cells]
        lines.append(
            f"              {m.turn:4d}  {text[0]:>8}  {text[1]:>4}  {text[2]:>5}  "
            f"{text[3]:>4}  {text[4]:>14}"
        )
    return "\n".join(lines)
