"""Quarterly planning workflow: one partition per quarter (key = first day of the quarter).

The partition's quarter is the one just closed (reviewed); the plan is for the next one.
Assets read the three monthly slices of the quarter from the monthly marts (the monthly
review produces them) and write ``marts.quarter_*`` tables keyed by ``quarter`` (DATE, first
day of the reviewed quarter); the plan document goes to
``<reports_dir>/quarterly-plan-YYYY-QN.html`` (named after the planned quarter). Rules live
in ``gtm_assets/analytics/quarterly.py``.
"""

from datetime import date
from pathlib import Path

import dagster as dg
import duckdb
import numpy as np
import pandas as pd
from pydantic import Field

from gtm_assets import warehouse as wh
from gtm_assets.analytics import allocation
from gtm_assets.analytics import quarterly as core
from gtm_assets.analytics.experiments import required_units_conversion
from gtm_assets.assets.common import (
    WAREHOUSE_POOL,
    gate_checks,
    markdown_table,
    read_copy_asset,
    won_amounts,
)
from gtm_assets.assets.launch import write_typed
from gtm_assets.partitions import add_months, quarterly_partitions
from gtm_assets.report.render import render_html, render_markdown, write_atomically
from gtm_assets.resources import GtmSettings, WarehouseResource
from gtm_assets.sql_files import load_sql

GROUP = "quarterly_planning"
_MONTHS = dg.TimeWindowPartitionMapping()
REQUIRED_MONTHLY = (
    "marts.campaign_performance",
    "marts.channel_performance",
    "marts.channel_attribution",
    "marts.funnel_stages",
    "marts.executive_summary",
)


def _monthly(*names: str) -> list[dg.AssetDep]:
    return [dg.AssetDep(n, partition_mapping=_MONTHS) for n in names]


def quarter_params(partition_key: str) -> dict:
    """Bound parameters of the quarter's SQL files."""
    start = date.fromisoformat(partition_key)
    end = add_months(start, 3)
    return {
        "quarter_start": start,
        "quarter_end": end,
        "prior_start": add_months(start, -3),
        "last_month": add_months(start, 2),
        "next_start": end,
        "next_end": add_months(end, 3),
        "anchor_start": add_months(end, -12),
        "anchor_end": add_months(end, -9),
    }


def _df(
    con: duckdb.DuckDBPyConnection, name: str, params: dict, needs: tuple[str, ...]
) -> pd.DataFrame:
    """Run ``sql/marts/<name>.sql`` when every table it reads exists, else an empty frame."""
    if not all(wh.table_exists(con, t) for t in needs):
        return pd.DataFrame()
    return wh.query_df(con, load_sql(f"marts/{name}"), params)


def _read(con: duckdb.DuckDBPyConnection, table: str, quarter: date) -> pd.DataFrame:
    if not wh.table_exists(con, table):
        return pd.DataFrame()
    return con.execute(f"select * from {wh.ident(table)} where quarter = $q", {"q": quarter}).df()


def months_present(con: duckdb.DuckDBPyConnection, quarter: date) -> pd.DataFrame:
    """Per month of the quarter and required monthly mart: rows in that month's slice."""
    rows = []
    tables = [*REQUIRED_MONTHLY]
    for month in core.quarter_months(quarter):
        for table in tables:
            n = (
                con.execute(
                    f"select count(*) from {wh.ident(table)} where month = $m", {"m": month}
                ).fetchall()[0][0]
                if wh.table_exists(con, table)
                else 0
            )
            rows.append({"month": month, "table_name": table, "rows": int(n)})
    last = add_months(quarter, 2)
    n = (
        con.execute(
            "select count(*) from marts.budget_quarterly_allocation where month = $m", {"m": last}
        ).fetchall()[0][0]
        if wh.table_exists(con, "marts.budget_quarterly_allocation")
        else 0
    )
    rows.append({"month": last, "table_name": "marts.budget_quarterly_allocation", "rows": int(n)})
    return pd.DataFrame(rows)


def _write_plan_status(
    con: duckdb.DuckDBPyConnection, quarter: date, present: pd.DataFrame
) -> None:
    """marts.quarter_plan_status: which monthly slices the quarter's plan rests on."""
    write_typed(
        con,
        "marts.quarter_plan_status",
        present,
        {"quarter": quarter},
        types={"rows": "BIGINT", "month": "DATE"},
    )


