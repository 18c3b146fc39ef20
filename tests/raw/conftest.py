"""Fixtures for the raw-layer tests; the hand-made data lives in ``raw_helpers``."""

from __future__ import annotations

from pathlib import Path

import duckdb
import pytest
from raw_helpers import raw_tables, write_raw


@pytest.fixture
def con():
    c = duckdb.connect()
    yield c
    c.close()


@pytest.fixture
def valid_dir(tmp_path: Path) -> Path:
    return write_raw(tmp_path / "raw", raw_tables())
