"""The console in a real browser: Debian's Chromium, driven by Playwright, against a running
``voxplane serve`` (``--sip-port 0``), with a fake microphone playing a recorded sentence.

The agent is the example agent (``examples/agents/acme-dental.yaml``: its flow, FAQ and
first message) on the scripted speech providers: the caller's recorded sentence is real
audio that the server's VAD must find in the browser's Opus stream, and the scripted STT
transcribes that turn as the caller's question; the flow's answer comes from the FAQ. What
this proves is the browser path: login, the agent pages, WebRTC from the page (token,
offer, answer, ICE, DTLS, Opus), the data channel's live transcript and latency, and the
call record and recording on the server.
"""

from __future__ import annotations

import contextlib
import http.server
import os
import re
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from functools import partial
from pathlib import Path
from typing import Any

import pytest
import yaml
from _browser import artifacts, caller_wav, chromium, playwright_driver
from _peers import ADMIN_TOKEN, PASSWORD, REPO, Server, run_server
from playwright.sync_api import Browser, Page, Playwright, expect

pytestmark = pytest.mark.e2e

QUESTION = "What are your opening hours?"
ANSWER = "8 am to 5 pm"
SHOTS = artifacts("console")


def _example_agent() -> dict[str, Any]:
    agent: dict[str, Any] = yaml.safe_load(
        (REPO / "examples" / "agents" / "acme-dental.yaml").read_text()
    )
    agent["stt"] = {"provider": "scripted", "transcripts": [QUESTION]}
    agent["tts"] = {"provider": "scripted", "ms_per_word": 60}
    agent["turn"] = {**agent.get("turn", {}), "vad": "energy"}
    return agent


class Tenant:
    def __init__(self, server: Server, email: str, key: str, agent_id: str) -> None:
        self.server, self.email, self.key, self.agent_id = server, email, key, agent_id
        self.name = self.id = ""

    def api(self, method: str, path: str, **kwargs: Any) -> Any:
        response = self.server.http.request(
            method, path, headers={"Authorization": f"Bearer {self.key}"}, **kwargs
        )
        assert response.status_code < 300, f"{method} {path}: {response.text}"
        return response.json() if response.content else None

    def record_call(self, turns: list[dict[str, Any]], **more: Any) -> str:
        """A finished call, written through the API (as ``voxplane talk --server`` does)."""
        now = datetime.now(UTC)
        body = {
            "agent_id": self.agent_id,
            "transport": "simulated",
            "direction": "simulated",
            "started_at": (now - timedelta(seconds=30)).isoformat(),
            "ended_at": now.isoformat(),
            "end_reason": "caller_hangup",
            "turns": turns,
            **more,
        }
        return str(self.api("POST", "/v1/calls", json=body)["id"])


def _tenant(server: Server, agent: dict[str, Any], *, owner: str | None = None) -> Tenant:
    """A new tenant with ``agent``; its owner a new account, or the existing ``owner``."""
    name = f"console-{os.getpid()}-{time.monotonic_ns()}"
    email = owner or f"owner@{name}.test"
    account = {"email": email} if owner else {"email": email, "password": PASSWORD}
    made = server.http.post(
        "/v1/tenants",
        json={"name": name, **account},
        headers={"Authorization": f"Bearer {ADMIN_TOKEN}"},
    )
    assert made.status_code == 201, made.text
    tenant = Tenant(server, email, made.json()["api_key"], "")
    tenant.name, tenant.id = name, made.json()["tenant_id"]
    tenant.agent_id = tenant.api("POST", "/v1/agents", json=agent)["id"]
    return tenant


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    env = {"VOXPLANE_WEBRTC_ICE_ADDRESSES": '["127.0.0.1"]', "VOXPLANE_EVENTS_WORKER": "false"}
    with run_server(tmp_path_factory.mktemp("serve"), extra_env=env, sip=False) as running:
        yield running


@pytest.fixture(scope="module")
def tenant(server: Server) -> Tenant:
    return _tenant(server, _example_agent())


@pytest.fixture(scope="module")
def driver() -> Iterator[Playwright]:
    with playwright_driver() as running:
        yield running


