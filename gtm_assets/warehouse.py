"""The DuckDB warehouse: connections, the one write path for every table, the read copy.

DuckDB allows one read-write process per file. The pipeline therefore
- runs each job in-process and puts every warehouse step in the Dagster pool
  ``duckdb_warehouse`` (limit 1, see ``dagster_home/dagster.yaml``), so steps and runs
  never open the file for writing at the same time;
- waits (with a clear message) instead of failing when something else holds the lock;
- publishes a read-only copy for analysts at the end of each run (``publish_read_copy``),
  so an analyst's open session never blocks the pipeline and vice versa.
"""

from __future__ import annotations

import os
import re
import shutil
import time
import weakref
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
from datetime import date
from pathlib import Path
from typing import Any

import duckdb
import numpy as np
import pandas as pd

SCHEMAS = ("raw", "quarantine", "staging", "intermediate", "marts")
_IDENT = re.compile(r"^[a-z_][a-z0-9_]*$")
_PARAM = re.compile(r"\$([a-z_][a-z0-9_]*)")


class WarehouseLockedError(RuntimeError):
    """Another process holds the DuckDB file lock for longer than we are willing to wait."""


def ident(name: str) -> str:
    """Validate a (possibly schema-qualified) identifier and return it unchanged.

    Only lower-case letters, digits and underscores are accepted, so the result can be
    placed in SQL text safely. Data values never go through here: they are bound.
    """
    parts = name.split(".")
    if not 1 <= len(parts) <= 2 or not all(_IDENT.match(p) for p in parts):
        raise ValueError(f"invalid SQL identifier {name!r}")
    return name


def bind(sql: str, params: Mapping[str, Any] | None) -> dict[str, Any]:
    """The subset of ``params`` that ``sql`` references as ``$name``.

    DuckDB rejects unused named parameters; this lets one parameter set (month bounds,
    settings) serve every SQL file.
    """
    wanted = set(_PARAM.findall(sql))
    supplied = dict(params or {})
    missing = wanted - supplied.keys()
    if missing:
        raise ValueError(f"SQL needs parameter(s) {sorted(missing)} that were not supplied")
    return {k: v for k, v in supplied.items() if k in wanted}


def execute(
    con: duckdb.DuckDBPyConnection, sql: str, params: Mapping[str, Any] | None = None
) -> duckdb.DuckDBPyConnection:
    """``con.execute`` with ``bind``: only the parameters the statement uses are passed."""
    return con.execute(sql, bind(sql, params))


def _is_lock_error(exc: Exception) -> bool:
    text = str(exc)
    return "Could not set lock" in text or "Conflicting lock" in text


@contextmanager
def run_lock(path: str | Path, timeout_s: float | None = None, out=None) -> Iterator[None]:
    """Hold the warehouse's run lock (``<warehouse>.run.lock``) for a whole ``gtm`` run.

    DuckDB's file lock is per connection, and a run opens many: two runs on one warehouse
    interleave step by step, and a run that loads other exports rewrites ``raw`` and
    ``staging`` under the other (its month would mix both exports). Runs therefore take
    turns: the second waits up to ``timeout_s`` (``GTM_LOCK_TIMEOUT``, 120 s), saying so on
    ``out``, then fails with ``WarehouseLockedError``."""
    import fcntl

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    if timeout_s is None:
        timeout_s = float(os.environ.get("GTM_LOCK_TIMEOUT", "120"))
    lock_path = path.with_name(path.name + ".run.lock")
    with open(lock_path, "a+") as handle:
        deadline = time.monotonic() + timeout_s
        said = False
        while True:
            try:
                fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                handle.seek(0)
                holder = handle.read().strip() or "another process"
                if time.monotonic() >= deadline:
                    raise WarehouseLockedError(
                        f"Another gtm run on {path} ({holder}) is still running after "
                        f"{timeout_s:.0f} s (GTM_LOCK_TIMEOUT). Runs on one warehouse take "
                        "turns; retry when it has finished."
                    ) from None
                if not said and out is not None:
                    print(
                        f"waiting for another gtm run on this warehouse ({holder}) to finish ...",
                        file=out,
                        flush=True,
                    )
                    said = True
                time.sleep(0.5)
        handle.seek(0)
        handle.truncate()
        handle.write(f"pid {os.getpid()}")
        handle.flush()
        try:
            yield
        finally:
            handle.seek(0)
            handle.truncate()
            fcntl.flock(handle, fcntl.LOCK_UN)