def missing_months_text(present: pd.DataFrame) -> str:
    """'2026-03 (marts.executive_summary)' style list of the empty slices, or ''."""
    empty = present[present["rows"] == 0]
    if empty.empty:
        return ""
    tables_per_month = present.groupby("month")["table_name"].nunique()
    parts = []
    for month, g in empty.groupby("month"):
        tables = (
            "no monthly review" if len(g) == tables_per_month[month] else ", ".join(g["table_name"])
        )
        parts.append(f"{pd.Timestamp(month):%Y-%m} ({tables})")
    return "; ".join(parts)


# ---------------------------------------------------------------- trends


@dg.asset(
    partitions_def=quarterly_partitions,
    group_name=GROUP,
    pool=WAREHOUSE_POOL,
    kinds={"duckdb", "python"},
    deps=_monthly("funnel_stages", "executive_summary", "content_performance"),
    description=(
        "Funnel, content/SEO and lead-quality trends across the quarter's three months and "
        "the persistent bottlenecks (flagged in at least two months). Tables quarter_trends, "
        "quarter_bottlenecks."
    ),
    check_specs=[
        dg.AssetCheckSpec(
            "quarter_months_run",
            asset="quarter_trends",
            blocking=True,
            description=(
                "The quarter's three months have run their monthly review (names the missing "
                "ones); otherwise nothing of the plan is built or written."
            ),
        )
    ],
)
def quarter_trends(
    context: dg.AssetExecutionContext, warehouse: WarehouseResource
) -> dg.MaterializeResult:
    p = quarter_params(context.partition_key)
    q = p["quarter_start"]
    with warehouse.connect() as con:
        present = months_present(con, q)
        missing = missing_months_text(present)
        if missing:
            _write_plan_status(con, q, present)
            return dg.MaterializeResult(
                metadata={"missing_months": missing},
                check_results=[
                    dg.AssetCheckResult(
                        check_name="quarter_months_run",
                        passed=False,
                        metadata={
                            "missing_months": missing,
                            "fix": "run the monthly review of each missing month, then the quarter",
                        },
                    )
                ],
            )
        funnel = _df(
            con, "quarter_funnel_trend", p, ("marts.funnel_stages", "marts.funnel_bottlenecks")
        )
        content = _df(
            con,
            "quarter_content_trend",
            p,
            ("marts.content_performance", "marts.content_seo_changes"),
        )
        headline = _df(con, "quarter_headline_trend", p, ("marts.executive_summary",))
        long = []
        for area, frame in (("lead_quality", headline), ("content", content)):
            if frame.empty:
                continue
            for metric in [c for c in frame.columns if c != "month"]:
                for r in frame[["month", metric]].itertuples(index=False):
                    long.append({"area": area, "metric": metric, "month": r[0], "value": r[1]})
        for r in funnel.itertuples() if not funnel.empty else []:
            long.append(
                {
                    "area": "funnel",
                    "metric": f"{r.from_stage}_to_{r.to_stage}_rate",
                    "month": r.month,
                    "value": r.conversion_rate,
                }
            )
        trends = pd.DataFrame(long, columns=["area", "metric", "month", "value"])
        trends["month"] = pd.to_datetime(trends["month"]).dt.date
        bottlenecks = core.persistent_bottlenecks(funnel)
        n = write_typed(
            con,
            "marts.quarter_trends",
            trends,
            {"quarter": q},
            types={"value": "DOUBLE", "month": "DATE"},
        )
        write_typed(
            con,
            "marts.quarter_bottlenecks",
            bottlenecks,
            {"quarter": q},
            types={"months_flagged": "BIGINT", "months_seen": "BIGINT", "persistent": "BOOLEAN"},
        )
    return dg.MaterializeResult(
        metadata={
            "dagster/row_count": n,
            "bottlenecks": dg.MetadataValue.md(
                markdown_table(
                    bottlenecks[
                        ["from_stage", "to_stage", "months_flagged", "mean_rate", "persistent"]
                    ]
                    if not bottlenecks.empty
                    else bottlenecks
                )
            ),
            "skipped": ", ".join(
                name
                for name, f in (
                    ("funnel", funnel),
                    ("content", content),
                    ("lead quality", headline),
                )
                if f.empty
            )
            or "none",
        },
        check_results=[
            dg.AssetCheckResult(
                check_name="quarter_months_run", passed=True, metadata={"missing_months": "none"}
            )
        ],
    )


