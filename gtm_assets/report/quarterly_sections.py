"""Section builders of the quarterly plan document. Each reads the ``marts.quarter_*``
tables of one reviewed quarter; when its input is missing it returns a skipped section
saying why, so the document is complete by construction (present or skipped with a reason).
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import date

import duckdb
import pandas as pd

from gtm_assets import warehouse as wh
from gtm_assets.analytics.quarterly import RESERVE_CHANNEL, add_months, quarter_label
from gtm_assets.report import charts
from gtm_assets.report.model import Chart, Kpi, Section, fmt, table_from_df

# sections the plan cannot do without (the plan_complete gate requires them "ok")
REQUIRED_SECTIONS = ("summary", "review", "budget", "goals", "calendar", "testing", "risks")


def quarter_rows(
    con: duckdb.DuckDBPyConnection, table: str, quarter: date, order_by: str = ""
) -> pd.DataFrame | None:
    """The quarter's slice of ``table`` or None when the table does not exist."""
    if not wh.table_exists(con, table):
        return None
    sql = f"select * from {wh.ident(table)} where quarter = $q"
    if order_by:
        sql += f" order by {order_by}"
    return wh.query_df(con, sql, {"q": quarter})


def _chart(factory: Callable[[], object], title: str) -> Chart:
    return Chart(
        title=title,
        svg=charts.figure_to_svg(factory()),
        png_b64=charts.figure_to_png_b64(factory()),
    )


def _empty(df: pd.DataFrame | None) -> bool:
    return df is None or df.empty


def _change(cur: float, prior: float) -> str:
    if pd.isna(cur) or pd.isna(prior) or prior == 0:
        return "–"
    return fmt(100 * (cur - prior) / abs(prior), "pct")


def summary_section(con, quarter: date, currency: str) -> Section:
    key, title = "summary", "Quarter at a glance"
    ch = quarter_rows(con, "marts.quarter_channel_review", quarter)
    budget = quarter_rows(con, "marts.quarter_budget", quarter)
    if _empty(ch):
        return Section.skipped(key, title, "no channel performance for the quarter")
    total = {
        c: ch[c].sum(min_count=1)
        for c in (
            "spend",
            "revenue",
            "leads",
            "customers",
            "prior_spend",
            "prior_revenue",
            "prior_leads",
        )
    }
    roas = total["revenue"] / total["spend"] if total["spend"] else float("nan")
    prior_roas = (
        total["prior_revenue"] / total["prior_spend"] if total["prior_spend"] else float("nan")
    )
    kpis = [
        Kpi(
            "Spend",
            fmt(total["spend"], "money", currency),
            prior=fmt(total["prior_spend"], "money", currency),
            change=_change(total["spend"], total["prior_spend"]),
        ),
        Kpi(
            "Attributed revenue",
            fmt(total["revenue"], "money", currency),
            prior=fmt(total["prior_revenue"], "money", currency),
            change=_change(total["revenue"], total["prior_revenue"]),
        ),
        Kpi(
            "ROAS",
            fmt(roas, "ratio"),
            prior=fmt(prior_roas, "ratio"),
            change=_change(roas, prior_roas),
        ),
        Kpi(
            "Attributed leads (leads with a touch)",
            fmt(total["leads"], "count"),
            prior=fmt(total["prior_leads"], "count"),
            change=_change(total["leads"], total["prior_leads"]),
        ),
        Kpi("Attributed customers", fmt(total["customers"], "count")),
    ]
    paragraphs = []
    if not _empty(budget):
        b = float(budget["budget_total"].iloc[0])
        plan_q = quarter_label(add_months(quarter, 3))
        reserve = float(
            budget.loc[budget["channel"] == RESERVE_CHANNEL, "historical_roi_spend"].sum()
        )
        kpis.append(Kpi(f"{plan_q} budget", fmt(b, "money", currency)))
        kpis.append(
            Kpi(
                "Test reserve",
                fmt(reserve, "money", currency),
                target=fmt(reserve / b if b else None, "percent"),
            )
        )
        exp = budget["expected_revenue_marginal_roi"].sum(min_count=1)
        if not pd.isna(exp):
            paragraphs.append(
                f"The {plan_q} plan spends {fmt(b, 'money', currency)} ({fmt(reserve, 'money', currency)} held "
                f"for tests) and expects {fmt(exp, 'money', currency)} attributed revenue from the "
                "paid channels it allocates (marginal-ROI allocation); the revenue goal below "
                "also counts unpaid channels (organic, direct, referral)."
            )
    learnings = quarter_rows(con, "marts.quarter_learnings", quarter, "rank")
    if not _empty(learnings):
        paragraphs += list(learnings["learning"].head(3))
    return Section(key, title, kpis=kpis, paragraphs=paragraphs)


