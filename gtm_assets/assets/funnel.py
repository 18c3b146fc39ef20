"""Funnel health (issue 4, stages 2 of the monthly review): thin Dagster layer over
``gtm_assets.analytics.funnel``."""

from datetime import date

import dagster as dg
import duckdb
import pandas as pd
from pydantic import Field

from gtm_assets import warehouse as wh
from gtm_assets.analytics import funnel as fn
from gtm_assets.assets.common import WAREHOUSE_POOL, covered_end, gate_checks, markdown_table
from gtm_assets.partitions import month_bounds, monthly_partitions
from gtm_assets.resources import WarehouseResource

FUNNEL_TABLES = (
    "marts.funnel_stages",
    "marts.funnel_velocity",
    "marts.funnel_bottlenecks",
    "marts.funnel_definitions",
)


class FunnelConfig(dg.Config):
    """Knobs of the funnel analysis. Defaults suit a B2B funnel with 1-4 month sales cycles."""

    visitor_lead_window_days: int = Field(
        default=30, description="Days a visitor has to become a lead to count as converted."
    )
    lead_mql_window_days: int = Field(
        default=30, description="Days a lead has to become an MQL (mature-cohort window)."
    )
    mql_sql_window_days: int = Field(
        default=30, description="Days an MQL has to become an SQL (mature-cohort window)."
    )
    sql_opportunity_window_days: int = Field(
        default=30, description="Days an SQL has to become an opportunity."
    )
    opportunity_customer_window_days: int = Field(
        default=120, description="Days an opportunity has to be won (covers typical cycles)."
    )
    baseline_months: int = Field(
        default=3, description="Cohort months before the reported one pooled as the baseline."
    )
    alpha: float = Field(
        default=0.05,
        description="False discovery rate (Benjamini-Hochberg) for flagging a bottleneck.",
    )
    min_entered: int = Field(
        default=30,
        description="Minimum cohort (and baseline) size before a transition is tested at all.",
    )
    early_read_days: int = Field(
        default=14,
        description=(
            "Horizon (days, capped at each window) of the early read on this month's still-young "
            "cohort: Kaplan-Meier conversion within it, beside the mature cohort's rate within it."
        ),
    )
    target_rates: dict[str, float] = Field(
        default_factory=dict,
        description=(
            "Optional target cohort conversion rate per transition, keyed 'lead->mql', "
            "'mql->sql', ...; tested with a one-sided exact binomial test."
        ),
    )

    def windows(self) -> dict[str, int]:
        return {
            "visitor->lead": self.visitor_lead_window_days,
            "lead->mql": self.lead_mql_window_days,
            "mql->sql": self.mql_sql_window_days,
            "sql->opportunity": self.sql_opportunity_window_days,
            "opportunity->customer": self.opportunity_customer_window_days,
        }

    def settings(self) -> fn.FunnelSettings:
        return fn.FunnelSettings(
            windows=self.windows(),
            baseline_months=self.baseline_months,
            alpha=self.alpha,
            min_entered=self.min_entered,
            early_read_days=self.early_read_days,
        )


def definitions_frame(month: date, config: FunnelConfig) -> pd.DataFrame:
    """What the month's funnel counted as each stage (read by the lead-scoring MQL gate)."""
    windows = config.windows()
    rows = [
        {
            "month": month,
            "from_stage": a,
            "to_stage": b,
            "window_days": windows[fn.transition_name(a, b)],
            "definition": fn.MQL_DEFINITION
            if "mql" in (a, b)
            else fn.STAGE_DEFINITIONS[fn.transition_name(a, b)],
            "days_definition": fn.DAYS_TO_CONVERT_DEFINITION,
        }
        for a, b in fn.TRANSITIONS
    ]
    return pd.DataFrame(rows)


def compute_funnel(
    con: duckdb.DuckDBPyConnection, month: date, config: FunnelConfig
) -> dict[str, pd.DataFrame]:
    """The month's funnel tables, using only rows before the month's end (or before the data
    end, when the exports end inside the month: cohort maturity is judged there)."""
    _, month_end = month_bounds(month.isoformat())
    as_of = covered_end(con, month_end)
    inputs = fn.load_funnel_inputs(con, as_of)
    settings = config.settings()
    return {
        "marts.funnel_stages": fn.funnel_stages(
            inputs.visitors, inputs.lead_entries, month, settings, as_of=as_of
        ),
        "marts.funnel_velocity": fn.funnel_velocity(inputs.visitors, inputs.lead_entries, month),
        "marts.funnel_bottlenecks": fn.funnel_bottlenecks(
            inputs.visitors, inputs.lead_entries, month, settings, config.target_rates, as_of=as_of
        ),
        "marts.funnel_definitions": definitions_frame(month, config),
    }


