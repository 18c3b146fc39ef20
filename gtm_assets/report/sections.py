"""Section builders of the monthly review report. Each reads the marts for one month.

A builder returns a ``Section``; when its input is missing it returns a skipped section
saying why, so the report is complete by construction (every section present or skipped
with a reason).
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import date, timedelta

import duckdb
import pandas as pd

from gtm_assets import warehouse as wh
from gtm_assets.analytics.attribution import MAX_COVERAGE_DROP, stored_coverage
from gtm_assets.analytics.insights import (
    early_warning_insight,
    gain_interval,
    moves_money,
    reallocation_uplift,
)
from gtm_assets.partitions import add_months
from gtm_assets.raw.report import quarantine_counts, stored_warnings
from gtm_assets.report import charts
from gtm_assets.report.model import Chart, Kpi, Section, Table, fmt, table_from_df
from gtm_assets.sql_files import load_sql

METRIC_LABELS = {
    "spend": ("Spend", "money"),
    "revenue": ("Revenue (won)", "money"),
    "pipeline": ("Pipeline created", "money"),
    "roi": ("ROI", "percent"),
    "roas": ("ROAS", "ratio"),
    "cac": ("CAC", "money"),
    "cpa": ("Cost per lead", "money"),
    "ctr": ("CTR", "percent"),
    "cvr": ("Click-to-lead rate", "percent"),
    "leads": ("Leads", "count"),
    "mqls": ("MQLs", "count"),
    "sqls": ("SQLs", "count"),
    "opportunities": ("Opportunities", "count"),
    "customers": ("Customers (won deals)", "count"),
}


def first_lead_month(con: duckdb.DuckDBPyConnection) -> date | None:
    """The first month with a lead in the exports (where the data begin)."""
    if not wh.table_exists(con, "staging.leads"):
        return None
    first = con.execute("select min(created_at) from staging.leads").fetchone()[0]
    return None if first is None else date(first.year, first.month, 1)


def month_rows(
    con: duckdb.DuckDBPyConnection, table: str, month: date, order_by: str = ""
) -> pd.DataFrame | None:
    """The month's slice of ``table`` or None when the table does not exist."""
    if not wh.table_exists(con, table):
        return None
    sql = f"select * from {wh.ident(table)} where month = $month"
    if order_by:
        sql += f" order by {order_by}"
    return wh.query_df(con, sql, {"month": month})


def _chart(fig_factory: Callable[[], object], title: str) -> Chart:
    svg = charts.figure_to_svg(fig_factory())
    png = charts.figure_to_png_b64(fig_factory())
    return Chart(title=title, svg=svg, png_b64=png)


#: A prior month's value that moved by more than this share since its own run is restated.
RESTATED_SHARE = 0.005


def restated_text(summary: pd.DataFrame, month: date, currency: str) -> str:
    """Which of the prior month's numbers the current exports restate (deals closed or
    stages recorded after that month's run), said once, with both values."""
    if "prior_month_as_reported" not in summary:
        return ""
    parts = []
    for r in summary.to_dict("records"):
        then, now = r.get("prior_month_as_reported"), r.get("prior_month")
        label, kind = METRIC_LABELS.get(r["metric"], (r["metric"], "number"))
        if kind not in ("money", "count") or pd.isna(then) or pd.isna(now):
            continue
        if abs(now - then) > RESTATED_SHARE * max(abs(then), 1.0):
            parts.append(
                f"{label.lower()} {fmt(then, kind, currency)} then, {fmt(now, kind, currency)} now"
            )
    if not parts:
        return ""
    prior = add_months(month, -1)
    return (
        f"Restated since {prior:%B}'s own run (late data: deals closed or stages recorded "
        f"after it): {'; '.join(parts)}. Prior-month changes here use the restated numbers; "
        f"re-run {prior:%B} to refresh its own slice and report."
    )


def _points(delta: float) -> str:
    """A change of a fraction shown in percentage points ("+23.6 pts", "+0.051 pts")."""
    pts = 100 * float(delta)
    return f"{pts:+.1f} pts" if abs(pts) >= 0.1 or pts == 0 else f"{pts:+.2g} pts"


def headline_section(con, month: date, currency: str) -> Section:
    title = "Headline KPIs vs target"
    df = month_rows(con, "marts.executive_summary", month, "metric_order")
    if df is None or df.empty:
        return Section.skipped(
            "headline", title, "the executive summary was not built for this month."
        )
    kpis = []
    for r in df.to_dict("records"):
        label, kind = METRIC_LABELS.get(r["metric"], (r["metric"], "number"))
        # a rate shown in percent changes by points: ROI from -75% to -52% is +23.6 pts,
        # not "+31%" of a negative number
        change = (
            _points(r["value"] - r["prior_month"])
            if kind == "percent" and pd.notna(r["value"]) and pd.notna(r["prior_month"])
            else fmt(r["change_pct"], "pct")
        )
        kpis.append(
            Kpi(
                label=label,
                value=fmt(r["value"], kind, currency),
                target=fmt(r["target"], kind, currency) if pd.notna(r["target"]) else "",
                prior=fmt(r["prior_month"], kind, currency),
                change=change,
                status=r["status"],
            )
        )
    section = Section(key="headline", title=title, kpis=kpis)
    restated = restated_text(df, month, currency)
    if restated:
        section.paragraphs.append(restated)
    first = df.iloc[0]
    if "partial_month" in df and bool(first["partial_month"]):
        days, total = int(first["days_covered"]), int(first["days_in_month"])
        prior = add_months(month, -1)
        section.paragraphs.append(
            f"Partial month: the exports end on {month + timedelta(days=days - 1):%d %B %Y}, "
            f"so {month:%B} covers days 1-{days} of {total}. Prior is 1-{days} {prior:%B}, "
            f"and the status of a volume or money metric is judged against its target "
            f"prorated to {days} of {total} days. Run the month again once it is complete."
        )
    return section


