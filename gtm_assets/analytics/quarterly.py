"""Quarterly planning: review, trends, next quarter's budget, goals, calendar, testing
roadmap and risks. Pure pandas/numpy; the Dagster layer is ``gtm_assets/assets/quarterly.py``.

Vocabulary: the partition's quarter ``Q`` is the quarter just closed (reviewed); the plan is
for ``Q+1``. Every rule below is stated once, here.

- **Channel verdict** (paid channels, spend > 0): *worked* when ROAS >= max(1, target ROAS)
  and CPA <= target CPA (when targeted); *did not work* when ROAS < 1 (it lost money on
  attributed revenue) or ROAS < 80% of its target; otherwise *mixed*. Unpaid channels are
  *unpaid* and reported on their volume. Campaign verdicts use the same rule on campaign
  targets, and need ``min_spend`` to be judged at all.
- **Persistent bottleneck**: a funnel transition flagged as a bottleneck in at least
  ``min_months`` (2) of the quarter's months.
- **Budget**: the Q+1 allocation of the budget optimizer (``marts.budget_quarterly_allocation``
  of the quarter's last month): historical-ROI and marginal-ROI allocations within the same
  bounds and budget, plus the test reserve row. Both columns sum to the budget.
- **Goals** per channel for Q+1, from the planned (marginal-ROI) spend and the reviewed
  quarter's efficiency: revenue = the curves' expected revenue of the planned spend (else
  spend x quarter ROAS); leads = spend / quarter CPA (unpaid channels: the quarter's leads);
  pipeline and customers = leads x the quarter's pipeline per lead and customers per lead;
  MQLs = leads x the quarter's lead -> MQL rate. Totals are the channel sums. Every goal has
  a metric, a number and a due date (the last day of Q+1); milestones are cumulative at each
  month end, split by the budget plan's monthly shares (else a third each).
- **Calendar**: each channel's planned spend split over campaign types by the reviewed
  quarter's spend mix; slots per type = the number of such campaigns last quarter; duration
  = the median of that type's past campaigns clamped to its typical range (launch 4-8 weeks,
  seasonal 2-4, flash 1-7 days, event 1-14 days, brand 8-12 weeks; always-on: the whole
  quarter); seasonal and event slots start on last year's start dates in the same quarter
  when there were any, other slots are spread evenly over the quarter.
- **Risks**: unstable response curves (unusable, R^2 < ``min_r2``, or a marginal-ROAS
  interval wider than its value) on channels whose budget moves; channels over or under
  pacing in at least two months; data-quality gaps (quarantined rows, unclassified touches
  above 5%, spend without tracked touchpoints); concentration (one channel above 40% of the
  planned spend or a Herfindahl index above 0.25).
"""

from __future__ import annotations

import math
from collections.abc import Collection, Mapping, Sequence
from datetime import date, timedelta

import numpy as np
import pandas as pd
import statsmodels.api as sm
from scipy import stats

from gtm_assets.analytics.funnel import add_months
from gtm_assets.analytics.insights import ONE_DEAL_SHARE, dominant_deal

TYPE_DURATION_RANGE = {
    "launch": (28, 56),
    "seasonal": (14, 28),
    "flash": (1, 7),
    "event": (1, 14),
    "brand": (56, 84),
}
TYPE_DEFAULT_DURATION = {"launch": 42, "seasonal": 21, "flash": 3, "event": 2, "brand": 70}
GOAL_METRICS = ("spend", "revenue", "pipeline", "leads", "mqls", "customers")
RESERVE_CHANNEL = "test_reserve"


def _finite(value: object) -> bool:
    try:
        return value is not None and math.isfinite(float(value))  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return False


def _div(a: float, b: float) -> float:
    return float(a) / float(b) if _finite(a) and _finite(b) and float(b) != 0 else float("nan")


def quarter_label(start: date) -> str:
    """date(2026, 4, 1) -> '2026-Q2'."""
    return f"{start.year}-Q{(start.month - 1) // 3 + 1}"


def quarter_months(start: date) -> list[date]:
    return [add_months(start, i) for i in range(3)]


# ---------------------------------------------------------------- review


def _fmt_money(x: float) -> str:
    return f"{x:,.0f}" if _finite(x) else "n/a"


def _fmt_ratio(x: float) -> str:
    return f"{x:.2f}" if _finite(x) else "n/a"


def channel_verdict(row: Mapping[str, float]) -> tuple[str, str]:
    """(verdict, why) for one channel's quarter (see module docstring)."""
    spend = float(row.get("spend") or 0.0)
    leads = row.get("leads")
    if spend <= 0:
        return "unpaid", (
            f"no paid spend; {leads:,.1f} attributed leads and revenue "
            f"{_fmt_money(row.get('revenue'))}"
            if _finite(leads)
            else "no paid spend and no attributed conversions"
        )
    roas, cpa = row.get("roas"), row.get("cpa")
    t_roas, t_cpa = row.get("target_roas"), row.get("target_cpa")
    parts = [f"spend {_fmt_money(spend)}", f"ROAS {_fmt_ratio(roas)}"]
    if _finite(t_roas):
        parts[-1] += f" vs target {_fmt_ratio(t_roas)}"
    if _finite(cpa):
        parts.append(
            f"CPA {_fmt_money(cpa)}" + (f" vs target {_fmt_money(t_cpa)}" if _finite(t_cpa) else "")
        )
    prior = row.get("prior_roas")
    if _finite(prior) and _finite(roas):
        if _fmt_ratio(roas) == _fmt_ratio(prior):
            parts.append(f"ROAS unchanged from last quarter ({_fmt_ratio(prior)})")
        else:
            parts.append(
                f"ROAS {'up' if roas > prior else 'down'} from {_fmt_ratio(prior)} last quarter"
            )
    util = row.get("utilization")
    if _finite(util):
        parts.append(f"{100 * util:.0f}% of its planned budget used")
    why = "; ".join(parts)
    if not _finite(roas) or roas < 1 or (_finite(t_roas) and roas < 0.8 * t_roas):
        return "did not work", why
    cpa_ok = not _finite(t_cpa) or (_finite(cpa) and cpa <= t_cpa)
    if roas >= max(1.0, t_roas if _finite(t_roas) else 1.0) and cpa_ok:
        return "worked", why
    return "mixed", why