@dg.asset(
    partitions_def=monthly_partitions,
    group_name="funnel",
    pool=WAREHOUSE_POOL,
    kinds={"duckdb", "python"},
    deps=["staging_tables"],
    description=(
        "Funnel health for the month: visitor -> lead -> MQL -> SQL -> opportunity -> customer "
        "overall and by channel, industry, company size, country and seniority. "
        "`marts.funnel_stages` gives, per step, the conversion rate of the latest cohort that "
        "has had the full window to convert (so young cohorts are never shown as drops), the "
        "month's throughput (period) rate and a Kaplan-Meier estimate for this month's "
        "still-young cohort. `marts.funnel_velocity`: median and p75 days per step and the "
        "change from last month. `marts.funnel_bottlenecks`: steps significantly below their "
        "3-month baseline or target, ranked by the customers they cost, with the segments "
        "that carry the drop."
    ),
    check_specs=[
        dg.AssetCheckSpec(
            "funnel_counts_consistent",
            asset="funnel_stages",
            blocking=True,
            description=(
                "converted <= entered, rates within [0, 1], and each segment breakdown adds up "
                "to the overall row."
            ),
        ),
        dg.AssetCheckSpec(
            "no_significant_bottleneck",
            asset="funnel_stages",
            blocking=False,
            description="Warns when a funnel step is significantly below baseline or target.",
        ),
    ],
)
def funnel_stages(
    context: dg.AssetExecutionContext, config: FunnelConfig, warehouse: WarehouseResource
) -> dg.MaterializeResult:
    month, _ = month_bounds(context.partition_key)
    with warehouse.connect() as con:
        tables = compute_funnel(con, month, config)
        stages = tables["marts.funnel_stages"]
        with wh.gated(con) as gate:
            written = {t: wh.replace_month(con, t, df, month) for t, df in tables.items()}
            problems = fn.funnel_integrity_problems(stages)
            consistent = dg.AssetCheckResult(
                check_name="funnel_counts_consistent",
                passed=not problems,
                metadata={"problems": dg.MetadataValue.json(problems)},
            )
            not_written = gate_checks(gate, funnel_stages, [consistent])
    bottlenecks = tables["marts.funnel_bottlenecks"]
    overall = stages[stages.segment_type == "all"][
        [
            "from_stage",
            "to_stage",
            "cohort_month",
            "entered",
            "converted",
            "conversion_rate",
            "period_rate",
            "current_cohort_km_rate",
            "cohort_rate_at_early_read",
        ]
    ]
    shown_cols = [
        "segment_type",
        "segment",
        "from_stage",
        "to_stage",
        "conversion_rate",
        "baseline_rate",
        "short_of",
        "downstream_customers_lost",
    ]
    flagged = bottlenecks.iloc[0:0]
    if len(bottlenecks):
        flagged = bottlenecks[bottlenecks["flagged"].astype(bool)]
        flagged = flagged.assign(_overall=flagged["segment_type"] != "all").sort_values(
            ["_overall", "segment_type", "rank"]
        )
    shown = flagged[shown_cols] if len(flagged) else pd.DataFrame(columns=shown_cols)
    return dg.MaterializeResult(
        metadata={
            "dagster/row_count": written["marts.funnel_stages"],
            "tables": dg.MetadataValue.json({t: n for t, n in written.items()}),
            "preview": dg.MetadataValue.md(markdown_table(overall, floatfmt=",.3f")),
            **not_written,
        },
        check_results=[
            consistent,
            dg.AssetCheckResult(
                check_name="no_significant_bottleneck",
                passed=len(flagged) == 0,
                severity=dg.AssetCheckSeverity.WARN,
                metadata={
                    "flagged": len(flagged),
                    "bottlenecks": dg.MetadataValue.md(markdown_table(shown, floatfmt=",.3f")),
                },
            ),
        ],
    )
