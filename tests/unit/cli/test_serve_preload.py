"""``serve`` loads the local models at start, and says how far it got for ``/readyz``."""

from __future__ import annotations

import asyncio
import logging

import pytest
from fastapi import FastAPI

from voxplane.cli import serve
from voxplane.runtime.factory import ProviderFactory


class GatedFactory(ProviderFactory):
    """Scripted: its models load when ``gate`` is set, or fail with ``error``."""

    def __init__(self, error: Exception | None = None) -> None:
        super().__init__()
        self.gate = asyncio.Event()
        self.error = error

    async def preload(self) -> None:
        await self.gate.wait()
        if self.error is not None:
            raise self.error


def _app() -> FastAPI:
    app = FastAPI()
    app.state.models = None
    return app


async def _load(factory: GatedFactory, app: FastAPI) -> list[object]:
    """The models' state while loading, then after."""
    task = asyncio.create_task(serve.preload_models(factory, app))
    await asyncio.sleep(0)
    seen: list[object] = [app.state.models]
    factory.gate.set()
    await task
    return [*seen, app.state.models]


def test_the_models_are_loading_then_loaded(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(serve, "local_models_installed", lambda: True)
    assert asyncio.run(_load(GatedFactory(), _app())) == ["loading", "ok"]


def test_models_that_fail_to_load_are_reported_and_logged(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setattr(serve, "local_models_installed", lambda: True)
    factory = GatedFactory(RuntimeError("bad model file"))
    assert asyncio.run(_load(factory, _app())) == ["loading", "failed"]
    [record] = [r for r in caplog.records if r.levelno == logging.ERROR]
    assert "bad model file" in record.getMessage() + str(record.__dict__.get("error"))


def test_without_the_local_extra_nothing_is_loaded_or_checked(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr(serve, "local_models_installed", lambda: False)
    app = _app()
    factory = GatedFactory()
    factory.gate.set()
    asyncio.run(serve.preload_models(factory, app))
    assert app.state.models is None  # /readyz has no models check
    assert "pip install 'voxplane[local]'" in capsys.readouterr().err