def channel_review(totals: pd.DataFrame, attribution: pd.DataFrame) -> pd.DataFrame:
    """Channel totals with attribution shares, role, verdict and the reason."""
    out = (
        totals.merge(attribution, on="channel", how="left")
        if not attribution.empty
        else totals.copy()
    )
    for c in ("first_touch_share", "last_touch_share", "linear_share", "markov_share"):
        if c not in out.columns:
            out[c] = np.nan
    verdicts = [channel_verdict(r) for r in out.to_dict("records")]
    out["verdict"] = [v for v, _ in verdicts]
    out["why"] = [w for _, w in verdicts]
    total_spend = float(out["spend"].sum())
    out["spend_share"] = out["spend"] / total_spend if total_spend > 0 else np.nan
    return out


def campaign_review(totals: pd.DataFrame, min_spend: float) -> pd.DataFrame:
    """Campaign totals with verdict and reason; campaigns below ``min_spend`` are not judged."""
    out = totals.copy()
    verdicts = []
    for r in out.to_dict("records"):
        if float(r.get("spend") or 0) < min_spend:
            verdicts.append(
                ("too small to judge", f"spend {_fmt_money(r.get('spend'))} below {min_spend:,.0f}")
            )
        else:
            verdicts.append(channel_verdict({**r, "utilization": np.nan, "prior_roas": np.nan}))
    out["verdict"] = [v for v, _ in verdicts]
    out["why"] = [w for _, w in verdicts]
    return out


def persistent_bottlenecks(funnel: pd.DataFrame, min_months: int = 2) -> pd.DataFrame:
    """Transitions flagged in at least ``min_months`` months of the quarter."""
    cols = [
        "from_stage",
        "to_stage",
        "months_flagged",
        "months_seen",
        "mean_rate",
        "baseline_rate",
        "shortfall_units",
        "downstream_customers_lost",
        "persistent",
        "detail",
    ]
    if funnel.empty:
        return pd.DataFrame(columns=cols)
    g = funnel.groupby(["from_stage", "to_stage"], sort=False)
    out = g.agg(
        months_flagged=("flagged", lambda s: int(s.fillna(False).astype(bool).sum())),
        months_seen=("month", "nunique"),
        entered=("entered", "sum"),
        converted=("converted", "sum"),
        baseline_rate=("baseline_rate", "mean"),
        shortfall_units=("shortfall_units", "sum"),
        downstream_customers_lost=("downstream_customers_lost", "sum"),
    ).reset_index()
    out["mean_rate"] = [_div(c, e) for c, e in zip(out["converted"], out["entered"], strict=True)]
    out["persistent"] = out["months_flagged"] >= min_months
    out["detail"] = [
        f"{r.from_stage} -> {r.to_stage} converted {100 * r.mean_rate:.1f}%"
        + (f" vs baseline {100 * r.baseline_rate:.1f}%" if _finite(r.baseline_rate) else "")
        + f"; flagged in {r.months_flagged} of {r.months_seen} months"
        if _finite(r.mean_rate)
        else f"{r.from_stage} -> {r.to_stage}: no mature cohort yet"
        for r in out.itertuples()
    ]
    out = out.sort_values(["persistent", "months_flagged", "shortfall_units"], ascending=False)
    return out[cols].reset_index(drop=True)


#: A unit cost is degrading when it rises at least this much a month ...
DEGRADING_MONTHLY_RISE = 0.03
#: ... over at least this many months with spend, at one-sided p below DEGRADING_P.
DEGRADING_MIN_MONTHS = 5
DEGRADING_P = 0.05


def degrading_channels(months: pd.DataFrame) -> pd.DataFrame:
    """Paid channels whose cost per lead or per SQL rose steadily over the reviewed and the
    prior quarter: a quarter's total can look fine while every month is worse than the one
    before, and a ROAS-only allocation keeps funding it.

    Per channel and unit (leads, SQLs), over the months with spend and at least one unit:
    weighted least squares of log(spend / units) on the month index, weights = units (the
    variance of a log count rate is about 1 / count). Flagged when the fitted monthly rise
    is at least ``DEGRADING_MONTHLY_RISE``, over at least ``DEGRADING_MIN_MONTHS`` months,
    with one-sided p < ``DEGRADING_P``. One row per flagged channel (the unit with the
    steeper rise): channel, unit, monthly_rise, p_value, first/last cost, months."""
    cols = ["channel", "unit", "monthly_rise", "p_value", "first_cost", "last_cost", "months"]
    if months is None or months.empty:
        return pd.DataFrame(columns=cols)
    rows = []
    for channel, part in months.sort_values("month").groupby("channel", sort=True):
        best = None
        for unit in ("leads", "sqls"):
            if unit not in part:
                continue
            use = part[(part["spend"] > 0) & (pd.to_numeric(part[unit], errors="coerce") > 0)]
            if len(use) < DEGRADING_MIN_MONTHS:
                continue
            units = use[unit].astype(float).to_numpy()
            cost = use["spend"].astype(float).to_numpy() / units
            x = sm.add_constant(np.arange(len(use), dtype=float))
            fit = sm.WLS(np.log(cost), x, weights=units).fit()
            slope = float(fit.params[1])
            p = float(stats.t.sf(float(fit.tvalues[1]), fit.df_resid))
            rise = math.exp(slope) - 1
            if rise >= DEGRADING_MONTHLY_RISE and p < DEGRADING_P:
                row = dict(
                    channel=channel,
                    unit=unit,
                    monthly_rise=rise,
                    p_value=p,
                    first_cost=float(cost[0]),
                    last_cost=float(cost[-1]),
                    months=len(use),
                )
                if best is None or rise > best["monthly_rise"]:
                    best = row
        if best is not None:
            rows.append(best)
    return pd.DataFrame(rows, columns=cols)


