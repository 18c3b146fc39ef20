"""Write a DataFrame as contract CSV (UTF-8, header, RFC 4180 quoting) or Parquet through DuckDB."""

from __future__ import annotations

import shutil
from pathlib import Path

import duckdb
import numpy as np
import pandas as pd

# Integer id columns formatted into text ids while writing (cheap at 10M rows).
ID_FORMATS = {"touchpoints": {"touchpoint_id": "T%010d", "person_id": "P%09d"}}


def _quote_path(path: Path) -> str:
    # COPY does not take a bound parameter for its target; the path is ours, quotes escaped.
    return "'" + str(path).replace("'", "''") + "'"


def _prepare(df: pd.DataFrame) -> pd.DataFrame:
    """Float NaN -> NULL (DuckDB would write 'nan'); leave everything else as is."""
    out = {}
    for c in df.columns:
        s = df[c]
        if s.dtype.kind == "f" and np.isnan(s.to_numpy()).any():
            s = s.astype("Float64")
        out[c] = s
    return pd.DataFrame(out, copy=False)


def write_table(
    df: pd.DataFrame,
    path: Path,
    file_format: str,
    *,
    header: bool = True,
    table: str | None = None,
) -> int:
    """Write ``df`` to ``path``; returns the row count. Deterministic byte for byte.

    ``table`` (default: the file's stem) selects id formatting; ``header=False`` writes a
    CSV part to be appended to another one (see :func:`join_parts`)."""
    table = table or path.stem
    fmt = ID_FORMATS.get(table, {})
    data = _prepare(df)
    cols = []
    for c in data.columns:
        ident = '"' + c.replace('"', '""') + '"'
        if c in fmt:
            pattern = fmt[c].replace("'", "''")
            cols.append(f"printf('{pattern}', {ident}) as {ident}")
        elif data[c].dtype.kind == "M":
            cols.append(f"cast({ident} as timestamp) as {ident}")
        else:
            cols.append(ident)
    con = duckdb.connect()
    try:
        con.execute("set enable_progress_bar = false")
        con.execute("set threads = 2")
        con.execute("set preserve_insertion_order = true")
        con.register("gen_df", data)
        select = f"select {', '.join(cols)} from gen_df"  # noqa: S608 - column names are ours
        if file_format == "csv":
            opts = (
                f"format csv, header {'true' if header else 'false'}, delimiter ',', "
                "quote '\"', escape '\"', "
                "dateformat '%Y-%m-%d', timestampformat '%Y-%m-%dT%H:%M:%S'"
            )
        else:
            opts = "format parquet, compression zstd"
        con.execute(f"copy ({select}) to {_quote_path(path)} ({opts})")
    finally:
        con.close()
    return len(df)


def join_parts(parts: list[Path], dest: Path, file_format: str) -> None:
    """Concatenate part files in order: CSV byte-wise (only the first has a header),
    Parquet through DuckDB with insertion order preserved."""
    if file_format == "csv":
        with dest.open("wb") as out:
            for p in parts:
                with p.open("rb") as src:
                    shutil.copyfileobj(src, out, length=16 * 1024 * 1024)
        return
    con = duckdb.connect()
    try:
        con.execute("set enable_progress_bar = false")
        con.execute("set threads = 2")
        con.execute("set preserve_insertion_order = true")
        files = ", ".join(_quote_path(p) for p in parts)
        con.execute(
            f"copy (select * from read_parquet([{files}])) to {_quote_path(dest)} "
            "(format parquet, compression zstd)"
        )
    finally:
        con.close()
