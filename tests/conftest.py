"""Shared fixtures: the repository root and two independent moto servers (source and target)."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from migrator.demo.servers import LocalServer, start_moto

REPO_ROOT = Path(__file__).resolve().parent.parent


def fresh_table_name(prefix: str) -> str:
    """A table name no other test uses, e.g. ``edge-3f9c2a1b`` (session servers are shared)."""
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


@pytest.fixture(name="fresh_table_name")
def _fresh_table_name_fixture():
    """``fresh_table_name`` for tests that prefer a fixture to an import."""
    return fresh_table_name


@pytest.fixture(scope="session")
def repo_root() -> Path:
    return REPO_ROOT


@pytest.fixture(scope="session")
def moto_source(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalServer]:
    """A moto server playing the source DynamoDB; shared by the whole session (moto is slow to boot)."""
    with start_moto(tmp_path_factory.mktemp("moto-source")) as server:
        yield server


@pytest.fixture(scope="session")
def moto_target(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalServer]:
    """A second, independent moto server playing the target."""
    with start_moto(tmp_path_factory.mktemp("moto-target")) as server:
        yield server