def trend_section(con, month: date, currency: str) -> Section:
    title = "Trends (last 6 months)"
    if not wh.table_exists(con, "marts.executive_summary"):
        return Section.skipped("trends", title, "the executive summary was not built.")
    df = wh.query_df(
        con,
        "select month, metric, value from marts.executive_summary "
        "where month > $start and month <= $month and metric in ('spend', 'revenue', 'pipeline', 'leads', 'customers') "
        "order by month",
        {"start": add_months(month, -6), "month": month},
    )
    if df.empty:
        return Section.skipped("trends", title, "no months materialized yet.")
    wide = df.pivot(index="month", columns="metric", values="value").sort_index()
    labels = [m.strftime("%Y-%m") for m in pd.to_datetime(wide.index)]
    money = {k: wide[k].tolist() for k in ("spend", "revenue", "pipeline") if k in wide}
    volume = {k: wide[k].tolist() for k in ("leads", "customers") if k in wide}
    section = Section(key="trends", title=title)
    section.charts.append(
        _chart(
            lambda: charts.line_chart(labels, money, f"Spend, revenue and pipeline ({currency})"),
            "Money trend",
        )
    )
    section.charts.append(
        _chart(lambda: charts.line_chart(labels, volume, "Leads and customers"), "Volume trend")
    )
    if len(labels) < 2:
        section.paragraphs.append(
            "Only one month is materialized so far; run a backfill for trends."
        )
    return section


def channel_section(con, month: date, currency: str) -> Section:
    title = "Channels: spend, attributed revenue and efficiency"
    df = month_rows(con, "marts.channel_performance", month, "level, spend desc")
    if df is None or df.empty:
        return Section.skipped(
            "channels", title, "channel performance was not built for this month."
        )
    level_order = {"channel": 0, "untracked": 1, "total": 2}
    df = df.sort_values("level", key=lambda s: s.map(level_order), kind="stable")
    channels_only = df[df.level == "channel"]
    model = df["attribution_model"].iloc[0]
    section = Section(key="channels", title=title)
    note = (
        f"Attributed figures use the {model.replace('_', ' ')} attribution model; opportunities "
        "and won deals are credited along the path of the lead that sourced them (roi_basis)."
    )
    untracked = df[df.level == "untracked"]
    if len(untracked):
        leads = untracked["leads"].iloc[0]
        note += (
            " The row 'untracked' holds conversions with no touch in the lookback window "
            "(for example CRM imports)"
            + (f": {leads:,.0f} leads" if leads and not pd.isna(leads) else "")
            + "; the total counts them."
        )
    section.paragraphs.append(note)
    names = channels_only.channel.tolist()
    series = {
        "spend": channels_only.spend.tolist(),
        "attributed revenue": channels_only.attributed_revenue.fillna(0).tolist(),
    }
    section.charts.append(
        _chart(
            lambda: charts.grouped_bars(
                names, series, f"Spend and attributed revenue by channel ({currency})"
            ),
            "Spend and revenue by channel",
        )
    )
    section.tables.append(
        table_from_df(
            df,
            "Channel performance and month-over-month change",
            {
                "channel": ("Channel", "text"),
                "spend": ("Spend", "money"),
                "spend_change_pct": ("Spend MoM", "pct"),
                "leads": ("Leads", "count"),
                "leads_change_pct": ("Leads MoM", "pct"),
                "customers": ("Customers", "count"),
                "attributed_revenue": ("Revenue", "money"),
                "revenue_change_pct": ("Revenue MoM", "pct"),
                "roas": ("ROAS", "ratio"),
                "cpa": ("CPA", "money"),
                "target_spend": ("Target spend", "money"),
            },
            currency,
        )
    )
    return section


_CAMPAIGN_COLUMNS = {
    "campaign_name": ("Campaign", "text"),
    "channel": ("Channel", "text"),
    "spend": ("Spend", "money"),
    "clicks": ("Clicks", "count"),
    "leads": ("Leads", "count"),
    "customers": ("Customers", "count"),
    "attributed_revenue": ("Revenue", "money"),
    "roas": ("ROAS", "ratio"),
    "target_roas": ("Target ROAS", "ratio"),
    "cpa": ("CPA", "money"),
    "target_cpa": ("Target CPA", "money"),
    "roas_change_pct": ("ROAS MoM", "pct"),
    "roas_vs_trailing_3m_pct": ("ROAS vs 3-mo", "pct"),
}


