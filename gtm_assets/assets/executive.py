"""Executive role: the month's summary table, the HTML report, and the analysts' read copy.

These assets close the monthly review, so they depend on every other monthly asset; the
definitions build them with ``build_executive_assets(upstream_keys)`` once all role assets
are known.
"""

from collections.abc import Sequence
from datetime import UTC, date, datetime, timedelta
from html.parser import HTMLParser
from pathlib import Path

import dagster as dg

from gtm_assets import warehouse as wh
from gtm_assets.analytics.attribution import stored_coverage
from gtm_assets.analytics.insights import build_actions, build_insights
from gtm_assets.assets.common import (
    WAREHOUSE_POOL,
    covered_end,
    gate_checks,
    markdown_table,
    month_label,
    month_params,
    read_copy_asset,
    won_amounts,
)
from gtm_assets.partitions import add_months, monthly_partitions
from gtm_assets.report.render import render_html, render_markdown, write_atomically
from gtm_assets.report.sections import build_monthly_sections, first_lead_month, month_rows
from gtm_assets.resources import GtmSettings, WarehouseResource
from gtm_assets.sql_files import load_sql

HEADLINE_METRICS = (
    "spend",
    "revenue",
    "pipeline",
    "roi",
    "roas",
    "cac",
    "cpa",
    "ctr",
    "cvr",
    "leads",
    "mqls",
    "sqls",
    "opportunities",
    "customers",
)
REPORT_DEADLINE_BUSINESS_DAYS = 3


def report_path(reports_dir: str | Path, month: date) -> Path:
    return Path(reports_dir) / f"monthly-review-{month_label(month)}.html"


def report_deadline(month: date, business_days: int = REPORT_DEADLINE_BUSINESS_DAYS) -> datetime:
    """End of the n-th business day (Mon-Fri) after the month's last day, UTC."""
    day = add_months(month, 1) - timedelta(days=1)
    counted = 0
    while counted < business_days:
        day += timedelta(days=1)
        if day.weekday() < 5:
            counted += 1
    return datetime(day.year, day.month, day.day, 23, 59, 59, tzinfo=UTC)