def review_section(con, quarter: date, currency: str) -> Section:
    key, title = "review", f"{quarter_label(quarter)} review: channels and campaigns"
    ch = quarter_rows(con, "marts.quarter_channel_review", quarter, "spend desc")
    if _empty(ch):
        return Section.skipped(key, title, "no channel performance for the quarter")
    tables = [
        table_from_df(
            ch,
            "Channels: what worked and what did not",
            {
                "channel": ("Channel", "text"),
                "spend": ("Spend", "money"),
                "planned_spend": ("Planned", "money"),
                "utilization": ("Utilization", "percent"),
                "leads": ("Leads", "count"),
                "customers": ("Customers", "count"),
                "revenue": ("Revenue", "money"),
                "roi": ("ROI", "percent"),
                "roas": ("ROAS", "ratio"),
                "cpa": ("CPA", "money"),
                "prior_roas": ("ROAS prior Q", "ratio"),
                "verdict": ("Verdict", "text"),
                "why": ("Why", "text"),
            },
            currency,
        )
    ]
    camps = quarter_rows(con, "marts.quarter_campaign_review", quarter, "spend desc")
    if not _empty(camps):
        tables.append(
            table_from_df(
                camps,
                "Campaigns",
                {
                    "campaign_name": ("Campaign", "text"),
                    "channel": ("Channel", "text"),
                    "campaign_type": ("Type", "text"),
                    "spend": ("Spend", "money"),
                    "leads": ("Leads", "count"),
                    "revenue": ("Revenue", "money"),
                    "roas": ("ROAS", "ratio"),
                    "cpa": ("CPA", "money"),
                    "verdict": ("Verdict", "text"),
                    "why": ("Why", "text"),
                },
                currency,
                max_rows=30,
            )
        )
    paid = ch[ch["spend"] > 0]
    chart = []
    if not paid.empty:
        chart.append(
            _chart(
                lambda: charts.grouped_bars(
                    list(paid["channel"]),
                    {
                        "spend": list(paid["spend"]),
                        "attributed revenue": list(paid["revenue"].fillna(0)),
                    },
                    "Spend and attributed revenue by channel",
                    currency,
                ),
                "Spend and attributed revenue by channel",
            )
        )
    att = ch.dropna(subset=["first_touch_share", "last_touch_share"], how="all")
    if not att.empty:
        tables.append(
            table_from_df(
                att,
                "Attribution: share of lead credit by model",
                {
                    "channel": ("Channel", "text"),
                    "first_touch_share": ("First touch", "percent"),
                    "last_touch_share": ("Last touch", "percent"),
                    "linear_share": ("Linear", "percent"),
                    "markov_share": ("Markov", "percent"),
                },
                currency,
            )
        )
    return Section(key, title, tables=tables, charts=chart)


def learnings_section(con, quarter: date, currency: str) -> Section:
    key, title = "learnings", "Key learnings"
    df = quarter_rows(con, "marts.quarter_learnings", quarter, "rank")
    if _empty(df):
        return Section.skipped(key, title, "no learnings could be derived (no channel performance)")
    return Section(key, title, paragraphs=list(df["learning"]))


def trends_section(con, quarter: date, currency: str) -> Section:
    key, title = "trends", "Funnel, content and lead-quality trends"
    df = quarter_rows(con, "marts.quarter_trends", quarter)
    bn = quarter_rows(con, "marts.quarter_bottlenecks", quarter)
    if _empty(df):
        return Section.skipped(
            key, title, "no funnel, content or lead-quality data for the quarter"
        )
    wide = df.pivot_table(
        index=["area", "metric"], columns="month", values="value", aggfunc="first"
    )
    wide.columns = [pd.Timestamp(c).strftime("%Y-%m") for c in wide.columns]
    wide = wide.reset_index()
    months = [c for c in wide.columns if c not in ("area", "metric")]
    cols = {"area": ("Area", "text"), "metric": ("Metric", "text")}
    cols.update({m: (m, "number") for m in months})
    tables = [table_from_df(wide, "Month by month", cols, currency, max_rows=60)]
    paragraphs = []
    if not _empty(bn):
        persistent = bn[bn["persistent"]]
        paragraphs += (
            [f"Persistent bottleneck: {d}." for d in persistent["detail"]]
            if not persistent.empty
            else ["No funnel step was flagged as a bottleneck in two or more months."]
        )
        tables.append(
            table_from_df(
                bn,
                "Bottlenecks across the quarter",
                {
                    "from_stage": ("From", "text"),
                    "to_stage": ("To", "text"),
                    "mean_rate": ("Rate", "percent"),
                    "baseline_rate": ("Baseline", "percent"),
                    "months_flagged": ("Months flagged", "count"),
                    "persistent": ("Persistent", "text"),
                },
                currency,
            )
        )
    funnel = df[df["area"] == "funnel"]
    chart = []
    f = funnel.pivot_table(
        index="month", columns="metric", values="value", aggfunc="first"
    ).sort_index()
    if len(f.columns):  # all-missing rates leave no column to draw
        x = [pd.Timestamp(m).strftime("%Y-%m") for m in f.index]
        chart.append(
            _chart(
                lambda: charts.line_chart(
                    x, {c: list(f[c]) for c in f.columns}, "Funnel conversion by month"
                ),
                "Funnel conversion by month",
            )
        )
    return Section(key, title, paragraphs=paragraphs, tables=tables, charts=chart)