def campaign_section(con, month: date, currency: str) -> Section:
    title = "Campaigns: top and bottom performers"
    df = month_rows(con, "marts.campaign_performance", month, "spend desc")
    if df is None or df.empty:
        return Section.skipped(
            "campaigns", title, "campaign performance was not built for this month."
        )
    section = Section(key="campaigns", title=title)
    ranked = df[df.performance_tier.isin(["top", "bottom"])].sort_values("performance_rank")
    thin = int((df.performance_tier == "insufficient_volume").sum())
    spent = int((df.spend.fillna(0) > 0).sum())
    section.paragraphs.append(
        f"{spent} campaigns spent this month ({len(df)} with spend or attributed outcomes); "
        f"{thin} had too little volume to rank (minimum clicks and spend in settings)."
    )
    section.tables.append(
        table_from_df(
            ranked[ranked.performance_tier == "top"],
            "Top performers (by ROAS)",
            _CAMPAIGN_COLUMNS,
            currency,
        )
    )
    section.tables.append(
        table_from_df(
            ranked[ranked.performance_tier == "bottom"],
            "Bottom performers (by ROAS)",
            _CAMPAIGN_COLUMNS,
            currency,
        )
    )
    section.tables.append(
        table_from_df(df, "All campaigns by spend", _CAMPAIGN_COLUMNS, currency, max_rows=40)
    )
    return section


def campaign_channel_note(con, month: date) -> str | None:
    """The month's touchpoints that name a campaign but carry another channel than the
    campaign's, said for the analyst (None when there are none)."""
    if not wh.table_exists(con, "staging.campaigns"):
        return None
    conflicts = wh.query_df(
        con,
        load_sql("staging/campaign_channel_conflicts"),
        {"start": month, "end": add_months(month, 1)},
    )
    if conflicts.empty:
        return None
    top = conflicts.iloc[0]
    more = f" and {len(conflicts) - 1} more campaign-channel pair(s)" if len(conflicts) > 1 else ""
    return (
        f"{int(conflicts['touchpoints'].sum()):,} touchpoints this month name a campaign but "
        f"carry another channel than the campaign's (most: {top['campaign_id']}, a "
        f"{top['campaign_channel']} campaign, {int(top['touchpoints']):,} touchpoints as "
        f"{top['touch_channel']}{more}). Campaign ROI counts them for the campaign; channel "
        "ROAS counts them for their own channel while the campaign's spend stays with its "
        "channel. Check the campaign's channel or its utm tags."
    )


def data_quality_section(con, month: date, currency: str) -> Section:
    title = "Data quality"
    if not wh.table_exists(con, "raw.load_manifest"):
        return Section.skipped("data_quality", title, "no raw load recorded.")
    manifest = wh.query_df(
        con,
        "select table_name, present, rows_read, rows_loaded, rows_quarantined from raw.load_manifest order by table_name",
    )
    section = Section(key="data_quality", title=title)
    quarantined = int(manifest.rows_quarantined.fillna(0).sum())
    absent = manifest[~manifest.present.astype(bool)].table_name.tolist()
    section.paragraphs.append(
        f"{quarantined:,} input rows were quarantined (query the quarantine schema for each row and the rule it broke)."
        if quarantined
        else "No input rows were quarantined."
    )
    if absent:
        section.paragraphs.append("Optional tables not supplied: " + ", ".join(absent) + ".")
    for warning in stored_warnings(con):
        section.paragraphs.append(f"Kept, but check: {warning}.")
    if wh.table_exists(con, "staging.touchpoints"):
        counts = con.execute(
            "select count(*), count(*) filter (where channel = 'unclassified') from staging.touchpoints "
            "where ts >= $start and ts < $end",
            {"start": month, "end": add_months(month, 1)},
        ).fetchall()[0]
        if counts[0]:
            section.paragraphs.append(
                f"{counts[1]:,} of {counts[0]:,} touchpoints this month ({counts[1] / counts[0]:.1%}) had utm values no channel rule could classify."
            )
        conflict = campaign_channel_note(con, month)
        if conflict:
            section.paragraphs.append(conflict)
    if quarantined:
        section.tables.append(
            table_from_df(
                quarantine_counts(con),
                "Quarantined rows by table, rule and column",
                {
                    "table_name": ("Table", "text"),
                    "rule": ("Rule", "text"),
                    "column_name": ("Column", "text"),
                    "rows": ("Rows", "count"),
                },
                currency,
            )
        )
    section.tables.append(
        table_from_df(
            manifest,
            "Rows per input table",
            {
                "table_name": ("Table", "text"),
                "present": ("Supplied", "text"),
                "rows_read": ("Rows read", "count"),
                "rows_loaded": ("Loaded", "count"),
                "rows_quarantined": ("Quarantined", "count"),
            },
            currency,
        )
    )
    return section


SectionBuilder = Callable[[duckdb.DuckDBPyConnection, date, str], Section]

MONTHLY_SECTIONS: list[SectionBuilder] = [
    headline_section,
    trend_section,
    channel_section,
    campaign_section,
    data_quality_section,
]


def build_monthly_sections(con, month: date, currency: str) -> list[Section]:
    return [builder(con, month, currency) for builder in MONTHLY_SECTIONS]


def table_list(sections: list[Section]) -> list[Table]:
    return [t for s in sections for t in s.tables]


# --- sections fed by the role analyses ------------------------------------------------