@contextmanager
def connect(
    path: str | Path, *, read_only: bool = False, lock_timeout_s: float | None = None
) -> Iterator[duckdb.DuckDBPyConnection]:
    """Open the warehouse, waiting up to ``lock_timeout_s`` (``GTM_LOCK_TIMEOUT``, 120 s)
    for another process to release the file lock."""
    path = Path(path)
    if not read_only:
        path.parent.mkdir(parents=True, exist_ok=True)
    if lock_timeout_s is None:
        lock_timeout_s = float(os.environ.get("GTM_LOCK_TIMEOUT", "120"))
    deadline = time.monotonic() + lock_timeout_s
    delay = 0.2
    while True:
        try:
            con = duckdb.connect(str(path), read_only=read_only)
            break
        except duckdb.IOException as exc:
            if not _is_lock_error(exc):
                raise
            if time.monotonic() >= deadline:
                raise WarehouseLockedError(
                    f"The warehouse {path} is locked by another process (often an open "
                    "DuckDB session or notebook). Close it and retry; for reading while the "
                    f"pipeline runs, open the read copy {read_copy_for(path)} instead. "
                    f"DuckDB said: {exc}"
                ) from exc
            time.sleep(delay)
            delay = min(delay * 2, 5.0)
    try:
        if not read_only:
            for schema in SCHEMAS:
                con.execute(f"create schema if not exists {schema}")
        yield con
    finally:
        con.close()


def read_copy_for(warehouse: Path) -> Path:
    from gtm_assets import paths

    return paths.read_copy_path(warehouse)


def table_exists(con: duckdb.DuckDBPyConnection, table: str) -> bool:
    schema, name = ident(table).split(".")
    return bool(
        con.execute(
            "select count(*) from information_schema.tables "
            "where table_schema = $schema and table_name = $name",
            {"schema": schema, "name": name},
        ).fetchall()[0][0]
    )


def table_columns(con: duckdb.DuckDBPyConnection, table: str) -> dict[str, str]:
    schema, name = ident(table).split(".")
    rows = con.execute(
        "select column_name, data_type from information_schema.columns "
        "where table_schema = $schema and table_name = $name order by ordinal_position",
        {"schema": schema, "name": name},
    ).fetchall()
    return {c: t for c, t in rows}


class Gate:
    """An open gate transaction (see ``gated``): ``reject`` the names of failed blocking
    checks to have it roll back instead of commit. ``tables`` lists what was written in it."""

    def __init__(self, con: duckdb.DuckDBPyConnection) -> None:
        self.con = con
        self.rejected: list[str] = []
        self.tables: list[str] = []

    def reject(self, check_names: Iterable[str]) -> list[str]:
        """Record failed blocking checks; returns every name rejected so far."""
        self.rejected.extend(n for n in check_names if n not in self.rejected)
        return self.rejected

    @property
    def committed(self) -> bool:
        return not self.rejected


@contextmanager
def gated(con: duckdb.DuckDBPyConnection) -> Iterator[Gate]:
    """One transaction around an asset's writes and its blocking checks.

    ``replace_slice`` / ``replace_month`` / ``replace_table`` inside the block join it, and
    checks run inside see the uncommitted writes (same connection). On exit it commits when
    nothing was rejected and rolls back when something was, so every table the asset wrote
    keeps its previous slice; on an exception it rolls back and re-raises."""
    if con in _GATES:
        raise RuntimeError("gated() does not nest: this connection already has an open gate")
    con.execute("begin transaction")
    gate = _GATES[con] = Gate(con)
    try:
        yield gate
    except BaseException:
        del _GATES[con]
        con.execute("rollback")
        raise
    del _GATES[con]
    con.execute("rollback" if gate.rejected else "commit")


# connections with an open gate: replace_* join its transaction instead of opening their own
_GATES: weakref.WeakKeyDictionary[duckdb.DuckDBPyConnection, Gate] = weakref.WeakKeyDictionary()