def budget_section(con, quarter: date, currency: str) -> Section:
    plan_q = quarter_label(add_months(quarter, 3))
    key, title = "budget", f"{plan_q} budget: historical-ROI vs marginal-ROI allocation"
    df = quarter_rows(con, "marts.quarter_budget", quarter, "is_reserve, channel")
    if _empty(df):
        return Section.skipped(key, title, "no budget allocation for the next quarter")
    b = float(df["budget_total"].iloc[0])
    paragraphs = [
        f"Budget {fmt(b, 'money', currency)} (source: {df['budget_source'].iloc[0]}). Historical ROI "
        "funds the best average ROAS first; marginal ROI equalises the return of the last "
        "dollar on the fitted response curves. Both stay within the same per-channel bounds "
        "and keep the same test reserve."
    ]
    if df["marginal_roi_spend"].isna().all():
        paragraphs.append("The marginal-ROI allocation is missing (no budget optimizer output).")
    table = table_from_df(
        df,
        "Allocation per channel",
        {
            "channel": ("Channel", "text"),
            "current_quarter_spend": ("Last quarter", "money"),
            "historical_roi_spend": ("Historical ROI", "money"),
            "marginal_roi_spend": ("Marginal ROI", "money"),
            "expected_revenue_historical_roi": ("Exp. revenue (hist.)", "money"),
            "expected_revenue_marginal_roi": ("Exp. revenue (marg.)", "money"),
            "pinned_reason": ("Held because", "text"),
        },
        currency,
    )
    alloc = df[~df["is_reserve"]]
    chart = [
        _chart(
            lambda: charts.grouped_bars(
                list(alloc["channel"]),
                {
                    "last quarter": list(alloc["current_quarter_spend"].fillna(0)),
                    "historical ROI": list(alloc["historical_roi_spend"].fillna(0)),
                    "marginal ROI": list(alloc["marginal_roi_spend"].fillna(0)),
                },
                f"{plan_q} spend by channel",
                currency,
            ),
            f"{plan_q} spend by channel",
        )
    ]
    return Section(key, title, paragraphs=paragraphs, tables=[table], charts=chart)


def goals_section(con, quarter: date, currency: str) -> Section:
    plan_q = quarter_label(add_months(quarter, 3))
    key, title = "goals", f"{plan_q} goals and monthly milestones"
    goals = quarter_rows(con, "marts.quarter_goals", quarter)
    if _empty(goals):
        return Section.skipped(key, title, "no goals (no budget plan to derive them from)")
    total = goals[goals["scope"] == "total"]
    kinds = {"spend": "money", "revenue": "money", "pipeline": "money"}
    paragraphs = [f"Goal: {g}." for g in total["goal"].dropna()]
    if "gap_to_supplied" in total:
        short = total[(total["gap_to_supplied"] < 0) & (total["metric"] != "spend")]
        for r in short.itertuples():
            paragraphs.append(
                f"The plan's {r.metric} ({r.target_value:,.0f}) falls short of your target "
                f"({r.supplied_target:,.0f}) by {-r.gap_to_supplied:,.0f}: the budget or the "
                "target needs to change."
            )
    by_channel = (
        goals[goals["scope"] == "channel"]
        .pivot_table(index="scope_id", columns="metric", values="target_value", aggfunc="first")
        .reset_index()
    )
    cols = {"scope_id": ("Channel", "text")}
    cols.update(
        {
            m: (m, kinds.get(m, "count"))
            for m in ("spend", "revenue", "pipeline", "leads", "mqls", "customers")
            if m in by_channel.columns
        }
    )
    tables = [
        table_from_df(
            total,
            "Overall goals",
            {
                "metric": ("Metric", "text"),
                "target_value": ("Target", "number"),
                **(
                    {
                        "supplied_target": ("Your target", "number"),
                        "gap_to_supplied": ("Plan vs yours", "number"),
                    }
                    if "supplied_target" in total and total["supplied_target"].notna().any()
                    else {}
                ),
                "due_date": ("Due", "text"),
                "basis": ("Basis", "text"),
            },
            currency,
        ),
        table_from_df(by_channel, "Goals per channel", cols, currency),
    ]
    ms = quarter_rows(con, "marts.quarter_goal_milestones", quarter)
    if not _empty(ms):
        t = ms[ms["scope"] == "total"].pivot_table(
            index="metric", columns="due_date", values="cumulative_target", aggfunc="first"
        )
        t.columns = [f"by {pd.Timestamp(c):%Y-%m-%d}" for c in t.columns]
        t = t.reset_index()
        mcols = {"metric": ("Metric", "text")}
        mcols.update({c: (c, "number") for c in t.columns if c != "metric"})
        tables.append(table_from_df(t, "Cumulative monthly milestones (total)", mcols, currency))
    return Section(key, title, paragraphs=paragraphs, tables=tables)