def insights_and_actions_section(con, month: date, currency: str) -> Section:
    title = "Key insights and action plan"
    insights = month_rows(con, "marts.executive_insights", month, "rank")
    actions = month_rows(con, "marts.action_items", month, "rank")
    if insights is None and actions is None:
        return Section.skipped("actions", title, "the action plan was not built for this month.")
    section = Section(key="actions", title=title)
    if insights is not None:
        section.paragraphs = insights["insight"].tolist()
    if actions is not None and not actions.empty:
        section.tables.append(
            table_from_df(
                actions,
                "Top actions, ranked by expected impact",
                {
                    "rank": ("#", "count"),
                    "action": ("Action", "text"),
                    "owner_role": ("Owner", "text"),
                    "expected_impact": ("Expected impact", "number"),
                    "impact_metric": ("Unit", "text"),
                    "source": ("Evidence (asset)", "text"),
                    "due_by": ("Due", "text"),
                },
                currency,
            )
        )
    elif actions is not None:
        section.paragraphs.append("No action met the evidence bar this month.")
    return section


MODELS = [
    "first_touch",
    "last_touch",
    "linear",
    "time_decay",
    "position_based",
    "markov",
    "shapley",
]


def attribution_section(con, month: date, currency: str) -> Section:
    title = "Attribution: which channels drive conversions"
    df = month_rows(con, "marts.channel_attribution", month)
    if df is None or df.empty:
        return Section.skipped(
            "attribution", title, "attribution was not built for this month (no touchpoints?)."
        )
    section = Section(key="attribution", title=title)
    section.paragraphs.append(
        "Attribution reads who touched whom before converting; it cannot tell a channel that "
        "persuades from one that finds people already on their way (retargeting, brand search, "
        "email to engaged leads). Before moving large budgets on it, confirm with a holdout or "
        "geo test."
    )
    for ctype, label in (("lead", "leads"), ("won", "won deals")):
        sub = df[df.conversion_type == ctype]
        if sub.empty:
            continue
        wide = sub.pivot_table(
            index="channel", columns="model", values="share", aggfunc="sum"
        ).reindex(columns=[m for m in MODELS if m in set(sub.model)])
        wide = wide.sort_values(wide.columns[-1], ascending=False).reset_index()
        columns = {"channel": ("Channel", "text")} | {
            m: (m.replace("_", " "), "percent") for m in wide.columns if m != "channel"
        }
        section.tables.append(table_from_df(wide, f"Share of {label} by model", columns, currency))
        if ctype == "won":
            section.paragraphs.append(
                "Won-deal shares above use each deal's own path: every touch up to the win, "
                "including the lead's own form fill and the nurture between lead and deal, so "
                "under the rule-based models the channel people fill forms through (often "
                "direct) scores high; markov and shapley leave the lead's form-fill session "
                "out but still credit the nurture. What sourced the deals is the lead-sourced "
                "credit that campaign ROI uses (Channels section; docs/attribution.md)."
            )
        if ctype == "lead" and "coverage" in sub:
            coverage = (
                float(sub["coverage"].dropna().iloc[0]) if sub["coverage"].notna().any() else None
            )
            if coverage is not None:
                prior = stored_coverage(con, add_months(month, -1)).get("lead")
                section.paragraphs.append(
                    f"{coverage:.0%} of this month's leads had at least one touchpoint in the "
                    "lookback window"
                    + (
                        f", down from {prior:.0%} last month: the credit above covers fewer "
                        "leads, so a channel's fall this month is partly a tracking gap "
                        "(untagged forms, a lost pixel or an import), not performance. Check "
                        "the tracking before acting on channel changes."
                        if prior is not None and prior - coverage >= MAX_COVERAGE_DROP
                        else "."
                    )
                )
    disagreement = month_rows(con, "marts.attribution_model_disagreement", month)
    if disagreement is not None and not disagreement.empty:
        lead = disagreement[disagreement.conversion_type == "lead"].sort_values(
            "tv_distance", ascending=False
        )
        if not lead.empty:
            top = lead.iloc[0]
            section.paragraphs.append(
                f"The two models furthest apart are {top['model_a'].replace('_', ' ')} and "
                f"{top['model_b'].replace('_', ' ')}: {top['tv_distance']:.0%} of lead credit "
                "sits with different channels (total-variation distance of their shares)."
            )
    stats = month_rows(con, "marts.attribution_path_stats", month)
    if stats is not None and not stats.empty:
        section.tables.append(
            table_from_df(
                stats,
                "Path length and time to conversion (days from the first touch inside the "
                "lookback window, so never more than the lookback)",
                {
                    "conversion_type": ("Conversion", "text"),
                    "metric": ("Measure", "text"),
                    "median": ("Median", "number"),
                    "p75": ("p75", "number"),
                    "p90": ("p90", "number"),
                    "median_change": ("Median vs prior month", "number"),
                },
                currency,
            )
        )
    return section


