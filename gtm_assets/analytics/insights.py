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
crowd the plan, unless the other analyses leave slots empty.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date, timedelta

import numpy as np
import pandas as pd
from scipy.stats import norm

from gtm_assets.analytics.funnel import add_months

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
    "budget_pacing": 3,
    "channel_performance": 3,
    "budget_reallocation": 7,
    "experiment_results": 7,
    "lead_threshold_recommendations": 10,
    "funnel_bottlenecks": 14,
    "funnel_stages": 7,
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
    return add_months(month, 1) - timedelta(days=1) + timedelta(days=DUE_DAYS.get(source, 14))


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
    prior = add_months(month, -1)
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


def _metric_text(value: float, unit: str, currency: str) -> str:
    if unit == "money":
        return money(value, currency)
    if unit == "count":
        return f"{value:,.0f}"
    return f"{value:.2f}"


def target_insight(summary: pd.DataFrame, currency: str) -> dict | None:
    """The headline metrics off track against their targets (revenue is the headline's own
    sentence), worst first: a missed target is news the tiles alone do not tell."""
    if _empty(summary) or "status" not in summary:
        return None
    off = summary[(summary["status"] == "off_track") & (summary["metric"] != "revenue")].copy()
    if off.empty:
        return None
    target_col = "target_to_date" if "target_to_date" in off else "target"
    off["target_used"] = off[target_col].where(off[target_col].notna(), off["target"])
    off = off[off["target_used"].notna() & (off["target_used"] != 0)]
    if off.empty:
        return None
    off["gap"] = 100 * (off["value"] / off["target_used"] - 1)
    off = off.reindex(off["gap"].abs().sort_values(ascending=False).index)
    prorated = partial_days(summary) is not None
    parts = [
        f"{r['metric']} {_metric_text(float(r['value']), r.get('unit', ''), currency)} against "
        f"{_metric_text(float(r['target_used']), r.get('unit', ''), currency)} "
        f"({pct(r['gap'])})"
        for r in off.to_dict("records")
    ]
    worst = off.iloc[0]
    return dict(
        kind="target",
        insight=(
            "Off target"
            + (" (targets prorated to the days covered)" if prorated else "")
            + ": "
            + "; ".join(parts)
            + "."
        ),
        metric=str(worst["metric"]),
        value=float(worst["gap"]),
        source="executive_summary",
    )


def pacing_insight(pacing: pd.DataFrame | None, currency: str) -> dict | None:
    """The channel that spent (or is pacing to spend) furthest over its plan."""
    if _empty(pacing) or "planned_spend" not in pacing:
        return None
    over = pacing[
        (pacing["level"] == "channel")
        & (pacing["status"] == "over")
        & pacing["planned_spend"].notna()
        & (pacing["planned_spend"] > 0)
    ]
    if over.empty:
        return None
    over = over.assign(gap=over["projected_eom_spend"] - over["planned_spend"])
    r = over.loc[over["gap"].idxmax()]
    closed = float(r["days_in_month"]) - float(r["days_elapsed"]) < 2
    verb = "spent" if closed else "is pacing to"
    others = len(over) - 1
    text = (
        f"{r['channel']} {verb} {money(r['projected_eom_spend'], currency)} against its "
        f"{money(r['planned_spend'], currency)} plan "
        f"({pct(100 * (r['projected_eom_spend'] / r['planned_spend'] - 1))}): a pacing overrun, "
        "not a performance signal"
        + (f"; {others} other channel(s) are over plan too" if others else "")
        + "."
    )
    return dict(
        kind="pacing",
        insight=text,
        metric="pacing_ratio",
        value=float(r["pacing_ratio"]),
        source="budget_pacing",
    )


#: Untagged traffic lands here when utm values go missing (see the channel rules).
UNTAGGED_CHANNELS = ("direct", "unclassified")
#: A channel's leads must fall to at most this share of what its clicks predict...
TAGGING_LEAD_RATIO = 0.7
#: ... by at least this many leads, with untagged channels gaining at least half of them.
TAGGING_MIN_LEADS = 10.0


