"""One contract for the event bus, run against the in-process bus and real RabbitMQ.

RabbitMQ is the one at ``AMQP_URL`` (``.ci/run`` starts it); when it is down these tests
fail. Each test uses queues of its own, deleted afterwards.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable

import aio_pika
import pytest

from voxplane.errors import UnavailableError
from voxplane.events import AmqpBus, Event, EventBus, MemoryBus, matches, new_event

AMQP_URL = "amqp://guest:guest@127.0.0.1:5672/"
Body = Callable[[EventBus, str], Awaitable[None]]


async def _delete_queues(names: list[str]) -> None:
    connection = await aio_pika.connect(AMQP_URL)
    async with connection:
        channel = await connection.channel()
        for name in names:
            await channel.queue_delete(name)


@pytest.fixture(params=["memory", "rabbitmq"])
def run(request: pytest.FixtureRequest) -> Callable[[Body], None]:
    """Run a test body in a fresh loop with a bus of the parametrized kind and a queue
    name nobody else uses."""

    def runner(body: Body) -> None:
        async def main() -> None:
            queue = f"test-{uuid.uuid4().hex[:10]}"
            bus: EventBus = MemoryBus() if request.param == "memory" else AmqpBus(AMQP_URL)
            try:
                await body(bus, queue)
            finally:
                await bus.aclose()
                if request.param == "rabbitmq":
                    await _delete_queues([queue, f"{queue}.dead", f"{queue}-b", f"{queue}-b.dead"])

        asyncio.run(main())

    return runner


def tenant() -> str:
    return f"ten_{uuid.uuid4().hex[:12]}"


async def drain(bus: EventBus, queue: str, *, want: int) -> AsyncIterator[Event]:
    subscription = await bus.subscribe(queue)
    try:
        for _ in range(want):
            delivery = await subscription.get(5.0)
            assert delivery is not None, "an event published to a bound queue did not come"
            await delivery.ack()
            yield delivery.event
    finally:
        await subscription.aclose()


def test_events_reach_bound_queues_only_with_their_content(run: Callable[[Body], None]) -> None:
    async def body(bus: EventBus, queue: str) -> None:
        a, b = tenant(), tenant()
        await bus.declare(queue, [f"{a}.#"])
        await bus.declare(f"{queue}-b", ["*.call.ended"])
        sent = [
            new_event("agent.updated", a, agent_id="agt_1", version=2),
            new_event("call.ended", b, call_id="cal_1"),
            new_event("call.ended", a, call_id="cal_2"),
        ]
        for event in sent:
            await bus.publish(event)
        got_a = [e async for e in drain(bus, queue, want=2)]
        got_b = [e async for e in drain(bus, f"{queue}-b", want=2)]
        assert {e.id for e in got_a} == {sent[0].id, sent[2].id}
        assert {e.id for e in got_b} == {sent[1].id, sent[2].id}
        assert next(e for e in got_a if e.id == sent[0].id) == sent[0]  # content intact
        assert await bus.depth(queue) == 0

    run(body)


def test_higher_priority_is_delivered_first(run: Callable[[Body], None]) -> None:
    async def body(bus: EventBus, queue: str) -> None:
        t = tenant()
        await bus.declare(queue, [f"{t}.*.*"])
        low = [new_event("agent.updated", t, n=i) for i in range(3)]
        high = new_event("call.started", t, call_id="cal_x")
        for event in [*low, high]:
            await bus.publish(event)
        for _ in range(50):  # RabbitMQ counts a persistent message a moment after confirming
            if await bus.depth(queue) == 4:
                break
            await asyncio.sleep(0.02)
        assert await bus.depth(queue) == 4
        first = [e async for e in drain(bus, queue, want=4)]
        assert first[0].id == high.id
        assert [e.id for e in first[1:]] == [e.id for e in low]

    run(body)


def test_rejected_events_are_dead_lettered(run: Callable[[Body], None]) -> None:
    async def body(bus: EventBus, queue: str) -> None:
        t = tenant()
        await bus.declare(queue, [f"{t}.#"])
        event = new_event("call.ended", t, call_id="cal_dead")
        await bus.publish(event)
        subscription = await bus.subscribe(queue)
        delivery = await subscription.get(5.0)
        assert delivery is not None and delivery.event.id == event.id
        await delivery.reject()
        await subscription.aclose()
        dead = [e async for e in drain(bus, f"{queue}.dead", want=1)]
        assert dead == [event]
        assert await bus.depth(queue) == 0

    run(body)


def test_unsettled_deliveries_come_again_after_the_consumer_goes(
    run: Callable[[Body], None],
) -> None:
    async def body(bus: EventBus, queue: str) -> None:
        t = tenant()
        await bus.declare(queue, [f"{t}.#"])
        event = new_event("number.updated", t, number_id="num_1")
        await bus.publish(event)
        first = await bus.subscribe(queue)
        taken = await first.get(5.0)
        assert taken is not None and not taken.redelivered
        await first.aclose()  # a consumer that died before acking
        again = await bus.subscribe(queue)
        delivery = await again.get(5.0)
        assert delivery is not None
        assert delivery.event.id == event.id and delivery.redelivered
        await delivery.ack()
        await again.aclose()
        nothing = await bus.subscribe(queue)
        assert await nothing.get(0.3) is None
        await nothing.aclose()

    run(body)


def test_prefetch_bounds_unsettled_deliveries(run: Callable[[Body], None]) -> None:
    async def body(bus: EventBus, queue: str) -> None:
        t = tenant()
        await bus.declare(queue, [f"{t}.#"])
        for i in range(5):
            await bus.publish(new_event("agent.updated", t, n=i))
        subscription = await bus.subscribe(queue, prefetch=2)
        held = [await subscription.get(5.0), await subscription.get(5.0)]
        assert all(d is not None for d in held)
        assert await subscription.get(0.3) is None  # two unsettled: no third
        for delivery in held:
            assert delivery is not None
            await delivery.ack()
        assert await subscription.get(5.0) is not None
        await subscription.aclose()

    run(body)


def test_ping() -> None:
    async def main() -> None:
        await MemoryBus().ping()
        live = AmqpBus(AMQP_URL)
        await live.ping()
        await live.aclose()
        nowhere = AmqpBus("amqp://guest:guest@127.0.0.1:1/")
        with pytest.raises(UnavailableError):
            await nowhere.ping()
        with pytest.raises(UnavailableError):
            await nowhere.publish(new_event("agent.updated", tenant()))
        await nowhere.aclose()

    asyncio.run(main())


def test_a_publisher_channel_that_died_is_replaced() -> None:
    """RabbitMQ only. The broker closed the publishing channel and it was not restored
    (aio-pika's restore can run while its connection is still down): the next publish
    opens a new channel instead of failing for ever."""

    async def main() -> None:
        queue = f"test-{uuid.uuid4().hex[:10]}"
        bus = AmqpBus(AMQP_URL)
        try:
            await bus.declare(queue, ["#"])
            owner = tenant()
            await bus.publish(new_event("agent.updated", owner, n=1))
            channel = bus._channel  # the publisher's, as a dead one would be left
            assert channel is not None
            await channel.close()
            await bus.publish(new_event("agent.updated", owner, n=2))
            got = [event.data["n"] async for event in drain(bus, queue, want=2)]
            assert got == [1, 2]
        finally:
            await bus.aclose()
            await _delete_queues([queue, f"{queue}.dead"])

    asyncio.run(main())


async def _broker_connections(name: str) -> list[tuple[str, int]]:
    """RabbitMQ's (pid, channel count) of each connection named ``name``."""
    listing = await asyncio.create_subprocess_exec(
        *("rabbitmqctl", "list_connections", "pid", "channels", "client_properties", "--quiet"),
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.DEVNULL,
    )
    out, _ = await listing.communicate()
    rows = [line.split("\t") for line in out.decode().splitlines() if f'"{name}"' in line]
    return [(row[0], int(row[1])) for row in rows]


async def _close_broker_connections(name: str) -> int:
    """Have RabbitMQ close the connections named ``name``, as a broker restart would."""
    found = await _broker_connections(name)
    for pid, _ in found:
        closing = await asyncio.create_subprocess_exec(
            *("rabbitmqctl", "close_connection", pid, "test: the broker drops the connection"),
            stdout=asyncio.subprocess.DEVNULL,
            stderr=asyncio.subprocess.DEVNULL,
        )
        await closing.wait()
    return len(found)


def test_a_bus_whose_connection_the_broker_closed_recovers_within_seconds() -> None:
    """RabbitMQ only. The broker closed the bus's connection (``rabbitmqctl
    close_connection``) a moment after it was made: the next publishes fail (the relay
    keeps the events and retries) until the bus has a new connection, within seconds; the
    subscription on the lost connection says so instead of waiting for ever, and a new one
    gets what was published since; the failed tries left no channels behind."""

    async def main() -> None:
        queue = f"test-{uuid.uuid4().hex[:10]}"
        name = f"vxp-ct-{uuid.uuid4().hex[:8]}"
        bus = AmqpBus(AMQP_URL, name=name)
        try:
            await bus.declare(queue, ["#"])
            owner = tenant()
            subscription = await bus.subscribe(queue)
            await bus.publish(new_event("agent.updated", owner, n=1))
            first = await subscription.get(5.0)
            assert first is not None and first.event.data["n"] == 1
            await first.ack()
            assert await _close_broker_connections(name) == 1
            started = asyncio.get_running_loop().time()
            failures = 0
            async with asyncio.timeout(3.0):  # aio-pika's robust reconnect took 5 s and more
                while True:
                    try:
                        await bus.publish(new_event("agent.updated", owner, n=2))
                        break
                    except UnavailableError:
                        failures += 1
                        await asyncio.sleep(0.05)
            assert asyncio.get_running_loop().time() - started < 3.0
            with pytest.raises(UnavailableError):
                await subscription.get(5.0)  # its channel went with the connection
            await subscription.aclose()
            got = [event.data["n"] async for event in drain(bus, queue, want=1)]
            assert got == [2]
            connections = await _broker_connections(name)
            assert len(connections) == 1, connections
            assert connections[0][1] <= 2, f"{connections[0][1]} channels after {failures} tries"
        finally:
            await bus.aclose()
            await _delete_queues([queue, f"{queue}.dead"])

    asyncio.run(main())


@pytest.mark.parametrize(
    ("pattern", "key", "expected"),
    [
        ("#", "ten_1.call.ended", True),
        ("ten_1.#", "ten_1.call.ended", True),
        ("ten_2.#", "ten_1.call.ended", False),
        ("*.call.ended", "ten_1.call.ended", True),
        ("*.call.*", "ten_1.agent.updated", False),
        ("ten_1.*", "ten_1.call.ended", False),
        ("ten_1.#.ended", "ten_1.call.ended", True),
    ],
)
def test_topic_patterns(pattern: str, key: str, expected: bool) -> None:
    assert matches(pattern, key) is expected