def funnel_section(con, month: date, currency: str) -> Section:
    title = "Funnel health and the bottleneck"
    stages = month_rows(con, "marts.funnel_stages", month)
    if stages is None or stages.empty:
        return Section.skipped("funnel", title, "the funnel was not built for this month.")
    section = Section(key="funnel", title=title)
    overall = stages[stages.segment_type == "all"]
    section.tables.append(
        table_from_df(
            overall,
            "Stage conversion (mature cohorts) and velocity",
            {
                "from_stage": ("From", "text"),
                "to_stage": ("To", "text"),
                "cohort_month": ("Cohort", "text"),
                "entered": ("Entered", "count"),
                "converted": ("Converted", "count"),
                "conversion_rate": ("Rate", "percent"),
                "period_rate": ("Period rate", "percent"),
                "median_days_to_convert": ("Median days", "number"),
                "p75_days_to_convert": ("p75 days", "number"),
            },
            currency,
        )
    )
    for r in overall[overall.entered.fillna(0) == 0].itertuples():
        section.paragraphs.append(
            f"{r.from_stage} → {r.to_stage}: the cohort that has had its whole "
            f"{int(r.window_days)}-day window ({pd.Timestamp(r.cohort_month):%Y-%m}) holds no "
            "entries in the data yet, so there is no mature rate; the period rate stands in."
        )
    bottlenecks = month_rows(con, "marts.funnel_bottlenecks", month)
    early = early_warning_insight(stages, bottlenecks, first_lead_month(con))
    if early is not None:
        section.paragraphs.append(early["insight"])
    if bottlenecks is not None and not bottlenecks.empty:
        flagged = bottlenecks[bottlenecks.flagged.fillna(False).astype(bool)].sort_values(
            ["downstream_customers_lost"], ascending=False
        )
        if flagged.empty:
            section.paragraphs.append(
                "No mature cohort fell significantly short of its target or 3-month baseline."
            )
            return section
        section.tables.append(
            table_from_df(
                flagged,
                "Significant shortfalls (ranked by customers lost downstream)",
                {
                    "segment_type": ("Segment", "text"),
                    "segment": ("Value", "text"),
                    "from_stage": ("From", "text"),
                    "to_stage": ("To", "text"),
                    "conversion_rate": ("Rate", "percent"),
                    "baseline_rate": ("Baseline", "percent"),
                    "target_rate": ("Target", "percent"),
                    "p_adj_vs_baseline": ("adj. p", "ratio"),
                    "downstream_customers_lost": ("Customers lost", "number"),
                },
                currency,
                max_rows=15,
            )
        )
    return section


def _unscored_leads(con, before: date) -> int:
    """Leads created before ``before`` that no month has scored yet."""
    if not wh.table_exists(con, "marts.lead_scores"):
        return 0
    if "unscored" not in wh.table_columns(con, "marts.lead_scores"):
        return 0
    return int(
        con.execute(
            "select count(*) from marts.lead_scores as s inner join staging.leads as l "
            "using (lead_id) where s.unscored and l.created_at < $before",
            {"before": before},
        ).fetchall()[0][0]
    )


def lead_quality_section(con, month: date, currency: str) -> Section:
    title = "Lead quality and scoring"
    perf = month_rows(con, "marts.lead_model_performance", month)
    if perf is None or perf.empty:
        return Section.skipped("lead_quality", title, "lead scoring was not built for this month.")
    section = Section(key="lead_quality", title=title)
    p = perf.iloc[0]
    if bool(p.get("model_fitted", True)):
        section.kpis = [
            Kpi("AUC (out of time)", fmt(p.get("auc"), "ratio")),
            Kpi("CRM MQL rule AUC", fmt(p.get("crm_mql_auc"), "ratio")),
            Kpi("Brier score", fmt(p.get("brier"), "ratio")),
            Kpi("Calibration error (ECE)", fmt(p.get("ece"), "ratio")),
            Kpi("Scores written (new and still-open leads)", fmt(p.get("n_scored"), "count")),
            Kpi("MQLs by score", fmt(p.get("mqls_scored"), "count")),
        ]
        section.paragraphs.append(f"MQL rule: {p.get('mql_rule')}.")
        touch_note = p.get("post_sql_touch_note")
        if isinstance(touch_note, str) and touch_note:
            section.paragraphs.append(f"Engagement features: {touch_note}.")
        auc, crm_auc = p.get("auc"), p.get("crm_mql_auc")
        if pd.notna(auc) and pd.notna(crm_auc) and float(auc) < float(crm_auc):
            section.paragraphs.append(
                _weaker_score_note(
                    float(auc),
                    float(crm_auc),
                    month_rows(con, "marts.lead_threshold_recommendations", month),
                )
            )
    else:
        section.paragraphs.append(f"No model this month: {p.get('note')}")
        waiting = _unscored_leads(con, add_months(month, 1))
        if waiting:
            section.paragraphs.append(
                f"{waiting:,} leads created by the end of the month have no score yet "
                "(marts.lead_scores.unscored); the next month that can fit a model scores them."
            )
    for table, heading, columns in (
        (
            "lead_threshold_recommendations",
            "Threshold options",
            {
                "rule": ("Rule", "text"),
                "mqls_per_month": ("MQLs / month", "number"),
                "sqls_per_month": ("SQLs / month", "number"),
                "precision": ("SQL precision", "percent"),
                "recall": ("Recall", "percent"),
                "is_recommended": ("Recommended", "text"),
            },
        ),
        (
            "lead_mql_quality",
            "MQL → SQL by source, channel and campaign (95% CI)",
            {
                "dimension": ("Dimension", "text"),
                "value": ("Value", "text"),
                "mqls": ("MQLs", "count"),
                "sqls": ("SQLs", "count"),
                "sql_rate": ("SQL rate", "percent"),
                "ci_low": ("CI low", "percent"),
                "ci_high": ("CI high", "percent"),
            },
        ),
        (
            "lead_model_factors",
            "Strongest factors (odds ratio per standard deviation)",
            {
                "feature": ("Feature", "text"),
                "odds_ratio_per_sd": ("Odds ratio / SD", "ratio"),
                "direction": ("Direction", "text"),
            },
        ),
    ):
        df = month_rows(con, f"marts.{table}", month)
        if df is not None and not df.empty:
            if table == "lead_threshold_recommendations":
                df = df[
                    df.is_recommended.fillna(False).astype(bool)
                    | df.rule.str.contains("crm", case=False, na=False)
                    | (df.index % 3 == 0)
                ]
            section.tables.append(table_from_df(df, heading, columns, currency, max_rows=15))
    return section