def key_learnings(
    channels: pd.DataFrame,
    campaigns: pd.DataFrame,
    bottlenecks: pd.DataFrame,
    max_items: int = 6,
    months: pd.DataFrame | None = None,
) -> pd.DataFrame:
    """Key learnings of the quarter as sentences with their numbers, from the data.
    ``months``: per paid channel and month, spend, leads and SQLs (``degrading_channels``)."""
    rows: list[dict] = []
    for r in degrading_channels(months).itertuples():
        label = "lead" if r.unit == "leads" else "SQL"
        rows.append(
            dict(
                kind="degrading_channel",
                scope_id=r.channel,
                metric=f"cost_per_{label.lower()}_monthly_rise",
                value=float(r.monthly_rise),
                learning=(
                    f"{r.channel}'s cost per {label} rose about {100 * r.monthly_rise:.0f}% a "
                    f"month over the last {r.months} months ({_fmt_money(r.first_cost)} to "
                    f"{_fmt_money(r.last_cost)}, p = {r.p_value:.3f}): its efficiency is "
                    "degrading, which a quarter's totals hide; cap its budget growth until the "
                    "cause (audience fatigue, rising bids, lead quality) is found."
                ),
            )
        )
    paid = channels[(channels["spend"] > 0) & channels["roas"].notna()]
    if not paid.empty:
        total_spend = float(paid["spend"].sum())
        avg = _div(paid["revenue"].fillna(0).sum(), total_spend)
        sizable = paid[paid["spend"] >= 0.05 * total_spend]
        if not sizable.empty:
            best = sizable.loc[sizable["roas"].idxmax()]
            worst = sizable.loc[sizable["roas"].idxmin()]
            rows.append(
                dict(
                    kind="best_channel",
                    scope_id=best["channel"],
                    metric="roas",
                    value=float(best["roas"]),
                    learning=(
                        f"{best['channel']} returned {best['roas']:.2f} per dollar on "
                        f"{_fmt_money(best['spend'])} spend, against {avg:.2f} across paid channels."
                    ),
                )
            )
            if worst["channel"] != best["channel"]:
                rows.append(
                    dict(
                        kind="worst_channel",
                        scope_id=worst["channel"],
                        metric="roas",
                        value=float(worst["roas"]),
                        learning=(
                            f"{worst['channel']} returned the least of the paid channels, "
                            f"{worst['roas']:.2f} per dollar on {_fmt_money(worst['spend'])} "
                            f"spend ({worst['verdict']})."
                        ),
                    )
                )
        movers = paid[paid["prior_roas"].notna()].assign(
            change=lambda d: d["roas"] - d["prior_roas"]
        )
        if not movers.empty:
            m = movers.loc[movers["change"].abs().idxmax()]
            rows.append(
                dict(
                    kind="biggest_mover",
                    scope_id=m["channel"],
                    metric="roas_change",
                    value=float(m["change"]),
                    learning=(
                        f"{m['channel']}'s ROAS moved from {m['prior_roas']:.2f} to {m['roas']:.2f} "
                        "quarter over quarter, the largest change of any paid channel."
                    ),
                )
            )
        planned = paid[paid["planned_spend"].notna()]
        if not planned.empty and float(planned["planned_spend"].sum()) > 0:
            util = _div(planned["spend"].sum(), planned["planned_spend"].sum())
            rows.append(
                dict(
                    kind="budget_utilization",
                    scope_id="total",
                    metric="utilization",
                    value=util,
                    learning=(
                        f"Paid channels used {100 * util:.0f}% of the quarter's planned budget "
                        f"({_fmt_money(planned['spend'].sum())} of {_fmt_money(planned['planned_spend'].sum())})."
                    ),
                )
            )
    attr = channels.dropna(subset=["first_touch_share", "last_touch_share"])
    gap = (attr["first_touch_share"] - attr["last_touch_share"]).abs()
    # a gap under 5 points of lead credit is no opener/closer role worth a learning
    if not attr.empty and gap.max() >= 0.05:
        a = attr.loc[gap.idxmax()]
        opener = a["first_touch_share"] > a["last_touch_share"]
        rows.append(
            dict(
                kind="attribution",
                scope_id=a["channel"],
                metric="first_minus_last_share",
                value=float(a["first_touch_share"] - a["last_touch_share"]),
                learning=(
                    f"{a['channel']} gets {100 * a['first_touch_share']:.0f}% of lead credit under "
                    f"first touch but {100 * a['last_touch_share']:.0f}% under last touch: it "
                    + (
                        "opens journeys, judge it on assisted conversions, not last-click ROAS."
                        if opener
                        else "closes journeys that other channels opened."
                    )
                ),
            )
        )
    if not bottlenecks.empty and bottlenecks["persistent"].any():
        b = bottlenecks[bottlenecks["persistent"]].iloc[0]
        rows.append(
            dict(
                kind="bottleneck",
                scope_id=f"{b['from_stage']}->{b['to_stage']}",
                metric="conversion_rate",
                value=float(b["mean_rate"]) if _finite(b["mean_rate"]) else np.nan,
                learning=f"Persistent bottleneck: {b['detail']}.",
            )
        )
    judged = (
        campaigns[campaigns["verdict"].isin(["worked", "did not work"])]
        if not campaigns.empty
        else campaigns
    )
    if not judged.empty:
        worked = int((judged["verdict"] == "worked").sum())
        rows.append(
            dict(
                kind="campaigns",
                scope_id="campaigns",
                metric="share_worked",
                value=worked / len(judged),
                learning=(
                    f"{worked} of {len(judged)} campaigns large enough to judge worked (ROAS at "
                    "least 1, and their ROAS and CPA targets where they have them); "
                    + ", ".join(
                        f"{r.campaign_name} (ROAS {_fmt_ratio(r.roas)})"
                        for r in judged[judged["verdict"] == "did not work"].head(3).itertuples()
                    )
                    + (
                        " did not."
                        if (judged["verdict"] == "did not work").any()
                        else "none failed."
                    )
                ),
            )
        )
    out = pd.DataFrame(
        rows[:max_items], columns=["kind", "scope_id", "metric", "value", "learning"]
    )
    out.insert(0, "rank", np.arange(1, len(out) + 1))
    return out


# ---------------------------------------------------------------- budget


