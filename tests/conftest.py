"""Shared fixtures: an in-memory warehouse with the raw contract's empty typed tables."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

import duckdb
import pandas as pd
import pytest

from gtm_assets import warehouse as wh
from gtm_assets.raw.schema import TABLES


def create_empty_raw(con: duckdb.DuckDBPyConnection) -> None:
    """Every contract table as an empty typed raw table, plus the default channel rules."""
    for schema in wh.SCHEMAS:
        con.execute(f"create schema if not exists {schema}")
    for spec in TABLES:
        cols = ", ".join(f"{c.name} {c.sql_type}" for c in spec.columns)
        con.execute(f"create or replace table raw.{wh.ident(spec.name)} ({cols})")
    from gtm_assets.raw import load_channel_rules

    rules = load_channel_rules()
    con.register("_rules", rules)
    con.execute(
        "create or replace table raw.channel_rules as "
        "select priority, source_regex, medium_regex, channel from _rules"
    )
    con.unregister("_rules")
    con.execute(
        "create or replace table raw.load_manifest as select * from (values "
        + ", ".join(f"('{s.name}', true, null, 0, 0, 0, now(), 'test')" for s in TABLES)
        + ") t(table_name, present, source_file, rows_read, rows_loaded, rows_quarantined, loaded_at, fingerprint)"
    )


def insert_rows(
    con: duckdb.DuckDBPyConnection, table: str, rows: Iterable[Mapping[str, Any]]
) -> None:
    """Insert dict rows into ``table`` by column name (missing columns stay NULL)."""
    df = pd.DataFrame(list(rows))
    if df.empty:
        return
    con.register("_rows", df)
    cols = ", ".join(wh.ident(c) for c in df.columns)
    con.execute(f"insert into {wh.ident(table)} ({cols}) select {cols} from _rows")
    con.unregister("_rows")


@pytest.fixture
def raw_con() -> Iterable[duckdb.DuckDBPyConnection]:
    con = duckdb.connect()
    create_empty_raw(con)
    yield con
    con.close()
