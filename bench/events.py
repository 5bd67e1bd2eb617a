"""Event throughput through the outbox, RabbitMQ and webhooks, and what the outbox costs
a call-record write.

``.venv/bin/python bench/events.py [--events 2000] [--producers 8] [--records 300] [--rate R]``

A fresh PostgreSQL database (dropped at the end) gets the schema, one tenant and one
webhook endpoint pointing at a minimal asyncio HTTP receiver in this process. This process,
pinned to ONE core, then runs everything an events worker runs — the outbox relay, the
webhook fan-out (RabbitMQ at 127.0.0.1:5672) and the sender — plus the producers and the
receiver:

1. **throughput**: ``--producers`` tasks commit ``--events`` events, one per transaction
   (as state changes make them), as fast as they can or paced at ``--rate`` events/s;
   reported: events/s from the first commit to the last delivery, and latency from each
   event's commit to the receiver getting it (p50/p99: at full speed it measures the
   backlog, paced below capacity the path itself);
2. **outbox cost**: ``--records`` sequential ``CallService.record`` calls (a 10-turn call,
   what ``POST /v1/calls`` does) with the outbox write, then as many with it replaced by a
   no-op (benchmark only): the difference of the means is what the event costs a write.

Writes ``bench/results/events-<time>.json`` and ``events-latest.json``; prints a summary.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import secrets
import statistics
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import asyncpg

BENCH = Path(__file__).resolve().parent
RESULTS = BENCH / "results"
PG = "postgresql://postgres@127.0.0.1:5432"
AMQP_URL = "amqp://guest:guest@127.0.0.1:5672/"
CORE = 1


class Receiver:
    """HTTP/1.1 keep-alive receiver: records when each event id arrived, answers 204."""

    def __init__(self) -> None:
        self.arrived: dict[str, float] = {}
        self.server: asyncio.Server | None = None
        self.want = 0
        self.done = asyncio.Event()

    async def start(self) -> int:
        self.server = await asyncio.start_server(self._serve, "127.0.0.1", 0)
        port: int = self.server.sockets[0].getsockname()[1]
        return port

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                fields = dict(
                    line.split(": ", 1) for line in head.decode("latin-1").split("\r\n")[1:] if line
                )
                headers = {k.lower(): v for k, v in fields.items()}
                await reader.readexactly(int(headers.get("content-length", "0")))
                self.arrived.setdefault(headers["webhook-id"], time.perf_counter())
                if self.want and len(self.arrived) >= self.want:
                    self.done.set()
                writer.write(b"HTTP/1.1 204 No Content\r\ncontent-length: 0\r\n\r\n")
                await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError):
            writer.close()


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


async def setup(url: str, data: Path, hook_url: str) -> tuple[Any, str]:
    from voxplane.services.platform import open_platform
    from voxplane.services.principal import system_principal
    from voxplane.services.schemas import TenantCreate, WebhookCreate
    from voxplane.settings import Settings

    settings = Settings(
        data_dir=data,
        database_url=url,
        run_migrations=True,
        events_worker=False,
        webhook_allow_private_networks=True,
    )
    async with open_platform(settings) as platform_:
        made = await platform_.tenants.create(
            TenantCreate(name="bench", email="o@bench.test", password="a long secret")  # type: ignore[arg-type]
        )
        who = system_principal(made.tenant_id)
        await platform_.webhooks.create(who, WebhookCreate(url=hook_url, events=["*"]))
    return settings, made.tenant_id


async def throughput(
    url: str, settings: Any, tenant_id: str, receiver: Receiver, args: argparse.Namespace
) -> dict[str, Any]:
    from voxplane.events import AmqpBus, new_event, outbox
    from voxplane.events.worker import EventWorker
    from voxplane.security.secretbox import load_keyring
    from voxplane.services.platform import delivery_options
    from voxplane.store.db import Database

    db = Database(url, pool_size=args.producers + 4)
    bus = AmqpBus(AMQP_URL, name=f"vxp-bench-{secrets.token_hex(3)}")
    keyring = load_keyring(key_file=settings.key_file, env_value=None, create=False)
    worker = EventWorker(db, bus, keyring, delivery_options(settings))
    worker.fanout.queue = f"bench-{secrets.token_hex(4)}"
    committed: dict[str, float] = {}
    per_producer = args.events // args.producers
    receiver.want = per_producer * args.producers

    gap_s = args.producers / args.rate if args.rate else 0.0

    async def produce() -> None:
        for _ in range(per_producer):
            if gap_s:
                await asyncio.sleep(gap_s)
            event = new_event("agent.updated", tenant_id, agent_id="agt_bench", version=1)
            async with db.unit() as session:
                outbox.add(session, event)
            committed[event.id] = time.perf_counter()

    running = asyncio.create_task(worker.run())
    try:
        await asyncio.sleep(1.0)  # the queue is declared and consumed
        started = time.perf_counter()
        async with asyncio.TaskGroup() as group:
            for _ in range(args.producers):
                group.create_task(produce())
        produced_s = time.perf_counter() - started
        async with asyncio.timeout(300):
            await receiver.done.wait()
    finally:
        worker.stop()
        await asyncio.gather(running, return_exceptions=True)
        await bus.aclose()
        await db.aclose()
        await _delete_queue(worker.fanout.queue)
    arrived = receiver.arrived
    latencies = [1000 * (arrived[i] - t) for i, t in committed.items() if i in arrived]
    total_s = max(receiver.arrived.values()) - started
    return {
        "events": len(committed),
        "delivered": len(latencies),
        "commit_rate_per_s": round(len(committed) / produced_s, 1),
        "end_to_end_per_s": round(len(latencies) / total_s, 1),
        "commit_to_webhook_ms": {
            "p50": round(percentile(latencies, 0.5), 1),
            "p99": round(percentile(latencies, 0.99), 1),
            "max": round(max(latencies), 1),
        },
    }


async def _delete_queue(name: str) -> None:
    import aio_pika

    connection = await aio_pika.connect(AMQP_URL)
    async with connection:
        channel = await connection.channel()
        await channel.queue_delete(name)
        await channel.queue_delete(f"{name}.dead")


def a_call(agent_id: str) -> Any:
    from voxplane.services.schemas import CallCreate

    start = datetime.now(UTC) - timedelta(minutes=5)
    turns = [
        {"role": "agent" if i % 2 else "user", "text": f"turn {i} " * 8,
         "start_ms": 1000 * i, "end_ms": 1000 * i + 800}
        for i in range(10)
    ]  # fmt: skip
    metrics = [{"turn": i, "stt_ms": 250, "brain_ms": 40, "tts_ms": 90} for i in range(5)]
    return CallCreate.model_validate(
        {
            "agent_id": agent_id,
            "transport": "simulated",
            "from_number": "+14155550100",
            "started_at": start,
            "ended_at": start + timedelta(seconds=42),
            "end_reason": "caller_hangup",
            "turns": turns,
            "metrics": metrics,
        }
    )


async def outbox_cost(settings: Any, tenant_id: str, records: int) -> dict[str, Any]:
    """Mean and p99 of ``CallService.record`` with the outbox write and without it
    (benchmark only: ``outbox.add`` replaced by a no-op), interleaved in blocks of 25."""
    from voxplane.agents.loader import parse_agent
    from voxplane.events import outbox
    from voxplane.services.platform import open_platform
    from voxplane.services.principal import system_principal

    real_add = outbox.add
    timings: dict[str, list[float]] = {"with_outbox": [], "without_outbox": []}
    example = BENCH.parent / "examples" / "agents" / "acme-dental.yaml"
    async with open_platform(settings) as platform_:
        who = system_principal(tenant_id)
        agent = await platform_.agents.create(who, parse_agent(example.read_bytes(), source="x"))
        body = a_call(agent.id)
        for _ in range(5):  # warm the pool and the statement caches
            await platform_.calls.record(who, body)
        for block in range(2 * records // 25):
            kind = "with_outbox" if block % 2 == 0 else "without_outbox"
            outbox.add = real_add if kind == "with_outbox" else (lambda session, event: None)  # type: ignore[assignment]
            for _ in range(25):
                started = time.perf_counter()
                await platform_.calls.record(who, body)
                timings[kind].append(1000 * (time.perf_counter() - started))
        outbox.add = real_add  # type: ignore[assignment]
    summary = {
        kind: {
            "mean_ms": round(statistics.fmean(values), 3),
            "p50_ms": round(percentile(values, 0.5), 3),
            "p99_ms": round(percentile(values, 0.99), 3),
        }
        for kind, values in timings.items()
    }
    added = summary["with_outbox"]["mean_ms"] - summary["without_outbox"]["mean_ms"]
    summary["outbox_adds_ms"] = round(added, 3)
    summary["records_each"] = len(timings["with_outbox"])
    return summary


async def run(args: argparse.Namespace) -> dict[str, Any]:
    import tempfile

    name = f"voxplane_bench_events_{secrets.token_hex(3)}"
    admin = await asyncpg.connect(f"{PG}/postgres")
    await admin.execute(f'CREATE DATABASE "{name}"')
    url = f"postgresql+asyncpg://postgres@127.0.0.1:5432/{name}"
    receiver = Receiver()
    port = await receiver.start()
    try:
        with tempfile.TemporaryDirectory() as data:
            settings, tenant_id = await setup(url, Path(data), f"http://127.0.0.1:{port}/hook")
            flow = await throughput(url, settings, tenant_id, receiver, args)
            cost = await outbox_cost(settings, tenant_id, args.records)
    finally:
        assert receiver.server is not None
        receiver.server.close()
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await admin.close()
    return {"throughput": flow, "outbox_cost": cost}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=2000)
    parser.add_argument("--producers", type=int, default=8)
    parser.add_argument("--records", type=int, default=300)
    parser.add_argument(
        "--rate", type=float, default=0.0, help="events/s in all (paced); 0: as fast as possible"
    )
    args = parser.parse_args()
    os.sched_setaffinity(0, {CORE})
    sys.path.insert(0, str(BENCH.parent / "src"))
    import logging

    logging.disable(logging.WARNING)  # the relay's and sender's warnings would time too
    results = asyncio.run(run(args))
    report = {
        "bench": "events",
        "at": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": {
            "python": platform.python_version(),
            "cores": os.cpu_count(),
            "pinned": [CORE],
            "load_average_1m": round(os.getloadavg()[0], 2),  # other work competing for it
        },
        "args": vars(args),
        **results,
    }
    RESULTS.mkdir(exist_ok=True)
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    for path in (RESULTS / f"events-{stamp}.json", RESULTS / "events-latest.json"):
        path.write_text(json.dumps(report, indent=2) + "\n")
    flow, cost = results["throughput"], results["outbox_cost"]
    print(
        f"events: {flow['end_to_end_per_s']}/s end to end (commits {flow['commit_rate_per_s']}/s), "
        f"commit->webhook p50 {flow['commit_to_webhook_ms']['p50']} ms "
        f"p99 {flow['commit_to_webhook_ms']['p99']} ms; outbox adds "
        f"{cost['outbox_adds_ms']} ms to a call-record write "
        f"({cost['without_outbox']['mean_ms']} -> {cost['with_outbox']['mean_ms']} ms)"
    )


if __name__ == "__main__":
    main()