def budget_table(
    allocation: pd.DataFrame, budget: float, historical_only: bool = False
) -> tuple[pd.DataFrame, dict]:
    """Q+1 budget per channel plus the test-reserve row (both allocations side by side).

    ``allocation``: the optimizer's rows (channel, current_quarter_spend,
    historical_roi_spend, marginal_roi_spend, expected_revenue_*). The reserve is the budget
    minus the allocated amount (the optimizer's allocatable).
    """
    t = allocation.copy()
    allocated = float(t["historical_roi_spend" if historical_only else "marginal_roi_spend"].sum())
    reserve = budget - allocated
    reserve_row = {
        "channel": RESERVE_CHANNEL,
        "current_quarter_spend": np.nan,
        "historical_roi_spend": reserve,
        "marginal_roi_spend": np.nan if historical_only else reserve,
        "expected_revenue_historical_roi": np.nan,
        "expected_revenue_marginal_roi": np.nan,
        "is_reserve": True,
    }
    t["is_reserve"] = False
    t = pd.concat([t, pd.DataFrame([reserve_row])], ignore_index=True)
    t["budget_total"] = budget
    summary = {
        "budget": budget,
        "reserve": reserve,
        "reserve_share": _div(reserve, budget),
        "historical_roi_total": float(t["historical_roi_spend"].sum()),
        "marginal_roi_total": float(t["marginal_roi_spend"].sum())
        if not historical_only
        else np.nan,
        "expected_revenue_historical_roi": float(t["expected_revenue_historical_roi"].sum()),
        "expected_revenue_marginal_roi": float(t["expected_revenue_marginal_roi"].sum()),
    }
    return t, summary


def budget_sums(
    table: pd.DataFrame,
    budget: float,
    reserve_range: tuple[float, float] = (0.10, 0.15),
    rel_tol: float = 1e-6,
) -> list[str]:
    """Problems with the Q+1 budget (empty = it sums): each allocation column plus the
    reserve equals the budget, no channel is negative, the reserve is 10-15% of the budget."""
    problems = []
    if not _finite(budget) or budget <= 0:
        return [f"no positive budget for the quarter (got {budget})"]
    tol = rel_tol * max(abs(budget), 1.0)
    for column in ("historical_roi_spend", "marginal_roi_spend"):
        values = table[column]
        if values.isna().all():
            continue
        total = float(values.sum())
        if abs(total - budget) > tol:
            problems.append(f"{column} sums to {total:,.2f}, not the budget {budget:,.2f}")
        negative = table.loc[values < -tol, "channel"].tolist()
        if negative:
            problems.append(f"{column} negative for {', '.join(map(str, negative))}")
    reserve = table.loc[table["channel"] == RESERVE_CHANNEL, "historical_roi_spend"]
    if reserve.empty:
        problems.append("no test reserve row")
    else:
        share = float(reserve.iloc[0]) / budget
        lo, hi = reserve_range
        if not lo - 1e-9 <= share <= hi + 1e-9:
            problems.append(
                f"test reserve is {100 * share:.1f}% of the budget, outside {100 * lo:.0f}-{100 * hi:.0f}%"
            )
    return problems


# ---------------------------------------------------------------- goals


def month_weights(plan: pd.DataFrame, months: list[date]) -> dict[date, float]:
    """Share of the quarter's planned spend in each month (budget plan), else a third each."""
    if not plan.empty:
        by_month = plan.groupby("month")["planned_spend"].sum()
        by_month.index = [pd.Timestamp(m).date() for m in by_month.index]
        values = np.array([float(by_month.get(m, 0.0)) for m in months])
        if values.sum() > 0 and (values > 0).all():
            return dict(zip(months, values / values.sum(), strict=True))
    return dict.fromkeys(months, 1 / len(months))