# ---------------------------------------------------------------- review


class ReviewConfig(dg.Config):
    min_campaign_spend: float = Field(
        default=1500.0, description="Campaigns below this quarter spend are not judged."
    )


@dg.asset(
    partitions_def=quarterly_partitions,
    group_name=GROUP,
    pool=WAREHOUSE_POOL,
    kinds={"duckdb", "python"},
    deps=["quarter_trends", *_monthly("campaign_performance", "channel_attribution")],
    description=(
        "Prior-quarter review: every channel and campaign with spend, leads, customers, "
        "revenue, ROAS and CPA against target and the prior quarter, budget utilization, "
        "attribution shares (first/last touch, linear, markov), a verdict (worked / did not "
        "work / mixed) with the reason in numbers, and the key learnings. Tables "
        "quarter_channel_review, quarter_campaign_review, quarter_learnings."
    ),
)
def quarter_review(
    context: dg.AssetExecutionContext, config: ReviewConfig, warehouse: WarehouseResource
) -> dg.MaterializeResult:
    p = quarter_params(context.partition_key)
    q = p["quarter_start"]
    with warehouse.connect() as con:
        totals = _df(con, "quarter_channel_totals", p, ("marts.channel_performance",))
        attribution = _df(con, "quarter_attribution", p, ("marts.channel_attribution",))
        campaigns = _df(con, "quarter_campaign_totals", p, ("marts.campaign_performance",))
        channels = core.channel_review(totals, attribution) if not totals.empty else pd.DataFrame()
        camps = (
            core.campaign_review(campaigns, config.min_campaign_spend)
            if not campaigns.empty
            else pd.DataFrame()
        )
        bottlenecks = _read(con, "marts.quarter_bottlenecks", q)
        months = _df(
            con, "quarter_channel_months", p, ("marts.channel_performance", "marts.funnel_stages")
        )
        learnings = (
            core.key_learnings(channels, camps, bottlenecks, months=months)
            if not channels.empty
            else pd.DataFrame()
        )
        n = write_typed(con, "marts.quarter_channel_review", channels, {"quarter": q})
        write_typed(con, "marts.quarter_campaign_review", camps, {"quarter": q})
        write_typed(
            con, "marts.quarter_learnings", learnings, {"quarter": q}, types={"value": "DOUBLE"}
        )
    return dg.MaterializeResult(
        metadata={
            "dagster/row_count": n,
            "channels": dg.MetadataValue.md(
                markdown_table(channels[["channel", "spend", "revenue", "roas", "cpa", "verdict"]])
                if not channels.empty
                else "_no channel performance in the quarter_"
            ),
            "learnings": dg.MetadataValue.md(
                "\n".join(f"- {s}" for s in learnings["learning"])
                if not learnings.empty
                else "_none_"
            ),
        }
    )


# ---------------------------------------------------------------- budget


class QuarterBudgetConfig(dg.Config):
    reserve_min: float = Field(
        default=0.10, description="Lowest test reserve share the gate accepts."
    )
    reserve_max: float = Field(
        default=0.15, description="Highest test reserve share the gate accepts."
    )
    fallback_reserve: float = Field(
        default=0.10,
        description="Reserve share of the historical-ROI fallback (used only when the budget optimizer's allocation is missing).",
    )
    fallback_bound_pct: float = Field(
        default=0.30, description="Per-channel move allowed by the historical-ROI fallback."
    )


def _q1_budget(con: duckdb.DuckDBPyConnection, p: dict, current_spend: float) -> tuple[float, str]:
    plan = con.execute(
        "select month, sum(planned_spend) from staging.budget_plan "
        "where month >= $s and month < $e group by month",
        {"s": p["next_start"], "e": p["next_end"]},
    ).fetchall()
    if len(plan) == 3:
        return float(sum(v for _, v in plan)), "budget_plan"
    return float(current_spend), "current_quarter_spend"