def _weaker_score_note(auc: float, crm_auc: float, options: pd.DataFrame | None) -> str:
    """What to do when the score ranks leads worse than the CRM's MQL rule: keep the CRM
    rule, unless the threshold table recommends a stricter score threshold (the configured
    MQL rule), which then is a trade of SQLs for fewer MQLs, said with its numbers."""
    lead = (
        f"The score ranks the validation leads worse than the CRM's MQL rule (AUC "
        f"{auc:.2f} vs {crm_auc:.2f})"
    )
    rec = crm = None
    if options is not None and not options.empty:
        marked = options[options.is_recommended.fillna(False).astype(bool)]
        crm_rows = options[options.rule.str.contains("crm", case=False, na=False)]
        rec = marked.iloc[0] if len(marked) else None
        crm = crm_rows.iloc[0] if len(crm_rows) else None
    if rec is None or crm is None or rec["rule"] == crm["rule"]:
        return f"{lead}: keep the CRM rule, and read the score as information only this month."
    trade = (
        "It is a choice of fewer MQLs for sales, not a better rule; keep the CRM rule unless "
        "sales capacity is the constraint."
        if rec["mqls_per_month"] < crm["mqls_per_month"]
        else "It buys its extra SQLs with more MQLs for sales to work, from a score that ranks "
        "leads worse; keep the CRM rule."
    )
    return (
        f"{lead}. The recommended '{rec['rule']}' follows the configured MQL rule: "
        f"{rec['sqls_per_month']:.1f} SQLs a month from {rec['mqls_per_month']:.0f} MQLs, "
        f"against {crm['sqls_per_month']:.1f} from {crm['mqls_per_month']:.0f} with the CRM "
        f"rule. {trade}"
    )


def _gain_interval_text(realloc: pd.DataFrame, currency: str) -> str:
    """The gain's bootstrap interval, and what it means when it includes 0 (nothing when
    no money moves: there is no move to test)."""
    low, high = gain_interval(realloc)
    if low is None or not moves_money(realloc):
        return ""
    text = f" (interval {fmt(low, 'money', currency)} to {fmt(high, 'money', currency)}"
    if low <= 0:
        text += ": it includes no gain, so test the move on part of the budget"
    return text + ")"


#: A channel's uneven daily spend is named when it cost at least this share of its outcome.
FLIGHTING_SHORTFALL_SHOWN = 0.05


def _uneven_spend_text(curves) -> str:
    """The sentence naming channels whose bursts of spend this month cost revenue against
    an even spread (``flighting_shortfall``), or "" when none did."""
    if curves is None or curves.empty or "flighting_shortfall" not in curves:
        return ""
    rows = curves[
        (curves["metric"] == "revenue")
        & (curves["flighting_shortfall"].fillna(0) >= FLIGHTING_SHORTFALL_SHOWN)
    ].sort_values("flighting_shortfall", ascending=False)
    if rows.empty:
        return ""
    named = ", ".join(f"{r.channel} ({r.flighting_shortfall:.0%})" for r in rows.itertuples())
    return (
        "Spent in bursts: these channels' results saturate on the day's spend, and this "
        "month's uneven days earned an expected share less than the same money spread "
        f"evenly would have: {named}. The curves and the recommendation assume an even "
        "spread; spending next month in the same bursts would return less than shown."
    )


