"""Load the project's ``.sql`` files by name.

The files live in the top-level ``sql/`` folder of a source checkout; wheels carry them
as ``gtm_assets/sql`` (see ``pyproject.toml``). Both locations are tried, installed first.
"""

from __future__ import annotations

import re
from functools import cache
from importlib import resources
from pathlib import Path

_NAME = re.compile(r"^[a-z0-9_]+(/[a-z0-9_]+)*$")


def sql_root() -> Path:
    """The folder the SQL files are read from."""
    packaged = resources.files("gtm_assets").joinpath("sql")
    if packaged.is_dir():
        return Path(str(packaged))
    checkout = Path(__file__).resolve().parent.parent / "sql"
    if checkout.is_dir():
        return checkout
    raise FileNotFoundError(
        "gtm_assets cannot find its SQL files: neither gtm_assets/sql (installed package) "
        f"nor {checkout} (source checkout) exists."
    )


@cache
def load_sql(name: str) -> str:
    """Return the text of ``sql/<name>.sql``, e.g. ``load_sql("marts/campaign_performance")``."""
    if not _NAME.match(name):
        raise ValueError(f"invalid SQL file name {name!r}")
    path = sql_root() / f"{name}.sql"
    if not path.is_file():
        raise FileNotFoundError(f"SQL file not found: {path}")
    return path.read_text(encoding="utf-8")
