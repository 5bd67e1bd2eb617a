"""WebRTC calls end to end with a browser-less aiortc caller over 127.0.0.1: token, offer,
answer, a real spoken digit in, the agent's voice out, the data channel's live messages,
and the call's record and recording read back through the API. Scripted providers (the
models-marked variant with real models is in tests/models)."""

from __future__ import annotations

import asyncio
import contextlib
import io
import wave
from typing import Any

import httpx
import numpy as np
from _webrtc_server import SCRIPTED_AGENT, WebServer, digit, web_server

from voxplane.sessions import Lease, LeaseStore
from voxplane.settings import Settings
from voxplane.store.ids import new_id
from voxplane.testing.webrtc_caller import WebRtcCaller


def _stereo(wav_bytes: bytes) -> tuple[np.ndarray, int]:
    with wave.open(io.BytesIO(wav_bytes)) as wav:
        assert (wav.getnchannels(), wav.getsampwidth()) == (2, 2)
        frames = np.frombuffer(wav.readframes(wav.getnframes()), dtype=np.int16)
        return frames.reshape(-1, 2), wav.getframerate()


def test_a_web_call_talks_to_the_agent_and_is_recorded(settings: Settings) -> None:
    async def main() -> None:
        async with web_server(settings) as server:
            _, key, agent_id = await server.tenant()
            caller = WebRtcCaller([digit()])
            try:
                call_id = await server.call(key, agent_id, caller)
                await caller.wait_ended(timeout_s=30)
            finally:
                await caller.aclose()
            record = await server.record_of(key, call_id)

            # The agent was heard: greeting, then the answer after the caller's digit.
            spoke = caller.speech_ended_at
            assert len(spoke) == 1
            assert caller.first_heard_after(0.0) is not None
            assert caller.first_heard_after(spoke[0]) is not None

            # The data channel carried the call, the transcript, latency and states.
            kinds = [m["type"] for m in caller.messages]
            assert caller.messages[0] == {"type": "call", "call_id": call_id}
            transcript = [
                (m["role"], m["text"]) for m in caller.messages if m["type"] == "transcript"
            ]
            assert transcript == [
                ("agent", "Hello there."),
                ("user", "Seven."),
                ("agent", "You said a digit."),
            ]
            metrics = [m for m in caller.messages if m["type"] == "metrics"]
            assert len(metrics) == 1 and metrics[0]["voice_to_voice_ms"] > 0
            states = [m["state"] for m in caller.messages if m["type"] == "state"]
            assert states[:2] == ["speaking", "listening"] and "thinking" in states
            assert states[-1] == "ended" and kinds[-1] == "state"

            # The call's record, through the same runtime as a phone call.
            assert record["transport"] == "webrtc"
            assert record["end_reason"] == "agent_hangup"
            assert [t["role"] for t in record["turns"]] == ["agent", "user", "agent"]
            assert record["metrics"][0]["voice_to_voice_ms"] == metrics[0]["voice_to_voice_ms"]

            # The recording: caller left (the digit around 2 s), agent right.
            response = await server.http.get(
                f"/v1/calls/{call_id}/recording", headers={"Authorization": f"Bearer {key}"}
            )
            assert response.status_code == 200
            assert response.headers["content-type"] == "audio/wav"
            assert response.headers["accept-ranges"] == "bytes"
            stereo, rate = _stereo(response.content)
            assert rate == 16_000
            loud = np.abs(stereo) > 2000
            caller_loud = np.flatnonzero(loud[:, 0]) / rate
            agent_loud = np.flatnonzero(loud[:, 1]) / rate
            assert caller_loud.size and agent_loud.size
            # Where the call's own clock put each turn (the record's times; the machine's
            # load moves the whole call, not these relations).
            greeting, asked, answer = record["turns"]
            assert abs(agent_loud[0] - greeting["start_ms"] / 1000) < 0.3
            assert abs(caller_loud[0] - asked["start_ms"] / 1000) < 0.3  # the digit
            assert agent_loud[0] < caller_loud[0] < caller_loud[-1] < agent_loud[-1]
            assert abs(agent_loud[-1] - answer["end_ms"] / 1000) < 0.5

        assert server.calls.active == 0
        assert server.runtime.active_calls == 0

    asyncio.run(main())


def _settled_tasks() -> set[asyncio.Task[object]]:
    current = asyncio.current_task()
    return {t for t in asyncio.all_tasks() if t is not current and not t.done()}