def tagging_breaks(channels: pd.DataFrame | None, prior: pd.DataFrame | None) -> pd.DataFrame:
    """Paid channels whose attributed leads fell while their clicks held and untagged
    channels (direct, unclassified) gained about as many leads: the signature of utm tags
    that stopped being set (a broken template, a new ad account), not of a collapse.

    Per channel with clicks in both months: ``expected`` = prior leads x (clicks / prior
    clicks); flagged when leads <= ``TAGGING_LEAD_RATIO`` x expected, the gap
    (``missing``) is at least ``TAGGING_MIN_LEADS`` and the untagged channels' leads rose
    by at least half of the gap (a real drop in conversion leaves untagged leads alone)."""
    columns = [
        "channel",
        "leads",
        "prior_leads",
        "clicks",
        "prior_clicks",
        "missing",
        "untagged_rise",
    ]
    if _empty(channels) or _empty(prior) or "clicks" not in channels or "clicks" not in prior:
        return pd.DataFrame(columns=columns)
    now = channels[channels["level"] == "channel"].set_index("channel")
    before = prior[prior["level"] == "channel"].set_index("channel")
    untagged = [c for c in UNTAGGED_CHANNELS if c in now.index or c in before.index]
    rise = float(
        now["leads"].reindex(untagged).fillna(0).sum()
        - before["leads"].reindex(untagged).fillna(0).sum()
    )
    rows = []
    for channel in now.index.intersection(before.index):
        if channel in UNTAGGED_CHANNELS:
            continue
        clicks, prior_clicks = now.at[channel, "clicks"], before.at[channel, "clicks"]
        leads, prior_leads = now.at[channel, "leads"], before.at[channel, "leads"]
        if _nan(clicks) or _nan(prior_clicks) or prior_clicks <= 0 or clicks <= 0:
            continue
        if _nan(prior_leads) or prior_leads <= 0:
            continue
        leads = 0.0 if _nan(leads) else float(leads)
        expected = float(prior_leads) * float(clicks) / float(prior_clicks)
        missing = expected - leads
        if (
            leads <= TAGGING_LEAD_RATIO * expected
            and missing >= TAGGING_MIN_LEADS
            and rise >= 0.5 * missing
        ):
            rows.append(
                dict(
                    channel=channel,
                    leads=leads,
                    prior_leads=float(prior_leads),
                    clicks=float(clicks),
                    prior_clicks=float(prior_clicks),
                    missing=missing,
                    untagged_rise=rise,
                )
            )
    return pd.DataFrame(rows, columns=columns)


def _tagging_sentence(r: Mapping) -> str:
    change = 100 * (r["leads"] / r["prior_leads"] - 1)
    return (
        f"{r['channel']}'s attributed leads fell {abs(change):.0f}% to {r['leads']:,.0f} while its "
        f"clicks held ({r['clicks']:,.0f} against {r['prior_clicks']:,.0f}) and untagged traffic "
        f"(direct, unclassified) gained {r['untagged_rise']:,.0f} leads"
    )