def derive_goals(
    budget: pd.DataFrame,
    channels: pd.DataFrame,
    mql_rate: float,
    plan_start: date,
    weights: Mapping[date, float],
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Q+1 goals per channel and in total, with their monthly milestones (see docstring)."""
    due = add_months(plan_start, 3) - timedelta(days=1)
    hist = channels.set_index("channel")
    alloc = budget[~budget["is_reserve"]].set_index("channel")
    reserve = float(
        budget.loc[budget["is_reserve"], "marginal_roi_spend"]
        .fillna(budget.loc[budget["is_reserve"], "historical_roi_spend"])
        .sum()
    )
    names = sorted(set(alloc.index) | set(hist.index[hist["leads"].fillna(0) > 0]))
    rows = []
    for ch in names:
        h = hist.loc[ch] if ch in hist.index else pd.Series(dtype=float)
        spend = float(alloc.loc[ch, "marginal_roi_spend"]) if ch in alloc.index else 0.0
        if not _finite(spend) and ch in alloc.index:
            spend = float(alloc.loc[ch, "historical_roi_spend"])
        leads_hist = float(h.get("leads", np.nan)) if not h.empty else np.nan
        spend_hist = float(h.get("spend", 0.0) or 0.0) if not h.empty else 0.0
        if spend > 0 and spend_hist > 0 and _finite(leads_hist):
            leads = spend * leads_hist / spend_hist
            basis_leads = f"planned spend / last quarter's CPA {_div(spend_hist, leads_hist):,.2f}"
        else:
            leads = leads_hist if _finite(leads_hist) else 0.0
            basis_leads = "last quarter's volume (no paid spend to scale by)"
        expected = (
            float(alloc.loc[ch, "expected_revenue_marginal_roi"]) if ch in alloc.index else np.nan
        )
        if _finite(expected) and expected > 0:
            revenue, basis_rev = (
                expected,
                "response-curve revenue of the planned spend (budget optimizer)",
            )
        elif spend > 0 and spend_hist > 0 and _finite(h.get("revenue")):
            revenue = spend * float(h.get("revenue")) / spend_hist
            basis_rev = (
                f"planned spend x last quarter's ROAS {_div(h.get('revenue'), spend_hist):.2f}"
            )
        else:
            past = float(h.get("revenue", np.nan)) if not h.empty else np.nan
            revenue, basis_rev = (
                (past, "last quarter's attributed revenue")
                if _finite(past)
                else (
                    0.0,
                    "no attributed revenue last quarter (new channel): revisit after month 1",
                )
            )
        per_lead_pipe = _div(h.get("pipeline"), leads_hist) if not h.empty else np.nan
        per_lead_cust = _div(h.get("customers"), leads_hist) if not h.empty else np.nan
        values = {
            "spend": (spend, "marginal-ROI allocation"),
            "revenue": (revenue, basis_rev),
            "pipeline": (
                leads * per_lead_pipe if _finite(per_lead_pipe) else 0.0,
                "leads x last quarter's pipeline per lead",
            ),
            "leads": (leads, basis_leads),
            "mqls": (
                leads * mql_rate if _finite(mql_rate) else np.nan,
                f"leads x last quarter's lead -> MQL rate {mql_rate:.3f}"
                if _finite(mql_rate)
                else "no MQL rate",
            ),
            "customers": (
                leads * per_lead_cust if _finite(per_lead_cust) else 0.0,
                "leads x last quarter's customers per lead",
            ),
        }
        for metric, (value, basis) in values.items():
            rows.append(
                dict(
                    scope="channel",
                    scope_id=ch,
                    metric=metric,
                    target_value=value,
                    due_date=due,
                    basis=basis,
                )
            )
    goals = pd.DataFrame(rows)
    if goals.empty:
        return goals, pd.DataFrame()
    totals = goals.groupby("metric", sort=False)["target_value"].sum(min_count=1).reset_index()
    totals["scope"], totals["scope_id"], totals["due_date"] = "total", "total", due
    totals["basis"] = "sum of the channel goals"
    spend_total = totals["metric"] == "spend"
    totals.loc[spend_total, "target_value"] += reserve
    totals.loc[spend_total, "basis"] = "sum of the channel goals plus the test reserve"
    goals = pd.concat([totals, goals], ignore_index=True)
    goals["plan_quarter"] = plan_start
    goals["goal"] = [
        f"{r.metric} {r.target_value:,.0f} {'in total' if r.scope == 'total' else 'from ' + r.scope_id} by {r.due_date}"
        if _finite(r.target_value)
        else None
        for r in goals.itertuples()
    ]
    cumulative = np.cumsum([weights[m] for m in sorted(weights)])
    ms = []
    for r in goals.itertuples():
        for m, share in zip(sorted(weights), cumulative, strict=True):
            ms.append(
                dict(
                    scope=r.scope,
                    scope_id=r.scope_id,
                    metric=r.metric,
                    milestone_month=m,
                    cumulative_target=r.target_value * share if _finite(r.target_value) else np.nan,
                    cumulative_share=float(share),
                    due_date=add_months(m, 1) - timedelta(days=1),
                )
            )
    return goals, pd.DataFrame(ms)


SUMMED_METRICS = ("spend", "revenue", "pipeline", "leads", "mqls", "customers")


def with_supplied_targets(goals: pd.DataFrame, supplied: pd.DataFrame) -> pd.DataFrame:
    """The derived goals next to the targets the user supplied for the plan quarter
    (``supplied``: scope, scope_id, metric, supplied_target summed over supplied_months).
    Only volume and money metrics are compared, and only when the targets cover all three
    months; ``gap_to_supplied`` = derived goal - supplied target (negative: the plan falls
    short of what was asked)."""
    out = goals.copy()
    out["supplied_target"] = np.nan
    out["supplied_months"] = 0
    if goals.empty or supplied.empty:
        out["gap_to_supplied"] = np.nan
        return out
    s = supplied[supplied["metric"].isin(SUMMED_METRICS)]
    merged = out.drop(columns=["supplied_target", "supplied_months"]).merge(
        s[["scope", "scope_id", "metric", "supplied_target", "supplied_months"]],
        on=["scope", "scope_id", "metric"],
        how="left",
    )
    merged["supplied_months"] = merged["supplied_months"].fillna(0).astype(int)
    full = merged["supplied_months"] == 3
    merged.loc[~full, "supplied_target"] = np.nan
    merged["gap_to_supplied"] = merged["target_value"] - merged["supplied_target"]
    return merged


def goal_problems(goals: pd.DataFrame) -> list[str]:
    """Goals lacking a metric, a finite non-negative number or a due date (empty = fine)."""
    if goals.empty:
        return ["no goals"]
    problems = []
    for r in goals.to_dict("records"):
        label = f"{r.get('scope_id')}/{r.get('metric')}"
        if not r.get("metric"):
            problems.append(f"{label}: no metric")
        if not _finite(r.get("target_value")) or float(r["target_value"]) < 0:
            problems.append(f"{label}: no number ({r.get('target_value')})")
        due = r.get("due_date")
        if due is None or (not isinstance(due, date) and pd.isna(due)):
            problems.append(f"{label}: no date")
    return problems


# ---------------------------------------------------------------- calendar and tests


def typical_duration(campaign_type: str, history: pd.DataFrame) -> int:
    """Median past duration of the type, clamped to its typical range (days)."""
    if campaign_type == "always_on":
        return 0
    lo, hi = TYPE_DURATION_RANGE.get(campaign_type, (1, 90))
    past = history.loc[history["campaign_type"] == campaign_type, "duration_days"].dropna()
    days = (
        int(round(float(past.median())))
        if not past.empty
        else TYPE_DEFAULT_DURATION.get(campaign_type, 30)
    )
    return int(min(max(days, lo), hi))


def planned_spend(budget: pd.DataFrame) -> pd.Series:
    """Each channel's Q+1 spend (reserve excluded), indexed by channel: the marginal-ROI
    allocation, else the historical-ROI one."""
    alloc = budget[~budget["is_reserve"]].set_index("channel")
    return alloc["marginal_roi_spend"].fillna(alloc["historical_roi_spend"])


def campaign_calendar(
    budget: pd.DataFrame,
    type_mix: pd.DataFrame,
    history: pd.DataFrame,
    channels: pd.DataFrame,
    plan_start: date,
    planned: pd.DataFrame | None = None,
) -> pd.DataFrame:
    """Q+1 campaign slots with dates, budget and goals (see module docstring).

    ``planned``: campaigns already in campaigns.csv for the quarter (campaign_id,
    campaign_name, channel, campaign_type, start_date, end_date, budget_in_quarter). They
    come first on their channel's budget (scaled down if they exceed it); the generated
    slots share what is left, so each channel still spends exactly its budget."""
    plan_end = add_months(plan_start, 3) - timedelta(days=1)
    q_days = (plan_end - plan_start).days + 1
    hist = channels.set_index("channel") if not channels.empty else pd.DataFrame()
    planned = planned if planned is not None else pd.DataFrame()
    rows = []
    amounts = planned_spend(budget)
    for b in budget[~budget["is_reserve"]].itertuples():
        amount = amounts[b.channel]
        if not _finite(amount) or amount <= 0:
            continue
        mine = planned[planned["channel"] == b.channel] if not planned.empty else planned
        booked = float(mine["budget_in_quarter"].sum()) if not mine.empty else 0.0
        scale = min(1.0, float(amount) / booked) if booked > 0 else 1.0
        roas = _div(b.expected_revenue_marginal_roi, amount)
        if not (_finite(roas) and roas > 0) and b.channel in hist.index:
            roas = _div(hist.loc[b.channel, "revenue"], hist.loc[b.channel, "spend"])
        cpa = (
            _div(hist.loc[b.channel, "spend"], hist.loc[b.channel, "leads"])
            if b.channel in hist.index
            else np.nan
        )
        for c in mine.itertuples() if not mine.empty else []:
            slot_budget = float(c.budget_in_quarter) * scale
            rows.append(
                dict(
                    channel=b.channel,
                    campaign_type=c.campaign_type,
                    slot=f"{c.campaign_name} ({c.campaign_id}, planned)",
                    start_date=pd.Timestamp(c.start_date).date(),
                    end_date=pd.Timestamp(c.end_date).date(),
                    duration_days=(pd.Timestamp(c.end_date) - pd.Timestamp(c.start_date)).days + 1,
                    budget=slot_budget,
                    expected_revenue=slot_budget * roas if _finite(roas) else np.nan,
                    expected_leads=slot_budget / cpa if _finite(cpa) and cpa > 0 else np.nan,
                    timing="already planned in campaigns.csv"
                    + ("" if scale >= 1 else f" (scaled to {scale:.0%} to fit the budget)"),
                )
            )
        amount = float(amount) - booked * scale
        if amount <= 1e-9:
            continue
        mix = type_mix[type_mix["channel"] == b.channel]
        if mix.empty:
            mix = pd.DataFrame(
                [{"channel": b.channel, "campaign_type": "always_on", "spend": 1.0, "campaigns": 1}]
            )
        share = mix["spend"] / mix["spend"].sum()
        for m, s in zip(mix.itertuples(), share, strict=True):
            ctype = m.campaign_type
            n = max(int(m.campaigns), 1) if ctype != "always_on" else 1
            dur = typical_duration(ctype, history) or q_days
            dur = min(dur, q_days)
            anchors = []
            if ctype in ("seasonal", "event"):
                past = history[
                    (history["campaign_type"] == ctype)
                    & history["in_anchor_quarter"]
                    & (history["channel"] == b.channel)
                ]
                anchors = sorted({_shift_year(pd.Timestamp(d).date()) for d in past["start_date"]})[
                    :n
                ]
            starts = anchors or _spread(plan_start, q_days, dur, n)
            slot_budget = float(amount) * float(s) / len(starts)
            for i, st in enumerate(starts, start=1):
                end = min(st + timedelta(days=dur - 1), plan_end)
                rows.append(
                    dict(
                        channel=b.channel,
                        campaign_type=ctype,
                        slot=f"{b.channel} {ctype.replace('_', '-')} {i}",
                        start_date=st,
                        end_date=end,
                        duration_days=(end - st).days + 1,
                        budget=slot_budget,
                        expected_revenue=slot_budget * roas if _finite(roas) else np.nan,
                        expected_leads=slot_budget / cpa if _finite(cpa) and cpa > 0 else np.nan,
                        timing=(
                            "anchored on last year's dates"
                            if anchors
                            else "spread over the quarter"
                        ),
                    )
                )
    out = pd.DataFrame(rows)
    if not out.empty:
        out = out.sort_values(["start_date", "channel", "slot"]).reset_index(drop=True)
    return out


def _shift_year(d: date) -> date:
    try:
        return d.replace(year=d.year + 1)
    except ValueError:  # 29 February
        return d.replace(year=d.year + 1, day=28)


def _spread(start: date, q_days: int, duration: int, n: int) -> list[date]:
    if n <= 1:
        return (
            [start + timedelta(days=max(q_days - duration, 0) // 2)]
            if duration < q_days
            else [start]
        )
    room = max(q_days - duration, 0)
    return [start + timedelta(days=round(i * room / (n - 1))) for i in range(n)]


ROADMAP_COLUMNS = [
    "rank",
    "test",
    "kind",
    "scope_id",
    "reason",
    "required_units",
    "new",
    "budget",
    "start_date",
    "end_date",
]


def testing_roadmap(
    experiments: pd.DataFrame,
    curves: pd.DataFrame,
    bottlenecks: pd.DataFrame,
    reserve: float,
    plan_start: date,
    required_units: Mapping[str, float] | None = None,
    funded_channels: Collection[str] | None = None,
) -> pd.DataFrame:
    """Q+1 tests: experiments to keep running, spend-level tests for channels without a
    usable response curve (only channels with budget next quarter, when
    ``funded_channels`` is given: a channel without spend cannot alternate it), and a test
    on each persistent bottleneck; the reserve is split evenly over the new tests, which
    run one after another in 4-week blocks."""
    rows = []
    if not experiments.empty:
        keep = experiments[experiments["verdict"] == "keep running"].drop_duplicates(
            "experiment_id"
        )
        for r in keep.itertuples():
            rows.append(
                dict(
                    test=f"continue: {r.experiment_name}",
                    kind="running_experiment",
                    scope_id=r.experiment_id,
                    reason=f"keep running: {r.verdict_reason}",
                    required_units=float(r.required_units) if _finite(r.required_units) else np.nan,
                    new=False,
                )
            )
    if not curves.empty:
        shaky = curves[~curves["usable"].fillna(False).astype(bool)]
        if funded_channels is not None:
            shaky = shaky[shaky["channel"].isin(list(funded_channels))]
        for r in shaky.itertuples():
            rows.append(
                dict(
                    test=f"spend-level test on {r.channel}: alternate weeks at -20% / +20% spend",
                    kind="response_curve",
                    scope_id=r.channel,
                    reason=f"no usable response curve ({r.reason}); the budget cannot be optimised on guesses",
                    required_units=np.nan,
                    new=True,
                )
            )
    if not bottlenecks.empty:
        for r in bottlenecks[bottlenecks["persistent"]].itertuples():
            key = f"{r.from_stage}->{r.to_stage}"
            rows.append(
                dict(
                    test=f"A/B test on the {r.from_stage} -> {r.to_stage} step",
                    kind="bottleneck",
                    scope_id=key,
                    reason=r.detail,
                    required_units=(required_units or {}).get(key, np.nan),
                    new=True,
                )
            )
    out = pd.DataFrame(
        rows, columns=["test", "kind", "scope_id", "reason", "required_units", "new"]
    )
    if out.empty:
        return pd.DataFrame(columns=ROADMAP_COLUMNS)
    n_new = int(out["new"].sum())
    out["budget"] = [reserve / n_new if n and n_new else 0.0 for n in out["new"]]
    starts, k = [], 0
    for n in out["new"]:
        if n:
            starts.append(plan_start + timedelta(days=28 * (k % 3)))
            k += 1
        else:
            starts.append(plan_start)
    out["start_date"] = starts
    out["end_date"] = [s + timedelta(days=27) for s in starts]
    out.insert(0, "rank", np.arange(1, len(out) + 1))
    return out


# ---------------------------------------------------------------- risks


#: Without any won deal yet, a sales cycle of this many days is assumed for short_history_risk.
DEFAULT_CYCLE_DAYS = 90


def short_history_risk(
    first_day: date | None, quarter_end: date, median_days_to_win: float | None
) -> dict | None:
    """The plan risk of a quarter reviewed before the exports are a sales cycle old: the
    leads of its first weeks had no time to close, so its revenue and customers (and every
    goal scaled from them) are low by construction. Flagged when the days from the first lead
    to the quarter's end are fewer than twice the median lead-to-win days (or than
    ``2 x DEFAULT_CYCLE_DAYS`` when nothing has been won yet)."""
    if first_day is None or pd.isna(first_day):
        return None
    cycle = float(median_days_to_win) if _finite(median_days_to_win) else DEFAULT_CYCLE_DAYS
    history = (quarter_end - pd.Timestamp(first_day).date()).days
    if history >= 2 * cycle:
        return None
    basis = (
        f"the median lead-to-win time is {cycle:.0f} days"
        if _finite(median_days_to_win)
        else f"no deal has been won yet (a {DEFAULT_CYCLE_DAYS}-day cycle assumed)"
    )
    return dict(
        kind="short_history",
        scope_id="revenue",
        severity="high",
        evidence=(
            f"the exports begin on {pd.Timestamp(first_day):%Y-%m-%d}, {history} days before "
            f"the quarter's end, and {basis}: most of the quarter's leads could not have closed, "
            "so its revenue and customers, and the goals scaled from them, are too low"
        ),
        value=float(history),
        threshold=2 * cycle,
        mitigation=(
            "set revenue and customer goals from pipeline and win rate, not from last quarter's "
            "revenue, and revisit them after the next quarter"
        ),
    )


#: A seasonal difference in leads per unit of spend (or in leads, without spend) worth a risk.
SEASONAL_GAP = 0.15


def seasonality_risk(history: Mapping[str, object]) -> dict | None:
    """The plan risk of goals carried forward from last quarter's rates when the planned
    quarter's months, a year earlier, brought clearly more or fewer leads per unit of spend
    (leads alone without spend) than the reviewed quarter: the goals then inherit the
    reviewed quarter's season. None without a full year of history."""
    if not bool(history.get("ly_covered")):
        return None
    spend_now, spend_ly = (float(history.get(k) or 0.0) for k in ("review_spend", "ly_spend"))
    leads_now, leads_ly = (float(history.get(k) or 0.0) for k in ("review_leads", "ly_leads"))
    per_spend = spend_now > 0 and spend_ly > 0
    now = leads_now / spend_now if per_spend else leads_now
    before = leads_ly / spend_ly if per_spend else leads_ly
    if now <= 0 or before <= 0:
        return None
    ratio = before / now
    if abs(ratio - 1) < SEASONAL_GAP:
        return None
    unit = "leads per unit of spend" if per_spend else "leads"
    start = pd.Timestamp(history["ly_start"])
    return dict(
        kind="seasonality",
        scope_id="leads",
        severity="medium",
        evidence=(
            f"the planned quarter's months a year ago (from {start:%Y-%m}) brought "
            f"{100 * abs(ratio - 1):.0f}% {'more' if ratio > 1 else 'fewer'} {unit} than the "
            "quarter just reviewed; the goals carry the reviewed quarter's rates forward"
        ),
        value=ratio,
        threshold=1 + SEASONAL_GAP if ratio > 1 else 1 - SEASONAL_GAP,
        mitigation=(
            f"expect about {100 * ratio:.0f}% of the lead goals if last year's season repeats; "
            "set the quarter's targets with it in mind and read the monthly milestones against it"
        ),
    )


