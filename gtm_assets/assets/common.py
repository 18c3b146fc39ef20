"""Small helpers shared by the asset modules (the Dagster layer only)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date
from pathlib import Path
from typing import Any

import dagster as dg
import duckdb
import pandas as pd

from gtm_assets import warehouse as wh
from gtm_assets.partitions import add_months, month_bounds
from gtm_assets.sql_files import load_sql

WAREHOUSE_POOL = "duckdb_warehouse"


def month_params(partition_key: str, **extra: Any) -> dict[str, Any]:
    """Bound parameters every monthly SQL file may use. ``covered_end`` (where the data end)
    is the month's end here; assets that judge a partial month set it with
    ``covered_end()``."""
    start, end = month_bounds(partition_key)
    params: dict[str, Any] = {
        "month_start": start,
        "month_end": end,
        "covered_end": end,
        "prior_month": add_months(start, -1),
        "trailing_start": add_months(start, -3),
    }
    params.update(extra)
    return params


#: The event tables whose last row says where the exports end (intermediate/data_end.sql).
EVENT_TABLES = (
    "staging.ad_spend",
    "staging.touchpoints",
    "staging.leads",
    "staging.lead_stage_history",
    "intermediate.conversions",
)


def covered_end(con: duckdb.DuckDBPyConnection, month_end: date) -> date:
    """The end of the data a month can use (``intermediate/data_end.sql``): ``month_end``,
    or, when the exports end inside the month, the day after their last row. A warehouse
    without every event table (a partial test setup) is taken as complete."""
    if not all(wh.table_exists(con, t) for t in EVENT_TABLES):
        return month_end
    row = con.execute(load_sql("intermediate/data_end"), {"month_end": month_end}).fetchall()
    return row[0][0]


def won_amounts(con: duckdb.DuckDBPyConnection, start: date, end: date) -> list[float]:
    """The amounts (reporting currency) of the deals won in [start, end): what the one-deal
    caveat of the monthly insights and the quarterly plan risk read."""
    if not wh.table_exists(con, "intermediate.conversions"):
        return []
    rows = con.execute(
        "select value from intermediate.conversions where conversion_type = 'won' "
        "and converted_at >= $start and converted_at < $end and value is not null",
        {"start": start, "end": end},
    ).fetchall()
    return [float(v) for (v,) in rows]


def markdown_table(
    df: pd.DataFrame,
    max_rows: int = 20,
    floatfmt: str = ",.2f",
    columns: Sequence[str] | None = None,
) -> str:
    """A compact markdown table for Dagster metadata (no extra dependency); ``columns``
    picks and orders the columns shown."""
    if df.empty:
        return "_no rows_"
    shown = df.head(max_rows) if columns is None else df.loc[:, list(columns)].head(max_rows)

    def fmt(value: Any) -> str:
        if value is None or (
            pd.api.types.is_scalar(value) and not isinstance(value, str) and pd.isna(value)
        ):
            return ""
        if isinstance(value, float):
            return format(value, floatfmt)
        return str(value).replace("|", "\\|").replace("\n", " ")

    lines = [
        "| " + " | ".join(map(str, shown.columns)) + " |",
        "|" + "---|" * len(shown.columns),
    ]
    lines += [
        "| " + " | ".join(fmt(v) for v in row) + " |" for row in shown.itertuples(index=False)
    ]
    if len(df) > max_rows:
        lines.append(f"\n_{len(df) - max_rows} more rows_")
    return "\n".join(lines)


def table_schema(con: duckdb.DuckDBPyConnection, table: str) -> dg.TableSchema:
    from gtm_assets.warehouse import table_columns

    return dg.TableSchema(
        columns=[dg.TableColumn(name, dtype) for name, dtype in table_columns(con, table).items()]
    )


def optional_table_present(con: duckdb.DuckDBPyConnection, table_name: str) -> bool:
    """Whether the user supplied the optional raw table (per ``raw.load_manifest``)."""
    rows = con.execute(
        "select present from raw.load_manifest where table_name = $name", {"name": table_name}
    ).fetchall()
    return bool(rows and rows[0][0])


def month_label(value: date) -> str:
    return value.strftime("%Y-%m")


def read_copy_asset(
    name: str,
    *,
    partitions_def: dg.PartitionsDefinition,
    group_name: str,
    deps: Sequence[Any],
    description: str,
) -> dg.AssetsDefinition:
    """The asset that publishes the analysts' read-only copy of the warehouse at the end of
    a workflow (one per workflow: monthly, quarterly, launch)."""

    @dg.asset(
        name=name,
        partitions_def=partitions_def,
        group_name=group_name,
        pool=WAREHOUSE_POOL,
        kinds={"duckdb"},
        deps=deps,
        required_resource_keys={"warehouse"},
        description=description,
    )
    def _publish(context):
        return publish_read_copy_result(context.resources.warehouse)

    return _publish


def publish_read_copy_result(warehouse: Any) -> dg.MaterializeResult:
    """Publish the analysts' read-only copy of the warehouse (``WarehouseResource``) and
    describe it for the Dagster UI."""
    with warehouse.connect() as con:
        target = Path(warehouse.publish_read_copy(con))
    return dg.MaterializeResult(
        metadata={
            "path": dg.MetadataValue.path(str(target.resolve())),
            "size_mb": round(target.stat().st_size / 1e6, 1),
        }
    )


def blocking_failures(
    assets_def: dg.AssetsDefinition, checks: Sequence[dg.AssetCheckResult]
) -> list[str]:
    """Names of the ``checks`` that failed and stop downstream assets: declared
    ``blocking=True`` on ``assets_def`` and of ERROR severity (a failed WARN never blocks).
    On a multi-asset a result that names its asset is shown as ``check (asset)``."""
    blocking = {(spec.asset_key, spec.name) for spec in assets_def.check_specs if spec.blocking}
    multi = len(assets_def.keys) > 1
    failed: list[str] = []
    for c in checks:
        if c.passed or c.severity != dg.AssetCheckSeverity.ERROR:
            continue
        if c.asset_key is None:
            hit = any(name == c.check_name for _, name in blocking)
            label = c.check_name
        else:
            hit = (c.asset_key, c.check_name) in blocking
            label = f"{c.check_name} ({c.asset_key.to_user_string()})" if multi else c.check_name
        if hit and label not in failed:
            failed.append(label)
    return failed


def gate_checks(
    gate: wh.Gate, assets_def: dg.AssetsDefinition, checks: Sequence[dg.AssetCheckResult]
) -> dict[str, Any]:
    """Reject ``gate`` (roll its writes back) when a blocking check among ``checks`` failed.

    Returns the metadata that says so (``not_written`` naming the failed checks and the
    tables whose previous slice is kept; ``dagster/row_count`` 0), or ``{}`` when the
    writes are committed."""
    failed = blocking_failures(assets_def, checks)
    if not failed:
        return {}
    gate.reject(failed)
    kept = (
        f"the previous slice of {', '.join(gate.tables)} is kept"
        if gate.tables
        else "nothing was written"
    )
    return {
        "dagster/row_count": 0,
        "not_written": f"not written: failed blocking check(s) {', '.join(failed)}; {kept}",
    }