def tagging_insight(breaks: pd.DataFrame) -> dict | None:
    if _empty(breaks):
        return None
    r = breaks.sort_values("missing", ascending=False).iloc[0]
    return dict(
        kind="tracking",
        insight=(
            _tagging_sentence(r)
            + f": that looks like lost utm tags, not a {r['channel']} collapse. Check its "
            "tagging before acting on its CPA, ROAS or budget."
        ),
        metric="leads_mistracked",
        value=float(r["missing"]),
        source="channel_performance",
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
    channels: pd.DataFrame,
    currency: str,
    tracking_gap: bool = False,
    mistagged: Sequence[str] = (),
) -> dict | None:
    """The channel whose attributed revenue changed most in money terms (with a caveat when
    the month's tracking coverage fell, or the channel lost its tags: ``mistagged``)."""
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
        + (
            f"; {row['channel']} lost utm tags this month, so part of it is mistracking"
            if row["channel"] in set(mistagged)
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


#: Segments need this many entries to be tested for a disproportionate drop.
SEGMENT_MIN_ENTERED = 30


def segment_focus(bottlenecks: pd.DataFrame, overall: Mapping) -> tuple[dict | None, int]:
    """Where a flagged transition's drop sits: the segment that fell significantly more than
    the whole transition did, or None when the drop is broad.

    Each segment (at least ``SEGMENT_MIN_ENTERED`` entries, with a baseline) is tested
    against its own baseline scaled by the overall fall: expected rate = baseline_s x
    (overall rate / overall baseline), one-sided normal test, Bonferroni over the segments
    tested. The biggest segment always has the largest shortfall, so ranking by shortfall
    names the largest segment of a uniform drop, which says nothing about its cause.
    Returns (the segment row with its ``expected_rate``, or None; segments tested)."""
    needed = {"entered", "baseline_rate", "conversion_rate"}
    if needed - set(bottlenecks) or _nan(overall.get("baseline_rate")):
        return None, 0
    base = float(overall["baseline_rate"])
    if base <= 0:
        return None, 0
    fall = float(overall["conversion_rate"]) / base
    rows = bottlenecks[
        (bottlenecks.segment_type != "all")
        & (bottlenecks.from_stage == overall["from_stage"])
        & (bottlenecks.to_stage == overall["to_stage"])
        & bottlenecks.baseline_rate.notna()
        & (bottlenecks.entered >= SEGMENT_MIN_ENTERED)
    ].copy()
    if rows.empty:
        return None, 0
    for column in needed:
        rows[column] = pd.to_numeric(rows[column], errors="coerce").astype(float)
    rows["expected_rate"] = (rows["baseline_rate"] * fall).clip(1e-9, 1 - 1e-9)
    se = np.sqrt(rows["expected_rate"] * (1 - rows["expected_rate"]) / rows["entered"])
    z = (rows["conversion_rate"] - rows["expected_rate"]) / se
    rows["p"] = norm.cdf(z.to_numpy(dtype=float)) * len(rows)
    hits = rows[rows["p"] < 0.05]
    if hits.empty:
        return None, len(rows)
    return hits.sort_values("p").iloc[0].to_dict(), len(rows)


def _segment_phrase(bottlenecks: pd.DataFrame, overall: Mapping) -> str:
    """ "; it is concentrated in industry = software (11.5% against the 19.8% its baseline
    and the overall fall imply)" or "; the drop is broad: ..." or ""."""
    seg, tested = segment_focus(bottlenecks, overall)
    if seg is not None:
        return (
            f"; it is concentrated in {seg['segment_type']} = {seg['segment']} "
            f"({seg['conversion_rate']:.1%} against the {seg['expected_rate']:.1%} its "
            f"{seg['baseline_rate']:.1%} baseline and the overall fall imply)"
        )
    if tested >= 3:
        return (
            f"; the drop is broad: none of the {tested} segments fell significantly more than "
            "the rest, which points at follow-up capacity or process rather than lead mix"
        )
    return ""


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
    text += _segment_phrase(bottlenecks, top)
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
    marginal = pd.to_numeric(moves["marginal_roas_current"], errors="coerce")
    average = pd.to_numeric(
        moves.get("average_roas_current", pd.Series(np.nan, index=moves.index)), errors="coerce"
    )
    # a channel without a curve (priced at its average return) can only be cut
    moves = moves[marginal.notna() | (average.notna() & (moves["change"] < 0))]
    if uplift <= 0 or moves.empty or moves["change"].abs().max() < 1:
        return None
    up = moves.loc[moves["change"].idxmax()]
    down = moves.loc[moves["change"].idxmin()]
    if up["change"] < 1 or down["change"] > -1:
        return None

    def roas(row: pd.Series) -> str:
        value = pd.to_numeric(row["marginal_roas_current"], errors="coerce")
        if pd.notna(value):
            return f"{row['channel']} {value:.2f}"
        return f"{row['channel']} {row['average_roas_current']:.2f} on average, no fitted curve"

    text = (
        f"The budget optimizer expects {money(uplift, currency)} more revenue from the same budget by "
        f"moving {money(float(up['change']), currency)} into {up['channel']} "
        f"and {money(float(-down['change']), currency)} out of {down['channel']} "
        f"(marginal ROAS at current spend: {roas(up)}, {roas(down)})"
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
    prior_channels: pd.DataFrame | None = None,
    pacing: pd.DataFrame | None = None,
    funnel: pd.DataFrame | None = None,
    data_start: date | None = None,
) -> pd.DataFrame:
    """3-5 sentences with their numbers, most urgent first: headline, tracking problems,
    missed targets, funnel bottleneck or early warning, pacing overrun, budget, movers,
    attribution. ``won_amounts``: the month's won deal amounts (for the one-deal caveat);
    ``lead_coverage``: this and last month's share of leads with a tracked touch;
    ``prior_channels``: last month's channel_performance (for lost tags); ``pacing``:
    budget_pacing; ``funnel``: funnel_stages (for the current cohorts' early read)."""
    tracking = tracking_insight(*lead_coverage)
    breaks = tagging_breaks(channels, prior_channels)
    bottleneck = bottleneck_insight(bottlenecks)
    candidates = [
        revenue_insight(summary, month, currency, won_amounts),
        tracking,
        tagging_insight(breaks),
        target_insight(summary, currency),
        bottleneck,
        early_warning_insight(funnel, bottlenecks, data_start),
        pacing_insight(pacing, currency),
        budget_insight(reallocation, currency),
        channel_mover_insight(
            channels,
            currency,
            tracking_gap=tracking is not None,
            mistagged=list(breaks["channel"]),
        ),
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


def reallocation_action(
    reallocation: pd.DataFrame, currency: str, mistagged: set[str] | frozenset = frozenset()
) -> list[dict]:
    """Move next month's budget as recommended (or test it, when the gain's interval reaches
    zero). A cut to a channel that lost its utm tags this month (``mistagged``) rests on
    the missing credit: the action says to hold it until the tags are fixed."""
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
    cut_mistagged = [
        r.channel for r in moves.itertuples() if r.change <= -1 and r.channel in mistagged
    ]
    if cut_mistagged:
        text += (
            f" Hold {' and '.join(cut_mistagged)} at its current budget until its utm tags "
            "are fixed: its cut rests on credit lost to untagged clicks."
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


def _other_lens_within_target(r: Mapping, currency: str) -> str | None:
    """When last-touch credit or the ad platform's own conversions put a campaign's CPA
    within target although the configured model does not: "last touch puts its CPA at USD
    215 (186 leads)". Such a verdict depends on the model, so it is tested, not acted on."""
    spend, limit = r.get("spend"), r.get("threshold")
    if _nan(spend) or _nan(limit) or not spend or not limit:
        return None
    for column, label in (
        ("platform_conversions", "the ad platform's own conversions put"),
        ("last_touch_leads", "last touch puts"),
    ):
        count = r.get(column)
        if not _nan(count) and count and float(spend) / float(count) <= float(limit):
            return (
                f"{label} its CPA at {money(float(spend) / float(count), currency)} "
                f"({float(count):,.0f} {'conversions' if column == 'platform_conversions' else 'leads'})"
            )
    return None


def _ended_by(end_date: object, month: object) -> date | None:
    """The campaign's end date when it ended within or before the waste row's month."""
    if end_date is None or _nan(end_date) or pd.isna(end_date) or month is None or pd.isna(month):
        return None
    end = pd.Timestamp(end_date).date()
    return end if end < add_months(pd.Timestamp(month).date(), 1) else None


def waste_actions(waste: pd.DataFrame, currency: str) -> list[dict]:
    if _empty(waste):
        return []
    actions = []
    for r in (
        waste.sort_values("wasted_spend", ascending=False).head(MAX_ACTIONS).to_dict("records")
    ):
        if not r.get("wasted_spend") or r["wasted_spend"] <= 0:
            continue
        name = r.get("name") or r.get("scope_id") or r.get("channel")
        if r.get("kind") == "cpa_above_target":
            why = f"its CPA is {money(r['value'], currency)} against a {money(r['threshold'], currency)} target"
            model = r.get("attribution_model")
            judged = r.get("lead_due_spend")
            judged = r.get("spend") if _nan(judged) else judged
            target = r.get("target_cpa")
            target = r.get("threshold") if _nan(target) else target
            if r.get("value") and target and judged:
                credited = float(judged) / float(r["value"])
                implied = float(judged) / float(target)
                by = f" by {model.replace('_', ' ')} attribution" if isinstance(model, str) else ""
                why += (
                    f" ({credited:,.1f} leads credited{by} where the target implies {implied:,.1f})"
                )
            verb = "Cut bids or budget on"
            other = _other_lens_within_target(r, currency)
            if other:
                why += (
                    f", but {other}, so the verdict rests on the attribution model: lower "
                    "bids about 20% for two weeks and watch its leads before cutting budget"
                )
                verb = "Test lower bids on"
        elif r.get("kind") == "no_conversions":
            model = r.get("attribution_model")
            last_touch = r.get("last_touch_leads")
            why = f"it spent {money(r['spend'], currency)} without a lead"
            verb = "Pause or fix"
            ended = _ended_by(r.get("campaign_end_date"), r.get("month"))
            if isinstance(model, str) and model:
                why += f" credited by {model.replace('_', ' ')} attribution"
                if model != "last_touch" and not _nan(last_touch) and float(last_touch) > 0:
                    why += (
                        f", although it is the last touch before {float(last_touch):,.0f} "
                        "leads: it catches people who were already converting"
                    )
                    verb = "Test pausing"
            if ended is not None:
                verb = "Do not renew or extend"
                why += (
                    f"; it ended on {ended:%d %B}, so fix its targeting or offer before reusing it"
                )
        elif r.get("kind") in ("roas_below_target", "leads_rarely_close"):
            cpa_text = ""
            if not _nan(r.get("cpa")) and not _nan(r.get("target_cpa")) and r.get("target_cpa"):
                cheap = float(r["cpa"]) <= float(r["target_cpa"])
                cpa_text = (
                    f"{'its leads are cheap' if cheap else 'its leads cost'} (CPA "
                    f"{money(r['cpa'], currency)} against a {money(r['target_cpa'], currency)} "
                    "target) but "
                )
            if r.get("kind") == "leads_rarely_close":
                why = f"{cpa_text}they rarely become pipeline: {r['detail']}"
            else:
                why = f"{cpa_text}they rarely become revenue: {r['detail']}"
            verb = "Cut budget on"
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
            else f"{money(r['wasted_spend'], currency)} of its spend is not returned at target"
            if r.get("kind") == "roas_below_target"
            else f"about {money(r['wasted_spend'], currency)} of this month's spend buys leads "
            "that an average campaign's would have turned into pipeline"
            if r.get("kind") == "leads_rarely_close"
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
                channel=r.get("channel"),
            )
        )
    return actions


def pacing_actions(pacing: pd.DataFrame | None, currency: str) -> list[dict]:
    """While the month is still running (the exports end at least two days before its end),
    a channel projected over its plan gets "lower the daily cap now" (the overspend it
    avoids), and one far under it "raise caps or release the money" (no revenue claimed).
    Due the day after the data end: waiting for the month-end review is too late. A closed
    month's overspend gets a cap for next month (``closed_overspend_actions``)."""
    if _empty(pacing) or "days_elapsed" not in pacing:
        return []
    channels = pacing[(pacing["level"] == "channel") & pacing["planned_spend"].notna()]
    running = channels["days_in_month"] - channels["days_elapsed"] >= 2
    rows = channels[running & channels["status"].isin(["over", "under"])]
    actions = closed_overspend_actions(channels[~running], currency)
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


def closed_overspend_actions(channels: pd.DataFrame, currency: str) -> list[dict]:
    """A closed month's channels that spent more than their plan (pacing status ``over``):
    cap them before next month repeats it. The overspend counts as the spend the cap saves."""
    actions = []
    for r in channels[channels["status"] == "over"].to_dict("records"):
        spent, plan = float(r["projected_eom_spend"]), float(r["planned_spend"])
        month = pd.Timestamp(r["as_of_date"])
        run_out = r.get("run_out_date")
        when = (
            f"; the plan was used up on {pd.Timestamp(run_out):%d %B}"
            if run_out is not None and not pd.isna(run_out)
            else ""
        )
        daily = plan / float(r["days_in_month"])
        actions.append(
            dict(
                action=(
                    f"Cap {r['channel']}'s spend: it spent {money(spent, currency)} against its "
                    f"{money(plan, currency)} plan for {month:%B} "
                    f"({pct(100 * (spent / plan - 1))}{when}). Set a daily cap near "
                    f"{money(daily, currency)} (its plan spread over the month) or agree a "
                    "larger plan before next month starts."
                ),
                owner_role="Paid media manager",
                expected_impact=spent - plan,
                impact_metric="spend_over_plan",
                revenue_equivalent=spent - plan,
                source="budget_pacing",
                evidence=f"pacing ratio {float(r['pacing_ratio']):.2f}, month closed",
            )
        )
    return actions


#: An early read is a warning when the current cohort converts at most this share of the
#: mature cohort's rate by the same age, with a one-sided p-value below EARLY_WARNING_P.
EARLY_WARNING_RATIO = 0.75
EARLY_WARNING_P = 0.01
EARLY_WARNING_MIN_ENTERED = 30


def early_warnings(
    funnel: pd.DataFrame | None,
    bottlenecks: pd.DataFrame | None,
    data_start: date | None = None,
) -> pd.DataFrame:
    """Transitions (all leads) whose current, still-open cohort converts clearly slower than
    the mature cohort did by the same age: ``current_cohort_km_rate`` at most
    ``EARLY_WARNING_RATIO`` x ``cohort_rate_at_early_read``, ``early_read_p_value`` below
    ``EARLY_WARNING_P``, at least ``EARLY_WARNING_MIN_ENTERED`` entries. A drop that shows
    only once the cohort matures would otherwise reach the review a month late. Transitions
    already flagged as a bottleneck this month are left to it, and so is a reference cohort
    from before ``data_start`` (the first month with leads): before the exports begin, only
    the people who later converted left a trace, so its rate is not a baseline."""
    if _empty(funnel) or "early_read_p_value" not in funnel:
        return pd.DataFrame()
    rows = funnel[
        (funnel["segment_type"] == "all")
        & (funnel["current_cohort_entered"] >= EARLY_WARNING_MIN_ENTERED)
        & (funnel["early_read_p_value"] < EARLY_WARNING_P)
        & (
            funnel["current_cohort_km_rate"]
            <= EARLY_WARNING_RATIO * funnel["cohort_rate_at_early_read"]
        )
    ]
    if data_start is not None and "cohort_month" in rows:
        rows = rows[pd.to_datetime(rows["cohort_month"]) >= pd.Timestamp(data_start)]
    if not _empty(bottlenecks) and "flagged" in bottlenecks:
        flagged = bottlenecks[
            bottlenecks.flagged.fillna(False).astype(bool) & (bottlenecks.segment_type == "all")
        ]
        taken = set(zip(flagged["from_stage"], flagged["to_stage"], strict=True))
        rows = rows[
            [(a, b) not in taken for a, b in zip(rows["from_stage"], rows["to_stage"], strict=True)]
        ]
    if rows.empty:
        return rows
    rows = rows.assign(
        shortfall=(rows["cohort_rate_at_early_read"] - rows["current_cohort_km_rate"])
        * rows["current_cohort_entered"]
    )
    return rows.sort_values("shortfall", ascending=False)


def _early_sentence(r: Mapping) -> str:
    month = pd.Timestamp(r["month"])
    return (
        f"{month:%B}'s {r['from_stage']}s reached {r['to_stage']} at "
        f"{r['current_cohort_km_rate']:.1%} within {int(r['early_read_days'])} days "
        f"(Kaplan-Meier) against {r['cohort_rate_at_early_read']:.1%} for the "
        f"{pd.Timestamp(r['cohort_month']):%B} cohort at the same age "
        f"({_p_text(r['early_read_p_value'])})"
    )


def early_warning_insight(
    funnel: pd.DataFrame | None,
    bottlenecks: pd.DataFrame | None = None,
    data_start: date | None = None,
) -> dict | None:
    rows = early_warnings(funnel, bottlenecks, data_start)
    if rows.empty:
        return None
    r = rows.iloc[0].to_dict()
    return dict(
        kind="early_warning",
        insight=(
            f"Early warning on {r['from_stage']}→{r['to_stage']}: " + _early_sentence(r) + "; "
            f"about {r['shortfall']:,.0f} fewer {r['to_stage']}s so far. The cohort is still "
            "open, so the final rate is not known yet, but the gap is already significant."
        ),
        metric=f"{r['from_stage']}_to_{r['to_stage']}_early_rate",
        value=float(r["current_cohort_km_rate"]),
        source="funnel_stages",
    )


def _unit_value(stage: str, values: UnitValues) -> float | None:
    return {
        "lead": values.per_lead,
        "mql": values.per_lead,
        "sql": values.per_sql,
        "opportunity": values.per_sql,
        "customer": values.per_customer,
    }.get(stage)


def early_warning_actions(
    funnel: pd.DataFrame | None,
    bottlenecks: pd.DataFrame | None,
    values: UnitValues,
    data_start: date | None = None,
) -> list[dict]:
    """Act on an early warning now: the owner of the from-stage checks follow-up (speed,
    capacity, routing) while the cohort can still convert."""
    actions = []
    for r in (
        early_warnings(funnel, bottlenecks, data_start).head(MAX_PER_SOURCE).to_dict("records")
    ):
        per_unit = _unit_value(str(r["to_stage"]), values)
        actions.append(
            dict(
                action=(
                    f"Check {r['from_stage']} follow-up now (response time, capacity, "
                    f"routing): " + _early_sentence(r) + f", about {r['shortfall']:,.0f} "
                    f"fewer {r['to_stage']}s so far while the cohort can still convert."
                ),
                owner_role=STAGE_OWNERS.get(r["from_stage"], "Marketing operations manager"),
                expected_impact=float(r["shortfall"]),
                impact_metric=f"{r['to_stage']}s",
                revenue_equivalent=float(r["shortfall"]) * per_unit if per_unit else 0.0,
                source="funnel_stages",
                evidence=(
                    f"early read {r['current_cohort_km_rate']:.3f} ± "
                    f"{r['current_cohort_km_se']:.3f} vs {r['cohort_rate_at_early_read']:.3f}, "
                    f"p {float(r['early_read_p_value']):.2g}"
                ),
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
        text = (
            f"Fix the {r['from_stage']}→{r['to_stage']} step: {r['conversion_rate']:.1%} "
            f"vs {ref_rate:.1%} {reference}, about {lost:.1f} customers lost"
            + _segment_phrase(bottlenecks, r)
            + "."
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
    """Top ``limit`` candidates by revenue equivalent, at most ``MAX_PER_SOURCE`` per source
    while other sources have candidates; slots the other sources cannot fill go to the next
    best candidates of any source (a month with three wasteful campaigns and little else
    lists all three, not two and an empty slot)."""
    ordered = sorted(
        candidates,
        key=lambda c: (-(c["revenue_equivalent"] or 0.0), -(c["expected_impact"] or 0.0)),
    )
    picked, per_source = [], {}
    for i, c in enumerate(ordered):
        if per_source.get(c["source"], 0) < MAX_PER_SOURCE and len(picked) < limit:
            per_source[c["source"]] = per_source.get(c["source"], 0) + 1
            picked.append(i)
    picked += [i for i in range(len(ordered)) if i not in picked][: limit - len(picked)]
    chosen = [
        {**ordered[i], "due_by": ordered[i].get("due_by") or due_date(month, ordered[i]["source"])}
        for i in sorted(picked)
    ]
    df = pd.DataFrame(chosen, columns=[c for c in ACTION_COLUMNS if c != "rank"])
    df.insert(0, "rank", range(1, len(df) + 1))
    return df


def tagging_actions(breaks: pd.DataFrame, suppressed: list[dict], values: UnitValues) -> list[dict]:
    """Fix the tags first: one action per channel that lost its utm tags. Its revenue
    equivalent is the value of the mistracked leads plus the spend at stake in the waste
    actions it replaces (what acting on the broken numbers would have put at risk)."""
    actions = []
    for r in breaks.to_dict("records"):
        held = [a for a in suppressed if a.get("channel") == r["channel"]]
        stake = sum(float(a["revenue_equivalent"] or 0) for a in held)
        worth = r["missing"] * values.per_lead if values.per_lead else 0.0
        text = (
            f"Fix {r['channel']}'s utm tagging before acting on its numbers: "
            + _tagging_sentence(r)
            + ". Untagged clicks count as direct, so its CPA, ROAS and budget moves read "
            "about "
            + f"{r['missing']:,.0f} leads short"
            + (f" ({len(held)} cost action(s) held back until then)" if held else "")
            + ". Fix the tags or the channel rules and re-run the month."
        )
        actions.append(
            dict(
                action=text,
                owner_role="Marketing operations manager",
                expected_impact=float(r["missing"]),
                impact_metric="leads_mistracked",
                revenue_equivalent=stake + worth,
                source="channel_performance",
                evidence=(
                    f"leads {r['leads']:.1f} vs {r['prior_leads']:.1f} last month, clicks "
                    f"{r['clicks']:.0f} vs {r['prior_clicks']:.0f}, untagged leads "
                    f"+{r['untagged_rise']:.1f}"
                ),
            )
        )
    return actions


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
    channels: pd.DataFrame | None = None,
    prior_channels: pd.DataFrame | None = None,
    funnel: pd.DataFrame | None = None,
    data_start: date | None = None,
) -> pd.DataFrame:
    """The month's candidate actions from every analysis, ranked (``rank_actions``). A
    channel that lost its utm tags (``tagging_breaks``) gets a "fix the tags" action in
    place of the cost actions that rest on its broken attribution."""
    values = UnitValues.from_summary(summary)
    breaks = tagging_breaks(channels, prior_channels)
    waste_list = waste_actions(waste, currency)
    mistagged = set(breaks["channel"])
    suppressed = [a for a in waste_list if a.get("channel") in mistagged]
    candidates = (
        pacing_actions(pacing, currency)
        + tagging_actions(breaks, suppressed, values)
        + reallocation_action(reallocation, currency, mistagged=mistagged)
        + [a for a in waste_list if a.get("channel") not in mistagged]
        + early_warning_actions(funnel, bottlenecks, values, data_start)
        + bottleneck_actions(bottlenecks, values)
        + threshold_action(thresholds, values)
        + experiment_actions(experiments, values, currency)
        + content_actions(content, values)
    )
    return rank_actions(candidates, month)