def budget_section(con, month: date, currency: str) -> Section:
    title = "Budget: pacing, response curves and the recommended reallocation"
    realloc = month_rows(con, "marts.budget_reallocation", month)
    if realloc is None or realloc.empty:
        return Section.skipped(
            "budget", title, "the budget optimizer was not built for this month."
        )
    section = Section(key="budget", title=title)
    uplift = reallocation_uplift(realloc)
    reserve_text = ""
    if "test_reserve_amount" in realloc and pd.notna(realloc["test_reserve_amount"].iloc[0]):
        first = realloc.iloc[0]
        source = (
            "the budget plan" if first["budget_source"] == "budget_plan" else "this month's spend"
        )
        reserve_text = (
            f"Next month's budget is {fmt(first['next_budget'], 'money', currency)} (from {source}); "
            f"{fmt(first['test_reserve_amount'], 'money', currency)} of it is the test reserve "
            "for experiments, the rest is allocated. "
        )
    section.paragraphs.append(
        reserve_text
        + f"Recommended spend totals {fmt(realloc.recommended_spend.sum(), 'money', currency)} against "
        f"{fmt(realloc.current_spend.sum(), 'money', currency)} current; expected revenue changes by "
        f"{fmt(uplift, 'money', currency)} against the current mix at the same budget"
        + _gain_interval_text(realloc, currency)
        + "."
    )
    movable = realloc[realloc.upper_bound > realloc.lower_bound + 1e-9]
    can_move = set(movable.channel)
    held = ", ".join(
        f"{r.channel} ({r.pinned_reason})"
        for r in realloc.itertuples()
        if r.channel not in can_move and isinstance(r.pinned_reason, str)
    )
    if len(movable) < 2:
        section.paragraphs.append(
            f"{'Only one channel' if len(movable) else 'No channel'} could move this month, so "
            f"no money can shift between channels; held: {held or 'every other channel'}."
        )
    elif held:
        section.paragraphs.append(
            f"Held at the current mix (no move recommended, none measured): {held}."
        )
    cut_only = ", ".join(
        r.channel
        for r in realloc.itertuples()
        if r.channel in can_move and isinstance(r.pinned_reason, str)
    )
    if cut_only:
        section.paragraphs.append(
            "Without a usable response curve, priced at their average return and allowed "
            "only to lose budget (a saturating channel's marginal return is at most its "
            f"average, so one whose average is below the others' marginal return should "
            f"lose money; nothing says it would use more well): {cut_only}."
        )
    curves = month_rows(con, "marts.budget_response_curves", month)
    uneven = _uneven_spend_text(curves)
    if uneven:
        section.paragraphs.append(uneven)
    if "note" in realloc:
        for r in realloc[realloc["note"].notna()].itertuples():
            section.paragraphs.append(f"{r.channel}: {r.note}.")
    section.tables.append(
        table_from_df(
            realloc,
            "Current vs recommended spend by channel",
            {
                "channel": ("Channel", "text"),
                "current_spend": ("Current", "money"),
                "reference_spend": ("Current mix at next budget", "money"),
                "recommended_spend": ("Recommended", "money"),
                "lower_bound": ("Min", "money"),
                "upper_bound": ("Max", "money"),
                "marginal_roas_current": ("mROAS now", "ratio"),
                "marginal_roas_recommended": ("mROAS after", "ratio"),
                "expected_revenue_current": ("Exp. revenue now", "money"),
                "expected_revenue_reference": ("Exp. revenue, current mix at next budget", "money"),
                "expected_revenue_recommended": ("Exp. revenue after", "money"),
            },
            currency,
        )
    )
    pacing = month_rows(con, "marts.budget_pacing", month)
    if pacing is not None and not pacing.empty:
        section.tables.append(
            table_from_df(
                pacing[pacing.level == "channel"],
                "Pacing against plan",
                {
                    "channel": ("Channel", "text"),
                    "mtd_spend": ("Spend", "money"),
                    "planned_spend": ("Plan", "money"),
                    "pacing_ratio": ("Pace", "ratio"),
                    "status": ("Status", "text"),
                    "run_out_date": ("Runs out", "text"),
                },
                currency,
            )
        )
    boot = month_rows(con, "marts.budget_curve_bootstrap", month)
    points = month_rows(con, "marts.budget_curve_points", month)
    if curves is not None and not curves.empty and boot is not None and points is not None:
        from calendar import monthrange

        from gtm_assets.analytics.budget import channel_plots

        nxt = add_months(month, 1)
        plots = channel_plots(
            curves, boot, points, realloc, "revenue", monthrange(nxt.year, nxt.month)[1]
        )
        import base64

        for channel, png in plots.items():
            section.charts.append(
                Chart(
                    title=f"{channel} response curve",
                    svg="",
                    png_b64=base64.b64encode(png).decode("ascii"),
                )
            )
        section.tables.append(
            table_from_df(
                curves[curves.metric == "revenue"],
                "Response curves (weekly, attributed revenue)",
                {
                    "channel": ("Channel", "text"),
                    "top": ("Max weekly revenue", "money"),
                    "k": ("Half-saturation spend", "money"),
                    "n": ("Shape", "ratio"),
                    "r2": ("R²", "ratio"),
                    "average_return_current": ("Avg ROAS", "ratio"),
                    "marginal_return_current": ("Marginal ROAS", "ratio"),
                    "usable": ("Used", "text"),
                    "reason": ("Note", "text"),
                },
                currency,
            )
        )
    return section


