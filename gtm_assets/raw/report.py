"""What a raw load did: per-table counts, quarantine counts per rule, warnings."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

import duckdb
import pandas as pd

from gtm_assets import warehouse as wh


@dataclass(frozen=True)
class TableLoad:
    """One contract table's outcome."""

    table: str
    present: bool
    source_file: str | None
    rows_read: int
    rows_loaded: int
    rows_quarantined: int
    quarantined_by_rule: dict[str, int] = field(default_factory=dict)


@dataclass(frozen=True)
class LoadReport:
    """The result of a successful ``load_raw``; ``markdown()`` renders it for Dagster
    metadata and the monthly report."""

    tables: dict[str, TableLoad]
    quarantine_counts: dict[tuple[str, str], int]
    warnings: list[str]
    fingerprint: str
    loaded_at: datetime
    currency: str
    raw_dir: str
    channel_rules_source: str
    max_quarantine_share: float

    @property
    def rows_loaded(self) -> int:
        return sum(t.rows_loaded for t in self.tables.values())

    @property
    def rows_quarantined(self) -> int:
        return sum(t.rows_quarantined for t in self.tables.values())

    @property
    def absent_tables(self) -> list[str]:
        return [t.table for t in self.tables.values() if not t.present]

    def markdown(self) -> str:
        """A short markdown summary: per-table table, quarantine by rule, warnings."""
        lines = [
            f"**Raw load** from `{self.raw_dir}` at {self.loaded_at:%Y-%m-%d %H:%M} UTC "
            f"(reporting currency {self.currency}): {self.rows_loaded:,} rows loaded, "
            f"{self.rows_quarantined:,} quarantined.",
            "",
            "| table | file | rows read | loaded | quarantined |",
            "|---|---|---:|---:|---:|",
        ]
        for t in self.tables.values():
            file = f"`{t.source_file}`" if t.present else "*not supplied*"
            lines.append(
                f"| {t.table} | {file} | {t.rows_read:,} | {t.rows_loaded:,} | "
                f"{t.rows_quarantined:,} |"
            )
        if self.quarantine_counts:
            lines += [
                "",
                "Quarantined rows by rule (see `quarantine.<table>`):",
                "",
                "| table | rule | rows |",
                "|---|---|---:|",
            ]
            for (table, rule), n in self.quarantine_counts.items():
                lines.append(f"| {table} | {rule} | {n:,} |")
        if self.warnings:
            lines += ["", "Warnings:", ""] + [f"- {w}" for w in self.warnings]
        return "\n".join(lines)


def stored_warnings(con: duckdb.DuckDBPyConnection) -> list[str]:
    """The last load's warnings as stored in ``raw.load_warnings``: rows kept that look
    wrong (empty before the first load, or for a warehouse loaded by an older version)."""
    if not wh.table_exists(con, "raw.load_warnings"):
        return []
    return [w for (w,) in con.execute("select warning from raw.load_warnings").fetchall()]


def quarantine_counts(con: duckdb.DuckDBPyConnection) -> pd.DataFrame:
    """Quarantined rows per raw table, rule and column (empty frame when none)."""
    tables = [
        t
        for (t,) in con.execute(
            "select table_name from raw.load_manifest where rows_quarantined > 0 order by 1"
        ).fetchall()
    ]
    parts = [
        f"select '{wh.ident(t)}' as table_name, _rule as rule, _column as column_name, "
        f"count(*) as rows from quarantine.{wh.ident(t)} group by all"
        for t in tables
        if wh.table_exists(con, f"quarantine.{t}")
    ]
    if not parts:
        return pd.DataFrame(columns=["table_name", "rule", "column_name", "rows"])
    return wh.query_df(
        con, " union all ".join(parts) + " order by rows desc, table_name, rule, column_name"
    )
