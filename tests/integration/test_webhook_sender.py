"""The webhook sender against hostile and broken receivers: real HTTP on loopback."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import Iterator
from pathlib import Path

import pytest
from receiver import Answer, Receiver

from voxplane.events.delivery import DeliveryOptions, Outcome, WebhookSender
from voxplane.security.secretbox import Keyring
from voxplane.store.db import Database

BODY = b'{"id":"evt_01JD0000000000000000000000"}'


def post(tmp_path: Path, url: str, **options: object) -> Outcome:
    async def main() -> Outcome:
        db = Database(f"sqlite+aiosqlite:///{tmp_path / 'unused.db'}")
        opts = DeliveryOptions(**{"allow_private": True, **options})  # type: ignore[arg-type]
        sender = WebhookSender(db, Keyring.generate(), opts)
        try:
            return await sender.post(url, ["whsec_test"], BODY, "evt_1")
        finally:
            await sender.aclose()
            await db.aclose()

    return asyncio.run(main())


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    server = Receiver()
    yield server
    server.close()


def test_a_redirect_is_not_followed(tmp_path: Path, receiver: Receiver) -> None:
    receiver.answer = lambda n: Answer(302, b"", location="http://169.254.169.254/latest")
    outcome = post(tmp_path, receiver.url)
    assert not outcome.ok
    assert outcome.status_code == 302
    assert outcome.error == "HTTP 302: redirects are not followed"
    assert len(receiver.received) == 1


def test_a_hanging_receiver_is_cut_off_at_the_time_limit(
    tmp_path: Path, receiver: Receiver
) -> None:
    receiver.answer = lambda n: Answer(200, b"late", delay_s=3.0)
    outcome = post(tmp_path, receiver.url, timeout_s=0.3)
    assert not outcome.ok and outcome.status_code is None
    assert outcome.error == "no answer within 0.3 s"


def test_a_huge_answer_is_read_only_up_to_the_cap(tmp_path: Path, receiver: Receiver) -> None:
    receiver.answer = lambda n: Answer(200, b"x" * 2_000_000)
    outcome = post(tmp_path, receiver.url, max_response_bytes=1024)
    assert outcome.ok and outcome.status_code == 200
    assert outcome.response.endswith("[cut off]")
    assert len(outcome.response) < 300


def test_loopback_is_refused_at_delivery_when_the_deployment_forbids_it(
    tmp_path: Path, receiver: Receiver
) -> None:
    for url in (receiver.url, receiver.url.replace("127.0.0.1", "localhost")):
        outcome = post(tmp_path, url, allow_private=False)
        assert not outcome.ok
        assert outcome.error is not None and "refused by the URL policy" in outcome.error
    assert receiver.received == []  # nothing was sent


def test_a_closed_port_is_a_clear_failure(tmp_path: Path) -> None:
    with socket.socket() as probe:  # a port nobody listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    outcome = post(tmp_path, f"http://127.0.0.1:{port}/hook")
    assert not outcome.ok and outcome.status_code is None
    assert outcome.error is not None and outcome.error.startswith("ConnectError")


def test_the_request_is_signed_and_pinned_to_the_checked_address(
    tmp_path: Path, receiver: Receiver
) -> None:
    url = receiver.url.replace("127.0.0.1", "localhost")
    outcome = post(tmp_path, url + "?tenant=a")
    assert outcome.ok, outcome
    got = receiver.received[0]
    port = receiver.server.server_address[1]
    assert got.headers["Host"] == f"localhost:{port}"  # the name, though sent to the address
    assert got.path == "/hook?tenant=a"
    assert got.body == BODY
    assert got.headers["Webhook-Id"] == "evt_1"
    assert got.headers["Content-Type"] == "application/json"
    assert got.headers["Voxplane-Signature"].startswith(f"t={got.headers['Webhook-Timestamp']},v1=")
