import duckdb
import pytest
from budget_world import build_world


@pytest.fixture(scope="session")
def world_path(tmp_path_factory) -> str:
    """A synthetic warehouse with known response curves (see budget_world.py)."""
    path = tmp_path_factory.mktemp("budget") / "warehouse.duckdb"
    con = duckdb.connect(str(path))
    build_world(con)
    con.close()
    return str(path)
