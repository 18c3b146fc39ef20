"""Finding the raw files and reading them, as text, into DuckDB temp tables.

Every value is read as text first (CSV ``all_varchar``, Parquet columns cast to VARCHAR)
so that a bad value becomes a located, counted problem during validation instead of a
crash of the reader. Each row keeps its 1-based data row number (``_row_number``: the
first record after the header is row 1; a quoted newline does not start a new row).
"""

from __future__ import annotations

import codecs
import csv
import io
import re
from collections.abc import Collection
from dataclasses import dataclass
from pathlib import Path

import duckdb

from gtm_assets.raw.errors import Problem
from gtm_assets.raw.schema import Table

FORMATS = ("csv", "parquet")
_CHUNK = 1 << 20


@dataclass(frozen=True)
class SourceFile:
    table: str
    path: Path
    fmt: str  # "csv" or "parquet"

    @property
    def name(self) -> str:
        return self.path.name


def _table_of(entry: Path, tables: Collection[str]) -> str | None:
    """The contract table ``entry`` is read as (``<table>.csv`` or ``<table>.parquet``, a
    file, names case-insensitive), else None."""
    stem, _, ext = entry.name.rpartition(".")
    if entry.is_file() and ext.lower() in FORMATS and stem.lower() in tables:
        return stem.lower()
    return None


def discover(raw_dir: Path, tables: list[str]) -> tuple[dict[str, SourceFile], list[Problem]]:
    """Map each contract table to its file in ``raw_dir`` (file names case-insensitive).

    Two candidate files for one table (``x.csv`` and ``x.parquet``, or ``x.csv`` and
    ``X.csv``) are ambiguous and reported as a problem.
    """
    found: dict[str, list[Path]] = {t: [] for t in tables}
    problems: list[Problem] = []
    if not raw_dir.is_dir():
        return {}, [Problem(str(raw_dir), "unreadable", "the raw folder does not exist")]
    for entry in sorted(raw_dir.iterdir()):
        table = _table_of(entry, found)
        if table is not None:
            found[table].append(entry)
    sources: dict[str, SourceFile] = {}
    for table, paths in found.items():
        if len(paths) > 1:
            names = " and ".join(p.name for p in paths)
            problems.append(
                Problem(
                    paths[0].name,
                    "ambiguous",
                    f"table {table} is supplied twice ({names}); keep exactly one file",
                )
            )
        elif paths:
            p = paths[0]
            sources[table] = SourceFile(table, p, p.name.rpartition(".")[2].lower())
    return sources, problems


def unread_files(raw_dir: Path, tables: list[str]) -> dict[str, list[str]]:
    """Per contract table, the entries of ``raw_dir`` that look like it but are not read: a
    name whose part before the first dot is the table's (``targets.xlsx``,
    ``targets.csv.gz``, a folder ``targets.parquet/``) that is not ``<table>.csv`` or
    ``<table>.parquet`` as a file. Said in a warning, so a table is never absent unnoticed."""
    wanted = set(tables)
    out: dict[str, list[str]] = {}
    if not raw_dir.is_dir():
        return out
    for entry in sorted(raw_dir.iterdir()):
        table = entry.name.split(".", 1)[0].lower()
        if table not in wanted:
            continue
        if _table_of(entry, wanted) is not None:
            continue
        out.setdefault(table, []).append(entry.name + ("/" if entry.is_dir() else ""))
    return out


def contract_files(raw_dir: Path, tables: list[str]) -> list[Path]:
    """Every file in ``raw_dir`` that names a contract table (for fingerprinting)."""
    if not raw_dir.is_dir():
        return []
    wanted = set(tables)
    out = []
    for entry in sorted(raw_dir.iterdir()):
        if _table_of(entry, wanted) is not None:
            out.append(entry)
    return out


def check_utf8(path: Path) -> Problem | None:
    """Scan the file as UTF-8 and report the first undecodable byte with its line number."""
    decoder = codecs.getincrementaldecoder("utf-8")("strict")
    line = 1
    offset = 0
    with path.open("rb") as fh:
        while True:
            chunk = fh.read(_CHUNK)
            final = not chunk
            try:
                decoder.decode(chunk, final=final)
            except UnicodeDecodeError as exc:
                # exc.start is relative to the decoder's buffered input: at most 3 bytes
                # carried over from the previous chunk, so re-scan this chunk to locate it.
                bad_at = max(0, exc.start - len(exc.object) + len(chunk))
                line += chunk[:bad_at].count(b"\n")
                return Problem(
                    path.name,
                    "encoding",
                    f"line {line}: the file is not UTF-8 (byte 0x{exc.object[exc.start]:02x} "
                    f"at byte offset {offset + bad_at}); export it as UTF-8 (CSV UTF-8)",
                )
            if final:
                return None
            line += chunk.count(b"\n")
            offset += len(chunk)


