"""Where things live. Every location can be overridden by an environment variable.

Relative defaults are resolved against the current working directory, which is the
project folder when you follow the README (``gtm``, ``dagster dev`` and the schedule all
run from there).
"""

from __future__ import annotations

import os
from pathlib import Path

DEFAULT_RAW_DIR = "data/raw"
DEFAULT_WAREHOUSE = "data/warehouse.duckdb"
DEFAULT_REPORTS_DIR = "data/reports"


def raw_dir() -> Path:
    """Folder holding the raw exports (``GTM_RAW_DIR``, default ``data/raw``)."""
    return Path(os.environ.get("GTM_RAW_DIR") or DEFAULT_RAW_DIR)


def warehouse_path() -> Path:
    """DuckDB warehouse file (``GTM_DUCKDB_PATH``, default ``data/warehouse.duckdb``)."""
    return Path(os.environ.get("GTM_DUCKDB_PATH") or DEFAULT_WAREHOUSE)


def read_copy_path(warehouse: Path | None = None) -> Path:
    """Read-only copy published for analysts (``GTM_READ_COPY_PATH``).

    Default: ``<warehouse stem>.read.duckdb`` beside the warehouse file.
    """
    explicit = os.environ.get("GTM_READ_COPY_PATH")
    if explicit:
        return Path(explicit)
    warehouse = warehouse or warehouse_path()
    return warehouse.with_name(f"{warehouse.stem}.read.duckdb")


def reports_dir() -> Path:
    """Folder for the HTML reports (``GTM_REPORTS_DIR``, default ``data/reports``)."""
    return Path(os.environ.get("GTM_REPORTS_DIR") or DEFAULT_REPORTS_DIR)