class _SectionCollector(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.sections: dict[str, str] = {}

    def handle_starttag(self, tag, attrs):
        values = dict(attrs)
        if tag == "section" and "data-section" in values:
            self.sections[values["data-section"]] = values.get("data-status", "")


def report_sections_in(html: str) -> dict[str, str]:
    """Section key -> status ('ok' or 'skipped') found in a rendered report."""
    parser = _SectionCollector()
    parser.feed(html)
    return parser.sections


INSIGHT_INPUTS = (
    "executive_summary",
    "channel_performance",
    "funnel_bottlenecks",
    "budget_reallocation",
    "budget_waste",
    "attribution_model_comparison",
    "lead_threshold_recommendations",
    "experiment_results",
    "content_recommendations",
    "budget_pacing",
    "funnel_stages",
)


INSIGHTS_SCHEMA = {
    "month": "date",
    "rank": "integer",
    "kind": "varchar",
    "insight": "varchar",
    "metric": "varchar",
    "value": "double",
    "source": "varchar",
}
ACTIONS_SCHEMA = {
    "month": "date",
    "rank": "integer",
    "action": "varchar",
    "owner_role": "varchar",
    "expected_impact": "double",
    "impact_metric": "varchar",
    "revenue_equivalent": "double",
    "source": "varchar",
    "evidence": "varchar",
    "due_by": "date",
}


def build_executive_assets(upstream: Sequence[dg.AssetKey]) -> list[dg.AssetsDefinition]:
    """The executive summary, report and read-copy assets, downstream of ``upstream``."""
    upstream = list(upstream)

    @dg.asset(
        partitions_def=monthly_partitions,
        group_name="executive",
        pool=WAREHOUSE_POOL,
        kinds={"duckdb", "sql"},
        deps=upstream,
        description=(
            "Headline metrics of the month (spend, revenue, pipeline, ROI, ROAS, CAC, CPA, "
            "leads, MQLs, SQLs, customers...) against target and prior month, with a status."
        ),
        check_specs=[
            dg.AssetCheckSpec(
                "all_headline_metrics_present",
                asset="executive_summary",
                blocking=True,
                description="One row per headline metric for the month.",
            ),
            dg.AssetCheckSpec(
                "spend_matches_campaign_performance",
                asset="executive_summary",
                blocking=True,
                description="Spend in the summary equals spend in campaign performance.",
            ),
            dg.AssetCheckSpec(
                "month_complete",
                asset="executive_summary",
                blocking=False,
                description=(
                    "Warns when the exports end inside the month: its numbers are month to "
                    "date, compared with the same days of the prior month and prorated targets."
                ),
            ),
        ],
    )
    def executive_summary(
        context: dg.AssetExecutionContext, warehouse: WarehouseResource
    ) -> dg.MaterializeResult:
        params = month_params(context.partition_key)
        with warehouse.connect() as con:
            params["covered_end"] = covered_end(con, params["month_end"])
            with wh.gated(con) as gate:
                rows = wh.replace_month(
                    con,
                    "marts.executive_summary",
                    load_sql("marts/executive_summary"),
                    params["month_start"],
                    params,
                )
                con.execute(
                    "update marts.executive_summary as cur set prior_month_as_reported = prev.value "
                    "from marts.executive_summary as prev where cur.month = $month_start "
                    "and prev.month = $prior_month and prev.metric = cur.metric",
                    {"month_start": params["month_start"], "prior_month": params["prior_month"]},
                )
                df = wh.query_df(
                    con,
                    "select metric, value, target, prior_month, change_pct, status, partial_month, "
                    "days_covered, days_in_month "
                    "from marts.executive_summary where month = $month_start order by metric_order",
                    params,
                )
                campaign_spend = (
                    con.execute(
                        "select coalesce(sum(spend), 0) from marts.campaign_performance where month = $month_start",
                        {"month_start": params["month_start"]},
                    ).fetchall()[0][0]
                    if wh.table_exists(con, "marts.campaign_performance")
                    else None
                )
                present = set(df.metric)
                missing = [m for m in HEADLINE_METRICS if m not in present]
                summary_spend = (
                    float(df.loc[df.metric == "spend", "value"].iloc[0])
                    if "spend" in present
                    else 0.0
                )
                spend_ok = campaign_spend is not None and abs(
                    summary_spend - float(campaign_spend)
                ) <= 1e-6 * max(1.0, summary_spend)
                checks = [
                    dg.AssetCheckResult(
                        check_name="all_headline_metrics_present",
                        passed=not missing,
                        metadata={"missing": ", ".join(missing) or "none"},
                    ),
                    dg.AssetCheckResult(
                        check_name="spend_matches_campaign_performance",
                        passed=spend_ok,
                        metadata={
                            "summary_spend": summary_spend,
                            "campaign_performance_spend": float(campaign_spend or 0.0),
                        },
                    ),
                ]
                not_written = gate_checks(gate, executive_summary, checks)
        partial = bool(len(df)) and bool(df["partial_month"].iloc[0])
        coverage = (
            f"the exports end on day {int(df['days_covered'].iloc[0])} of "
            f"{int(df['days_in_month'].iloc[0])}: values are month to date, prior month over "
            "the same days, volume and money targets prorated"
            if partial
            else "whole month"
        )
        return dg.MaterializeResult(
            metadata={
                "dagster/row_count": rows,
                "coverage": coverage,
                "summary": dg.MetadataValue.md(markdown_table(df, max_rows=20)),
                **not_written,
            },
            check_results=[
                *checks,
                dg.AssetCheckResult(
                    check_name="month_complete",
                    passed=not partial,
                    severity=dg.AssetCheckSeverity.WARN,
                    metadata={"coverage": coverage},
                ),
            ],
        )

    @dg.asset(
        partitions_def=monthly_partitions,
        group_name="executive",
        pool=WAREHOUSE_POOL,
        kinds={"duckdb", "python"},
        deps=[*upstream, executive_summary.key],
        description=(
            "3-5 key insights as sentences with their numbers (marts.executive_insights) and "
            "the month's top 5 actions ranked by quantified expected impact "
            "(marts.action_items), drawn from budget, funnel, lead scoring, waste, "
            "experiments and content."
        ),
        check_specs=[
            dg.AssetCheckSpec(
                "at_most_five_actions",
                asset="action_items",
                blocking=True,
                description="The plan has at most five ranked actions.",
            ),
            dg.AssetCheckSpec(
                "actions_traceable",
                asset="action_items",
                blocking=True,
                description=(
                    "Every action has an owner, a due date, a numeric impact and a source "
                    "table that holds this month's evidence."
                ),
            ),
            dg.AssetCheckSpec(
                "three_to_five_insights",
                asset="action_items",
                blocking=False,
                description="The summary has between three and five data-driven insights.",
            ),
        ],
    )
    def action_items(
        context: dg.AssetExecutionContext, warehouse: WarehouseResource, settings: GtmSettings
    ) -> dg.MaterializeResult:
        month = month_params(context.partition_key)["month_start"]
        with warehouse.connect() as con:
            inputs = {name: month_rows(con, f"marts.{name}", month) for name in INSIGHT_INPUTS}
            prior_channels = month_rows(con, "marts.channel_performance", add_months(month, -1))
            data_start = first_lead_month(con)
            insights = build_insights(
                month,
                settings.currency,
                inputs["executive_summary"],
                channels=inputs["channel_performance"],
                bottlenecks=inputs["funnel_bottlenecks"],
                reallocation=inputs["budget_reallocation"],
                comparison=inputs["attribution_model_comparison"],
                won_amounts=won_amounts(con, month, add_months(month, 1)),
                lead_coverage=(
                    stored_coverage(con, month).get("lead"),
                    stored_coverage(con, add_months(month, -1)).get("lead"),
                ),
                prior_channels=prior_channels,
                pacing=inputs["budget_pacing"],
                funnel=inputs["funnel_stages"],
                data_start=data_start,
            )
            actions = build_actions(
                month,
                settings.currency,
                inputs["executive_summary"],
                reallocation=inputs["budget_reallocation"],
                waste=inputs["budget_waste"],
                bottlenecks=inputs["funnel_bottlenecks"],
                thresholds=inputs["lead_threshold_recommendations"],
                experiments=inputs["experiment_results"],
                content=inputs["content_recommendations"],
                pacing=inputs["budget_pacing"],
                channels=inputs["channel_performance"],
                prior_channels=prior_channels,
                funnel=inputs["funnel_stages"],
                data_start=data_start,
            )
            insights.insert(0, "month", month)
            actions.insert(0, "month", month)
            with wh.gated(con) as gate:
                wh.replace_month(
                    con, "marts.executive_insights", insights, month, schema=INSIGHTS_SCHEMA
                )
                written = wh.replace_month(
                    con, "marts.action_items", actions, month, schema=ACTIONS_SCHEMA
                )
                untraceable = [
                    f"rank {r['rank']}: {r['source']}"
                    for r in actions.to_dict("records")
                    if not r["owner_role"]
                    or r["due_by"] is None
                    or r["expected_impact"] is None
                    or r["source"] not in inputs
                    or inputs[r["source"]] is None
                    or inputs[r["source"]].empty
                ]
                checks = [
                    dg.AssetCheckResult(
                        check_name="at_most_five_actions",
                        passed=len(actions) <= 5,
                        metadata={"actions": len(actions)},
                    ),
                    dg.AssetCheckResult(
                        check_name="actions_traceable",
                        passed=not untraceable,
                        metadata={"untraceable": ", ".join(untraceable) or "none"},
                    ),
                ]
                not_written = gate_checks(gate, action_items, checks)
        return dg.MaterializeResult(
            metadata={
                "dagster/row_count": written,
                "insights": dg.MetadataValue.md(
                    "\n".join(
                        f"{i}. {t}"
                        for i, t in zip(insights["rank"], insights["insight"], strict=True)
                    )
                    or "_none_"
                ),
                "actions": dg.MetadataValue.md(
                    markdown_table(
                        actions[
                            [
                                "rank",
                                "action",
                                "owner_role",
                                "expected_impact",
                                "impact_metric",
                                "source",
                                "due_by",
                            ]
                        ]
                    )
                ),
                **not_written,
            },
            check_results=[
                *checks,
                dg.AssetCheckResult(
                    check_name="three_to_five_insights",
                    passed=3 <= len(insights) <= 5,
                    severity=dg.AssetCheckSeverity.WARN,
                    metadata={"insights": len(insights)},
                ),
            ],
        )

    @dg.asset(
        partitions_def=monthly_partitions,
        group_name="executive",
        pool=WAREHOUSE_POOL,
        kinds={"html"},
        deps=[*upstream, executive_summary.key, action_items.key],
        description=(
            "The monthly review as one self-contained HTML file under data/reports "
            "(monthly-review-YYYY-MM.html) and as markdown here."
        ),
        freshness_policy=dg.FreshnessPolicy.cron(
            deadline_cron="59 23 5 * *", lower_bound_delta=timedelta(days=5)
        ),
        check_specs=[
            dg.AssetCheckSpec(
                "report_complete",
                asset="monthly_report",
                blocking=True,
                description="Every section is in the written file, present or marked skipped with a reason.",
            ),
            dg.AssetCheckSpec(
                "ready_within_3_business_days",
                asset="monthly_report",
                blocking=False,
                description="The report of a closed month exists by the 3rd business day after month-end.",
            ),
        ],
    )
    def monthly_report(
        context: dg.AssetExecutionContext, warehouse: WarehouseResource, settings: GtmSettings
    ) -> dg.MaterializeResult:
        month = month_params(context.partition_key)["month_start"]
        with warehouse.connect() as con:
            sections = build_monthly_sections(con, month, settings.currency)
        title = f"Monthly marketing review — {month.strftime('%B %Y')}"
        subtitle = f"Month {month_label(month)} · reporting currency {settings.currency}"
        html = render_html(
            "monthly.html.j2",
            sections,
            title=title,
            subtitle=subtitle,
            currency=settings.currency,
            warehouse=warehouse.path,
        )
        path = write_atomically(report_path(settings.reports_dir, month), html)
        found = report_sections_in(path.read_text(encoding="utf-8"))
        expected = {s.key for s in sections}
        missing = sorted(expected - set(found))
        now = datetime.now(UTC)
        deadline = report_deadline(month)
        closed = now >= datetime(*add_months(month, 1).timetuple()[:3], tzinfo=UTC)
        return dg.MaterializeResult(
            metadata={
                "path": dg.MetadataValue.path(str(path.resolve())),
                "sections": len(sections),
                "skipped_sections": ", ".join(s.key for s in sections if s.status == "skipped")
                or "none",
                "report": dg.MetadataValue.md(
                    render_markdown(sections, title=title, subtitle=subtitle)
                ),
            },
            check_results=[
                dg.AssetCheckResult(
                    check_name="report_complete",
                    passed=not missing
                    and all(s.status in ("ok", "skipped") for s in sections)
                    and all(s.reason for s in sections if s.status == "skipped"),
                    metadata={"missing_sections": ", ".join(missing) or "none"},
                ),
                dg.AssetCheckResult(
                    check_name="ready_within_3_business_days",
                    passed=(not closed) or now <= deadline,
                    severity=dg.AssetCheckSeverity.WARN,
                    metadata={
                        "deadline": deadline.isoformat(),
                        "generated_at": now.isoformat(),
                        "late": closed and now > deadline,
                        "note": "a backfill of an old month is late by construction",
                    },
                ),
            ],
        )

    analyst_read_copy = read_copy_asset(
        "analyst_read_copy",
        partitions_def=monthly_partitions,
        group_name="executive",
        deps=[*upstream, executive_summary.key, action_items.key, monthly_report.key],
        description=(
            "Publishes a read-only copy of the warehouse for analysts (GTM_READ_COPY_PATH, "
            "default data/warehouse.read.duckdb), so an open analyst session never blocks a run."
        ),
    )

    return [executive_summary, action_items, monthly_report, analyst_read_copy]