@dg.asset(
    partitions_def=quarterly_partitions,
    group_name=GROUP,
    pool=WAREHOUSE_POOL,
    kinds={"duckdb", "python"},
    deps=["quarter_review", *_monthly("budget_quarterly_allocation")],
    description=(
        "Next quarter's budget per channel: the historical-ROI allocation (fund the best "
        "average ROAS first) and the marginal-ROI allocation (fitted response curves) side by "
        "side, within the same bounds, plus the 10-15% test reserve, with expected revenue. "
        "From the budget optimizer's allocation of the quarter's last month. Table quarter_budget."
    ),
    check_specs=[
        dg.AssetCheckSpec(
            "budget_sums",
            asset="quarter_budget",
            blocking=True,
            description="Each allocation plus the reserve equals the budget; no negative amount; reserve 10-15%.",
        )
    ],
)
def quarter_budget(
    context: dg.AssetExecutionContext, config: QuarterBudgetConfig, warehouse: WarehouseResource
) -> dg.MaterializeResult:
    p = quarter_params(context.partition_key)
    q = p["quarter_start"]
    notes = []
    with warehouse.connect() as con:
        alloc = (
            con.execute(
                "select * exclude (month) from marts.budget_quarterly_allocation "
                "where month = $m and quarter_start = $n order by channel",
                {"m": p["last_month"], "n": p["next_start"]},
            ).df()
            if wh.table_exists(con, "marts.budget_quarterly_allocation")
            else pd.DataFrame()
        )
        channels = _read(con, "marts.quarter_channel_review", q)
        current = (
            float(alloc["current_quarter_spend"].sum())
            if not alloc.empty
            else float(channels["spend"].sum() if not channels.empty else 0.0)
        )
        budget, source = _q1_budget(con, p, current)
        historical_only = alloc.empty
        if historical_only:
            notes.append(
                "the budget optimizer's quarterly allocation is missing for "
                f"{p['last_month']:%Y-%m}: only the historical-ROI allocation is shown"
            )
            alloc = _historical_fallback(channels, budget, config)
        table, summary = core.budget_table(alloc, budget, historical_only=historical_only)
        table["plan_quarter"] = p["next_start"]
        table["budget_source"] = source
        problems = core.budget_sums(table, budget, (config.reserve_min, config.reserve_max))
        with wh.gated(con) as gate:
            n = write_typed(
                con,
                "marts.quarter_budget",
                table,
                {"quarter": q},
                types={
                    "pinned": "BOOLEAN",
                    "pinned_reason": "VARCHAR",
                    "objective": "VARCHAR",
                    "is_quarter_end": "BOOLEAN",
                    "quarter_start": "DATE",
                    "marginal_roi_spend": "DOUBLE",
                    "expected_revenue_marginal_roi": "DOUBLE",
                    "expected_revenue_historical_roi": "DOUBLE",
                    "marginal_roas_current": "DOUBLE",
                    "marginal_roas_marginal_roi": "DOUBLE",
                    "average_roas_history": "DOUBLE",
                    "lower_bound": "DOUBLE",
                    "upper_bound": "DOUBLE",
                    "expected_revenue_current": "DOUBLE",
                    "current_quarter_spend": "DOUBLE",
                },
            )
            check = dg.AssetCheckResult(
                check_name="budget_sums",
                passed=not problems,
                metadata={
                    "problems": "; ".join(problems) or "none",
                    "budget": budget,
                    "historical_roi_total": float(summary["historical_roi_total"]),
                    "marginal_roi_total": float(summary["marginal_roi_total"])
                    if core._finite(summary["marginal_roi_total"])
                    else "n/a",
                },
            )
            not_written = gate_checks(gate, quarter_budget, [check])
    return dg.MaterializeResult(
        metadata={
            "dagster/row_count": n,
            "plan_quarter": core.quarter_label(p["next_start"]),
            "budget": budget,
            "budget_source": source,
            "reserve_share": float(summary["reserve_share"]),
            "notes": "; ".join(notes) or "none",
            "allocations": dg.MetadataValue.md(
                markdown_table(
                    table[
                        [
                            "channel",
                            "current_quarter_spend",
                            "historical_roi_spend",
                            "marginal_roi_spend",
                            "expected_revenue_marginal_roi",
                        ]
                    ]
                )
            ),
            **not_written,
        },
        check_results=[check],
    )