@pytest.fixture(scope="module")
def browser(driver: Playwright, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Browser]:
    # the greeting plays for a few seconds; the caller asks after it
    wav = caller_wav(tmp_path_factory.mktemp("wav"), "spk1_snt1.wav", lead_s=4.0)
    with chromium(driver, wav) as running:
        yield running


def _page(browser: Browser, server: Server, *, phone: bool = False) -> Page:
    size = {"width": 390, "height": 844} if phone else {"width": 1280, "height": 800}
    context = browser.new_context(base_url=str(server.http.base_url), viewport=size)
    page = context.new_page()
    page.set_default_timeout(15_000)
    return page


def _errors(page: Page) -> list[str]:
    """What the page reports as broken from now on: script errors, console errors (a
    content security policy violation is one)."""
    seen: list[str] = []
    page.on("pageerror", lambda error: seen.append(f"page error: {error}"))
    page.on("console", lambda m: seen.append(m.text) if m.type == "error" else None)
    return seen


def _log_in(page: Page, email: str, password: str = PASSWORD) -> None:
    page.goto("/")
    page.get_by_label("Email").fill(email)
    page.get_by_label("Password").fill(password)
    page.get_by_role("button", name="Log in").click()


def _signed_in(page: Page, email: str) -> None:
    _log_in(page, email)
    expect(page.get_by_role("heading", name="Agents")).to_be_visible()


def _shoot(page: Page, name: str) -> None:
    page.screenshot(path=str(SHOTS / f"{name}.png"), full_page=True)


def test_log_in_open_the_example_agent_and_talk_to_it(
    server: Server, tenant: Tenant, browser: Browser
) -> None:
    page = _page(browser, server)
    errors = _errors(page)
    _log_in(page, tenant.email)
    page.get_by_role("link", name="acme-dental").click()
    expect(page.get_by_role("heading", level=1)).to_contain_text("acme-dental")
    _shoot(page, "agent-edit")
    page.get_by_role("link", name="Talk to it").click()
    page.get_by_role("button", name="Talk", exact=True).click()

    transcript = page.locator("#transcript")
    # the greeting (the example's first message), then the caller's question and the answer
    expect(transcript.locator("li.agent").first).to_contain_text("Acme Dental", timeout=30_000)
    expect(transcript.locator("li.user").first).to_contain_text(QUESTION, timeout=45_000)
    expect(transcript).to_contain_text(ANSWER, timeout=30_000)
    figure = page.locator("#latency-figure")
    expect(figure).to_have_text(re.compile(r"^\d+ ms voice to voice \(turn 1\)$"), timeout=15_000)
    assert int(figure.inner_text().split()[0]) > 0
    expect(page.locator("#waterfall svg rect.v2v")).to_have_count(1)
    _shoot(page, "talk")

    page.get_by_role("button", name="Hang up").click()
    link = page.locator("#call-link")
    expect(link).to_be_visible(timeout=15_000)
    call_id = link.get_attribute("href", timeout=1000)
    assert call_id is not None
    call_id = call_id.rsplit("/", 1)[-1]

    # The server has the call, with what the page showed, and its recording.
    record = _record(tenant, call_id)
    assert record["transport"] == "webrtc"
    assert record["end_reason"] == "caller_hangup"
    said = [(t["role"], t["text"]) for t in record["turns"]]
    assert said[0][0] == "agent" and "Acme Dental" in said[0][1]
    assert ("user", QUESTION) in said
    assert any(role == "agent" and ANSWER in text for role, text in said)
    assert record["metrics"] and record["metrics"][0]["voice_to_voice_ms"] > 0
    recording = server.http.get(
        f"/v1/calls/{call_id}/recording", headers={"Authorization": f"Bearer {tenant.key}"}
    )
    assert recording.status_code == 200
    assert recording.headers["content-type"] == "audio/wav"
    assert len(recording.content) > 16_000 * 4 * 5  # stereo 16-bit, several seconds

    # The call page: transcript, latency and the recording player.
    link.click()
    expect(page.locator("#transcript")).to_contain_text(ANSWER)
    expect(page.locator("#recording audio")).to_have_count(1)
    _shoot(page, "call")
    assert errors == []


