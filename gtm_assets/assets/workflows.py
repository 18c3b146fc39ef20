"""The three workflows' jobs, their schedule and sensor, and the execution modes.

- ``monthly_review`` (built in ``definitions.py``) is the full monthly run; the modes below
  run part of it for the same month partition:
  ``monthly_review_analysis_only`` (load, staging and every analysis, no budget/summary),
  ``monthly_review_planning_only`` (budget optimizer, executive summary, report; reads the
  analyses already in the warehouse) and ``monthly_review_<role>_only`` (one role's assets).
- ``quarterly_planning``: the quarter partitions' plan, scheduled after each quarter end
  (``quarterly_planning_quarter_end``).
- ``campaign_launch``: one dynamic partition per campaign; ``new_campaign_sensor`` adds
  the partition of every new campaign and requests its runs during its first weeks.

Entry points for the command line: ``run_quarter("2026-Q1")`` and ``run_launch("C0042")``.
"""

import os
from datetime import UTC, date, datetime
from pathlib import Path

import dagster as dg
import duckdb
import pandas as pd

from gtm_assets.analytics.launch import launch_requests
from gtm_assets.partitions import campaign_partitions, quarterly_partitions
from gtm_assets.resources import GtmSettings, WarehouseResource

WAREHOUSE_TAGS = {"gtm/warehouse": "writer"}
QUARTERLY_GROUP = "quarterly_planning"
LAUNCH_GROUP = "campaign_launch"

# ------------------------------------------------------------------- monthly execution modes

ANALYSIS_GROUPS = (
    "raw",
    "staging",
    "campaign_roi",
    "attribution",
    "funnel",
    "lead_scoring",
    "content",
    "experiments",
)
PLANNING_GROUPS = ("budget", "executive")
ROLE_GROUPS = (
    "campaign_roi",
    "attribution",
    "funnel",
    "lead_scoring",
    "budget",
    "content",
    "experiments",
    "executive",
)


def _monthly_mode(name: str, groups: tuple[str, ...], description: str):
    return dg.define_asset_job(
        name,
        selection=dg.AssetSelection.groups(*groups),
        executor_def=dg.in_process_executor,
        tags=WAREHOUSE_TAGS,
        description=description,
    )


monthly_review_analysis_only = _monthly_mode(
    "monthly_review_analysis_only",
    ANALYSIS_GROUPS,
    "Analysis only: load and validate the exports, staging, campaign ROI, attribution, "
    "funnel, lead scoring, content and experiments; no budget plan, summary or report.",
)
monthly_review_planning_only = _monthly_mode(
    "monthly_review_planning_only",
    PLANNING_GROUPS,
    "Planning only: budget optimizer (pacing, curves, reallocation, quarterly allocation), "
    "executive summary, report and read copy, from the analyses already in the warehouse.",
)
# one job per role: monthly_review_campaign_roi_only, monthly_review_attribution_only, ...
monthly_review_campaign_roi_only = _monthly_mode(
    "monthly_review_campaign_roi_only", ("campaign_roi",), "Campaign ROI analyst's assets alone."
)
monthly_review_attribution_only = _monthly_mode(
    "monthly_review_attribution_only", ("attribution",), "Attribution assets alone."
)
monthly_review_funnel_only = _monthly_mode(
    "monthly_review_funnel_only", ("funnel",), "Funnel assets alone."
)
monthly_review_lead_scoring_only = _monthly_mode(
    "monthly_review_lead_scoring_only", ("lead_scoring",), "Lead scoring assets alone."
)
monthly_review_budget_only = _monthly_mode(
    "monthly_review_budget_only", ("budget",), "Budget optimizer assets alone."
)
monthly_review_content_only = _monthly_mode(
    "monthly_review_content_only", ("content",), "Content analyst's assets alone."
)
monthly_review_experiments_only = _monthly_mode(
    "monthly_review_experiments_only", ("experiments",), "Experiment results alone."
)
monthly_review_executive_only = _monthly_mode(
    "monthly_review_executive_only",
    ("executive",),
    "Executive summary, report and read copy alone.",
)
monthly_review_load_only = _monthly_mode(
    "monthly_review_load_only",
    ("raw", "staging"),
    "Load and validate the exports and rebuild staging alone.",
)

# ------------------------------------------------------------------- quarterly planning

quarterly_planning = dg.define_asset_job(
    "quarterly_planning",
    selection=dg.AssetSelection.groups(QUARTERLY_GROUP),
    executor_def=dg.in_process_executor,
    tags=WAREHOUSE_TAGS,
    description=(
        "Quarterly planning for the quarter that just closed: review, trends and bottlenecks, "
        "next quarter's budget, goals, campaign calendar, testing roadmap, risks and the plan "
        "document. Reads the monthly marts of the quarter's three months."
    ),
)