def _historical_fallback(
    channels: pd.DataFrame, budget: float, config: QuarterBudgetConfig
) -> pd.DataFrame:
    """Historical-ROI allocation (the budget optimizer's pure function) on the quarter's
    paid channels when its own quarterly allocation is missing."""
    paid = channels[channels["spend"] > 0] if not channels.empty else channels
    if paid.empty:
        return pd.DataFrame(
            columns=[
                "channel",
                "current_quarter_spend",
                "historical_roi_spend",
                "marginal_roi_spend",
                "expected_revenue_historical_roi",
                "expected_revenue_marginal_roi",
            ]
        )
    spend = paid["spend"].to_numpy(dtype=float)
    allocatable = budget * (1 - config.fallback_reserve)
    reference = spend * allocatable / spend.sum()
    lo, hi = (
        reference * (1 - config.fallback_bound_pct),
        reference * (1 + config.fallback_bound_pct),
    )
    roas = paid["roas"].to_numpy(dtype=float)
    hist = allocation.historical_roi_allocation(roas, lo, hi, allocatable)
    return pd.DataFrame(
        {
            "channel": paid["channel"].to_numpy(),
            "current_quarter_spend": spend,
            "average_roas_history": roas,
            "lower_bound": lo,
            "upper_bound": hi,
            "historical_roi_spend": hist,
            "marginal_roi_spend": np.nan,
            "expected_revenue_historical_roi": hist * np.nan_to_num(roas),
            "expected_revenue_marginal_roi": np.nan,
        }
    )


# ---------------------------------------------------------------- goals


@dg.asset(
    partitions_def=quarterly_partitions,
    group_name=GROUP,
    pool=WAREHOUSE_POOL,
    kinds={"duckdb", "python"},
    deps=["quarter_review", "quarter_budget", "quarter_trends"],
    description=(
        "Next quarter's goals, overall and per channel: spend, revenue, pipeline, leads, MQLs "
        "and customers, each a number with a due date, derived from the planned spend and the "
        "reviewed quarter's efficiency (the basis is stated per goal), with cumulative monthly "
        "milestones. Tables quarter_goals, quarter_goal_milestones."
    ),
    check_specs=[
        dg.AssetCheckSpec(
            "goals_specific",
            asset="quarter_goals",
            blocking=True,
            description="Every goal has a metric, a number and a due date.",
        )
    ],
)
def quarter_goals(
    context: dg.AssetExecutionContext, warehouse: WarehouseResource
) -> dg.MaterializeResult:
    p = quarter_params(context.partition_key)
    q = p["quarter_start"]
    with warehouse.connect() as con:
        budget = _read(con, "marts.quarter_budget", q)
        channels = _read(con, "marts.quarter_channel_review", q)
        trends = _read(con, "marts.quarter_trends", q)
        plan = con.execute(
            "select month, planned_spend from staging.budget_plan where month >= $s and month < $e",
            {"s": p["next_start"], "e": p["next_end"]},
        ).df()
        mql = (
            trends[(trends["metric"].isin(["leads", "mqls"])) & (trends["area"] == "lead_quality")]
            if not trends.empty
            else trends
        )
        mql_rate = (
            core._div(
                mql.loc[mql["metric"] == "mqls", "value"].sum(),
                mql.loc[mql["metric"] == "leads", "value"].sum(),
            )
            if not mql.empty
            else np.nan
        )
        weights = core.month_weights(plan, core.quarter_months(p["next_start"]))
        goals, milestones = (
            core.derive_goals(budget, channels, mql_rate, p["next_start"], weights)
            if not budget.empty
            else (pd.DataFrame(), pd.DataFrame())
        )
        supplied = _df(con, "quarter_supplied_targets", p, ("staging.targets",))
        goals = core.with_supplied_targets(goals, supplied) if not goals.empty else goals
        problems = core.goal_problems(goals)
        with wh.gated(con) as gate:
            n = write_typed(
                con,
                "marts.quarter_goals",
                goals,
                {"quarter": q},
                types={
                    "target_value": "DOUBLE",
                    "due_date": "DATE",
                    "goal": "VARCHAR",
                    "supplied_target": "DOUBLE",
                    "supplied_months": "BIGINT",
                    "gap_to_supplied": "DOUBLE",
                },
            )
            write_typed(
                con,
                "marts.quarter_goal_milestones",
                milestones,
                {"quarter": q},
                types={
                    "cumulative_target": "DOUBLE",
                    "milestone_month": "DATE",
                    "due_date": "DATE",
                },
            )
            check = dg.AssetCheckResult(
                check_name="goals_specific",
                passed=not problems,
                metadata={"problems": "; ".join(problems[:20]) or "none", "goals": len(goals)},
            )
            not_written = gate_checks(gate, quarter_goals, [check])
    total = goals[goals["scope"] == "total"] if not goals.empty else goals
    return dg.MaterializeResult(
        metadata={
            "dagster/row_count": n,
            "mql_rate": float(mql_rate) if core._finite(mql_rate) else "n/a",
            "goals": dg.MetadataValue.md(
                markdown_table(total[["metric", "target_value", "due_date", "basis"]])
                if not total.empty
                else "_no goals_"
            ),
            **not_written,
        },
        check_results=[check],
    )