def _record(tenant: Tenant, call_id: str, timeout_s: float = 20.0) -> Any:
    deadline = time.monotonic() + timeout_s
    while True:
        response = tenant.server.http.get(
            f"/v1/calls/{call_id}", headers={"Authorization": f"Bearer {tenant.key}"}
        )
        if response.status_code == 200 or time.monotonic() > deadline:
            assert response.status_code == 200, response.text
            return response.json()
        time.sleep(0.2)


def test_talking_over_the_agent_shows_an_interrupted_turn(
    server: Server, driver: Playwright, tmp_path: Path
) -> None:
    slow = _example_agent()
    slow["tts"] = {"provider": "scripted", "ms_per_word": 300}  # a greeting of about 5 s
    own = _tenant(server, slow)
    wav = caller_wav(tmp_path, "spk1_snt3.wav", lead_s=1.5)  # said over the greeting
    with chromium(driver, wav) as browser:
        page = _page(browser, server)
        _signed_in(page, own.email)
        page.goto(f"/#/agents/{own.agent_id}/talk")
        page.get_by_role("button", name="Talk", exact=True).click()
        cut = page.locator("#transcript li.agent.interrupted")
        expect(cut).to_have_count(1, timeout=30_000)
        expect(cut).to_contain_text("interrupted")
        expect(page.locator("#transcript li.user")).to_contain_text(QUESTION, timeout=30_000)
        _shoot(page, "talk-barge-in")
        page.get_by_role("button", name="Hang up").click()
        expect(page.locator("#call-link")).to_be_visible(timeout=15_000)
        call_id = (page.locator("#call-link").get_attribute("href") or "").rsplit("/", 1)[-1]
    record = _record(own, call_id)
    greeting = record["turns"][0]
    assert greeting["role"] == "agent" and greeting["interrupted"] is True


def test_the_keyboard_alone_logs_in_and_starts_a_call(
    server: Server, tenant: Tenant, browser: Browser
) -> None:
    page = _page(browser, server)
    page.goto("/")
    expect(page.get_by_label("Email")).to_be_focused()
    page.keyboard.type(tenant.email)
    page.keyboard.press("Tab")
    page.keyboard.type(PASSWORD)
    page.keyboard.press("Enter")
    expect(page.get_by_role("heading", name="Agents")).to_be_visible()
    page.goto(f"/#/agents/{tenant.agent_id}/talk")
    talk = page.get_by_role("button", name="Talk", exact=True)
    expect(talk).to_be_visible()
    for _ in range(40):  # Tab through the page to the Talk button
        page.keyboard.press("Tab")
        if page.evaluate("document.activeElement.id") == "talk":
            break
    expect(talk).to_be_focused()
    page.keyboard.press("Enter")
    hang_up = page.get_by_role("button", name="Hang up")
    expect(hang_up).to_be_focused(timeout=20_000)  # the call is up; focus moved to hang up
    expect(page.locator("#transcript li.agent").first).to_contain_text("Acme Dental")
    page.keyboard.press("Enter")
    expect(page.locator("#call-link")).to_be_visible(timeout=15_000)


def test_a_wrong_password_is_a_clear_error(
    server: Server, tenant: Tenant, browser: Browser
) -> None:
    page = _page(browser, server)
    _log_in(page, tenant.email, "not the password")
    expect(page.locator(".form-error")).to_have_text(re.compile("Wrong email or password"))
    expect(page.get_by_label("Password")).to_be_focused()
    assert page.url.endswith("#/login")
    _shoot(page, "login-error")


def test_another_tenants_call_is_not_found(
    server: Server, tenant: Tenant, browser: Browser
) -> None:
    other = _tenant(server, _example_agent())
    foreign = other.record_call(
        [{"role": "agent", "text": "Theirs.", "start_ms": 0, "end_ms": 900}]
    )
    page = _page(browser, server)
    _signed_in(page, tenant.email)
    page.goto(f"/#/calls/{foreign}")
    expect(page.get_by_role("alert")).to_contain_text("Not found")
    expect(page.locator("body")).not_to_contain_text("Theirs.")