async def _nothing_left(server: WebServer) -> None:
    """No call, slot, peer connection or task of the server is left running."""
    try:
        async with asyncio.timeout(10):
            while server.calls.active or server.runtime.active_calls or _settled_tasks():  # noqa: ASYNC110
                await asyncio.sleep(0.05)
    except TimeoutError:
        raise AssertionError(f"still running: {_settled_tasks()}") from None


def test_bad_offers_and_tokens_get_clear_errors_and_leave_nothing_running(
    settings: Settings,
) -> None:
    async def main() -> None:
        async with web_server(settings) as server:
            tenant, key, agent_id = await server.tenant()
            _, other_key, other_agent = await server.tenant()
            baseline = _settled_tasks()
            assert not baseline

            async def token() -> str:
                response = await server.token(key, agent_id)
                assert response.status_code == 201, response.text
                assert response.json()["token"].startswith("wrt_")
                return str(response.json()["token"])

            # No token, a made-up one, an API key instead of a call token: 401.
            caller = WebRtcCaller([])
            offer = await caller.offer()
            for bad in ("", "wrt_" + "x" * 43, key):
                refused = await server.offer(bad, offer)
                assert refused.status_code == 401, refused.text
                assert refused.headers["www-authenticate"] == "Bearer"
                assert refused.headers["content-type"] == "application/problem+json"

            # Another tenant's agent: no token (404, as for an agent that does not exist).
            foreign = await server.token(key, other_agent)
            assert foreign.status_code == 404, foreign.text
            assert (await server.token(other_key, agent_id)).status_code == 404

            # Malformed SDP, an offer without audio, an answer instead of an offer: 422.
            malformed = await server.offer(await token(), "v=0\r\nthis is not sdp\r\n")
            assert malformed.status_code == 422, malformed.text
            assert malformed.json()["errors"][0]["field"] == "body.sdp"
            silent = WebRtcCaller([])
            no_audio = await server.offer(await token(), await silent.offer(audio=False))
            assert no_audio.status_code == 422, no_audio.text
            assert "audio" in no_audio.json()["detail"]
            await silent.aclose()
            wrong_kind = await server.offer(await token(), offer, kind="answer")
            assert wrong_kind.status_code == 422, wrong_kind.text

            # A token is spent by its first use, even a refused one; an expired one is dead.
            spent = await token()
            assert (await server.offer(spent, "v=0\r\n")).status_code == 422
            assert (await server.offer(spent, offer)).status_code == 401
            server.platform.webrtc.token_ttl_s = 0
            expired = await token()
            assert (await server.offer(expired, offer)).status_code == 401
            server.platform.webrtc.token_ttl_s = 60

            # A good token works once; a second offer with it is refused.
            good = await token()
            answered = await server.offer(good, offer)
            assert answered.status_code == 201, answered.text
            assert (await server.offer(good, offer)).status_code == 401
            await caller.accept(answered.json()["sdp"])
            await caller.wait_ended(timeout_s=30)
            await caller.aclose()
            await _nothing_left(server)
            assert await server.platform.calls.active(tenant) == 0

    asyncio.run(main())


def test_a_data_channel_flood_or_garbage_closes_the_call(settings: Settings) -> None:
    async def main() -> None:
        async with web_server(settings) as server:
            _, key, agent_id = await server.tenant()
            for abuse in ("flood", "garbage"):
                caller = WebRtcCaller([])
                try:
                    call_id = await server.call(key, agent_id, caller)
                    async with asyncio.timeout(10):
                        while not any(m["type"] == "call" for m in caller.messages):  # noqa: ASYNC110
                            await asyncio.sleep(0.02)
                    if abuse == "flood":
                        for _ in range(500):
                            caller.send('{"type": "dtmf", "keys": "1"}')
                    else:
                        caller.send("<script>not json</script>")
                    await caller.wait_ended(timeout_s=10)
                finally:
                    await caller.aclose()
                record = await server.record_of(key, call_id)
                assert record["end_reason"] == "caller_hangup"
                assert record["transport"] == "webrtc"
            await _nothing_left(server)

    asyncio.run(main())


