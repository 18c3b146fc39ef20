"""Campaign launch workflow: one dynamic partition per campaign (partition key = campaign_id).

``launch_plan`` (planning outputs and the blocking readiness gate) ->
``launch_monitoring`` (tracking, schedule, performance vs target, MQLs in the first weeks) ->
``launch_readout`` (early-optimization readout and the week-4 scale/pause/optimize
decision). Every table is ``marts.launch_*`` keyed by ``campaign_id``. The rules are
documented in ``gtm_assets/analytics/launch.py``.
"""

from datetime import date, datetime, timedelta
from typing import Any

import dagster as dg
import duckdb
import numpy as np
import pandas as pd
from pydantic import Field

from gtm_assets import warehouse as wh
from gtm_assets.analytics import launch as core
from gtm_assets.assets.common import WAREHOUSE_POOL, gate_checks, markdown_table, read_copy_asset
from gtm_assets.assets.raw import staging_is_current
from gtm_assets.partitions import add_months, campaign_partitions
from gtm_assets.resources import GtmSettings, WarehouseResource
from gtm_assets.sql_files import load_sql

GROUP = "campaign_launch"
_ALL = dg.AllPartitionMapping()


# ---------------------------------------------------------------- typed writes


def _sql_type(series: pd.Series) -> str:
    if pd.api.types.is_bool_dtype(series):
        return "BOOLEAN"
    if pd.api.types.is_integer_dtype(series):
        return "BIGINT"
    if pd.api.types.is_float_dtype(series):
        return "DOUBLE"
    if pd.api.types.is_datetime64_any_dtype(series):
        return "TIMESTAMP"
    sample = series.dropna()
    if not sample.empty:
        first = sample.iloc[0]
        if isinstance(first, bool | np.bool_):
            return "BOOLEAN"
        if isinstance(first, datetime):
            return "TIMESTAMP"
        if isinstance(first, date):
            return "DATE"
        if isinstance(first, int | np.integer):
            return "BIGINT"
        if isinstance(first, float | np.floating):
            return "DOUBLE"
    return "VARCHAR"


def write_typed(
    con: duckdb.DuckDBPyConnection,
    table: str,
    df: pd.DataFrame,
    key: dict[str, Any],
    types: dict[str, str] | None = None,
) -> int:
    """``replace_slice`` of ``df`` with every column cast to an explicit SQL type (inferred
    from the values, or ``types``), so an all-NULL column never creates a NULL-typed column."""
    frame = df.copy()
    for column, value in key.items():
        frame[column] = value
    frame = frame[list(key) + [c for c in frame.columns if c not in key]]
    types = dict(types or {})
    casts = []
    for column in frame.columns:
        sql_type = types.get(column) or _sql_type(frame[column])
        casts.append(f"cast({wh.ident(column)} as {sql_type}) as {wh.ident(column)}")
    if frame.empty:
        # one typed row, filtered out, fixes the schema of an empty slice
        con.register("_launch_frame", pd.DataFrame([dict.fromkeys(frame.columns)]))
        source = f"select {', '.join(casts)} from _launch_frame where false"
    else:
        con.register("_launch_frame", frame)
        source = f"select {', '.join(casts)} from _launch_frame"
    try:
        return wh.replace_slice(con, table, source, key)
    finally:
        con.unregister("_launch_frame")


# ---------------------------------------------------------------- configs


class LaunchPlanConfig(dg.Config):
    """Planning outputs of a launch."""

    as_of: str = Field(
        default="",
        description="Day the launch is evaluated at (YYYY-MM-DD); empty = the last day with ad spend in the warehouse.",
    )
    min_peers: int = Field(
        default=3,
        description="Fewest peer campaigns (same channel and type) for a benchmark; fewer widens to the channel, then all.",
    )
    role_tolerance: float = Field(
        default=0.2,
        description="First-touch/last-touch share ratio beyond 1 +- this makes a channel awareness/conversion.",
    )
    always_on_days: int = Field(
        default=365,
        description="Life assumed for an always-on campaign without end date (its planned budget covers it).",
    )
    pacing_horizon_days: int = Field(
        default=84, description="Days of the weekly pacing schedule from the start."
    )
    benchmark_days: int = Field(
        default=180, description="Days before launch whose leads give the channel's MQL rate."
    )
    mql_window_days: int = Field(
        default=14, description="A lead counts as MQL when it qualifies within this many days."
    )