# ---------------------------------------------------------------- calendar and tests


class CalendarConfig(dg.Config):
    bottleneck_mde: float = Field(
        default=0.10, description="Relative lift a bottleneck test must detect (sample size)."
    )


@dg.asset(
    partitions_def=quarterly_partitions,
    group_name=GROUP,
    pool=WAREHOUSE_POOL,
    kinds={"duckdb", "python"},
    deps=[
        "quarter_budget",
        "quarter_goals",
        "quarter_trends",
        *_monthly("experiment_results", "budget_response_curves"),
    ],
    description=(
        "Next quarter's campaign calendar (slots per channel and campaign type with dates "
        "from typical durations, budget and expected revenue and leads) and testing roadmap "
        "(running experiments to continue, spend-level tests for channels without a usable "
        "response curve, tests on persistent bottlenecks, funded by the test reserve). "
        "Tables quarter_campaign_calendar, quarter_testing_roadmap."
    ),
    check_specs=[
        dg.AssetCheckSpec(
            "calendar_within_budget",
            asset="quarter_campaign_calendar",
            description="The calendar's slots spend exactly each channel's planned budget.",
        )
    ],
)
def quarter_campaign_calendar(
    context: dg.AssetExecutionContext, config: CalendarConfig, warehouse: WarehouseResource
) -> dg.MaterializeResult:
    p = quarter_params(context.partition_key)
    q = p["quarter_start"]
    with warehouse.connect() as con:
        budget = _read(con, "marts.quarter_budget", q)
        channels = _read(con, "marts.quarter_channel_review", q)
        bottlenecks = _read(con, "marts.quarter_bottlenecks", q)
        mix = _df(con, "quarter_type_mix", p, ("marts.campaign_performance",))
        history = wh.query_df(con, load_sql("marts/quarter_campaign_history"), p)
        planned = _df(con, "quarter_planned_campaigns", p, ("staging.campaigns",))
        calendar = (
            core.campaign_calendar(budget, mix, history, channels, p["next_start"], planned)
            if not budget.empty
            else pd.DataFrame()
        )
        experiments = (
            con.execute(
                "select * from marts.experiment_results where month = $m", {"m": p["last_month"]}
            ).df()
            if wh.table_exists(con, "marts.experiment_results")
            else pd.DataFrame()
        )
        curves = (
            con.execute(
                "select * from marts.budget_response_curves where month = $m and metric = 'revenue'",
                {"m": p["last_month"]},
            ).df()
            if wh.table_exists(con, "marts.budget_response_curves")
            else pd.DataFrame()
        )
        units = {}
        for r in bottlenecks.itertuples() if not bottlenecks.empty else []:
            if r.persistent and core._finite(r.mean_rate):
                n_c, n_t = required_units_conversion(
                    float(r.mean_rate), config.bottleneck_mde, 1.0, 0.05, 0.8
                )
                units[f"{r.from_stage}->{r.to_stage}"] = n_c + n_t
        reserve = (
            float(budget.loc[budget["is_reserve"], "historical_roi_spend"].sum())
            if not budget.empty
            else 0.0
        )
        funded = (
            set(core.planned_spend(budget).loc[lambda s: s > 0].index)
            if not budget.empty
            else set()
        )
        roadmap = core.testing_roadmap(
            experiments, curves, bottlenecks, reserve, p["next_start"], units, funded
        )
        n = write_typed(con, "marts.quarter_campaign_calendar", calendar, {"quarter": q})
        write_typed(
            con,
            "marts.quarter_testing_roadmap",
            roadmap,
            {"quarter": q},
            types={
                "rank": "BIGINT",
                "required_units": "DOUBLE",
                "new": "BOOLEAN",
                "budget": "DOUBLE",
                "start_date": "DATE",
                "end_date": "DATE",
            },
        )
    planned = (
        budget[~budget["is_reserve"]].assign(
            amount=lambda d: d["marginal_roi_spend"].fillna(d["historical_roi_spend"])
        )
        if not budget.empty
        else pd.DataFrame(columns=["channel", "amount"])
    )
    planned = planned[planned["amount"] > 0]
    by_channel = (
        calendar.groupby("channel")["budget"].sum()
        if not calendar.empty
        else pd.Series(dtype=float)
    )
    gaps = [
        f"{r.channel}: calendar {by_channel.get(r.channel, 0.0):,.2f} vs plan {r.amount:,.2f}"
        for r in planned.itertuples()
        if abs(by_channel.get(r.channel, 0.0) - r.amount) > 1e-6 * max(r.amount, 1.0)
    ]
    return dg.MaterializeResult(
        metadata={
            "dagster/row_count": n,
            "calendar": dg.MetadataValue.md(
                markdown_table(
                    calendar[["slot", "start_date", "end_date", "budget", "expected_revenue"]]
                )
                if not calendar.empty
                else "_empty_"
            ),
            "testing_roadmap": dg.MetadataValue.md(
                markdown_table(roadmap[["rank", "test", "budget", "start_date"]])
                if not roadmap.empty
                else "_no tests_"
            ),
        },
        check_results=[
            dg.AssetCheckResult(
                check_name="calendar_within_budget",
                passed=not gaps,
                severity=dg.AssetCheckSeverity.WARN,
                metadata={"gaps": "; ".join(gaps) or "none"},
            )
        ],
    )