def test_a_spent_call_token_is_a_clear_error_and_talk_can_be_pressed_again(
    server: Server, tenant: Tenant, browser: Browser
) -> None:
    spent = tenant.api("POST", "/v1/webrtc/tokens", json={"agent_id": tenant.agent_id})
    used = server.http.post(
        "/v1/webrtc/calls",
        json={"sdp": "v=0", "type": "offer"},
        headers={"Authorization": f"Bearer {spent['token']}"},
    )
    assert used.status_code == 422  # the token was spent on a bad offer
    page = _page(browser, server)
    _signed_in(page, tenant.email)
    page.goto(f"/#/agents/{tenant.agent_id}/talk")
    # The page is handed the spent token, as a replayed or expired one would reach it.
    page.route(
        "**/v1/webrtc/tokens",
        lambda route: route.fulfill(status=201, json={**spent, "ice_servers": []}),
    )
    page.get_by_role("button", name="Talk", exact=True).click()
    expect(page.locator("#talk-errors")).to_contain_text(
        "The call was refused (401): the call token is unknown, expired or already used"
    )
    expect(page.get_by_role("button", name="Talk", exact=True)).to_be_enabled()
    _shoot(page, "talk-token-refused")


def test_log_out_returns_to_the_login_and_revokes_the_session(
    server: Server, tenant: Tenant, browser: Browser
) -> None:
    page = _page(browser, server)
    _signed_in(page, tenant.email)
    refresh = page.evaluate("JSON.parse(sessionStorage.getItem('voxplane.session')).refresh")
    page.get_by_role("button", name="Log out").click()
    expect(page.get_by_label("Email")).to_be_visible()
    assert page.url.endswith("#/login")
    page.goto("/#/agents")
    expect(page.get_by_label("Email")).to_be_visible()  # no session left in the page
    assert page.evaluate("sessionStorage.getItem('voxplane.session')") is None
    again = server.http.post("/v1/auth/refresh", json={"refresh_token": refresh})
    assert again.status_code == 401, again.text


def test_a_user_of_two_tenants_switches_between_them(server: Server, browser: Browser) -> None:
    first = _tenant(server, _example_agent())
    second = _tenant(server, {**_example_agent(), "name": "second-desk"}, owner=first.email)
    page = _page(browser, server)
    _log_in(page, first.email)
    expect(page.get_by_role("alert").first).to_contain_text("several tenants: pick one")
    picker = page.get_by_label("Tenant", exact=True)
    expect(picker).to_be_focused()  # the password was right: pick a tenant by its name
    picker.select_option(label=f"{first.name} (owner)")
    page.get_by_role("button", name="Log in").click()
    expect(page.get_by_role("link", name="acme-dental")).to_be_visible()
    expect(page.get_by_role("link", name="second-desk")).to_have_count(0)
    page.get_by_label("Tenant").select_option(label=f"{second.name} (owner)")
    expect(page.get_by_role("link", name="second-desk")).to_be_visible()
    expect(page.get_by_role("link", name="acme-dental")).to_have_count(0)
    current = page.get_by_label("Tenant").locator("option:checked")
    expect(current).to_have_text(f"{second.name} (owner)")
    _shoot(page, "tenant-switched")


def test_the_calls_list_filters_and_a_call_shows_its_latency_chart(
    server: Server, browser: Browser
) -> None:
    own = _tenant(server, _example_agent())
    said = [{"role": "agent", "text": "Hello.", "start_ms": 0, "end_ms": 800}]
    timed = [{"turn": 1, "stt_ms": 120, "brain_ms": 5, "tts_ms": 80, "voice_to_voice_ms": 420}]
    answered = own.record_call(said, metrics=timed)
    silent = own.record_call(said, end_reason="silence")
    page = _page(browser, server)
    _signed_in(page, own.email)
    page.goto("/#/calls")
    rows = page.locator("main table tbody tr")
    expect(rows).to_have_count(2)
    page.get_by_label("End reason").select_option("silence")
    page.get_by_role("button", name="Filter").click()
    expect(rows).to_have_count(1)
    expect(rows.first.get_by_role("link")).to_have_attribute("href", f"#/calls/{silent}")
    assert "end_reason=silence" in page.url
    _shoot(page, "calls-filtered")

    page.goto(f"/#/calls/{answered}")
    chart = page.get_by_role("img", name=re.compile("^Latency per turn"))
    expect(chart).to_have_attribute(
        "aria-label",
        "Latency per turn. turn 1: STT 120 ms, brain 5 ms, TTS 80 ms, voice to voice 420 ms",
    )
    expect(chart.locator("rect.v2v")).to_have_count(1)


