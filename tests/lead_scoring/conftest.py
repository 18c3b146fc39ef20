"""Fixtures for the lead-scoring tests (helpers live in lead_world.py)."""

from __future__ import annotations

import pandas as pd
import pytest
from lead_world import synthetic_world


@pytest.fixture(scope="session")
def world() -> dict[str, pd.DataFrame]:
    return synthetic_world()
