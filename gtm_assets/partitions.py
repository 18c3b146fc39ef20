"""Partitions: month-end (monthly review), quarter-end (quarterly planning), campaign (launch).

The first month is ``GTM_START_MONTH`` (default 2024-01). ``end_offset=0`` makes the newest
partition the last *complete* month, which is what the month-end schedule runs.
"""

from __future__ import annotations

import os
from datetime import date

import dagster as dg

from gtm_assets.analytics.funnel import add_months

DEFAULT_START_MONTH = "2024-01"


def start_month() -> str:
    value = os.environ.get("GTM_START_MONTH") or DEFAULT_START_MONTH
    try:
        date.fromisoformat(f"{value}-01")
    except ValueError as exc:
        raise ValueError(f"GTM_START_MONTH must look like YYYY-MM, got {value!r}") from exc
    return value


monthly_partitions = dg.MonthlyPartitionsDefinition(start_date=f"{start_month()}-01", end_offset=0)

quarterly_partitions = dg.TimeWindowPartitionsDefinition(
    cron_schedule="0 0 1 1,4,7,10 *",
    start=f"{start_month()}-01",
    fmt="%Y-%m-%d",
    end_offset=0,
)

campaign_partitions = dg.DynamicPartitionsDefinition(name="campaign")


def month_start(partition_key: str) -> date:
    """``2024-03-01`` -> date(2024, 3, 1); also accepts ``2024-03``."""
    key = partition_key if len(partition_key) == 10 else f"{partition_key}-01"
    value = date.fromisoformat(key)
    if value.day != 1:
        raise ValueError(f"not a month partition key: {partition_key!r}")
    return value


def month_bounds(partition_key: str) -> tuple[date, date]:
    """[first day of the month, first day of the next month)."""
    start = month_start(partition_key)
    return start, add_months(start, 1)