def test_a_transcript_holding_markup_renders_as_text(
    server: Server, tenant: Tenant, browser: Browser
) -> None:
    hostile = '<script>window.__owned = 1</script><img src=x onerror="window.__owned = 2">'
    call_id = tenant.record_call(
        [
            {"role": "agent", "text": "Hello.", "start_ms": 0, "end_ms": 800},
            {"role": "user", "text": hostile, "start_ms": 1000, "end_ms": 2500},
            {"role": "agent", "text": "Cut off", "start_ms": 2600, "end_ms": 3000,
             "interrupted": True},
        ]
    )  # fmt: skip
    page = _page(browser, server)
    _signed_in(page, tenant.email)
    page.goto(f"/#/calls/{call_id}")
    said = page.locator("#transcript li.user")
    expect(said).to_contain_text(hostile)
    assert page.locator("#transcript script, #transcript img").count() == 0
    assert page.evaluate("window.__owned") is None
    expect(page.locator("#transcript li.interrupted")).to_contain_text("interrupted")

    # and an agent's name
    named = tenant.api("POST", "/v1/agents", json={**_example_agent(), "name": hostile[:100]})
    page.goto("/#/agents")
    expect(page.get_by_role("link", name=hostile[:100])).to_have_attribute(
        "href", f"#/agents/{named['id']}"
    )
    assert page.locator("main script, main img").count() == 0
    assert page.evaluate("window.__owned") is None


def test_a_denied_microphone_is_explained(
    server: Server, tenant: Tenant, driver: Playwright
) -> None:
    with chromium(driver, microphone_allowed=False) as denied:
        page = _page(denied, server)
        _signed_in(page, tenant.email)
        page.goto(f"/#/agents/{tenant.agent_id}/talk")
        page.get_by_role("button", name="Talk", exact=True).click()
        expect(page.locator("#microphone-error")).to_contain_text("Microphone access was denied")
        expect(page.get_by_role("button", name="Talk", exact=True)).to_be_enabled()


def test_edit_an_agent_see_errors_at_the_field_and_the_versions_diff(
    server: Server, browser: Browser
) -> None:
    own = _tenant(server, _example_agent())
    page = _page(browser, server)
    _signed_in(page, own.email)
    page.goto(f"/#/agents/{own.agent_id}")
    name = page.get_by_label("Name", exact=True)
    name.fill("")
    page.get_by_role("button", name="Save form (new version)").click()
    # the API's 422 names body.name: its message is shown at the Name field
    expect(name).to_have_attribute("aria-invalid", "true")
    expect(page.locator('.field[data-field="name"] .field-error')).not_to_be_empty()
    _shoot(page, "agent-field-error")

    name.fill("acme-dental")
    page.get_by_label("Description").fill("Front desk, <b>weekdays</b>")
    page.get_by_role("button", name="Save form (new version)").click()
    expect(page.get_by_role("status")).to_contain_text("Saved version 2")
    expect(page.get_by_label("Agent document (YAML)")).to_have_value(
        re.compile("description: Front desk, <b>weekdays</b>")
    )
    page.get_by_role("link", name="Versions").first.click()
    diff = page.get_by_role("region", name="Differences")
    expect(diff.locator(".del")).to_contain_text("Virtual receptionist for Acme Dental")
    expect(diff.locator(".add")).to_contain_text('"description": "Front desk, <b>weekdays</b>"')
    _shoot(page, "versions-diff")

    # a new agent from the YAML template
    page.goto("/#/agents")
    page.get_by_role("link", name="New agent").click()
    page.get_by_role("button", name="Create from YAML").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Agent: my-agent (version 1)")


def _customer_site(root: Path) -> Iterator[str]:
    """A customer's page on its own origin (another port), served by a plain HTTP server."""
    handler = partial(http.server.SimpleHTTPRequestHandler, directory=str(root))
    site = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=site.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{site.server_address[1]}"
    finally:
        site.shutdown()
        site.server_close()
        thread.join(timeout=5)


