"""Section builders of the monthly review report. Each reads the marts for one month.

A builder returns a ``Section``; when its input is missing it returns a skipped section
saying why, so the report is complete by construction (every section present or skipped
with a reason).
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import date

import duckdb
import pandas as pd

from gtm_assets import warehouse as wh
from gtm_assets.partitions import add_months
from gtm_assets.report import charts
from gtm_assets.report.model import Chart, Kpi, Section, Table, fmt, table_from_df

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
        kpis.append(
            Kpi(
                label=label,
                value=fmt(r["value"], kind, currency),
                target=fmt(r["target"], kind, currency) if pd.notna(r["target"]) else "",
                prior=fmt(r["prior_month"], kind, currency),
                change=fmt(r["change_pct"], "pct"),
                status=r["status"],
            )
        )
    section = Section(key="headline", title=title, kpis=kpis)
    if "insight" in df.columns:
        section.paragraphs = [p for p in df["insight"].dropna().tolist() if p]
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
    channels_only = df[df.level == "channel"]
    model = df["attribution_model"].iloc[0]
    section = Section(key="channels", title=title)
    section.paragraphs.append(
        f"Attributed figures use the {model.replace('_', ' ')} attribution model."
    )
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
    section.paragraphs.append(
        f"{len(df)} campaigns were live or spent this month; {thin} had too little volume to rank "
        "(minimum clicks and spend in settings)."
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