def test_recordings_are_served_in_ranges_to_their_tenant_only(settings: Settings) -> None:
    async def main() -> None:
        async with web_server(settings) as server:
            _, key, agent_id = await server.tenant()
            _, other_key, _ = await server.tenant()
            caller = WebRtcCaller([digit()])
            try:
                call_id = await server.call(key, agent_id, caller)
                await caller.wait_ended(timeout_s=30)
            finally:
                await caller.aclose()
            await server.record_of(key, call_id)
            url = f"/v1/calls/{call_id}/recording"

            async def get(range_: str | None, api_key: str = key) -> httpx.Response:
                headers = {"Authorization": f"Bearer {api_key}"}
                if range_ is not None:
                    headers["Range"] = range_
                return await server.http.get(url, headers=headers)

            whole = await get(None)
            size = len(whole.content)
            assert whole.status_code == 200 and int(whole.headers["content-length"]) == size
            assert whole.content[:4] == b"RIFF" and size > 44 + 16_000 * 4 * 3

            first = await get("bytes=0-43")
            assert first.status_code == 206
            assert first.headers["content-range"] == f"bytes 0-43/{size}"
            assert first.content == whole.content[:44]
            middle = await get("bytes=1000-")
            assert middle.status_code == 206 and middle.content == whole.content[1000:]
            assert middle.headers["content-range"] == f"bytes 1000-{size - 1}/{size}"
            tail = await get("bytes=-100")
            assert tail.status_code == 206 and tail.content == whole.content[-100:]
            beyond_end = await get(f"bytes=10-{size + 500}")
            assert beyond_end.status_code == 206 and beyond_end.content == whole.content[10:]

            for unsatisfiable in (f"bytes={size}-", "bytes=500-100", "bytes=-0", "bytes=-"):
                refused = await get(unsatisfiable)
                assert refused.status_code == 416, unsatisfiable
                assert refused.headers["content-range"] == f"bytes */{size}"
            assert (await get("pages=0-1")).status_code == 200  # another unit: the whole

            # Another tenant: 404, the same as for a call that does not exist.
            foreign = await get(None, other_key)
            nothing = await server.http.get(
                f"/v1/calls/{new_id('cal')}/recording",
                headers={"Authorization": f"Bearer {other_key}"},
            )
            assert foreign.status_code == nothing.status_code == 404
            assert foreign.json() == nothing.json()

            # An agent with recording off: the call is kept, its audio is not.
            quiet = {**SCRIPTED_AGENT, "call": {"record": False}}
            _, quiet_key, quiet_agent = await server.tenant(quiet)
            caller = WebRtcCaller([digit()])
            try:
                quiet_call = await server.call(quiet_key, quiet_agent, caller)
                await caller.wait_ended(timeout_s=30)
            finally:
                await caller.aclose()
            assert (await server.record_of(quiet_key, quiet_call))["transport"] == "webrtc"
            none = await server.http.get(
                f"/v1/calls/{quiet_call}/recording",
                headers={"Authorization": f"Bearer {quiet_key}"},
            )
            assert none.status_code == 404 and none.json()["detail"] == "this call has no recording"

    asyncio.run(main())


def test_a_page_that_never_connects_frees_its_call_slot(settings: Settings) -> None:
    async def main() -> None:
        async with web_server(settings) as server:
            tenant, key, agent_id = await server.tenant()
            caller = WebRtcCaller([])
            token = (await server.token(key, agent_id)).json()["token"]
            answered = await server.offer(token, await caller.offer())
            assert answered.status_code == 201, answered.text
            await caller.aclose()  # gone before ICE: the answer is never applied
            assert await server.platform.calls.active(tenant) == 1
            await _nothing_left(server)  # the connect timeout (5 s here) gives the slot back
            assert await server.platform.calls.active(tenant) == 0
            listed = await server.http.get("/v1/calls", headers={"Authorization": f"Bearer {key}"})
            assert listed.json()["items"] == []  # a call that never connected is no call

    asyncio.run(main())


def test_concurrent_calls_all_end_when_their_pages_hang_up_mid_answer(
    settings: Settings,
) -> None:
    async def main() -> None:
        async with web_server(settings) as server:
            talkative = {**SCRIPTED_AGENT, "tts": {"provider": "scripted", "ms_per_word": 900}}
            tenant, key, agent_id = await server.tenant(talkative)
            callers = [WebRtcCaller([digit()]) for _ in range(6)]
            try:
                for caller in callers:
                    await server.call(key, agent_id, caller)
                async with asyncio.timeout(20):
                    while not all(c.agent_finished(1e9) for c in callers):  # noqa: ASYNC110
                        await asyncio.sleep(0.05)
                for caller in callers:  # the greeting is playing (2 words, 1.8 s)
                    caller.send('{"type": "hangup"}')
                for caller in callers:
                    await caller.wait_ended(timeout_s=10)
            finally:
                for caller in callers:
                    await caller.aclose()
            await _nothing_left(server)
            assert await server.platform.calls.active(tenant) == 0

    asyncio.run(main())