def content_section(con, month: date, currency: str) -> Section:
    title = "Content and SEO"
    perf = month_rows(con, "marts.content_performance", month)
    if perf is None:
        return Section.skipped(
            "content", title, "content performance was not built for this month."
        )
    if perf.empty:
        return Section.skipped(
            "content",
            title,
            "no content activity this month (the content or content_daily export is missing, "
            "empty, or has no rows for this month).",
        )
    section = Section(key="content", title=title)
    columns = {
        "title": ("Content", "text"),
        "content_type": ("Type", "text"),
        "topic": ("Topic", "text"),
        "pageviews": ("Pageviews", "count"),
        "engaged_hours": ("Engaged hours", "number"),
        "form_fills": ("Form fills", "count"),
        "assisted_leads": ("Assisted leads", "count"),
        "revenue_linear": ("Revenue (linear)", "money"),
    }
    section.tables.append(
        table_from_df(
            perf.sort_values("engaged_hours", ascending=False),
            "Top content by engagement",
            columns,
            currency,
            max_rows=10,
        )
    )
    section.tables.append(
        table_from_df(
            perf.sort_values("assisted_leads", ascending=False),
            "Top content by assisted leads (presence on converting paths)",
            columns,
            currency,
            max_rows=10,
        )
    )
    if "incremental_leads" in perf and perf["incremental_leads"].notna().any():
        section.paragraphs.append(
            "Assisted leads reward popular pages: a page sits on many paths whether or not it "
            "persuades anyone. The table below compares each page's viewers with the month's "
            "other content visitors: the share who became a lead within 30 days of the view "
            "(viewers still choose what they read, so it is evidence, not an experiment)."
        )
        section.tables.append(
            table_from_df(
                perf[perf["incremental_leads"].notna()].sort_values(
                    "incremental_leads", ascending=False
                ),
                "Content whose viewers convert more than other visitors",
                {
                    "title": ("Content", "text"),
                    "content_type": ("Type", "text"),
                    "viewers": ("Viewers", "count"),
                    "viewer_lead_rate": ("Viewers → lead", "percent"),
                    "other_visitor_lead_rate": ("Other visitors → lead", "percent"),
                    "lead_rate_lift": ("Lift", "ratio"),
                    "incremental_leads": ("Extra leads", "number"),
                    "incremental_leads_low": ("95% low", "number"),
                },
                currency,
                max_rows=8,
            )
        )
    seo = month_rows(con, "marts.content_seo_changes", month)
    if seo is not None and not seo.empty and "position_change" in seo:
        kw = seo[seo.level == "keyword"] if "level" in seo else seo
        kw = kw.dropna(subset=["position_change"])
        if "movement" in kw:  # moves the mart calls flat (a fraction of a position) are noise
            kw = kw[kw["movement"].isin(["gain", "loss"])]
        seo_cols = {
            "keyword": ("Keyword", "text"),
            "title": ("Page", "text"),
            "position": ("Position", "number"),
            "prior_position": ("Prior", "number"),
            "clicks_change": ("Clicks change", "count"),
        }
        section.tables.append(
            table_from_df(
                kw[kw.position_change > 0].sort_values("position_change", ascending=False).head(8),
                "SEO gains (positions up)",
                seo_cols,
                currency,
            )
        )
        section.tables.append(
            table_from_df(
                kw[kw.position_change < 0].sort_values("position_change").head(8),
                "SEO losses (positions down)",
                seo_cols,
                currency,
            )
        )
    recs = month_rows(con, "marts.content_recommendations", month, "rank")
    if recs is not None and not recs.empty:
        section.tables.append(
            table_from_df(
                recs,
                "Recommendations",
                {
                    "rank": ("#", "count"),
                    "recommendation": ("Recommendation", "text"),
                    "expected_impact": ("Expected impact", "number"),
                    "impact_metric": ("Unit", "text"),
                },
                currency,
            )
        )
    return section


def _decision_effect(row: dict, currency: str) -> str:
    """The effect the verdict reads, in its unit: revenue per unit (Welch, or CUPED on
    revenue) in money, a conversion lift (z-test, or CUPED on conversion) in points."""
    test = row.get("decision_test")
    if not isinstance(test, str):
        return ""
    if test.startswith("welch_cuped"):
        est, lo, hi = row.get("cuped_lift_abs"), row.get("cuped_ci_low"), row.get("cuped_ci_high")
    elif test == "welch_revenue":
        est, lo, hi = (
            row.get("revenue_lift_abs"),
            row.get("revenue_ci_low"),
            row.get("revenue_ci_high"),
        )
    else:
        est, lo, hi = row.get("lift_abs"), row.get("ci_low"), row.get("ci_high")
    if est is None or pd.isna(est):
        return ""
    if test.endswith("revenue"):
        text = f"{est:+,.2f} {currency} per unit"
        bounds = f"{lo:+,.2f} to {hi:+,.2f}" if pd.notna(lo) and pd.notna(hi) else ""
    else:
        text = f"{100 * est:+.1f} pts"
        bounds = f"{100 * lo:+.1f} to {100 * hi:+.1f}" if pd.notna(lo) and pd.notna(hi) else ""
    return f"{text} ({bounds})" if bounds else text


def experiments_section(con, month: date, currency: str) -> Section:
    title = "Experiments"
    df = month_rows(con, "marts.experiment_results", month)
    if df is None:
        return Section.skipped(
            "experiments", title, "experiment results were not built for this month."
        )
    if df.empty:
        return Section.skipped(
            "experiments",
            title,
            "no experiment ran this month (or the experiments export was not supplied).",
        )
    section = Section(key="experiments", title=title)
    df = df.assign(decision_effect=[_decision_effect(r, currency) for r in df.to_dict("records")])
    section.tables.append(
        table_from_df(
            df,
            "Results: conversion lift vs control in points (Newcombe 95% CI), and the effect "
            "the verdict reads (its own test and 95% CI; p Holm-adjusted)",
            {
                "experiment_name": ("Experiment", "text"),
                "variant": ("Variant", "text"),
                "units": ("Units", "count"),
                "conversion_rate": ("Conv. rate", "percent"),
                "lift_abs": ("Conv. lift (pts)", "percent"),
                "ci_low": ("CI low", "percent"),
                "ci_high": ("CI high", "percent"),
                "decision_effect": ("Decision effect (95% CI)", "text"),
                "decision_test": ("Test", "text"),
                "decision_p_value_adjusted": ("adj. p (decision)", "ratio"),
                "srm_flag": ("SRM", "text"),
                "verdict": ("Verdict", "text"),
                "verdict_reason": ("Why", "text"),
            },
            currency,
        )
    )
    return section


MONTHLY_SECTIONS[:] = [
    headline_section,
    insights_and_actions_section,
    trend_section,
    channel_section,
    campaign_section,
    attribution_section,
    funnel_section,
    lead_quality_section,
    budget_section,
    content_section,
    experiments_section,
    data_quality_section,
]