# ---------------------------------------------------------------- risks


@dg.asset(
    partitions_def=quarterly_partitions,
    group_name=GROUP,
    pool=WAREHOUSE_POOL,
    kinds={"duckdb", "python"},
    deps=["quarter_budget", *_monthly("budget_response_curves", "budget_pacing", "staging_tables")],
    description=(
        "Risks of next quarter's plan derived from the data, each with its evidence and "
        "mitigation: unstable response curves on channels whose budget moves, pacing "
        "problems, data-quality gaps (quarantine, unclassified touches, spend without "
        "tracking) and concentration on one channel. Table quarter_risks."
    ),
)
def quarter_risks(
    context: dg.AssetExecutionContext, warehouse: WarehouseResource
) -> dg.MaterializeResult:
    p = quarter_params(context.partition_key)
    q = p["quarter_start"]
    with warehouse.connect() as con:
        budget = _read(con, "marts.quarter_budget", q)
        curves = (
            con.execute(
                "select * from marts.budget_response_curves where month = $m and metric = 'revenue'",
                {"m": p["last_month"]},
            ).df()
            if wh.table_exists(con, "marts.budget_response_curves")
            else pd.DataFrame()
        )
        pacing = (
            con.execute(
                "select month, channel, status, pacing_ratio from marts.budget_pacing "
                "where level = 'channel' and month >= $s and month < $e",
                {"s": p["quarter_start"], "e": p["quarter_end"]},
            ).df()
            if wh.table_exists(con, "marts.budget_pacing")
            else pd.DataFrame()
        )
        quality = wh.query_df(con, load_sql("marts/quarter_data_quality"), p)
        won = won_amounts(con, p["quarter_start"], p["quarter_end"])
        facts = _df(
            con,
            "quarter_history",
            p,
            ("staging.leads", "intermediate.conversions", "staging.ad_spend"),
        )
        history = (
            {**facts.iloc[0].to_dict(), "quarter_end": p["quarter_end"]}
            if not facts.empty
            else None
        )
        risks = (
            core.plan_risks(curves, budget, pacing, quality, won_amounts=won, history=history)
            if not budget.empty
            else pd.DataFrame(
                columns=[
                    "rank",
                    "kind",
                    "scope_id",
                    "severity",
                    "evidence",
                    "value",
                    "threshold",
                    "mitigation",
                ]
            )
        )
        n = write_typed(
            con,
            "marts.quarter_risks",
            risks,
            {"quarter": q},
            types={"value": "DOUBLE", "threshold": "DOUBLE", "rank": "BIGINT"},
        )
    return dg.MaterializeResult(
        metadata={
            "dagster/row_count": n,
            "risks": dg.MetadataValue.md(
                markdown_table(risks[["severity", "kind", "evidence"]])
                if not risks.empty
                else "_none found_"
            ),
        }
    )


