"""Campaign ROI analyst: stage 1 of the monthly review.

Per campaign and rolled up per channel and in total: spend, volume, attributed outcomes,
ROI/ROAS/CAC/CPA/CTR/CVR, actual against target, month over month and against the
trailing three months, and top/bottom performers among campaigns with enough volume.
"""

import dagster as dg
import pandas as pd

from gtm_assets import warehouse as wh
from gtm_assets.assets.common import (
    WAREHOUSE_POOL,
    gate_checks,
    markdown_table,
    month_params,
    table_schema,
)
from gtm_assets.partitions import monthly_partitions
from gtm_assets.resources import GtmSettings, WarehouseResource
from gtm_assets.sql_files import load_sql

_TOLERANCE = 1e-6


def reconcile(row: dict) -> dict[str, bool]:
    """Which of spend / clicks / impressions in the mart equal their source totals."""
    spend_scale = max(1.0, abs(row["staging_spend"]))
    raw_scale = max(1.0, abs(row["raw_spend_original_currency"]))
    return {
        "spend": abs(row["mart_spend"] - row["staging_spend"]) <= _TOLERANCE * spend_scale
        and abs(row["staging_spend_original_currency"] - row["raw_spend_original_currency"])
        <= _TOLERANCE * raw_scale,
        "clicks": row["mart_clicks"] == row["raw_clicks"],
        "impressions": row["mart_impressions"] == row["raw_impressions"],
    }


@dg.asset(
    partitions_def=monthly_partitions,
    group_name="campaign_roi",
    pool=WAREHOUSE_POOL,
    kinds={"duckdb", "sql"},
    deps=["staging_tables", "campaign_attribution"],
    description=(
        "One row per campaign and month: spend, impressions, clicks, attributed leads, "
        "opportunities, customers and revenue (attribution model from settings), ROI, ROAS, "
        "CAC, CPA, CTR, CVR, targets, month-over-month and trailing-3-month trend, and a "
        "top/bottom tier among campaigns with enough clicks and spend."
    ),
    check_specs=[
        dg.AssetCheckSpec(
            "spend_clicks_impressions_reconcile",
            asset="campaign_performance",
            blocking=True,
            description="Spend, clicks and impressions of the month equal raw ad_spend.",
        ),
        dg.AssetCheckSpec(
            "ratios_null_on_zero_denominator",
            asset="campaign_performance",
            blocking=True,
            description="Ratios are NULL, never 0 or infinite, when the denominator is 0.",
        ),
        dg.AssetCheckSpec(
            "one_row_per_campaign",
            asset="campaign_performance",
            blocking=True,
            description="No campaign appears twice in a month.",
        ),
    ],
)
def campaign_performance(
    context: dg.AssetExecutionContext, warehouse: WarehouseResource, settings: GtmSettings
) -> dg.MaterializeResult:
    params = month_params(
        context.partition_key,
        model=settings.attribution_model,
        min_clicks=settings.min_clicks_for_ranking,
        min_spend=settings.min_spend_for_ranking,
    )
    with warehouse.connect() as con, wh.gated(con) as gate:
        rows = wh.replace_month(
            con,
            "marts.campaign_performance",
            load_sql("marts/campaign_performance"),
            params["month_start"],
            params,
        )
        wh.replace_month(
            con,
            "marts.channel_performance",
            load_sql("marts/channel_performance"),
            params["month_start"],
            params,
        )
        recon = wh.query_df(con, load_sql("marts/campaign_performance_reconciliation"), params)
        violations = wh.query_df(
            con, load_sql("marts/campaign_performance_ratio_violations"), params
        )
        r = recon.iloc[0].to_dict()
        checks = _checks(r, violations)
        not_written = gate_checks(gate, campaign_performance, checks)
        preview = wh.query_df(
            con,
            "select campaign_name, channel, spend, leads, customers, attributed_revenue, roas, "
            "cpa, performance_tier from marts.campaign_performance where month = $month_start "
            "order by spend desc",
            params,
        )
        channels = wh.query_df(
            con,
            "select channel, spend, leads, customers, attributed_revenue, roas, cpa "
            "from marts.channel_performance where month = $month_start order by level, spend desc",
            params,
        )
        schema = table_schema(con, "marts.campaign_performance")

    return dg.MaterializeResult(
        metadata={
            "dagster/row_count": rows,
            "dagster/column_schema": schema,
            "attribution_model": settings.attribution_model,
            "total_spend": float(r["mart_spend"]),
            "campaigns": dg.MetadataValue.md(markdown_table(preview)),
            "channels": dg.MetadataValue.md(markdown_table(channels)),
            **not_written,
        },
        check_results=checks,
    )


def _checks(r: dict, violations: pd.DataFrame) -> list[dg.AssetCheckResult]:
    """The blocking checks, from the reconciliation row and the ratio violations."""
    matched = reconcile(r)
    return [
        dg.AssetCheckResult(
            check_name="spend_clicks_impressions_reconcile",
            passed=all(matched.values()),
            metadata={
                **{k: float(v) for k, v in r.items()},
                "mismatched": ", ".join(k for k, ok in matched.items() if not ok) or "none",
            },
        ),
        dg.AssetCheckResult(
            check_name="ratios_null_on_zero_denominator",
            passed=violations.empty,
            metadata={"violations": dg.MetadataValue.md(markdown_table(violations))},
        ),
        dg.AssetCheckResult(
            check_name="one_row_per_campaign",
            passed=int(r["mart_rows"]) == int(r["mart_campaigns"]),
            metadata={"rows": int(r["mart_rows"]), "campaigns": int(r["mart_campaigns"])},
        ),
    ]
