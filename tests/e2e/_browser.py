"""Debian's Chromium driven by Playwright, with a fake microphone playing a WAV.

Never ``playwright install``: the browser is ``/usr/bin/chromium`` (``./dev test`` installs
the ``chromium`` package). Chromium's fake capture device loops its file, so the WAV made
here is silence, the caller's sentence once, then a long silence.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Playwright, sync_playwright

CHROMIUM = Path("/usr/bin/chromium")
SENTENCES = Path(__file__).parents[3] / "shared" / "audio" / "sentences"
ARTIFACTS = Path(
    os.environ.get("VOXPLANE_E2E_ARTIFACTS", Path(__file__).parents[2] / "out" / "e2e")
)
BASE_FLAGS = [
    "--headless=new",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--allow-loopback-in-peer-connection",
    "--use-fake-device-for-media-stream",
]


def caller_wav(tmp: Path, sentence: str, *, lead_s: float, tail_s: float = 60.0) -> Path:
    """``sentence`` (16 kHz) as the 48 kHz, 16-bit mono PCM Chromium's fake capture reads,
    after ``lead_s`` of silence and before ``tail_s`` (the device loops the file)."""
    sox = shutil.which("sox")
    if sox is None:
        pytest.fail("sox is missing: run ./dev test as root, or sudo apt-get install -y sox")
    source = SENTENCES / sentence
    if not source.exists():
        pytest.fail(f"{source} is missing: the end-to-end tests need ../shared/audio/sentences")
    out = tmp / f"caller-{sentence}"
    subprocess.run(
        [sox, str(source), "-r", "48000", "-c", "1", "-b", "16", "-e", "signed-integer", str(out),
         "pad", str(lead_s), str(tail_s)],
        check=True,
    )  # fmt: skip
    return out


@contextlib.contextmanager
def playwright_driver() -> Iterator[Playwright]:
    """Playwright's driver (one per test module: the sync API cannot nest)."""
    with sync_playwright() as playwright:
        yield playwright


@contextlib.contextmanager
def chromium(
    playwright: Playwright, wav: Path | None = None, *, microphone_allowed: bool = True
) -> Iterator[Browser]:
    """A headless Chromium; with ``wav`` its microphone plays that file. Without
    ``microphone_allowed`` no permission is granted, so pages are refused the microphone."""
    if not CHROMIUM.exists():
        pytest.fail("chromium is missing: run ./dev test as root, or apt-get install chromium")
    flags = list(BASE_FLAGS)
    if microphone_allowed:
        flags.append("--use-fake-ui-for-media-stream")
    if wav is not None:
        flags.append(f"--use-file-for-fake-audio-capture={wav}")
    browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=flags)
    try:
        yield browser
    finally:
        browser.close()


def artifacts(name: str) -> Path:
    """Where screenshots go (not asserted): ``out/e2e/<name>`` or $VOXPLANE_E2E_ARTIFACTS."""
    where = ARTIFACTS / name
    where.mkdir(parents=True, exist_ok=True)
    return where