class _DeafRenewals:
    """The call slots' leases, but a renewal under way does not hear a cancel: redis-py
    on Python 3.11 sometimes finished the command instead (asyncio.wait_for, CPython
    gh-86296)."""

    def __init__(self, inner: LeaseStore) -> None:
        self._inner = inner
        self.renewing = asyncio.Event()

    def __getattr__(self, name: str) -> Any:
        return getattr(self._inner, name)

    async def renew(self, lease: Lease, ttl_s: float) -> Lease | None:
        if self.renewing.is_set():  # once: the call's end, not the test's teardown
            return await self._inner.renew(lease, ttl_s)
        self.renewing.set()
        with contextlib.suppress(asyncio.CancelledError):  # the bug: it goes on
            await asyncio.sleep(1.0)
        return await self._inner.renew(lease, ttl_s)


def test_a_call_ends_when_its_page_hangs_up_during_a_lease_renewal(settings: Settings) -> None:
    # 16 bench calls of 20 s: their first renewal (every ttl/3 = 20 s) came just as they
    # hung up, and now and then one never ended (the caller's TimeoutError).
    async def main() -> None:
        async with web_server(settings.model_copy(update={"call_lease_ttl_s": 5.0})) as server:
            leases = _DeafRenewals(server.platform.calls.leases)
            server.platform.calls.leases = leases  # type: ignore[assignment]
            tenant, key, agent_id = await server.tenant()
            caller = WebRtcCaller([])
            try:
                call_id = await server.call(key, agent_id, caller)
                async with asyncio.timeout(10):
                    await leases.renewing.wait()  # 1.7 s into the call
                caller.send('{"type": "hangup"}')
                await caller.wait_ended(timeout_s=10)
            finally:
                await caller.aclose()
            record = await server.record_of(key, call_id)
            assert record["end_reason"] == "caller_hangup"
            await _nothing_left(server)
            assert await server.platform.calls.active(tenant) == 0

    asyncio.run(main())


def test_a_page_that_closes_without_hanging_up_ends_its_call(settings: Settings) -> None:
    async def main() -> None:
        async with web_server(settings) as server:
            tenant, key, agent_id = await server.tenant()
            caller = WebRtcCaller([])
            call_id = await server.call(key, agent_id, caller)
            async with asyncio.timeout(10):
                while not any(m["type"] == "call" for m in caller.messages):  # noqa: ASYNC110
                    await asyncio.sleep(0.02)
            await caller.aclose()  # the tab is closed
            record = await server.record_of(key, call_id)
            assert record["end_reason"] == "caller_hangup"
            await _nothing_left(server)
            assert await server.platform.calls.active(tenant) == 0

    asyncio.run(main())


def test_a_call_above_the_workers_capacity_is_a_503_with_retry_after_and_recorded(
    settings: Settings,
) -> None:
    async def main() -> None:
        async with web_server(settings, max_calls=1) as server:
            _tenant, key, agent_id = await server.tenant()
            first, extra = WebRtcCaller([digit()]), WebRtcCaller([])
            try:
                first_id = await server.call(key, agent_id, first)
                token = (await server.token(key, agent_id)).json()["token"]
                refused = await server.offer(token, await extra.offer())
                assert refused.status_code == 503, refused.text
                assert refused.headers["Retry-After"] == "5"
                assert "capacity" in refused.json()["detail"]
                await first.wait_open(timeout_s=10)
                first.send('{"type": "hangup"}')
                await first.wait_ended(timeout_s=10)
            finally:
                await first.aclose()
                await extra.aclose()
            assert (await server.record_of(key, first_id))["end_reason"] == "caller_hangup"
            listed = await server.http.get(
                "/v1/calls",
                params={"end_reason": "over_capacity"},
                headers={"Authorization": f"Bearer {key}"},
            )
            [lost] = listed.json()["items"]
            assert lost["transport"] == "webrtc" and lost["answered_at"] is None

    asyncio.run(main())