def test_the_widget_on_a_customers_page_calls_the_agent(
    server: Server, tenant: Tenant, browser: Browser, tmp_path: Path
) -> None:
    sites = contextlib.ExitStack()
    with sites:
        shop = sites.enter_context(contextlib.contextmanager(_customer_site)(tmp_path))
        made = tenant.api(
            "POST",
            "/v1/publishable-keys",
            json={"name": "shop", "agent_id": tenant.agent_id, "allowed_origins": [shop]},
        )
        elsewhere = tenant.api(
            "POST",
            "/v1/publishable-keys",
            json={"name": "elsewhere", "agent_id": tenant.agent_id,
                  "allowed_origins": ["https://elsewhere.example.com"]},
        )  # fmt: skip
        base = str(server.http.base_url).rstrip("/")
        for name, key in (("shop", made["key"]), ("refused", elsewhere["key"])):
            (tmp_path / f"{name}.html").write_text(
                "<!doctype html><title>Shop</title><h1>Our shop</h1>\n"
                f'<script type="module" src="{base}/widget.js" data-key="{key}" '
                f'data-agent="{tenant.agent_id}"></script>\n'
            )
        page = browser.new_context().new_page()
        page.set_default_timeout(20_000)
        page.goto(f"{shop}/refused.html")
        page.get_by_role("button", name="Talk to us").click()
        expect(page.get_by_role("status")).to_contain_text("not allowed from this page's origin")

        page.goto(f"{shop}/shop.html")
        page.get_by_role("button", name="Talk to us").click()
        expect(page.get_by_role("button", name="Hang up")).to_be_visible()
        expect(page.get_by_role("status")).to_have_text(re.compile("Speaking|Listening"))
        page.get_by_role("button", name="Hang up").click()
        expect(page.get_by_role("status")).to_have_text("Call ended")
        page.screenshot(path=str(SHOTS / "widget-on-a-customer-page.png"))
        page.context.close()

    calls = tenant.api("GET", "/v1/calls", params={"transport": "webrtc"})["items"]
    assert calls, "the widget's call was not recorded"
    events = tenant.api("GET", "/v1/audit-events")["items"]
    assert any(e["actor_type"] == "publishable_key" and e["actor_id"] == made["id"] for e in events)


UNLABELLED = """() => [...document.querySelectorAll("input, select, textarea, button")]
  .filter((el) => !(el.labels?.length || el.getAttribute("aria-label") || el.textContent.trim()))
  .map((el) => el.outerHTML.slice(0, 120))"""
SHOWN_TEXT = """() => {
  const main = document.querySelector("main").cloneNode(true);
  main.querySelectorAll(".diff, textarea, pre").forEach((e) => e.remove());  // documents
  return main.textContent;
}"""


def test_screenshots_of_the_main_pages(server: Server, tenant: Tenant, browser: Browser) -> None:
    """Not asserted beyond each page rendering its heading: for people to look at."""
    for phone in (False, True):
        page = _page(browser, server, phone=phone)
        errors = _errors(page)
        _signed_in(page, tenant.email)
        suffix = "-phone" if phone else ""
        agent = f"agents/{tenant.agent_id}"
        for route, heading, shot in [
            ("agents", "Agents", "agents"),
            (agent, "Agent:", "agent"),
            (f"{agent}/versions", "Versions", "versions"),
            (f"{agent}/talk", "Talk to", "talk-idle"),
            ("calls", "Calls", "calls"),
            ("numbers", "Phone numbers", "numbers"),
            ("trunks", "SIP trunks", "trunks"),
            ("keys", "API keys", "keys"),
            ("credentials", "Credentials", "credentials"),
            ("usage", "Usage", "usage"),
            ("widget", "Web widget", "widget"),
        ]:
            page.goto(f"/#/{route}")
            expect(page.get_by_role("heading", level=1)).to_contain_text(heading)
            _shoot(page, f"{shot}{suffix}")
            assert page.evaluate(UNLABELLED) == [], f"{route}: controls without a label"
            text = page.evaluate(SHOWN_TEXT)
            assert "null" not in text and "undefined" not in text, f"{route}: {text}"
            # the page fits the window: nothing wider than the viewport but scrolling tables
            overflow = page.evaluate("document.documentElement.scrollWidth - innerWidth")
            assert overflow <= 0, f"{route}{suffix} is {overflow} px too wide"
        assert errors == [], errors
        page.context.close()