def read_csv_header(path: Path) -> list[str]:
    """The header record of a CSV (BOM removed), using RFC 4180 quoting."""
    with path.open("r", encoding="utf-8-sig", newline="") as fh:
        head = fh.read(1 << 16)
    reader = csv.reader(io.StringIO(head, newline=""))
    try:
        return next(reader)
    except StopIteration:
        return []
    except csv.Error:
        return []


def _map_columns(
    src: SourceFile, header: list[str], spec: Table
) -> tuple[dict[str, int], list[Problem]]:
    """Contract column -> 0-based position in the file; problems for missing/duplicate."""
    problems: list[Problem] = []
    positions: dict[str, list[int]] = {}
    for i, raw_name in enumerate(header):
        positions.setdefault(raw_name.strip().lower(), []).append(i)
    mapping: dict[str, int] = {}
    for col in spec.columns:
        where = positions.get(col.name, [])
        if len(where) > 1:
            problems.append(
                Problem(
                    src.name,
                    "ambiguous",
                    f"column {col.name} appears {len(where)} times in the header "
                    "(names are case-insensitive); keep one",
                    column=col.name,
                )
            )
        elif where:
            mapping[col.name] = where[0]
        elif not col.optional:
            problems.append(
                Problem(
                    src.name,
                    "missing_column",
                    f"required column {col.name} is missing (header has: "
                    f"{', '.join(h.strip() for h in header) or 'nothing'})",
                    column=col.name,
                )
            )
    if problems and len(header) == 1:
        for sep, name in ((";", "semicolons"), ("\t", "tabs"), ("|", "pipes")):
            if sep in header[0]:
                return mapping, [
                    Problem(
                        src.name,
                        "unreadable",
                        f"the header is one column separated by {name}; export the file "
                        "with commas as separators (CSV UTF-8, comma-delimited)",
                    )
                ]
    return mapping, problems


_LINE_RE = re.compile(r"CSV Error on Line: (\d+)")


def _duckdb_csv_problem(src: SourceFile, exc: Exception) -> Problem:
    text = str(exc)
    m = _LINE_RE.search(text)
    reason = ""
    for line in text.splitlines():
        if line.startswith(("Expected Number of Columns", "Value with unterminated quote")):
            reason = line.strip()
            break
        lowered = line.lower()
        if any(k in lowered for k in ("unterminated quote", "invalid unicode", "maximum line")):
            reason = line.strip()
            break
    if not reason:
        reason = text.splitlines()[0] if text else type(exc).__name__
    if not m:
        mixed = first_mixed_line_ending(src.path)
        if mixed is not None:
            line, first, other = mixed
            return Problem(
                src.name,
                "unreadable",
                f"line {line}: the file mixes line endings: lines end with {first} up to "
                f"here and this one with {other} (often rows appended by another tool); save "
                "the file again with one kind of line ending",
            )
    # DuckDB counts records, header included, not physical lines: a quoted line break in an
    # earlier value would make "line" point too early. Said as the data row, like every
    # other message.
    record = int(m.group(1)) if m else 0
    where = f"row {record - 1}: " if record > 1 else "the header: " if m else ""
    return Problem(src.name, "unreadable", f"{where}the file cannot be parsed as CSV ({reason})")


def first_mixed_line_ending(path: Path, chunk_size: int = 1 << 20) -> tuple[int, str, str] | None:
    """(line number, first kind, other kind) of the first line whose ending (CRLF or LF)
    differs from the first line's, or None when the file uses one kind. Reads in chunks;
    a quoted field holding a bare newline counts as a line here, which only matters for
    a file that already fails to parse."""
    names = {True: "CRLF (Windows)", False: "LF (Unix)"}
    first: bool | None = None
    line, previous = 0, b""
    with open(path, "rb") as handle:
        while chunk := handle.read(chunk_size):
            start = 0
            while (i := chunk.find(b"\n", start)) >= 0:
                line += 1
                before = chunk[i - 1 : i] if i > 0 else previous
                crlf = before == b"\r"
                if first is None:
                    first = crlf
                elif crlf != first:
                    return line, names[first], names[crlf]
                start = i + 1
            previous = chunk[-1:]
    return None