class LaunchMonitorConfig(dg.Config):
    """Launch monitoring checks."""

    as_of: str = Field(default="", description="Evaluation day; empty = the plan's as-of day.")
    tolerance: float = Field(
        default=0.2, description="Allowed shortfall against target (performance and MQLs)."
    )
    first_window_days: int = Field(
        default=14, description="Days from the start judged against target (the first two weeks)."
    )
    monitor_days: int = Field(default=42, description="Days from the start that are monitored.")
    grace_days: int = Field(
        default=2, description="First spend this many days after the start is still on schedule."
    )
    mql_window_days: int = Field(
        default=14, description="Leads younger than this are not yet judged on MQL volume."
    )


class LaunchDecisionConfig(dg.Config):
    """The week-4 decision."""

    as_of: str = Field(default="", description="Evaluation day; empty = the plan's as-of day.")
    decision_day: int = Field(default=28, description="Days live at which the decision is made.")
    pause_below: float = Field(
        default=0.6,
        description="Pause when CPA or projected ROAS attainment (1 = on target) is below this.",
    )
    tolerance: float = Field(default=0.2, description="Allowed MQL shortfall against expectation.")
    mql_window_days: int = Field(
        default=14, description="Leads younger than this are not yet judged on MQL volume."
    )


# ---------------------------------------------------------------- shared loading


def data_as_of(con: duckdb.DuckDBPyConnection, configured: str) -> date:
    """The configured day, else the warehouse's last day with ad spend (else today). The
    launch plan reads an ended campaign as of its end date instead."""
    if configured:
        return date.fromisoformat(configured)
    found = con.execute("select max(date) from staging.ad_spend").fetchall()[0][0]
    return found or datetime.now().date()


def campaign_as_of(data_day: date, end_date: date | None, configured: str) -> date:
    """The day a campaign is read as of: the configured day, else the data's last day, or
    the campaign's end date when it ended before (not 111 "days live" for a 56-day
    campaign)."""
    if configured or end_date is None or end_date >= data_day:
        return data_day
    return end_date


def _brief(con: duckdb.DuckDBPyConnection, campaign_id: str) -> dict | None:
    df = con.execute(
        "select * from staging.campaigns where campaign_id = $cid", {"cid": campaign_id}
    ).df()
    if df.empty:
        return None
    row = df.iloc[0].to_dict()
    for c in ("start_date", "end_date"):
        row[c] = core._as_date(row.get(c))
    return row


def _day_ts(day: date) -> datetime:
    return datetime(day.year, day.month, day.day)


def _window_params(
    campaign_id: str, start: date, as_of: date, settings: GtmSettings, mql_window_days: int = 14
) -> dict:
    return {
        "mql_window_days": mql_window_days,
        "campaign_id": campaign_id,
        "window_start": start,
        "as_of": as_of,
        "as_of_end": _day_ts(as_of + timedelta(days=1)),
        "lookback_days": settings.lookback_days,
    }


