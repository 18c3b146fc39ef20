"""Key insights and the prioritized action plan of the monthly review.

Pure functions: the month's mart slices in (DataFrames, possibly empty when an optional
analysis was skipped), sentences and ranked actions out. Every sentence and every action
is generated from the numbers it quotes; nothing is canned.

Ranking actions needs one scale. Each candidate's impact is stated in its natural unit
(revenue, spend saved, customers, SQLs, form fills ...) and converted to a
*revenue equivalent* with the month's own unit values:

- revenue and spend saved count one for one (a unit of money);
- a customer is worth the month's average won deal (revenue / customers);
- an SQL is worth revenue / SQLs, a lead or a form fill revenue / leads;
- capacity-only changes (fewer MQLs for the same SQLs) have no revenue equivalent and rank last.

At most ``MAX_PER_SOURCE`` actions come from the same source asset, so one analysis cannot
crowd the plan.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date, timedelta

import numpy as np
import pandas as pd

MAX_ACTIONS = 5
MAX_PER_SOURCE = 2
ACTION_COLUMNS = [
    "rank",
    "action",
    "owner_role",
    "expected_impact",
    "impact_metric",
    "revenue_equivalent",
    "source",
    "evidence",
    "due_by",
]
INSIGHT_COLUMNS = ["rank", "kind", "insight", "metric", "value", "source"]

STAGE_OWNERS = {
    "visitor": "Demand generation manager",
    "lead": "Marketing operations manager",
    "mql": "Sales development lead",
    "sql": "Sales manager",
    "opportunity": "Sales manager",
}
DUE_DAYS = {
    "budget_waste": 3,
    "budget_reallocation": 7,
    "experiment_results": 7,
    "lead_threshold_recommendations": 10,
    "funnel_bottlenecks": 14,
    "content_recommendations": 30,
}


@dataclass(frozen=True)
class UnitValues:
    """Revenue per lead, SQL and customer in the month (None when not computable)."""

    per_lead: float | None
    per_sql: float | None
    per_customer: float | None

    @classmethod
    def from_summary(cls, summary: pd.DataFrame) -> UnitValues:
        values = _metric_values(summary)
        revenue = values.get("revenue")

        def ratio(denominator: str) -> float | None:
            d = values.get(denominator)
            if revenue is None or d is None or d <= 0:
                return None
            return revenue / d

        return cls(per_lead=ratio("leads"), per_sql=ratio("sqls"), per_customer=ratio("customers"))


def _metric_values(summary: pd.DataFrame) -> dict[str, float]:
    if summary is None or summary.empty:
        return {}
    return {
        r["metric"]: float(r["value"])
        for r in summary.to_dict("records")
        if r["value"] is not None and not _nan(r["value"])
    }


def _nan(value) -> bool:
    try:
        return value is None or math.isnan(float(value))
    except (TypeError, ValueError):
        return False


def _empty(df: pd.DataFrame | None) -> bool:
    return df is None or df.empty


def reallocation_uplift(reallocation: pd.DataFrame) -> float:
    """Expected revenue gained by the recommended mix over the current mix at the same
    (allocatable) budget. ``expected_revenue_reference`` is that current mix; older slices
    without it fall back to the current spend's expected revenue."""
    baseline = (
        reallocation.expected_revenue_reference
        if "expected_revenue_reference" in reallocation
        else reallocation.expected_revenue_current
    )
    return float(reallocation.expected_revenue_recommended.sum() - baseline.sum())


def money(value: float, currency: str) -> str:
    return f"{currency} {value:,.0f}"


def pct(value: float) -> str:
    return f"{value:+.0f}%"