# ---------------------------------------------------------------- the plan document


def plan_path(reports_dir: str | Path, plan_quarter: date) -> Path:
    return Path(reports_dir) / f"quarterly-plan-{core.quarter_label(plan_quarter)}.html"


@dg.asset(
    partitions_def=quarterly_partitions,
    group_name=GROUP,
    pool=WAREHOUSE_POOL,
    kinds={"html"},
    deps=[
        "quarter_review",
        "quarter_trends",
        "quarter_budget",
        "quarter_goals",
        "quarter_campaign_calendar",
        "quarter_risks",
    ],
    description=(
        "The quarterly plan as one self-contained HTML file under data/reports "
        "(quarterly-plan-YYYY-QN.html, named after the planned quarter; same style as the "
        "monthly review) and as markdown here, plus table quarter_plan_status (which monthly "
        "slices the plan rests on)."
    ),
    check_specs=[
        dg.AssetCheckSpec(
            "plan_complete",
            asset="quarterly_plan",
            blocking=True,
            description=(
                "The quarter's three months are materialized in the monthly marts (names the "
                "missing ones) and every section of the plan is present."
            ),
        )
    ],
)
def quarterly_plan(
    context: dg.AssetExecutionContext, warehouse: WarehouseResource, settings: GtmSettings
) -> dg.MaterializeResult:
    from gtm_assets.assets.executive import report_sections_in
    from gtm_assets.report.quarterly_sections import REQUIRED_SECTIONS, build_quarterly_sections

    p = quarter_params(context.partition_key)
    q = p["quarter_start"]
    with warehouse.connect() as con:
        present = months_present(con, q)
        _write_plan_status(con, q, present)
        sections = build_quarterly_sections(con, q, settings.currency, present)
    plan_q = p["next_start"]
    title = f"Quarterly plan — {core.quarter_label(plan_q)}"
    subtitle = (
        f"Review of {core.quarter_label(q)} ({q:%b}–{add_months(q, 2):%b %Y}) and plan for "
        f"{core.quarter_label(plan_q)} · reporting currency {settings.currency}"
    )
    html = render_html(
        "quarterly.html.j2",
        sections,
        title=title,
        subtitle=subtitle,
        currency=settings.currency,
        warehouse=warehouse.path,
    )
    path = write_atomically(plan_path(settings.reports_dir, plan_q), html)
    found = report_sections_in(path.read_text(encoding="utf-8"))
    missing_months = missing_months_text(present)
    missing_sections = [k for k in REQUIRED_SECTIONS if found.get(k) != "ok"]
    problems = []
    if missing_months:
        problems.append(f"months not materialized (run their monthly review): {missing_months}")
    if missing_sections:
        problems.append(f"plan sections missing or skipped: {', '.join(missing_sections)}")
    return dg.MaterializeResult(
        metadata={
            "path": dg.MetadataValue.path(str(path.resolve())),
            "sections": len(sections),
            "plan": dg.MetadataValue.md(render_markdown(sections, title=title, subtitle=subtitle)),
        },
        check_results=[
            dg.AssetCheckResult(
                check_name="plan_complete",
                passed=not problems,
                metadata={
                    "problems": "; ".join(problems) or "none",
                    "missing_months": missing_months or "none",
                },
            )
        ],
    )


quarter_read_copy = read_copy_asset(
    "quarter_read_copy",
    partitions_def=quarterly_partitions,
    group_name=GROUP,
    deps=["quarterly_plan"],
    description=(
        "Publishes the analysts' read-only copy of the warehouse (GTM_READ_COPY_PATH) after "
        "the plan, so the quarter_* tables can be queried there."
    ),
)