def campaign_window(
    con: duckdb.DuckDBPyConnection,
    campaign_id: str,
    start: date,
    as_of: date,
    settings: GtmSettings,
    mql_window_days: int = 14,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Daily spend/touches and credited leads of the campaign in [start, as_of]."""
    params = _window_params(campaign_id, start, as_of, settings, mql_window_days)
    daily = wh.query_df(con, load_sql("marts/launch_daily"), params)
    leads = wh.query_df(con, load_sql("marts/launch_leads"), params)
    return daily, leads


def _first_value(con: duckdb.DuckDBPyConnection, table: str, column: str, cid: str) -> Any:
    if not wh.table_exists(con, table):
        return None
    rows = con.execute(
        f"select {wh.ident(column)} from {wh.ident(table)} where campaign_id = $cid", {"cid": cid}
    ).fetchall()
    return rows[0][0] if rows else None


def _plan_row(con: duckdb.DuckDBPyConnection, cid: str) -> dict | None:
    if not wh.table_exists(con, "marts.launch_plan"):
        return None
    df = con.execute("select * from marts.launch_plan where campaign_id = $cid", {"cid": cid}).df()
    return df.iloc[0].to_dict() if not df.empty else None


def _targets_from_plan(plan: dict) -> dict[str, float]:
    return {m: plan.get(f"target_{m}", np.nan) for m in core.TARGET_METRICS}


# ---------------------------------------------------------------- launch_plan


def _routing(con: duckdb.DuckDBPyConnection, launch_month: date, role: str) -> dict[str, Any]:
    """Lead scoring/routing settings in force at launch: the latest lead model's MQL rule and
    threshold before the launch month, the grade cut-offs it scored with, and the routing."""
    out: dict[str, Any] = {
        "mql_rule": None,
        "mql_probability_threshold": np.nan,
        "grade_cutoffs": None,
    }
    if wh.table_exists(con, "marts.lead_model_performance"):
        rows = con.execute(
            "select mql_rule, probability_threshold from marts.lead_model_performance "
            "where month < $m and model_fitted order by month desc limit 1",
            {"m": launch_month},
        ).fetchall()
        if rows:
            out["mql_rule"] = rows[0][0]
            out["mql_probability_threshold"] = (
                float(rows[0][1]) if rows[0][1] is not None else np.nan
            )
    if wh.table_exists(con, "marts.lead_score_history"):
        grades = con.execute(
            "select grade, min(score) from marts.lead_score_history where month = "
            "(select max(month) from marts.lead_score_history where month < $m) "
            "group by grade order by grade",
            {"m": launch_month},
        ).fetchall()
        if grades:
            out["grade_cutoffs"] = ", ".join(f"{g} >= {s:.0f}" for g, s in grades)
    sla = "1 business day" if role == "conversion" else "2 business days"
    threshold = out["mql_probability_threshold"]
    rule = (
        f"MQL when predicted SQL probability >= {threshold:.3f} ({out['mql_rule']})"
        if core._finite(threshold)
        else "MQL by the CRM's own MQL stage (no fitted lead model before launch)"
    )
    out["routing"] = (
        f"{rule}; MQLs to sales development within {sla} "
        f"({'high-intent channel' if role == 'conversion' else 'channel role: ' + role}); "
        "leads below the threshold to nurture; sales feedback on every routed lead."
    )
    return out


def _peer_history(con, launch_month: date, roi_model: str) -> pd.DataFrame:
    """The peers' totals before the launch month, their leads and revenue credited by the
    rule the launch credits its own leads with (``core.LAUNCH_CREDIT_MODEL``); when the
    attribution run left that model out, by the campaign ROI model."""
    if not (
        wh.table_exists(con, "marts.campaign_performance")
        and wh.table_exists(con, "marts.campaign_attribution_roi")
    ):
        return pd.DataFrame(columns=["campaign_id", "channel", "campaign_type", "spend"])
    has_linear = con.execute(
        "select count(*) > 0 from marts.campaign_attribution_roi where model = $m",
        {"m": core.LAUNCH_CREDIT_MODEL},
    ).fetchone()[0]
    return wh.query_df(
        con,
        load_sql("marts/launch_peer_history"),
        {
            "launch_month": launch_month,
            "credit_model": core.LAUNCH_CREDIT_MODEL if has_linear else roi_model,
        },
    )


@dg.asset(
    partitions_def=campaign_partitions,
    group_name=GROUP,
    pool=WAREHOUSE_POOL,
    kinds={"duckdb", "python"},
    deps=[
        dg.AssetDep("staging_tables", partition_mapping=_ALL),
        dg.AssetDep("campaign_performance", partition_mapping=_ALL),
        dg.AssetDep("channel_attribution", partition_mapping=_ALL),
        dg.AssetDep("lead_scores", partition_mapping=_ALL),
    ],
    description=(
        "Launch plan of one campaign: benchmarks of its channel and type from earlier "
        "campaigns, targets (CTR, CVR, CPA, ROAS) filled from benchmarks where the brief has "
        "none, the channel's role (awareness or conversion) from attribution, a weekly pacing "
        "schedule, expected leads and MQLs, and the lead scoring and routing settings. "
        "Tables launch_plan, launch_targets, launch_pacing_schedule."
    ),
    check_specs=[
        dg.AssetCheckSpec(
            "launch_ready",
            asset="launch_plan",
            blocking=True,
            description=(
                "Brief complete (type, budget, dates), every target set, tracking configured "
                "(utm_campaign present and seen on touchpoints once live)."
            ),
        )
    ],
)
def launch_plan(
    context: dg.AssetExecutionContext,
    config: LaunchPlanConfig,
    warehouse: WarehouseResource,
    settings: GtmSettings,
) -> dg.MaterializeResult:
    cid = context.partition_key
    key = {"campaign_id": cid}
    with warehouse.connect() as con:
        if not staging_is_current(con):
            raise dg.Failure(
                description=(
                    "The warehouse's staging tables were built by another version of "
                    "gtm_assets; run the monthly review once (gtm run) to rebuild them, then "
                    "run the launch again."
                )
            )
        as_of = data_as_of(con, config.as_of)
        brief = _brief(con, cid)
        if brief is None:
            problems = [f"campaign {cid} is not in staging.campaigns (load the exports first)"]
            write_typed(
                con,
                "marts.launch_plan",
                pd.DataFrame([{"as_of": as_of, "ready": False, "readiness_problems": problems[0]}]),
                key,
            )
            return dg.MaterializeResult(
                metadata={"dagster/row_count": 1, "problems": problems[0]},
                check_results=[
                    dg.AssetCheckResult(
                        check_name="launch_ready", passed=False, metadata={"problems": problems[0]}
                    )
                ],
            )
        as_of = campaign_as_of(as_of, brief["end_date"], config.as_of)
        start = brief["start_date"] or as_of
        launch_month = date(start.year, start.month, 1)
        history = _peer_history(con, launch_month, settings.attribution_model)
        bench = core.peer_benchmark(
            history, cid, brief["channel"], brief["campaign_type"], config.min_peers
        )
        targets = core.resolve_targets(brief, bench)
        role_shares = (
            wh.query_df(
                con,
                load_sql("marts/launch_channel_role"),
                {
                    "channel": brief["channel"],
                    "role_start": add_months(launch_month, -3),
                    "launch_month": launch_month,
                },
            ).iloc[0]
            if wh.table_exists(con, "marts.channel_attribution")
            else pd.Series({"first_touch_share": np.nan, "last_touch_share": np.nan})
        )
        role = core.channel_role(
            role_shares["first_touch_share"], role_shares["last_touch_share"], config.role_tolerance
        )
        mql_rate = wh.query_df(
            con,
            load_sql("marts/launch_channel_benchmark"),
            {
                "channel": brief["channel"],
                "launch_ts": _day_ts(start),
                "benchmark_days": config.benchmark_days,
                "mql_window_days": config.mql_window_days,
                "lookback_days": settings.lookback_days,
            },
        ).iloc[0]
        routing = _routing(con, launch_month, role)
        touches_seen = con.execute(
            "select count(*) from staging.touchpoints where campaign_id = $cid and ts < $end",
            {"cid": cid, "end": _day_ts(as_of + timedelta(days=1))},
        ).fetchall()[0][0]
        spend_so_far = con.execute(
            "select coalesce(sum(spend), 0) from staging.ad_spend "
            "where campaign_id = $cid and date <= $as_of",
            {"cid": cid, "as_of": as_of},
        ).fetchall()[0][0]
        shared = [
            r[0]
            for r in con.execute(
                "select campaign_id from staging.campaigns where campaign_id <> $cid "
                "and utm_campaign_key = $key",
                {"cid": cid, "key": brief.get("utm_campaign_key")},
            ).fetchall()
        ]
        problems = core.readiness(
            brief,
            targets,
            touches_seen=int(touches_seen),
            spend_so_far=float(spend_so_far),
            utm_shared_with=shared,
        )
        schedule = (
            core.pacing_schedule(
                float(brief["planned_budget"]),
                start,
                brief["end_date"],
                always_on_days=config.always_on_days,
                horizon_days=config.pacing_horizon_days,
            )
            if core._finite(brief.get("planned_budget"))
            else pd.DataFrame()
        )
        tmap = dict(zip(targets["metric"], targets["target"], strict=True))
        first4 = (
            float(schedule.loc[schedule["week_number"] <= 4, "planned_spend"].sum())
            if not schedule.empty
            else np.nan
        )
        expected_leads = first4 / tmap["cpa"] if core._finite(tmap["cpa"]) else np.nan
        row = {
            "campaign_name": brief["campaign_name"],
            "channel": brief["channel"],
            "campaign_type": brief["campaign_type"],
            "start_date": brief["start_date"],
            "end_date": brief["end_date"],
            "planned_budget": brief["planned_budget"],
            "utm_campaign": brief["utm_campaign"],
            "as_of": as_of,
            "benchmark_scope": bench.scope,
            "benchmark_peers": bench.n_peers,
            **{f"benchmark_{m}": bench.values.get(m, np.nan) for m in core.TARGET_METRICS},
            "benchmark_revenue_per_lead": bench.values.get("revenue_per_lead", np.nan),
            "benchmark_mql_rate": float(mql_rate["mql_rate"])
            if core._finite(mql_rate["mql_rate"])
            else np.nan,
            **{f"target_{r.metric}": r.target for r in targets.itertuples(index=False)},
            **{
                f"target_{r.metric}_source": r.target_source
                for r in targets.itertuples(index=False)
            },
            "channel_role": role,
            "first_touch_share": role_shares["first_touch_share"],
            "last_touch_share": role_shares["last_touch_share"],
            "planned_spend_first_4_weeks": first4,
            "expected_leads_first_4_weeks": expected_leads,
            "expected_mqls_first_4_weeks": expected_leads * float(mql_rate["mql_rate"])
            if core._finite(mql_rate["mql_rate"])
            else np.nan,
            **routing,
            "touchpoints_seen": int(touches_seen),
            "ready": not problems,
            "readiness_problems": "; ".join(problems) if problems else None,
        }
        n = write_typed(
            con,
            "marts.launch_plan",
            pd.DataFrame([row]),
            key,
            types={
                "readiness_problems": "VARCHAR",
                "mql_rule": "VARCHAR",
                "grade_cutoffs": "VARCHAR",
            },
        )
        write_typed(con, "marts.launch_targets", targets, key)
        write_typed(
            con,
            "marts.launch_pacing_schedule",
            schedule,
            key,
            types={
                "week_start": "DATE",
                "week_number": "BIGINT",
                "days_active": "BIGINT",
                "planned_spend": "DOUBLE",
                "cumulative_planned_spend": "DOUBLE",
            },
        )
    return dg.MaterializeResult(
        metadata={
            "dagster/row_count": n,
            "as_of": str(as_of),
            "channel_role": role,
            "benchmark": f"{bench.scope} ({bench.n_peers} peers)",
            "targets": dg.MetadataValue.md(markdown_table(targets, floatfmt=",.4g")),
            "pacing": dg.MetadataValue.md(markdown_table(schedule.head(8))),
            "routing": routing["routing"],
        },
        check_results=[
            dg.AssetCheckResult(
                check_name="launch_ready",
                passed=not problems,
                metadata={"problems": "; ".join(problems) or "none"},
            )
        ],
    )


# ---------------------------------------------------------------- launch_monitoring


def _lead_quality(
    con: duckdb.DuckDBPyConnection,
    plan: dict,
    cid: str,
    start: date,
    as_of: date,
    settings: GtmSettings,
    benchmark_days: int = 180,
) -> tuple[float, float]:
    if not wh.table_exists(con, "marts.lead_score_history"):
        return np.nan, np.nan
    params = {
        **_window_params(cid, start, as_of, settings),
        "channel": plan["channel"],
        "launch_ts": _day_ts(start),
        "benchmark_days": benchmark_days,
    }
    q = wh.query_df(con, load_sql("marts/launch_lead_quality"), params).iloc[0]
    return float(q["campaign_quality"]), float(q["channel_quality"])


@dg.asset(
    partitions_def=campaign_partitions,
    group_name=GROUP,
    pool=WAREHOUSE_POOL,
    kinds={"duckdb", "python"},
    deps=["launch_plan"],
    description=(
        "Launch monitoring of one campaign's first weeks, week by week (spend, clicks, tracked "
        "touchpoints, credited leads, MQLs, SQLs) with its checks: tracking verified, live on "
        "schedule, performance within 20% of target in the first two weeks, MQL volume and "
        "quality vs expectation. Tables launch_monitoring and launch_checks."
    ),
    check_specs=[
        dg.AssetCheckSpec(
            "tracking_verified",
            asset="launch_monitoring",
            description="Its touchpoints carry its utm_campaign; spend without touchpoints is broken tracking.",
        ),
        dg.AssetCheckSpec(
            "live_on_schedule",
            asset="launch_monitoring",
            description="First spend within the grace days of the start date.",
        ),
        dg.AssetCheckSpec(
            "performance_within_tolerance",
            asset="launch_monitoring",
            description="CTR, CVR, CPA and projected ROAS within 20% of target over the first two weeks.",
        ),
        dg.AssetCheckSpec(
            "mql_volume_and_quality",
            asset="launch_monitoring",
            description="MQLs at least 80% of expectation and lead quality at least 80% of the channel's.",
        ),
        dg.AssetCheckSpec(
            "budget_pace",
            asset="launch_monitoring",
            description=(
                "Spend to date within 20% of the planned budget spread over the flight, and "
                "below the whole planned budget; says when the budget runs out."
            ),
        ),
    ],
)
def launch_monitoring(
    context: dg.AssetExecutionContext,
    config: LaunchMonitorConfig,
    warehouse: WarehouseResource,
    settings: GtmSettings,
) -> dg.MaterializeResult:
    cid = context.partition_key
    key = {"campaign_id": cid}
    with warehouse.connect() as con:
        plan = _plan_row(con, cid)
        if plan is None or core._as_date(plan.get("start_date")) is None:
            raise dg.Failure(f"no launch plan with a start date for campaign {cid}")
        as_of = date.fromisoformat(config.as_of) if config.as_of else core._as_date(plan["as_of"])
        start = core._as_date(plan["start_date"])
        daily, leads = campaign_window(con, cid, start, as_of, settings, config.mql_window_days)
        quality = _lead_quality(con, plan, cid, start, as_of, settings)
        result = core.evaluate_launch(
            plan,
            daily,
            leads,
            quality,
            as_of,
            tolerance=config.tolerance,
            first_window_days=config.first_window_days,
            grace_days=config.grace_days,
            mql_window_days=config.mql_window_days,
        )
        weekly = core.weekly_monitoring(daily, leads, start, as_of, config.monitor_days)
        if not weekly.empty and wh.table_exists(con, "marts.launch_pacing_schedule"):
            sched = con.execute(
                "select week_number, planned_spend from marts.launch_pacing_schedule "
                "where campaign_id = $cid",
                {"cid": cid},
            ).df()
            weekly = weekly.merge(sched, on="week_number", how="left")
        weekly["as_of"] = as_of
        n = write_typed(
            con,
            "marts.launch_monitoring",
            weekly,
            key,
            types={"week_start": "DATE", "week_end": "DATE", "planned_spend": "DOUBLE"},
        )
        mql = result["mql"]
        checks = pd.DataFrame(
            [
                (
                    "tracking_verified",
                    result["tracking"][0],
                    result["tracking"][1],
                    result["totals"]["touches"],
                    np.nan,
                ),
                ("live_on_schedule", result["schedule"][0], result["schedule"][1], np.nan, np.nan),
                (
                    "performance_within_tolerance",
                    result["perf"][0],
                    result["perf"][1],
                    *(
                        core.weakest_attainment(result["performance"])
                        if not result["performance"].empty
                        else (np.nan, np.nan)
                    ),
                ),
                (
                    "mql_volume_and_quality",
                    mql.passed,
                    mql.detail,
                    mql.volume_ratio,
                    1 - config.tolerance,
                ),
                (
                    "budget_pace",
                    result["budget_pace"][0],
                    result["budget_pace"][1],
                    result["totals"]["spend"],
                    plan.get("planned_budget"),
                ),
            ],
            columns=["check_name", "passed", "detail", "value", "threshold"],
        )
        checks["as_of"] = as_of
        write_typed(con, "marts.launch_checks", checks, key)
    severity = {
        "tracking_verified": dg.AssetCheckSeverity.ERROR,
        "live_on_schedule": dg.AssetCheckSeverity.WARN,
        "performance_within_tolerance": dg.AssetCheckSeverity.WARN,
        "mql_volume_and_quality": dg.AssetCheckSeverity.WARN,
        "budget_pace": dg.AssetCheckSeverity.WARN,
    }
    return dg.MaterializeResult(
        metadata={
            "dagster/row_count": n,
            "as_of": str(as_of),
            "spend": result["totals"]["spend"],
            "tracked_touchpoints": result["totals"]["touches"],
            "credited_leads": result["totals"]["leads"],
            "weeks": dg.MetadataValue.md(markdown_table(weekly)),
        },
        check_results=[
            dg.AssetCheckResult(
                check_name=r.check_name,
                passed=bool(r.passed),
                severity=severity[r.check_name],
                metadata={"detail": r.detail},
            )
            for r in checks.itertuples(index=False)
        ],
    )


# ---------------------------------------------------------------- launch_readout


def experiments_summary(experiments: pd.DataFrame) -> str:
    """One clause per experiment: each treatment arm's verdict and reason (control arms
    carry no verdict of their own); 'no readout yet' before its first monthly readout."""
    if experiments.empty:
        return "no experiment on this campaign"
    parts = []
    for _, g in experiments.groupby("experiment_id", sort=True):
        name = g["name"].iloc[0]
        arms = g[g["is_control"].eq(False)] if "is_control" in g else g
        if arms.empty or arms["verdict"].isna().all():
            parts.append(f"{name}: no readout yet")
            continue
        parts.append(
            f"{name}: "
            + ", ".join(
                f"{r.variant} {r.verdict}"
                + (f" ({r.verdict_reason})" if isinstance(r.verdict_reason, str) else "")
                for r in arms.itertuples()
            )
        )
    return "; ".join(parts)


@dg.asset(
    partitions_def=campaign_partitions,
    group_name=GROUP,
    pool=WAREHOUSE_POOL,
    kinds={"duckdb", "python"},
    deps=["launch_monitoring", dg.AssetDep("experiment_results", partition_mapping=_ALL)],
    description=(
        "Early-optimization readout of one campaign: its funnel (leads, MQLs, SQLs and rates "
        "vs the channel), its experiments' latest verdicts, and the week-4 decision (scale, "
        "pause or optimize) with the reason in numbers; 'pending' before day 28. Table "
        "launch_readout (+ launch_experiments)."
    ),
    check_specs=[
        dg.AssetCheckSpec(
            "decision_with_reason",
            asset="launch_readout",
            blocking=True,
            description="A decision from scale/pause/optimize/pending, with a reason.",
        )
    ],
)
def launch_readout(
    context: dg.AssetExecutionContext,
    config: LaunchDecisionConfig,
    warehouse: WarehouseResource,
    settings: GtmSettings,
) -> dg.MaterializeResult:
    cid = context.partition_key
    key = {"campaign_id": cid}
    with warehouse.connect() as con:
        plan = _plan_row(con, cid)
        if plan is None or core._as_date(plan.get("start_date")) is None:
            raise dg.Failure(f"no launch plan with a start date for campaign {cid}")
        as_of = date.fromisoformat(config.as_of) if config.as_of else core._as_date(plan["as_of"])
        start = core._as_date(plan["start_date"])
        stop = min(as_of, start + timedelta(days=config.decision_day - 1))
        daily, leads = campaign_window(con, cid, start, stop, settings, config.mql_window_days)
        quality = _lead_quality(con, plan, cid, start, stop, settings)
        result = core.evaluate_launch(
            plan,
            daily,
            leads,
            quality,
            stop,
            tolerance=config.tolerance,
            first_window_days=config.decision_day,
            grace_days=2,
            mql_window_days=config.mql_window_days,
        )
        days_live = (as_of - start).days + 1 if as_of >= start else 0
        targets = _targets_from_plan(plan)
        decision, reason = core.week4_decision(
            days_live,
            start,
            result["tracking"][0],
            result["performance"],
            result["mql"],
            result["totals"],
            targets["cpa"],
            decision_day=config.decision_day,
            tolerance=config.tolerance,
            pause_below=config.pause_below,
            indicative=core.cross_channel_targets(plan),
        )
        experiments = (
            wh.query_df(
                con, load_sql("marts/launch_experiments"), {"campaign_id": cid, "as_of": as_of}
            )
            if wh.table_exists(con, "marts.experiment_results")
            else pd.DataFrame()
        )
        with wh.gated(con) as gate:
            write_typed(
                con,
                "marts.launch_experiments",
                experiments,
                key,
                types={
                    "experiment_id": "VARCHAR",
                    "verdict": "VARCHAR",
                    "verdict_reason": "VARCHAR",
                    "readout_month": "DATE",
                    "variant": "VARCHAR",
                    "lift_rel": "DOUBLE",
                },
            )
            t = result["totals"]
            crm_leads = float(
                con.execute(
                    load_sql("marts/launch_crm_leads"),
                    {
                        "campaign_id": cid,
                        "start": _day_ts(start),
                        "stop_end": _day_ts(stop + timedelta(days=1)),
                    },
                ).fetchall()[0][0]
            )
            reason += core.crm_cross_check(
                t["leads"], crm_leads, t["spend"], targets["cpa"], config.tolerance
            )
            to_date, _ = campaign_window(con, cid, start, as_of, settings, config.mql_window_days)
            spend_to_date = core.window_totals(to_date, pd.DataFrame(), start, as_of)["spend"]
            pace_ok, pace_detail = core.budget_pace_check(
                plan.get("planned_budget", np.nan),
                start,
                core._as_date(plan.get("end_date")),
                as_of,
                spend_to_date,
                config.tolerance,
            )
            if not pace_ok:
                reason += f"; over budget pace: {pace_detail}"
            tests = experiments_summary(experiments)
            mql_rate = t["mqls"] / t["leads"] if t["leads"] > 0 else np.nan
            row = {
                "as_of": as_of,
                "days_live": days_live,
                "decision_window_end": stop,
                "spend": t["spend"],
                "spend_to_date": spend_to_date,
                "budget_pace_ok": pace_ok,
                "budget_pace": pace_detail,
                "tracked_touchpoints": t["touches"],
                "credited_leads": t["leads"],
                "crm_tagged_leads": crm_leads,
                "mqls": t["mqls"],
                "sqls": t["sqls"],
                "lead_to_mql_rate": mql_rate,
                "benchmark_mql_rate": plan.get("benchmark_mql_rate"),
                "mql_to_sql_rate": t["sqls"] / t["mqls"] if t["mqls"] > 0 else np.nan,
                "actual_ctr": result["metrics"]["ctr"],
                "actual_cvr": result["metrics"]["cvr"],
                "actual_cpa": core.finite_or_nan(result["metrics"]["cpa"]),
                "projected_roas": result["metrics"]["roas"],
                "attributed_roas": result["metrics"]["actual_roas"],
                **{f"target_{m}": targets[m] for m in core.TARGET_METRICS},
                "lead_quality": quality[0],
                "channel_lead_quality": quality[1],
                "experiments": tests,
                "decision": decision,
                "reason": reason,
                "decision_due": start + timedelta(days=config.decision_day),
            }
            write_typed(con, "marts.launch_readout", pd.DataFrame([row]), key)
            ok = decision in ("scale", "pause", "optimize", "pending") and bool(reason)
            check = dg.AssetCheckResult(
                check_name="decision_with_reason",
                passed=ok,
                metadata={"decision": decision, "reason": reason},
            )
            not_written = gate_checks(gate, launch_readout, [check])
    return dg.MaterializeResult(
        metadata={
            "dagster/row_count": 1,
            "decision": decision,
            "reason": reason,
            "experiments": tests,
            "days_live": days_live,
            **not_written,
        },
        check_results=[check],
    )


launch_read_copy = read_copy_asset(
    "launch_read_copy",
    partitions_def=campaign_partitions,
    group_name=GROUP,
    deps=["launch_readout"],
    description=(
        "Publishes the analysts' read-only copy of the warehouse (GTM_READ_COPY_PATH) after "
        "the readout, so the launch_* tables can be queried there."
    ),
)
