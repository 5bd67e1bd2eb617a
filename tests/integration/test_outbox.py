"""The outbox on SQLite and PostgreSQL: events commit with their change or not at all, and
in embedded mode (the in-process bus) the relay fans webhooks out in the transaction that
marks events published, so no crash can lose one in between."""

from __future__ import annotations

import asyncio
import contextlib
import secrets
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select
from test_api_agents import acme

from conftest import ADMIN_TOKEN, PASSWORD, make_settings
from voxplane.api.app import create_app
from voxplane.events import MemoryBus, OutboxRelay, new_event, outbox
from voxplane.events.delivery import DeliveryOptions, WebhookSender
from voxplane.events.relay import RelayOptions
from voxplane.events.stop import Stop
from voxplane.events.webhooks import fan_out
from voxplane.security.secretbox import Keyring
from voxplane.store.db import Database
from voxplane.store.models import OutboxEvent, WebhookDelivery


def tenant_with_hook(database_url: str, tmp_path: Path) -> tuple[str, dict[str, str], str]:
    settings = make_settings(
        database_url, tmp_path, events_worker=False, webhook_allow_private_networks=True
    )
    with TestClient(create_app(settings)) as client:
        name = f"ob-{secrets.token_hex(4)}"
        made = client.post(
            "/v1/tenants",
            json={"name": name, "email": f"o@{name}.test", "password": PASSWORD},
            headers={"Authorization": f"Bearer {ADMIN_TOKEN}"},
        ).json()
        auth = {"Authorization": f"Bearer {made['api_key']}"}
        hook = client.post(
            "/v1/webhooks", json={"url": "http://127.0.0.1:9/", "events": ["*"]}, headers=auth
        ).json()
        agent = client.post("/v1/agents", json=acme(), headers=auth)
        assert agent.status_code == 201
        renamed = client.put(
            f"/v1/agents/{agent.json()['id']}", json={**acme(), "name": "taken"}, headers=auth
        )
        assert renamed.status_code == 200
        # A write that fails leaves no event behind.
        bad = client.post("/v1/phone-numbers", json={"number": "+1911"}, headers=auth)
        assert bad.status_code == 422
    return made["tenant_id"], {"agent_id": agent.json()["id"]}, hook["id"]


async def rows(db: Database, model: Any, tenant_id: str) -> list[Any]:
    """The tenant's rows oldest first (ids are time-ordered; a table without ORDER BY comes
    back in whatever order PostgreSQL finds it)."""
    async with db.unit() as session:
        found = await session.scalars(
            select(model).where(model.tenant_id == tenant_id).order_by(model.id)
        )
        return list(found.all())


def test_changes_and_their_events_commit_together(database_url: str, tmp_path: Path) -> None:
    tenant_id, ids, _ = tenant_with_hook(database_url, tmp_path)

    async def main() -> None:
        db = Database(database_url)
        try:
            staged = await rows(db, OutboxEvent, tenant_id)
            assert [(e.type, e.payload["data"]["change"]) for e in staged] == [
                ("agent.updated", "created"),
                ("agent.updated", "updated"),
            ]
            assert staged[1].payload["data"] == {
                "agent_id": ids["agent_id"],
                "name": "taken",
                "version": 2,
                "change": "updated",
            }
            assert all(e.published_at is None for e in staged)  # no relay ran
            with pytest.raises(RuntimeError):
                async with db.unit() as session:
                    outbox.add(session, new_event("agent.updated", tenant_id, agent_id="x"))
                    raise RuntimeError("the change failed")
            assert len(await rows(db, OutboxEvent, tenant_id)) == 2
        finally:
            await db.aclose()

    asyncio.run(main())


