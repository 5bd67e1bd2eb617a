"""Shared fixtures: the acme-dental example flow."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from voxplane.agents.flow import FlowConfig

EXAMPLE = Path(__file__).parents[3] / "examples" / "agents" / "acme-dental.yaml"


@pytest.fixture(scope="session")
def acme_doc() -> dict[str, Any]:
    doc: dict[str, Any] = yaml.safe_load(EXAMPLE.read_text())
    return doc


@pytest.fixture(scope="session")
def acme(acme_doc: dict[str, Any]) -> FlowConfig:
    return FlowConfig.model_validate(acme_doc["brain"])