def calendar_section(con, quarter: date, currency: str) -> Section:
    plan_q = quarter_label(add_months(quarter, 3))
    key, title = "calendar", f"{plan_q} campaign calendar"
    df = quarter_rows(con, "marts.quarter_campaign_calendar", quarter, "start_date, channel")
    if _empty(df):
        return Section.skipped(key, title, "no campaign calendar (no budget plan)")
    return Section(
        key,
        title,
        paragraphs=[
            "Slots follow last quarter's campaign-type mix per channel with each type's typical "
            "duration; seasonal and event slots reuse last year's dates where there were any."
        ],
        tables=[
            table_from_df(
                df,
                "Calendar",
                {
                    "slot": ("Slot", "text"),
                    "campaign_type": ("Type", "text"),
                    "start_date": ("Start", "text"),
                    "end_date": ("End", "text"),
                    "duration_days": ("Days", "count"),
                    "budget": ("Budget", "money"),
                    "expected_revenue": ("Exp. revenue", "money"),
                    "expected_leads": ("Exp. leads", "count"),
                    "timing": ("Timing", "text"),
                },
                currency,
                max_rows=80,
            )
        ],
    )


def testing_section(con, quarter: date, currency: str) -> Section:
    key, title = "testing", "Testing roadmap"
    df = quarter_rows(con, "marts.quarter_testing_roadmap", quarter, "rank")
    if df is None:
        return Section.skipped(key, title, "no testing roadmap was built")
    if df.empty:
        return Section(
            key,
            title,
            paragraphs=[
                "No running experiment, unstable curve or persistent bottleneck calls for a test; the reserve stays unassigned."
            ],
        )
    return Section(
        key,
        title,
        tables=[
            table_from_df(
                df,
                "Tests",
                {
                    "rank": ("#", "count"),
                    "test": ("Test", "text"),
                    "reason": ("Why", "text"),
                    "start_date": ("Start", "text"),
                    "end_date": ("End", "text"),
                    "budget": ("Budget", "money"),
                    "required_units": ("Units needed", "count"),
                },
                currency,
            )
        ],
    )


def risks_section(con, quarter: date, currency: str) -> Section:
    key, title = "risks", "Risks and mitigations"
    df = quarter_rows(con, "marts.quarter_risks", quarter, "rank")
    if df is None:
        return Section.skipped(key, title, "risks were not assessed")
    if df.empty:
        return Section(key, title, paragraphs=["No risk crossed its threshold in the data."])
    return Section(
        key,
        title,
        tables=[
            table_from_df(
                df,
                "Risks",
                {
                    "severity": ("Severity", "text"),
                    "kind": ("Kind", "text"),
                    "evidence": ("Evidence", "text"),
                    "mitigation": ("Mitigation", "text"),
                },
                currency,
            )
        ],
    )


def completeness_section(present: pd.DataFrame) -> Section:
    key, title = "data", "Data the plan rests on"
    t = present.assign(month=lambda d: [pd.Timestamp(m).strftime("%Y-%m") for m in d["month"]])
    empty = t[t["rows"] == 0]
    paragraphs = (
        ["Every month of the quarter is materialized in the monthly marts."]
        if empty.empty
        else [
            f"Missing monthly slices: {', '.join(f'{r.month} {r.table_name}' for r in empty.itertuples())}. Run the monthly review for those months, then re-run the plan."
        ]
    )
    return Section(
        key,
        title,
        paragraphs=paragraphs,
        tables=[
            table_from_df(
                t,
                "Monthly slices",
                {
                    "month": ("Month", "text"),
                    "table_name": ("Table", "text"),
                    "rows": ("Rows", "count"),
                },
            )
        ],
    )


def build_quarterly_sections(
    con: duckdb.DuckDBPyConnection, quarter: date, currency: str, present: pd.DataFrame
) -> list[Section]:
    """Every section of the plan, in document order."""
    builders = (
        summary_section,
        review_section,
        learnings_section,
        trends_section,
        budget_section,
        goals_section,
        calendar_section,
        testing_section,
        risks_section,
    )
    return [b(con, quarter, currency) for b in builders] + [completeness_section(present)]