@contextmanager
def transaction(con: duckdb.DuckDBPyConnection, *tables: str) -> Iterator[None]:
    """A transaction of its own for writing ``tables``, or, when ``con`` is inside a gate,
    the gate's (which then commits or rolls back, and lists ``tables`` as written)."""
    gate = _GATES.get(con)
    if gate is not None:
        gate.tables.extend(t for t in tables if t not in gate.tables)
        yield
        return
    con.execute("begin transaction")
    try:
        yield
    except BaseException:
        con.execute("rollback")
        raise
    con.execute("commit")


# digits kept of every float written: parallel float sums differ only beyond them
SIGNIFICANT_DIGITS = 12


def _stage_slice(
    con: duckdb.DuckDBPyConnection,
    source: str | pd.DataFrame,
    params: Mapping[str, Any] | None,
    schema: Mapping[str, str] | None = None,
) -> None:
    con.execute("drop table if exists _gtm_slice")
    if isinstance(source, pd.DataFrame):
        con.register("_gtm_slice_df", source)
        if schema:
            columns = ", ".join(
                f"cast({ident(c)} as {_sql_type(t)}) as {ident(c)}" for c, t in schema.items()
            )
        else:
            columns = "*"
        try:
            con.execute(f"create temp table _gtm_slice as select {columns} from _gtm_slice_df")
        finally:
            con.unregister("_gtm_slice_df")
    else:
        execute(con, f"create temp table _gtm_slice as {source}", params)
    _round_doubles(con, "_gtm_slice")


def _round_doubles(con: duckdb.DuckDBPyConnection, table: str) -> None:
    """Round the staged slice's DOUBLE columns to ``SIGNIFICANT_DIGITS`` significant digits
    in place, as ``round_floats`` does for a DataFrame (here for SQL slices too).

    DuckDB sums in parallel, so the last bits of a float aggregate depend on thread timing;
    without this, re-running a month would rewrite its slice with values that differ in
    the 16th digit, and a table compared before and after a re-run would not be equal."""
    doubles = [
        name
        for name, dtype, *_ in con.execute(f"describe {table}").fetchall()
        if dtype in ("DOUBLE", "FLOAT")
    ]
    if not doubles:
        return
    quoted = ['"' + c.replace('"', '""') + '"' for c in doubles]
    sets = ", ".join(
        f"{q} = case when isfinite({q}) and {q} <> 0 then "
        f"round({q}, {SIGNIFICANT_DIGITS - 1} - cast(floor(log10(abs({q}))) as integer)) "
        f"else {q} end"
        for q in quoted
    )
    con.execute(f"update {table} set {sets}")


_TYPE = re.compile(r"^[a-z]+(\(\d+(,\s*\d+)?\))?(\[\])?$")


def _sql_type(name: str) -> str:
    if not _TYPE.match(name.lower()):
        raise ValueError(f"invalid SQL type {name!r}")
    return name


def _is_null_type(dtype: str) -> bool:
    """DuckDB types an all-NULL column as ``"NULL"``; such a column cannot hold values."""
    return dtype.strip('"').upper() == "NULL"