def one_deal_risk(won_amounts: Sequence[float]) -> dict | None:
    """The plan risk of a quarter whose won revenue rests on one deal (at least
    ``ONE_DEAL_SHARE`` of it), with the revenue of the other deals to plan on instead."""
    found = dominant_deal(won_amounts)
    if found is None:
        return None
    top, others = found
    rest, total = sum(others), top + sum(others)
    return dict(
        kind="revenue_concentration",
        scope_id="revenue",
        severity="high",
        evidence=(
            f"one deal of {_fmt_money(top)} is {100 * top / total:.0f}% of the "
            f"quarter's won revenue ({len(others)} other deals: {_fmt_money(rest)}); the "
            "revenue goals, ROAS and the curves' value per lead all carry it"
        ),
        value=top / total,
        threshold=ONE_DEAL_SHARE,
        mitigation=(
            f"plan revenue on the other deals ({_fmt_money(rest)} last quarter), and judge the "
            "channels that sourced the deal by leads and pipeline, not by its revenue"
        ),
    )


def plan_risks(
    curves: pd.DataFrame,
    budget: pd.DataFrame,
    pacing: pd.DataFrame,
    quality: pd.DataFrame,
    *,
    min_r2: float = 0.3,
    move_threshold: float = 0.10,
    unclassified_share: float = 0.05,
    concentration_share: float = 0.40,
    hhi_limit: float = 0.25,
    won_amounts: Sequence[float] = (),
    history: dict | None = None,
) -> pd.DataFrame:
    """Risks of the Q+1 plan with their evidence and mitigation (see module docstring).
    ``won_amounts``: the quarter's won deal amounts (a single deal carrying the revenue is a
    risk: every revenue-based goal and allocation inherits it). ``history``: first_day,
    quarter_end and median_days_to_win (``short_history_risk``)."""
    rows = []
    if history is not None:
        short = short_history_risk(
            history.get("first_day"), history["quarter_end"], history.get("median_days_to_win")
        )
        if short is not None:
            rows.append(short)
        seasonal = seasonality_risk(history)
        if seasonal is not None:
            rows.append(seasonal)
    one_deal = one_deal_risk(won_amounts)
    if one_deal is not None:
        rows.append(one_deal)
    alloc = budget[~budget["is_reserve"]].set_index("channel")
    for r in curves.itertuples() if not curves.empty else []:
        if r.channel not in alloc.index:
            continue
        cur = alloc.loc[r.channel, "current_quarter_spend"]
        new = alloc.loc[r.channel, "marginal_roi_spend"]
        move = _div(new - cur, cur)
        unusable = not bool(r.usable)
        low_fit = _finite(r.r2) and r.r2 < min_r2
        wide = (
            _finite(r.marginal_return_ci_low)
            and _finite(r.marginal_return_ci_high)
            and _finite(r.marginal_return_current)
            and r.marginal_return_current > 0
            and (r.marginal_return_ci_high - r.marginal_return_ci_low) > r.marginal_return_current
        )
        if unusable or low_fit or wide:
            why = (
                f"no usable curve ({r.reason})"
                if unusable
                else f"R^2 {r.r2:.2f}"
                if low_fit
                else f"marginal ROAS {r.marginal_return_current:.2f} with interval "
                f"{r.marginal_return_ci_low:.2f}-{r.marginal_return_ci_high:.2f}"
            )
            moving = _finite(move) and abs(move) >= move_threshold
            rows.append(
                dict(
                    kind="unstable_response_curve",
                    scope_id=r.channel,
                    severity="high" if moving else "medium",
                    evidence=f"{r.channel}: {why}"
                    + (f"; its budget moves {100 * move:+.0f}%" if _finite(move) else ""),
                    value=float(r.r2) if _finite(r.r2) else np.nan,
                    threshold=min_r2,
                    mitigation=(
                        "hold the channel near current spend and run the spend-level test from "
                        "the testing roadmap before moving more budget"
                    ),
                )
            )
    if not pacing.empty:
        off = pacing[pacing["status"].isin(["over", "under"])]
        for ch, g in off.groupby("channel"):
            if g["month"].nunique() >= 2:
                ratios = ", ".join(f"{x:.2f}" for x in g.sort_values("month")["pacing_ratio"])
                rows.append(
                    dict(
                        kind="pacing",
                        scope_id=ch,
                        severity="medium",
                        evidence=f"{ch} paced off plan in {g['month'].nunique()} months (spend/plan {ratios})",
                        value=float(g["pacing_ratio"].mean()),
                        threshold=np.nan,
                        mitigation="set weekly pacing alerts and re-phase the channel's monthly plan",
                    )
                )
    for r in quality.itertuples() if not quality.empty else []:
        if (
            r.signal == "unclassified_touchpoints"
            and _finite(r.share)
            and r.share <= unclassified_share
        ):
            continue
        text = {
            "quarantined_rows": f"{r.value:,.0f} rows of {r.scope_id} were quarantined ({100 * (r.share or 0):.1f}%)",
            "unclassified_touchpoints": f"{100 * (r.share or 0):.1f}% of touchpoints have no channel",
            "spend_without_touchpoints": f"campaign {r.scope_id} spent {r.value:,.0f} with no tracked touchpoint",
        }[r.signal]
        rows.append(
            dict(
                kind="data_quality",
                scope_id=r.scope_id,
                severity="high" if r.signal == "spend_without_touchpoints" else "medium",
                evidence=text,
                value=float(r.value),
                threshold=unclassified_share if r.signal == "unclassified_touchpoints" else np.nan,
                mitigation={
                    "quarantined_rows": "fix the export at the source; quarantined rows are not in any number",
                    "unclassified_touchpoints": "add utm rules for the unclassified sources (GTM_CHANNEL_RULES)",
                    "spend_without_touchpoints": "fix the campaign's UTM tags before it gets Q+1 budget",
                }[r.signal],
            )
        )
    planned = planned_spend(budget)
    planned = planned[planned > 0]
    if not planned.empty:
        shares = planned / planned.sum()
        hhi = float((shares**2).sum())
        top = shares.idxmax()
        if shares.max() > concentration_share or hhi > hhi_limit:
            rows.append(
                dict(
                    kind="concentration",
                    scope_id=top,
                    severity="high" if shares.max() > 0.5 else "medium",
                    evidence=f"{top} holds {100 * shares.max():.0f}% of the planned spend (Herfindahl {hhi:.2f})",
                    value=float(shares.max()),
                    threshold=concentration_share,
                    mitigation="cap the channel's growth and fund a second channel's test from the reserve",
                )
            )
    out = pd.DataFrame(
        rows,
        columns=["kind", "scope_id", "severity", "evidence", "value", "threshold", "mitigation"],
    )
    order = {"high": 0, "medium": 1, "low": 2}
    out = out.sort_values("severity", key=lambda s: s.map(order), kind="stable").reset_index(
        drop=True
    )
    out.insert(0, "rank", np.arange(1, len(out) + 1))
    return out