def stage_text(
    con: duckdb.DuckDBPyConnection, src: SourceFile, spec: Table, target: str
) -> tuple[int, list[Problem]]:
    """Read ``src`` into temp table ``target`` with every contract column as VARCHAR
    (absent optional columns are NULL) plus ``_row_number``. Returns (rows, problems)."""
    if src.fmt == "csv":
        return _stage_csv(con, src, spec, target)
    return _stage_parquet(con, src, spec, target)


def _stage_csv(
    con: duckdb.DuckDBPyConnection, src: SourceFile, spec: Table, target: str
) -> tuple[int, list[Problem]]:
    if src.path.stat().st_size == 0:
        return 0, [Problem(src.name, "empty", "the file is empty (not even a header row)")]
    bad = check_utf8(src.path)
    if bad:
        return 0, [bad]
    header = read_csv_header(src.path)
    if not header:
        return 0, [Problem(src.name, "unreadable", "no header row could be read")]
    mapping, problems = _map_columns(src, header, spec)
    if problems:
        return 0, problems
    columns = {f"c{i}": "VARCHAR" for i in range(len(header))}
    select = ", ".join(
        (f"c{mapping[c]}" if c in mapping else "cast(null as varchar)") + f" as {c}"
        for c in spec.column_names
    )
    try:
        con.execute(
            f"create or replace temp table {target} as select {select} "  # noqa: S608 - identifiers from the contract
            "from read_csv($path, columns=$columns, header=true, auto_detect=false, "
            "delim=',', quote='\"', escape='\"', strict_mode=true)",
            {"path": str(src.path), "columns": columns},
        )
    except duckdb.Error as exc:
        return 0, [_duckdb_csv_problem(src, exc)]
    con.execute(f"alter table {target} add column _row_number bigint")
    con.execute(f"update {target} set _row_number = rowid + 1")  # noqa: S608
    rows = con.execute(f"select count(*) from {target}").fetchall()[0][0]  # noqa: S608
    return int(rows), []


def _stage_parquet(
    con: duckdb.DuckDBPyConnection, src: SourceFile, spec: Table, target: str
) -> tuple[int, list[Problem]]:
    try:
        described = con.execute(
            "describe select * from read_parquet($path)", {"path": str(src.path)}
        ).fetchall()
    except duckdb.Error as exc:
        first = str(exc).splitlines()[0]
        return 0, [Problem(src.name, "unreadable", f"the file cannot be read as Parquet ({first})")]
    header = [row[0] for row in described]
    types = [str(row[1]).upper() for row in described]
    mapping, problems = _map_columns(src, header, spec)
    if problems:
        return 0, problems
    parts = []
    for c in spec.column_names:
        if c not in mapping:
            parts.append(f"cast(null as varchar) as {c}")
            continue
        pos = mapping[c] + 1
        ptype = types[mapping[c]]
        value = f"timezone('UTC', #{pos})" if ptype.startswith("TIMESTAMP WITH") else f"#{pos}"
        if ptype.startswith("TIMESTAMP") and spec.column(c).kind in ("date", "month"):
            # pandas writes dates as timestamps: midnight is the date, any other time is
            # kept in full so the date check reports it.
            expr = (
                f"case when cast({value} as time) = time '00:00:00' "
                f"then strftime({value}, '%Y-%m-%d') "
                f"else strftime({value}, '%Y-%m-%dT%H:%M:%S') end"
            )
        elif ptype.startswith("TIMESTAMP"):
            expr = f"strftime({value}, '%Y-%m-%dT%H:%M:%S.%f')"
        else:
            expr = f"cast(#{pos} as varchar)"
        parts.append(f"{expr} as {c}")
    select = ", ".join(parts)
    try:
        con.execute(
            f"create or replace temp table {target} as select {select}, "  # noqa: S608 - identifiers from the contract
            "file_row_number + 1 as _row_number "
            "from read_parquet($path, file_row_number=true)",
            {"path": str(src.path)},
        )
    except duckdb.Error as exc:
        first = str(exc).splitlines()[0]
        return 0, [Problem(src.name, "unreadable", f"the file cannot be read as Parquet ({first})")]
    rows = con.execute(f"select count(*) from {target}").fetchall()[0][0]  # noqa: S608
    return int(rows), []