def replace_slice(
    con: duckdb.DuckDBPyConnection,
    table: str,
    source: str | pd.DataFrame,
    key: Mapping[str, Any],
    params: Mapping[str, Any] | None = None,
    schema: Mapping[str, str] | None = None,
) -> int:
    """Replace exactly the rows of ``table`` whose ``key`` columns equal ``key`` values.

    ``source`` is a SELECT (with ``$name`` parameters from ``params``) or a DataFrame; its
    rows must all carry the key values. ``schema`` (column -> SQL type) casts a DataFrame's
    columns, so an empty frame still creates a well-typed table. Delete and insert happen in
    one transaction (their own, or the enclosing ``gated`` one), so readers see the old
    slice or the new one, never a mix. New columns in ``source`` are
    added to an existing table (additive schema evolution). Returns the rows written.
    """
    ident(table)
    for column in key:
        ident(column)
    with transaction(con, table):
        _stage_slice(con, source, params, schema)
        described = con.execute("describe _gtm_slice").fetchall()
        slice_types = {row[0]: row[1] for row in described}
        missing_key = [c for c in key if c not in slice_types]
        if missing_key:
            raise ValueError(f"{table}: slice lacks key column(s) {missing_key}")
        where = " and ".join(f"{c} is not distinct from ${'k_' + c}" for c in key)
        key_params = {f"k_{c}": v for c, v in key.items()}
        stray = con.execute(
            f"select count(*) from _gtm_slice where not ({where})", key_params
        ).fetchall()[0][0]
        if stray:
            raise ValueError(f"{table}: {stray} row(s) of the new slice fall outside {dict(key)}")
        if table_exists(con, table):
            existing = table_columns(con, table)
            for column, dtype in slice_types.items():
                column_sql = ident(column)
                if column not in existing:
                    con.execute(f"alter table {table} add column {column_sql} {dtype}")
                elif _is_null_type(existing[column]) and not _is_null_type(dtype):
                    # An earlier slice had only NULLs here; give the column the real type.
                    con.execute(f"alter table {table} alter column {column_sql} type {dtype}")
                elif _is_null_type(dtype) and not _is_null_type(existing[column]):
                    con.execute(
                        f"alter table _gtm_slice alter column {column_sql} type {existing[column]}"
                    )
            con.execute(f"delete from {table} where {where}", key_params)
            con.execute(f"insert into {table} by name select * from _gtm_slice")
        else:
            con.execute(f"create table {table} as select * from _gtm_slice")
        written = con.execute("select count(*) from _gtm_slice").fetchall()[0][0]
        con.execute("drop table _gtm_slice")
    return int(written)


def replace_month(
    con: duckdb.DuckDBPyConnection,
    table: str,
    source: str | pd.DataFrame,
    month: date,
    params: Mapping[str, Any] | None = None,
    schema: Mapping[str, str] | None = None,
) -> int:
    """``replace_slice`` keyed on ``month`` (a DATE, first day of the month)."""
    return replace_slice(con, table, source, {"month": month}, params, schema)


def replace_table(
    con: duckdb.DuckDBPyConnection,
    table: str,
    source: str | pd.DataFrame,
    params: Mapping[str, Any] | None = None,
) -> int:
    """Replace a whole (unpartitioned) table atomically (joins an enclosing ``gated``)."""
    ident(table)
    with transaction(con, table):
        _stage_slice(con, source, params)
        con.execute(f"create or replace table {table} as select * from _gtm_slice")
        written = con.execute("select count(*) from _gtm_slice").fetchall()[0][0]
        con.execute("drop table _gtm_slice")
    return int(written)


def publish_read_copy(con: duckdb.DuckDBPyConnection, warehouse: Path, target: Path) -> Path:
    """Checkpoint the warehouse and atomically replace ``target`` with a copy of it.

    The copy is taken while ``con`` holds the write lock, so no other writer can change the
    file mid-copy. Analysts holding the previous copy open keep reading it undisturbed
    (``os.replace`` swaps the directory entry; their open file stays valid).
    """
    con.execute("checkpoint")
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.with_name(f".{target.name}.tmp-{os.getpid()}")
    shutil.copyfile(warehouse, tmp)
    os.replace(tmp, target)
    return target


def round_floats(frame: pd.DataFrame, digits: int = SIGNIFICANT_DIGITS) -> pd.DataFrame:
    """Float columns rounded to ``digits`` significant digits.

    DuckDB sums in parallel, so the last bits of a float sum can differ between runs;
    rounding makes re-running a month reproduce its slice exactly.
    """
    out = frame.copy()
    pattern = f"{{:.{int(digits)}g}}"
    for column in out.columns:
        if pd.api.types.is_float_dtype(out[column]):
            out[column] = [
                float(pattern.format(v)) if np.isfinite(v) else v
                for v in out[column].to_numpy(dtype=float)
            ]
    return out


def query_df(
    con: duckdb.DuckDBPyConnection, sql: str, params: Mapping[str, Any] | None = None
) -> pd.DataFrame:
    """Run a query with bound parameters and return a DataFrame."""
    return execute(con, sql, params).df()