# The monthly review of the quarter's last month runs at 06:00 UTC on the 1st; the plan
# follows a day later so it reads that month's outputs.
QUARTER_END_CRON = "0 6 2 1,4,7,10 *"


def closed_quarter_key(when: datetime) -> str:
    """Partition key of the last quarter that ended before ``when``."""
    q_start_month = 3 * ((when.month - 1) // 3) + 1
    year, month = (when.year, q_start_month - 3) if q_start_month > 3 else (when.year - 1, 10)
    return f"{year:04d}-{month:02d}-01"


@dg.schedule(
    name="quarterly_planning_quarter_end",
    cron_schedule=QUARTER_END_CRON,
    execution_timezone="UTC",
    job=quarterly_planning,
    default_status=dg.DefaultScheduleStatus.STOPPED,
    description=(
        "Plans the next quarter at 06:00 UTC on the 2nd day after each quarter end (a day "
        "after the monthly review of the quarter's last month), for the quarter just closed."
    ),
)
def quarterly_planning_quarter_end(context: dg.ScheduleEvaluationContext):
    when = context.scheduled_execution_time or datetime.now(UTC)
    key = closed_quarter_key(when)
    if key not in quarterly_partitions.get_partition_keys(current_time=when):
        return dg.SkipReason(f"quarter {key} is before the first partition (GTM_START_MONTH)")
    return dg.RunRequest(run_key=f"quarterly_planning:{key}", partition_key=key)


# ------------------------------------------------------------------- campaign launch

campaign_launch = dg.define_asset_job(
    "campaign_launch",
    selection=dg.AssetSelection.groups(LAUNCH_GROUP),
    executor_def=dg.in_process_executor,
    tags=WAREHOUSE_TAGS,
    description=(
        "One campaign's launch: planning outputs and the readiness gate, then launch "
        "monitoring (tracking, schedule, performance vs target, MQLs) and the week-4 decision."
    ),
)

MONITOR_DAYS = 42


def _read_campaigns_from_copy(path: Path) -> tuple[pd.DataFrame, date | None]:
    """Campaigns and the data's as-of day from the analysts' read copy (read-only)."""
    con = duckdb.connect(str(path), read_only=True)
    try:
        campaigns = con.execute(
            "select campaign_id, start_date, end_date, utm_campaign from staging.campaigns"
        ).df()
        as_of = con.execute("select max(date) from staging.ad_spend").fetchall()[0][0]
    finally:
        con.close()
    return campaigns, as_of


def _read_campaigns_from_raw(raw_dir: Path) -> pd.DataFrame | None:
    """Campaigns straight from the raw export (in-memory DuckDB, no warehouse lock)."""
    csv, parquet = raw_dir / "campaigns.csv", raw_dir / "campaigns.parquet"
    con = duckdb.connect()
    try:
        if csv.exists():
            rel = con.execute(
                "select * from read_csv($p, all_varchar = true, header = true)", {"p": str(csv)}
            ).df()
        elif parquet.exists():
            rel = con.execute("select * from read_parquet($p)", {"p": str(parquet)}).df()
        else:
            return None
    finally:
        con.close()
    rel.columns = [str(c).strip().lower() for c in rel.columns]
    if "campaign_id" not in rel.columns:
        return None
    out = pd.DataFrame({"campaign_id": rel["campaign_id"].astype("string").str.strip()})
    for column in ("start_date", "end_date"):
        values = rel[column] if column in rel.columns else None
        out[column] = (
            pd.to_datetime(values, errors="coerce").dt.date if values is not None else None
        )
    return out.dropna(subset=["campaign_id"])


@dg.sensor(
    name="new_campaign_sensor",
    job=campaign_launch,
    minimum_interval_seconds=300,
    default_status=dg.DefaultSensorStatus.STOPPED,
    description=(
        "Notices campaigns that have no launch partition yet, adds them and requests their "
        "launch run; while a campaign is in its first six weeks, requests a new run whenever "
        "newer data arrives. Reads the analysts' read copy read-only (or the raw campaigns "
        "export when no read copy exists), so it never holds the warehouse's write lock."
    ),
)
def new_campaign_sensor(
    context: dg.SensorEvaluationContext, warehouse: WarehouseResource, settings: GtmSettings
) -> dg.SensorResult | dg.SkipReason:
    copy = Path(warehouse.read_copy_path)
    if copy.exists():
        campaigns, as_of = _read_campaigns_from_copy(copy)
        source = f"read copy {copy}"
    else:
        campaigns = _read_campaigns_from_raw(Path(settings.raw_dir))
        as_of = None
        source = f"raw export in {settings.raw_dir}"
        if campaigns is None:
            return dg.SkipReason(f"no read copy at {copy} and no campaigns export to read")
    as_of = as_of or datetime.now(UTC).date()
    known = set(context.instance.get_dynamic_partitions(campaign_partitions.name))
    plan = launch_requests(campaigns, known, as_of, MONITOR_DAYS)
    if plan.invalid_ids:
        context.log.warning(
            f"campaign ids not usable as partition keys: {', '.join(plan.invalid_ids)}"
        )
    if not plan.new_ids and not plan.run_ids:
        return dg.SkipReason(
            f"no new campaign and none in its first {MONITOR_DAYS} days as of {as_of} ({source})"
        )
    return dg.SensorResult(
        dynamic_partitions_requests=(
            [campaign_partitions.build_add_request(plan.new_ids)] if plan.new_ids else []
        ),
        run_requests=[
            dg.RunRequest(
                run_key=f"{cid}@{as_of.isoformat()}",
                partition_key=cid,
                tags={"gtm/source": "new_campaign_sensor", "gtm/as_of": as_of.isoformat()},
            )
            for cid in plan.run_ids
        ],
    )


# ------------------------------------------------------------------- entry points


def quarter_partition_key(quarter: str) -> str:
    """``2026-Q1`` (or ``2026-01-01`` / ``2026-01``) -> the partition key ``2026-01-01``."""
    text = quarter.strip().upper()
    if "Q" in text:
        year, q = text.split("-Q")
        month = 3 * (int(q) - 1) + 1
        if not 1 <= int(q) <= 4:
            raise ValueError(f"not a quarter: {quarter!r}")
        return f"{int(year):04d}-{month:02d}-01"
    key = text if len(text) == 10 else f"{text}-01"
    value = date.fromisoformat(key)
    if value.day != 1 or value.month not in (1, 4, 7, 10):
        raise ValueError(f"not the first month of a quarter: {quarter!r}")
    return key


def _instance() -> dg.DagsterInstance:
    return (
        dg.DagsterInstance.get()
        if os.environ.get("DAGSTER_HOME")
        else dg.DagsterInstance.ephemeral()
    )


QUIET_LOGS = {"loggers": {"console": {"config": {"log_level": "CRITICAL"}}}}


def run_quarter(
    quarter: str,
    *,
    instance: dg.DagsterInstance | None = None,
    defs: dg.Definitions | None = None,
    quiet: bool = False,
) -> dg.ExecuteInProcessResult:
    """Run ``quarterly_planning`` for one quarter (``YYYY-QN``), in-process."""
    key = quarter_partition_key(quarter)
    if key not in quarterly_partitions.get_partition_keys():
        raise ValueError(
            f"quarter {quarter} is not runnable: quarters run from "
            f"{quarterly_partitions.get_first_partition_key()} to the last complete quarter "
            f"{quarterly_partitions.get_last_partition_key()}"
        )
    if defs is None:
        from gtm_assets.definitions import build_definitions

        defs = build_definitions()
    return defs.resolve_job_def("quarterly_planning").execute_in_process(
        partition_key=key,
        instance=instance or _instance(),
        raise_on_error=False,
        run_config=QUIET_LOGS if quiet else None,
    )


def run_launch(
    campaign_id: str,
    *,
    as_of: str | None = None,
    instance: dg.DagsterInstance | None = None,
    defs: dg.Definitions | None = None,
    quiet: bool = False,
) -> dg.ExecuteInProcessResult:
    """Add the campaign's partition (if new) and run ``campaign_launch`` for it, in-process.

    ``as_of`` (YYYY-MM-DD) evaluates the launch at that day instead of the warehouse's
    last day with ad spend."""
    instance = instance or _instance()
    if not instance.has_dynamic_partition(campaign_partitions.name, campaign_id):
        instance.add_dynamic_partitions(campaign_partitions.name, [campaign_id])
    if defs is None:
        from gtm_assets.definitions import build_definitions

        defs = build_definitions()
    run_config: dict = dict(QUIET_LOGS) if quiet else {}
    if as_of:
        run_config["ops"] = {
            name: {"config": {"as_of": as_of}}
            for name in ("launch_plan", "launch_monitoring", "launch_readout")
        }
    return defs.resolve_job_def("campaign_launch").execute_in_process(
        partition_key=campaign_id,
        instance=instance,
        raise_on_error=False,
        run_config=run_config or None,
    )