def due_date(month: date, source: str) -> date:
    """Due date of an action: a number of days after the month's last day, by source."""
    next_month = date(month.year + month.month // 12, month.month % 12 + 1, 1)
    return next_month - timedelta(days=1) + timedelta(days=DUE_DAYS.get(source, 14))


# --- insights ---------------------------------------------------------------------------


def partial_days(summary: pd.DataFrame) -> int | None:
    """Days of the month the exports cover when the month is partial, else None."""
    if _empty(summary) or "partial_month" not in summary:
        return None
    row = summary.iloc[0]
    return int(row["days_covered"]) if bool(row["partial_month"]) else None


def _period_phrases(summary: pd.DataFrame, month: date) -> tuple[str, str]:
    """How to name the month and the comparison: "October 2025" / "month over month", or for
    a partial month "1-16 October 2025" / "against 1-16 September"."""
    days = partial_days(summary)
    if days is None:
        return f"{month:%B %Y}", "month over month"
    prior = date(month.year - (month.month == 1), (month.month - 2) % 12 + 1, 1)
    return f"1-{days} {month:%B %Y}", f"against 1-{days} {prior:%B}"


#: A won deal at least this share of the month's won revenue is called out: every revenue
#: figure of the month (ROAS, channel and campaign revenue, curves) then rests on it.
ONE_DEAL_SHARE = 0.5


def dominant_deal(won_amounts: Sequence[float]) -> tuple[float, list[float]] | None:
    """(the largest won deal, the other deals) when the largest carries at least
    ``ONE_DEAL_SHARE`` of the won revenue, else None."""
    amounts = sorted((float(a) for a in won_amounts if not _nan(a) and float(a) > 0), reverse=True)
    if not amounts or amounts[0] / sum(amounts) < ONE_DEAL_SHARE:
        return None
    return amounts[0], amounts[1:]


def one_deal_caveat(won_amounts: Sequence[float], currency: str) -> str | None:
    """ "one deal of USD 200,000 is 87% of it (the other 3: median USD 9,000)" when a single
    deal carries at least ``ONE_DEAL_SHARE`` of the month's won revenue, else None."""
    found = dominant_deal(won_amounts)
    if found is None:
        return None
    top, rest = found
    text = f"one deal of {money(top, currency)} is {top / (top + sum(rest)):.0%} of it"
    if rest:
        text += f" (the other {len(rest)}: median {money(float(np.median(rest)), currency)})"
    return text + ", so every revenue figure this month rests on it"


def revenue_insight(
    summary: pd.DataFrame, month: date, currency: str, won_amounts: Sequence[float] = ()
) -> dict | None:
    rows = {r["metric"]: r for r in summary.to_dict("records")} if not _empty(summary) else {}
    row = rows.get("revenue")
    if row is None or _nan(row["value"]):
        return None
    period, comparison = _period_phrases(summary, month)
    text = f"Won revenue was {money(row['value'], currency)} in {period}"
    parts = []
    target = row.get("target_to_date", row.get("target"))
    if not _nan(target) and target:
        gap = 100 * (row["value"] / target - 1)
        label = (
            f"the {money(target, currency)} target prorated to date"
            if partial_days(summary) is not None
            else f"the {money(target, currency)} target"
        )
        parts.append(f"{pct(gap)} against {label}")
    if not _nan(row.get("change_pct")):
        parts.append(f"{pct(row['change_pct'])} {comparison}")
    spend = rows.get("spend")
    roas = rows.get("roas")
    if spend is not None and roas is not None and not _nan(roas["value"]):
        parts.append(f"on {money(spend['value'], currency)} of spend (ROAS {roas['value']:.2f})")
    caveat = one_deal_caveat(won_amounts, currency)
    if caveat:
        parts.append(caveat)
    text += (" — " + ", ".join(parts)) if parts else ""
    return dict(
        kind="headline",
        insight=text + ".",
        metric="revenue",
        value=float(row["value"]),
        source="executive_summary",
    )


#: A count metric moves only when it was or became at least this large.
MOVER_MIN_COUNT = 10


def biggest_mover_insight(summary: pd.DataFrame) -> dict | None:
    """The volume metric that moved most month over month (by absolute percent change)."""
    if _empty(summary):
        return None
    counts = summary.metric.isin(["leads", "mqls", "sqls", "opportunities", "customers"])
    volume = summary[
        (counts | (summary.metric == "pipeline"))
        & summary.change_pct.notna()
        & summary.prior_month.gt(0)
        # a count that went from 2 to 4 "rose 100%": no mover at that size
        & ~(counts & (summary.prior_month < MOVER_MIN_COUNT) & (summary.value < MOVER_MIN_COUNT))
    ]
    if volume.empty:
        return None
    row = volume.loc[volume.change_pct.abs().idxmax()]
    direction = "rose" if row["change_pct"] > 0 else "fell"
    unit = "" if row["metric"] != "pipeline" else " (pipeline value)"
    days = partial_days(summary)
    before = "the month before" if days is None else f"in the same {days} days of the month before"
    text = (
        f"Among volumes, the biggest mover was {row['metric']}{unit}: it {direction} "
        f"{abs(row['change_pct']):.0f}% "
        f"to {row['value']:,.0f} from {row['prior_month']:,.0f} {before}."
    )
    return dict(
        kind="mover",
        insight=text,
        metric=row["metric"],
        value=float(row["change_pct"]),
        source="executive_summary",
    )


def tracking_insight(
    coverage: float | None, prior: float | None, max_drop: float = 0.10
) -> dict | None:
    """Leads with any tracked touch fell sharply from last month: say it before any channel
    change is read as performance."""
    if coverage is None or prior is None or prior - coverage < max_drop:
        return None
    return dict(
        kind="tracking",
        insight=(
            f"Only {coverage:.0%} of this month's leads had a tracked touch, down from "
            f"{prior:.0%} last month: channel credit and channel ROI cover fewer leads, so "
            "check form tagging, pixels and imports before acting on channel changes."
        ),
        metric="lead_touch_coverage",
        value=coverage,
        source="channel_attribution",
    )


def channel_mover_insight(
    channels: pd.DataFrame, currency: str, tracking_gap: bool = False
) -> dict | None:
    """The channel whose attributed revenue changed most in money terms (with a caveat when
    the month's tracking coverage fell)."""
    if _empty(channels) or "prior_attributed_revenue" not in channels:
        return None
    df = channels[(channels.level == "channel") & channels.prior_attributed_revenue.notna()].copy()
    if df.empty:
        return None
    df["delta"] = df.attributed_revenue.fillna(0) - df.prior_attributed_revenue.fillna(0)
    row = df.loc[df.delta.abs().idxmax()]
    if row["delta"] == 0:
        return None
    direction = "grew" if row["delta"] > 0 else "dropped"
    spend_note = ""
    if not _nan(row.get("spend_change_pct")):
        spend_note = f", while its spend changed {pct(row['spend_change_pct'])}"
    now = float(row["attributed_revenue"]) if not _nan(row["attributed_revenue"]) else 0.0
    before = float(row["prior_attributed_revenue"])
    if before == 0 or now == 0:  # "grew by X to X" says nothing the from/to pair does not
        change = f"went from {money(before, currency)} to {money(now, currency)}"
    else:
        change = f"{direction} by {money(abs(row['delta']), currency)} to {money(now, currency)}"
    text = (
        f"{row['channel']} attributed revenue {change}{spend_note} "
        f"({row['attribution_model'].replace('_', ' ')} attribution"
        + (
            "; fewer leads were tracked this month, so part of it is the tracking gap"
            if tracking_gap
            else ""
        )
        + ")."
    )
    return dict(
        kind="channel_mover",
        insight=text,
        metric="attributed_revenue",
        value=float(row["delta"]),
        source="channel_performance",
    )


def bottleneck_insight(bottlenecks: pd.DataFrame) -> dict | None:
    """The top-ranked significant bottleneck for all leads, with the segment that drops most."""
    if _empty(bottlenecks):
        return None
    flagged = bottlenecks[bottlenecks.flagged.fillna(False).astype(bool)]
    overall = flagged[flagged.segment_type == "all"].sort_values(
        ["downstream_customers_lost", "shortfall_units"], ascending=False
    )
    if overall.empty:
        return None
    top = overall.iloc[0]
    reference = "target" if top.get("short_of") == "target" else "baseline"
    ref_rate = top["target_rate"] if reference == "target" else top["baseline_rate"]
    p_adj = top["p_adj_vs_target"] if reference == "target" else top["p_adj_vs_baseline"]
    lost = top["downstream_customers_lost"]
    text = (
        f"The biggest funnel bottleneck is {top['from_stage']}→{top['to_stage']}: "
        f"{top['conversion_rate']:.1%} for the {pd.Timestamp(top['cohort_month']):%B} cohort vs a "
        f"{ref_rate:.1%} {reference} (adjusted p = {p_adj:.3f})"
    )
    if not _nan(lost):
        text += f", about {lost:.1f} customers lost downstream"
    segments = flagged[
        (flagged.segment_type != "all")
        & (flagged.from_stage == top["from_stage"])
        & (flagged.to_stage == top["to_stage"])
    ].sort_values("shortfall_units", ascending=False)
    if not segments.empty:
        seg = segments.iloc[0]
        text += f"; the drop is largest in {seg['segment_type']} = {seg['segment']}"
    return dict(
        kind="bottleneck",
        insight=text + ".",
        metric=f"{top['from_stage']}_to_{top['to_stage']}_rate",
        value=float(top["conversion_rate"]),
        source="funnel_bottlenecks",
    )


def _optimised_moves(reallocation: pd.DataFrame) -> pd.DataFrame:
    """The optimiser's own moves: channels it allocated (not pinned, e.g. held at plan for
    lack of history), with the change against the reference mix at the same budget
    (``reference_spend``; the current spend in older slices without it)."""
    rows = reallocation
    if "pinned" in rows:
        rows = rows[~rows["pinned"].fillna(False).astype(bool)]
    base = rows["reference_spend"] if "reference_spend" in rows else rows["current_spend"]
    return rows.assign(change=rows["recommended_spend"] - base)


def moves_money(reallocation: pd.DataFrame) -> bool:
    """Whether the optimiser moves at least one unit of money between channels (slices
    without spend columns are taken to move)."""
    if "recommended_spend" not in reallocation:
        return True
    return bool((_optimised_moves(reallocation)["change"].abs() >= 1).any())


def budget_insight(reallocation: pd.DataFrame, currency: str) -> dict | None:
    if _empty(reallocation):
        return None
    uplift = reallocation_uplift(reallocation)
    moves = _optimised_moves(reallocation)
    moves = moves[pd.to_numeric(moves["marginal_roas_current"], errors="coerce").notna()]
    if uplift <= 0 or moves.empty or moves["change"].abs().max() < 1:
        return None
    up = moves.loc[moves["change"].idxmax()]
    down = moves.loc[moves["change"].idxmin()]
    if up["change"] < 1 or down["change"] > -1:
        return None
    text = (
        f"The budget optimizer expects {money(uplift, currency)} more revenue from the same budget by "
        f"moving {money(float(up['change']), currency)} into {up['channel']} "
        f"and {money(float(-down['change']), currency)} out of {down['channel']} "
        f"(marginal ROAS at current spend: {up['channel']} {up['marginal_roas_current']:.2f}, "
        f"{down['channel']} {down['marginal_roas_current']:.2f})"
    )
    low, _ = gain_interval(reallocation)
    text += (
        "; the gain's interval reaches zero or below, so it is a move to test, not yet a plan."
        if low is not None and low <= 0
        else "."
    )
    return dict(
        kind="budget",
        insight=text,
        metric="expected_revenue_uplift",
        value=uplift,
        source="budget_reallocation",
    )


def attribution_insight(comparison: pd.DataFrame) -> dict | None:
    if _empty(comparison) or "spread" not in comparison:
        return None
    leads = comparison[comparison.conversion_type == "lead"]
    if leads.empty:
        return None
    row = leads.loc[leads.spread.idxmax()]
    if row["spread"] < 0.05:
        return None
    text = (
        f"Attribution models disagree most on {row['channel']}: from {row['min_share']:.0%} of leads "
        f"({row['least_generous_model'].replace('_', ' ')}) to {row['max_share']:.0%} "
        f"({row['most_generous_model'].replace('_', ' ')})"
    )
    if {row["least_generous_model"], row["most_generous_model"]} != {"markov", "shapley"}:
        text += (
            f"; data-driven models put it at {row['share_markov']:.0%} (Markov) and "
            f"{row['share_shapley']:.0%} (Shapley)"
        )
    text += "."
    return dict(
        kind="attribution",
        insight=text,
        metric="share_spread",
        value=float(row["spread"]),
        source="attribution_model_comparison",
    )


def build_insights(
    month: date,
    currency: str,
    summary: pd.DataFrame,
    channels: pd.DataFrame | None = None,
    bottlenecks: pd.DataFrame | None = None,
    reallocation: pd.DataFrame | None = None,
    comparison: pd.DataFrame | None = None,
    limit: int = 5,
    won_amounts: Sequence[float] = (),
    lead_coverage: tuple[float | None, float | None] = (None, None),
) -> pd.DataFrame:
    """3-5 sentences with their numbers: headline, biggest movers, bottleneck, budget, attribution.
    ``won_amounts``: the month's won deal amounts (for the one-deal caveat);
    ``lead_coverage``: this and last month's share of leads with a tracked touch."""
    tracking = tracking_insight(*lead_coverage)
    candidates = [
        revenue_insight(summary, month, currency, won_amounts),
        tracking,
        bottleneck_insight(bottlenecks),
        budget_insight(reallocation, currency),
        channel_mover_insight(channels, currency, tracking_gap=tracking is not None),
        biggest_mover_insight(summary),
        attribution_insight(comparison),
    ]
    rows = [c for c in candidates if c is not None][:limit]
    df = pd.DataFrame(rows, columns=[c for c in INSIGHT_COLUMNS if c != "rank"])
    df.insert(0, "rank", range(1, len(df) + 1))
    return df


# --- actions ----------------------------------------------------------------------------


def gain_interval(reallocation: pd.DataFrame) -> tuple[float | None, float | None]:
    """The month's interval of the reallocation gain (older slices have none)."""
    if "total_gain_ci_low" not in reallocation or reallocation.empty:
        return None, None
    low, high = (
        reallocation["total_gain_ci_low"].iloc[0],
        reallocation["total_gain_ci_high"].iloc[0],
    )
    return (None, None) if _nan(low) or _nan(high) else (float(low), float(high))


def reallocation_action(reallocation: pd.DataFrame, currency: str) -> list[dict]:
    if _empty(reallocation):
        return []
    uplift = reallocation_uplift(reallocation)
    moves = _optimised_moves(reallocation)
    moves = moves.assign(change=moves["change"].round(0)).sort_values("change")
    if uplift <= 0 or moves.empty or moves["change"].abs().max() < 1:
        return []
    cuts = [
        f"{r.channel} {money(-r.change, currency)}" for r in moves.itertuples() if r.change <= -1
    ][:2]
    adds = [
        f"{r.channel} {money(r.change, currency)}"
        for r in moves[::-1].itertuples()
        if r.change >= 1
    ][:2]
    low, high = gain_interval(reallocation)
    uncertain = low is not None and low <= 0
    text = (
        (
            "Test the reallocation on part of the budget"
            if uncertain
            else "Reallocate next month's budget as recommended"
        )
        + ": add to "
        + (", ".join(adds) or "no channel")
        + "; take from "
        + (", ".join(cuts) or "no channel")
        + " against the current mix at the same budget (expected "
        + f"+{money(uplift, currency)} revenue, within the ±bounds and test reserve"
        + (
            f"; the interval {money(low, currency)} to {money(high, currency)} includes no "
            "gain, so the curves cannot tell the mixes apart yet)."
            if uncertain
            else ")."
        )
    )
    return [
        dict(
            action=text,
            owner_role="Performance marketing manager",
            expected_impact=uplift,
            impact_metric="revenue",
            revenue_equivalent=uplift,
            source="budget_reallocation",
            evidence=f"uplift = Σ expected_revenue_recommended − Σ expected_revenue_reference = {uplift:,.2f}",
        )
    ]


def waste_actions(waste: pd.DataFrame, currency: str) -> list[dict]:
    if _empty(waste):
        return []
    actions = []
    for r in (
        waste.sort_values("wasted_spend", ascending=False).head(MAX_PER_SOURCE).to_dict("records")
    ):
        if not r.get("wasted_spend") or r["wasted_spend"] <= 0:
            continue
        name = r.get("name") or r.get("scope_id") or r.get("channel")
        if r.get("kind") == "cpa_above_target":
            why = f"its CPA is {money(r['value'], currency)} against a {money(r['threshold'], currency)} target"
            model = r.get("attribution_model")
            if r.get("value") and r.get("threshold") and r.get("spend"):
                credited = float(r["spend"]) / float(r["value"])
                implied = float(r["spend"]) / float(r["threshold"])
                by = f" by {model.replace('_', ' ')} attribution" if isinstance(model, str) else ""
                why += (
                    f" ({credited:,.1f} leads credited{by} where the target implies {implied:,.1f})"
                )
            verb = "Cut bids or budget on"
        elif r.get("kind") == "no_conversions":
            model = r.get("attribution_model")
            last_touch = r.get("last_touch_leads")
            why = f"it spent {money(r['spend'], currency)} without a lead"
            verb = "Pause or fix"
            if isinstance(model, str) and model:
                why += f" credited by {model.replace('_', ' ')} attribution"
                if model != "last_touch" and not _nan(last_touch) and float(last_touch) > 0:
                    why += (
                        f", although it is the last touch before {float(last_touch):,.0f} "
                        "leads: it catches people who were already converting"
                    )
                    verb = "Test pausing"
        elif r.get("kind") == "past_saturation":
            why = r.get("detail") or (
                f"the last dollar returns {r.get('value'):.2f} against {r.get('threshold'):.2f}"
            )
            verb = "If the total budget can shrink, trim"
        else:
            why = f"{r.get('metric')} is {r.get('value'):.2f} against {r.get('threshold'):.2f} ({r.get('kind')})"
            verb = "Review"
        stake = (
            f"it loses about {money(r['wasted_spend'], currency)} a month net of the revenue it brings"
            if r.get("kind") == "past_saturation"
            else f"{money(r['wasted_spend'], currency)} of spend is at stake"
        )
        text = f"{verb} '{name}' ({r.get('channel')}): {why}; {stake}."
        if r.get("kind") == "past_saturation":
            text += " Within a fixed budget, the reallocation decides where money goes."
        actions.append(
            dict(
                action=text,
                owner_role="Paid media manager",
                expected_impact=float(r["wasted_spend"]),
                impact_metric="spend_saved",
                revenue_equivalent=float(r["wasted_spend"]),
                source="budget_waste",
                evidence=f"{r.get('kind')} {r.get('scope')} {r.get('scope_id')}",
            )
        )
    return actions


def pacing_actions(pacing: pd.DataFrame | None, currency: str) -> list[dict]:
    """While the month is still running (the exports end at least two days before its end),
    a channel projected over its plan gets "lower the daily cap now" (the overspend it
    avoids), and one far under it "raise caps or release the money" (no revenue claimed).
    Due the day after the data end: waiting for the month-end review is too late."""
    if _empty(pacing) or "days_elapsed" not in pacing:
        return []
    rows = pacing[
        (pacing["level"] == "channel")
        & (pacing["days_in_month"] - pacing["days_elapsed"] >= 2)
        & pacing["status"].isin(["over", "under"])
        & pacing["planned_spend"].notna()
    ]
    actions = []
    for r in rows.to_dict("records"):
        as_of = pd.Timestamp(r["as_of_date"]).date()
        gap = float(r["projected_eom_spend"]) - float(r["planned_spend"])
        plan = money(r["planned_spend"], currency)
        if r["status"] == "over":
            run_out = r.get("run_out_date")
            when = (
                f"reaches its {plan} plan on {pd.Timestamp(run_out):%d %B}"
                if run_out is not None and not pd.isna(run_out)
                else f"passes its {plan} plan"
            )
            text = (
                f"Lower {r['channel']}'s daily cap now: at {money(r['run_rate_daily'], currency)} "
                f"a day it {when} and would end the month at "
                f"{money(r['projected_eom_spend'], currency)}, {money(gap, currency)} over plan."
            )
            impact, metric, equivalent = gap, "spend_saved", gap
        else:
            text = (
                f"{r['channel']} is pacing to {money(r['projected_eom_spend'], currency)} of its "
                f"{plan} plan: raise its bids or caps, or release the "
                f"{money(-gap, currency)} to a channel that returns more."
            )
            impact, metric, equivalent = -gap, "spend_unused", 0.0
        actions.append(
            dict(
                action=text,
                owner_role="Paid media manager",
                expected_impact=impact,
                impact_metric=metric,
                revenue_equivalent=equivalent,
                source="budget_pacing",
                evidence=f"pacing ratio {float(r['pacing_ratio']):.2f} as of {as_of}",
                due_by=as_of + timedelta(days=1),
            )
        )
    return actions


NEW_SEGMENT_MIN_SHARE = 0.10


def new_segments_below(
    bottlenecks: pd.DataFrame, overall: Mapping, reference_rate: float
) -> dict | None:
    """The largest segment of this transition with no baseline (absent from the previous
    cohorts: a list import, a new source) holding at least 10% of the entries and converting
    below half the reference rate: a change of mix that looks like a drop everywhere."""
    if {"baseline_rate", "entered"} - set(bottlenecks) or _nan(reference_rate):
        return None
    rows = bottlenecks[
        (bottlenecks.segment_type != "all")
        & (bottlenecks.from_stage == overall["from_stage"])
        & (bottlenecks.to_stage == overall["to_stage"])
        & bottlenecks.baseline_rate.isna()
        & (bottlenecks.entered >= NEW_SEGMENT_MIN_SHARE * float(overall["entered"]))
        & (bottlenecks.conversion_rate < 0.5 * float(reference_rate))
    ]
    if rows.empty:
        return None
    return rows.sort_values("entered", ascending=False).iloc[0].to_dict()


def bottleneck_actions(bottlenecks: pd.DataFrame, values: UnitValues) -> list[dict]:
    if _empty(bottlenecks):
        return []
    flagged = bottlenecks[
        bottlenecks.flagged.fillna(False).astype(bool) & (bottlenecks.segment_type == "all")
    ]
    actions = []
    for r in (
        flagged.sort_values("downstream_customers_lost", ascending=False)
        .head(MAX_PER_SOURCE)
        .to_dict("records")
    ):
        lost = r["downstream_customers_lost"]
        if _nan(lost) or float(lost) <= 0:
            continue  # no measured downstream cost: an insight, not an action
        lost = float(lost)
        reference = "target" if r.get("short_of") == "target" else "3-month baseline"
        ref_rate = r["target_rate"] if r.get("short_of") == "target" else r["baseline_rate"]
        segs = bottlenecks[
            bottlenecks.flagged.fillna(False).astype(bool)
            & (bottlenecks.segment_type != "all")
            & (bottlenecks.from_stage == r["from_stage"])
            & (bottlenecks.to_stage == r["to_stage"])
        ].sort_values("shortfall_units", ascending=False)
        where = (
            f", starting with {segs.iloc[0]['segment_type']} = {segs.iloc[0]['segment']}"
            if not segs.empty
            else ""
        )
        text = (
            f"Fix the {r['from_stage']}→{r['to_stage']} step{where}: {r['conversion_rate']:.1%} "
            f"vs {ref_rate:.1%} {reference}, about {lost:.1f} customers lost."
        )
        new = new_segments_below(bottlenecks, r, ref_rate)
        if new is not None:
            text += (
                f" Check the mix first: {new['entered']:.0f} of the {r['entered']:.0f} entries "
                f"come from {new['segment_type']} = {new['segment']}, new this cohort (no "
                f"baseline), converting at {new['conversion_rate']:.1%}."
            )
        equivalent = lost * values.per_customer if values.per_customer else 0.0
        actions.append(
            dict(
                action=text,
                owner_role=STAGE_OWNERS.get(r["from_stage"], "Marketing operations manager"),
                expected_impact=lost,
                impact_metric="customers",
                revenue_equivalent=equivalent,
                source="funnel_bottlenecks",
                evidence=f"cohort {pd.Timestamp(r['cohort_month']):%Y-%m}, shortfall {r['shortfall_units']:.1f} units",
            )
        )
    return actions


def _at_least(value: object, reference: object) -> bool:
    if pd.isna(reference):
        return True
    return not pd.isna(value) and float(value) >= float(reference)


SQL_LOSS_TOLERANCE = 0.05


def threshold_action(recommendations: pd.DataFrame, values: UnitValues) -> list[dict]:
    """Switch the MQL rule to the recommended score threshold, when its SQL rate (precision)
    is at least the CRM rule's, it keeps at least 95% of the CRM rule's SQLs, and it
    changes SQLs or MQL volume."""
    if _empty(recommendations) or "is_recommended" not in recommendations:
        return []
    rec = recommendations[recommendations.is_recommended.fillna(False).astype(bool)]
    current = recommendations[recommendations.rule.str.contains("crm", case=False, na=False)]
    if rec.empty or current.empty:
        return []
    r, c = rec.iloc[0], current.iloc[0]
    if r["rule"] == c["rule"]:
        return []  # the CRM's rule does at least as well as any score threshold
    d_sql = float(r["sqls_per_month"] - c["sqls_per_month"])
    d_mql = float(r["mqls_per_month"] - c["mqls_per_month"])
    if abs(d_sql) < 0.5 and abs(d_mql) < 1:
        return []
    if not _at_least(r["precision"], c["precision"]):
        return []  # a lower SQL rate than today's rule is shown in the table, not pushed
    if d_sql < -SQL_LOSS_TOLERANCE * float(c["sqls_per_month"]):
        return []  # fewer MQLs bought with lost SQLs is a capacity choice, not an action
    text = (
        f"Change the MQL rule from the CRM's stage to '{r['rule']}': {r['mqls_per_month']:.0f} MQLs a month "
        f"(vs {c['mqls_per_month']:.0f}) at {r['precision']:.0%} SQL precision (vs {c['precision']:.0%}), "
        f"{r['sqls_per_month']:.1f} SQLs (vs {c['sqls_per_month']:.1f})."
    )
    if d_sql > 0:
        impact, metric = d_sql, "sqls"
        equivalent = d_sql * values.per_sql if values.per_sql else 0.0
    else:
        impact, metric, equivalent = -d_mql, "mqls_avoided", 0.0
    return [
        dict(
            action=text,
            owner_role="Marketing operations manager",
            expected_impact=impact,
            impact_metric=metric,
            revenue_equivalent=equivalent,
            source="lead_threshold_recommendations",
            evidence=f"rule {r['rule']} vs {c['rule']}",
        )
    ]


def _p_text(p: object) -> str:
    return "p < 0.001" if not _nan(p) and float(p) < 0.001 else f"p = {float(p):.3f}"


def monthly_experiment_units(results: pd.DataFrame, experiment_id: str) -> float | None:
    """Units a month that the experiment's traffic brings (every arm, from its start to the
    result's month end or its end date): what a shipped variant would reach a month."""
    rows = results[results["experiment_id"] == experiment_id]
    if rows.empty or {"start_date", "month"} - set(rows) or pd.isna(rows["start_date"].iloc[0]):
        return None
    start = pd.Timestamp(rows["start_date"].iloc[0])
    stop = pd.Timestamp(rows["month"].iloc[0]) + pd.DateOffset(months=1)
    end = rows["end_date"].iloc[0] if "end_date" in rows else None
    if end is not None and not pd.isna(end):
        stop = min(stop, pd.Timestamp(end) + pd.Timedelta(days=1))
    days = (stop - start).days
    if days <= 0:
        return None
    return float(rows["units"].sum()) * 30.4 / days


def experiment_actions(results: pd.DataFrame, values: UnitValues, currency: str = "") -> list[dict]:
    """Ship a winning variant (impact: the lift times the units a month the experiment's
    traffic brings, i.e. what shipping it to that traffic adds a month) or fix an
    experiment whose split mismatches its plan."""
    if _empty(results):
        return []
    actions = []
    candidates = results[results.verdict.isin(["ship", "invalid: SRM"])]
    if "is_control" in candidates:
        candidates = candidates[~candidates.is_control.fillna(False).astype(bool)]
    ship = candidates[candidates.verdict == "ship"]
    srm = candidates[candidates.verdict == "invalid: SRM"].drop_duplicates(subset=["experiment_id"])
    for r in pd.concat([ship, srm]).to_dict("records"):
        name = r.get("experiment_name") or r["experiment_id"]
        if r["verdict"] == "ship":
            per_month = monthly_experiment_units(results, r["experiment_id"])
            reach = per_month if per_month is not None else float(r["units"])
            p_adj = r.get("decision_p_value_adjusted", r["p_value_adjusted"])
            if r.get("primary_metric") == "revenue" and not _nan(r.get("revenue_lift_abs")):
                impact = float(r["revenue_lift_abs"]) * reach
                metric, equivalent = "revenue", impact
                rel = r.get("revenue_lift_rel")
                lift = (
                    f"+{money(float(r['revenue_lift_abs']), currency).strip()} revenue per unit"
                    + (f" ({float(rel):+.1%})" if not _nan(rel) else "")
                )
            else:
                impact = float(r["lift_abs"] or 0) * reach
                metric = "conversions"
                equivalent = impact * values.per_lead if values.per_lead else 0.0
                rel = r.get("lift_rel")
                lift = f"{100 * float(r['lift_abs']):+.1f} percentage points conversion rate" + (
                    f" ({float(rel):+.1%} relative)" if not _nan(rel) else ""
                )
            text = f"Ship variant '{r['variant']}' of '{name}': {lift}, adjusted {_p_text(p_adj)}"
            if per_month is not None:
                text += f"; about {per_month:,.0f} units a month reach it"
            text += "."
            owner = "Growth lead"
        else:
            impact, metric, equivalent = 0.0, "decisions_unblocked", 0.0
            text = (
                f"Fix the assignment of '{name}' before reading it: its split mismatches the plan "
                f"(SRM p = {r['srm_p_value']:.1e}); results are invalid."
            )
            owner = "Growth analyst"
        actions.append(
            dict(
                action=text,
                owner_role=owner,
                expected_impact=impact,
                impact_metric=metric,
                revenue_equivalent=equivalent,
                source="experiment_results",
                evidence=f"{r['experiment_id']} / {r['variant']}: {r.get('verdict_reason', '')}",
            )
        )
    return actions


def content_actions(recommendations: pd.DataFrame, values: UnitValues) -> list[dict]:
    if _empty(recommendations):
        return []
    actions = []
    usable = recommendations[recommendations.expected_impact.fillna(0) > 0]
    for r in (
        usable.sort_values("expected_impact", ascending=False)
        .head(MAX_PER_SOURCE)
        .to_dict("records")
    ):
        impact = float(r["expected_impact"] or 0)
        per_unit = (
            values.per_lead
            if r.get("impact_metric", "").startswith(("form_fill", "lead"))
            else None
        )
        actions.append(
            dict(
                action=str(r["recommendation"]),
                owner_role="Content lead",
                expected_impact=impact,
                impact_metric=str(r.get("impact_metric") or "form_fills_per_month"),
                revenue_equivalent=impact * per_unit if per_unit else 0.0,
                source="content_recommendations",
                evidence=f"{r.get('kind')} #{r.get('rank')}",
            )
        )
    return actions


def rank_actions(candidates: list[dict], month: date, limit: int = MAX_ACTIONS) -> pd.DataFrame:
    """Top ``limit`` candidates by revenue equivalent, at most ``MAX_PER_SOURCE`` per source."""
    ordered = sorted(
        candidates,
        key=lambda c: (-(c["revenue_equivalent"] or 0.0), -(c["expected_impact"] or 0.0)),
    )
    chosen, per_source = [], {}
    for c in ordered:
        if per_source.get(c["source"], 0) >= MAX_PER_SOURCE:
            continue
        per_source[c["source"]] = per_source.get(c["source"], 0) + 1
        chosen.append({**c, "due_by": c.get("due_by") or due_date(month, c["source"])})
        if len(chosen) == limit:
            break
    df = pd.DataFrame(chosen, columns=[c for c in ACTION_COLUMNS if c != "rank"])
    df.insert(0, "rank", range(1, len(df) + 1))
    return df


def build_actions(
    month: date,
    currency: str,
    summary: pd.DataFrame,
    reallocation: pd.DataFrame | None = None,
    waste: pd.DataFrame | None = None,
    bottlenecks: pd.DataFrame | None = None,
    thresholds: pd.DataFrame | None = None,
    experiments: pd.DataFrame | None = None,
    content: pd.DataFrame | None = None,
    pacing: pd.DataFrame | None = None,
) -> pd.DataFrame:
    values = UnitValues.from_summary(summary)
    candidates = (
        pacing_actions(pacing, currency)
        + reallocation_action(reallocation, currency)
        + waste_actions(waste, currency)
        + bottleneck_actions(bottlenecks, values)
        + threshold_action(thresholds, values)
        + experiment_actions(experiments, values, currency)
        + content_actions(content, values)
    )
    return rank_actions(candidates, month)
