"""The report's building blocks: sections made of KPIs, paragraphs, tables and charts.

Sections carry data, not HTML: the template renders them with autoescaping on, so names
supplied by users (campaign names, content titles) can never inject markup. Only charts,
produced by matplotlib from our own figures, are inserted as SVG.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, time
from typing import Any

import pandas as pd


@dataclass
class Table:
    title: str
    columns: list[str]
    rows: list[list[str]]
    note: str = ""


@dataclass
class Kpi:
    label: str
    value: str
    target: str = ""
    prior: str = ""
    change: str = ""
    status: str = ""


@dataclass
class Chart:
    title: str
    svg: str
    png_b64: str = ""


@dataclass
class Section:
    key: str
    title: str
    status: str = "ok"  # "ok" or "skipped"
    reason: str = ""
    paragraphs: list[str] = field(default_factory=list)
    kpis: list[Kpi] = field(default_factory=list)
    tables: list[Table] = field(default_factory=list)
    charts: list[Chart] = field(default_factory=list)

    @classmethod
    def skipped(cls, key: str, title: str, reason: str) -> Section:
        return cls(key=key, title=title, status="skipped", reason=reason)


def _missing(value: Any) -> bool:
    if value is None:
        return True
    try:
        return bool(pd.isna(value))
    except (TypeError, ValueError):
        return False


def fmt(value: Any, kind: str = "number", currency: str = "USD") -> str:
    """Format a value for a marketer: money, percent, ratio, count or plain text."""
    if _missing(value):
        return "–"
    if kind == "text":
        if isinstance(value, datetime | pd.Timestamp):
            return (
                value.strftime("%Y-%m-%d")
                if value.time() == time(0)
                else value.strftime("%Y-%m-%d %H:%M")
            )
        return str(value)
    number = float(value)
    if not math.isfinite(number):
        return "–"
    if kind == "money":
        return f"{currency} {number:,.0f}" if abs(number) >= 100 else f"{currency} {number:,.2f}"
    if kind == "percent":  # a fraction shown as percent; small ones keep 2 significant digits
        if 0 < abs(number) < 0.001:
            return f"{100 * number:.2g}%"
        return f"{100 * number:.1f}%"
    if kind == "pct":  # already in percent
        return f"{number:+.1f}%"
    if kind == "ratio":
        return f"{number:.2f}"
    if kind == "count":
        return f"{number:,.0f}" if abs(number - round(number)) < 1e-9 else f"{number:,.1f}"
    return f"{number:,.2f}"


def table_from_df(
    df: pd.DataFrame,
    title: str,
    columns: Mapping[str, tuple[str, str]],
    currency: str = "USD",
    note: str = "",
    max_rows: int = 50,
) -> Table:
    """Build a Table from ``df``; ``columns`` maps column -> (label, kind)."""
    present = [c for c in columns if c in df.columns]
    rows = [
        [fmt(record[c], columns[c][1], currency) for c in present]
        for record in df.head(max_rows).to_dict("records")
    ]
    if len(df) > max_rows:
        note = (note + " " if note else "") + f"Showing {max_rows} of {len(df)} rows."
    return Table(title=title, columns=[columns[c][0] for c in present], rows=rows, note=note)