def test_embedded_relay_fans_out_in_the_marking_transaction(
    database_url: str, tmp_path: Path
) -> None:
    tenant_id, _, hook_id = tenant_with_hook(database_url, tmp_path)

    async def main() -> None:
        db = Database(database_url)
        woken: list[bool] = []
        try:
            relay = OutboxRelay(
                db, MemoryBus(), inline=fan_out, on_commit=lambda: woken.append(True)
            )
            while await relay.run_once():
                pass
            staged = await rows(db, OutboxEvent, tenant_id)
            deliveries = await rows(db, WebhookDelivery, tenant_id)
            assert all(e.published_at is not None for e in staged)
            assert sorted(d.event_id for d in deliveries) == sorted(e.id for e in staged)
            assert {d.endpoint_id for d in deliveries} == {hook_id} and woken

            # A relay killed inside its transaction leaves the event unpublished and no
            # delivery: the next run does both.
            async with db.unit() as session:
                outbox.add(session, new_event("agent.updated", tenant_id, agent_id="agt_k"))

            async def killed(session: Any, event: Any) -> int:
                await fan_out(session, event)
                raise asyncio.CancelledError

            with pytest.raises(asyncio.CancelledError):
                await OutboxRelay(db, MemoryBus(), inline=killed).run_once()
            assert len(await rows(db, WebhookDelivery, tenant_id)) == len(deliveries)
            assert await relay.run_once() == 1
            assert len(await rows(db, WebhookDelivery, tenant_id)) == len(deliveries) + 1
        finally:
            await db.aclose()

    asyncio.run(main())


def test_a_secret_that_cannot_be_opened_fails_its_delivery_not_the_sender(
    database_url: str, tmp_path: Path
) -> None:
    tenant_id, _, _ = tenant_with_hook(database_url, tmp_path)

    async def main() -> None:
        db = Database(database_url)
        try:
            relay = OutboxRelay(db, MemoryBus(), inline=fan_out)
            while await relay.run_once():
                pass
            # The key that sealed the secret is gone from this keyring.
            sender = WebhookSender(db, Keyring.generate(), DeliveryOptions(allow_private=True))
            running = asyncio.create_task(sender.run())
            try:
                async with asyncio.timeout(15):
                    while True:  # polled: the attempts are recorded in the database
                        found = await rows(db, WebhookDelivery, tenant_id)
                        if all(d.attempt_count for d in found):
                            break
                        await asyncio.sleep(0.05)
            finally:
                running.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await running
                await sender.aclose()
            for delivery in await rows(db, WebhookDelivery, tenant_id):
                assert delivery.status == "pending"  # retried later, as any failure
                assert "signing secret cannot be opened" in delivery.attempts[0]["error"]
        finally:
            await db.aclose()

    asyncio.run(main())


def test_a_commit_that_stages_events_wakes_an_idle_relay(database_url: str, tmp_path: Path) -> None:
    """The relay polls an idle outbox rarely (here: never again, an hour); a unit of work
    in this process that stages an event wakes it, and one that rolls back does not."""
    tenant_id, _, _ = tenant_with_hook(database_url, tmp_path)

    async def main() -> None:
        db = Database(database_url)
        bus = MemoryBus()
        hour = 3600.0
        relay = OutboxRelay(db, bus, RelayOptions(idle_poll_s=hour, idle_poll_max_s=hour))
        rounds: list[int] = []
        idle = asyncio.Event()
        run_once = relay.run_once

        async def counted() -> int:
            sent = await run_once()
            rounds.append(sent)
            if not sent:
                idle.set()
            return sent

        relay.run_once = counted  # type: ignore[method-assign]
        stop = Stop()
        try:
            while await run_once():  # what tenant_with_hook staged
                pass
            await bus.declare("seen", ["#"])
            seen = await bus.subscribe("seen")
            running = asyncio.create_task(relay.run(stop))
            async with asyncio.timeout(10):
                await idle.wait()  # the first round found nothing: the relay now waits
            with pytest.raises(RuntimeError):
                async with db.unit() as session:
                    outbox.add(session, new_event("agent.updated", tenant_id, agent_id="x"))
                    raise RuntimeError("rolled back")
            async with db.unit() as session:
                outbox.add(session, new_event("agent.updated", tenant_id, agent_id="agt_w"))
            delivery = await seen.get(10)
            assert delivery is not None and delivery.event.data["agent_id"] == "agt_w"
            stop.request()
            async with asyncio.timeout(10):
                await running
            assert rounds == [0, 1]  # the commit woke it; the rollback did not
        finally:
            await db.aclose()

    asyncio.run(main())
