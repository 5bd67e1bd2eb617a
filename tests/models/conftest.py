"""Real local models, loaded once for the whole session."""

from __future__ import annotations

from pathlib import Path

import pytest

from voxplane.runtime.factory import LocalModels

REPO_ROOT = Path(__file__).resolve().parents[2]
FSDD = REPO_ROOT.parent / "shared" / "audio" / "fsdd"


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if Path(str(item.fspath)).is_relative_to(Path(__file__).parent):
            item.add_marker(pytest.mark.models)


@pytest.fixture(scope="session")
def models() -> LocalModels:
    return LocalModels.load()


@pytest.fixture(scope="session")
def fsdd() -> Path:
    if not FSDD.is_dir():
        pytest.fail(f"{FSDD} is missing: the model tests need ../shared/audio/fsdd")
    return FSDD
