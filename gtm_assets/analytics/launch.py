"""Campaign launch: the sensor's decisions, planning outputs, monitoring checks and the
week-4 decision. Pure pandas/numpy; the Dagster layer is ``gtm_assets/assets/launch.py``.

Definitions (each stated once, here)

- **As-of day**: the last day with any ad-spend row in the warehouse (the data's
  watermark), unless configured; every window below ends there, never later.
- **Peers / benchmarks**: other campaigns of the same channel and type, measured over the
  whole months that ended before this campaign's start (spend, impressions and clicks from
  ``marts.campaign_performance``; leads and won revenue credited linearly, the rule below
  that credits the launch's own leads, from ``marts.campaign_attribution_roi``).
  Fewer than ``min_peers`` such campaigns: the channel's campaigns of any type; still too
  few: every campaign. Rates are pooled (sum of numerators / sum of denominators), so a
  large campaign weighs more than a tiny one: CTR = clicks / impressions, CVR = leads /
  clicks, CPA = spend / leads, ROAS = attributed revenue / spend, revenue per lead =
  attributed revenue / leads.
- **Targets**: the brief's own target where set (> 0), else the peer benchmark.
- **Channel role**: the channel's share of lead conversions under first-touch vs
  last-touch attribution over the three months before launch. first/last above
  ``1 + tolerance``: awareness (it opens journeys); below ``1 / (1 + tolerance)``:
  conversion (it closes them); otherwise balanced.
- **Leads credited to the campaign**: each lead created in the window is credited
  linearly over its person's touchpoints in the lookback window before the lead
  (``share of those touches that carry the campaign's utm_campaign``), the same rule as the
  linear attribution model but at day grain. MQLs/SQLs: credited leads that entered the
  stage by the as-of day.
- **Projected ROAS**: won revenue arrives months after launch, so the early ROAS reading is
  credited leads x the peers' revenue per lead / spend (the actual attributed ROAS is
  reported beside it).
- **Tracking configured** (readiness gate): utm_campaign present, used by no other
  campaign, and, once the campaign has spend, seen on at least one touchpoint.
- **Tracking verified** (monitoring): every week with spend has touchpoints carrying the
  campaign's utm_campaign; a week of spend without any is a broken-tracking alarm.
- **Live on schedule**: first spend no later than ``grace_days`` after the start date.
- **Performance within tolerance**: over the first 14 days (or the days so far), CTR, CVR
  and projected ROAS at least ``1 - tolerance`` of target and CPA at most
  ``1 + tolerance`` of target.
- **MQL volume and quality**: expected MQLs = spend / target CPA x the peers' lead -> MQL
  rate; volume passes at ``>= 1 - tolerance`` of that. Quality: the campaign's mean
  predicted SQL probability of its scored leads (lead scoring) against the peers' leads of
  the same channel, same tolerance; not evaluable without scored leads.
- **Week-4 decision** (at 28 days live): pause when tracking is broken, or the weakest of
  CPA / projected ROAS is below ``pause_below`` of target, or spend reached two target
  CPAs without a lead; scale when every targeted metric meets target and MQL volume and
  quality are within tolerance; otherwise optimize, naming the weakest stage. Targets
  taken from a cross-channel benchmark (scope ``all``: fewer than ``min_peers`` earlier
  campaigns of the channel) are shown but do not pause or scale a campaign.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import date, timedelta

import numpy as np
import pandas as pd

from gtm_assets.raw.schema import CAMPAIGN_TYPES

TARGET_METRICS = ("ctr", "cvr", "cpa", "roas")
CROSS_CHANNEL_SCOPE = "all"  # the benchmark of every campaign, whatever its channel
#: The attribution model whose rule credits a launch's leads (launch_leads.sql), and so its
#: peers' leads and revenue: both sides of the comparison use the same rule.
LAUNCH_CREDIT_MODEL = "linear"
LOWER_IS_BETTER = {"cpa"}
_INVALID_KEY_PARTS = ("...", "\a", "\b", "\f", "\n", "\r", "\t", "\v", "\0")


def _finite(value: object) -> bool:
    try:
        return value is not None and math.isfinite(float(value))  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return False


def _ratio(num: float, den: float) -> float:
    return float(num) / float(den) if _finite(den) and float(den) != 0 else float("nan")


def _as_date(value: object) -> date | None:
    """A date from a date, datetime, Timestamp or string; None for None/NaN/NaT."""
    if value is None:
        return None
    try:
        if pd.isna(value):
            return None
    except (TypeError, ValueError):
        pass
    return pd.Timestamp(value).date()


# ---------------------------------------------------------------- sensor


@dataclass
class LaunchRequests:
    new_ids: list[str]
    run_ids: list[str]
    invalid_ids: list[str] = field(default_factory=list)


def valid_partition_key(key: str) -> bool:
    """Whether Dagster accepts ``key`` as a dynamic partition key."""
    return bool(key) and key == key.strip() and not any(p in key for p in _INVALID_KEY_PARTS)


def launch_requests(
    campaigns: pd.DataFrame, known: Iterable[str], as_of: date, monitor_days: int
) -> LaunchRequests:
    """New campaign partitions to add and the campaigns to run as of ``as_of``.

    New: a campaign id without a partition. Run: every campaign that has not finished its
    first ``monitor_days`` (not started yet, or started less than ``monitor_days`` ago, or
    without a start date, which the readiness gate then reports). A new campaign that
    finished its window long ago gets its partition but no run (backfill it if wanted).
    """
    known = set(known)
    new, run, invalid = [], [], []
    for row in campaigns.drop_duplicates("campaign_id").itertuples(index=False):
        cid = str(row.campaign_id)
        if not valid_partition_key(cid):
            invalid.append(cid)
            continue
        if cid not in known:
            new.append(cid)
        start = _as_date(row.start_date)
        if start is None or as_of < start + timedelta(days=monitor_days):
            run.append(cid)
    return LaunchRequests(sorted(new), sorted(run), sorted(invalid))


# ---------------------------------------------------------------- planning


@dataclass
class Benchmark:
    scope: str  # channel_type, channel, all, none
    n_peers: int
    values: dict[str, float]


def _pooled(df: pd.DataFrame) -> dict[str, float]:
    measures = ("spend", "impressions", "clicks", "leads", "attributed_revenue")
    s = {c: float(df[c].sum()) if c in df.columns else float("nan") for c in measures}
    return {
        "ctr": _ratio(s.get("clicks", np.nan), s.get("impressions", np.nan)),
        "cvr": _ratio(s.get("leads", np.nan), s.get("clicks", np.nan)),
        "cpa": _ratio(s.get("spend", np.nan), s.get("leads", np.nan)),
        "roas": _ratio(s.get("attributed_revenue", np.nan), s.get("spend", np.nan)),
        "revenue_per_lead": _ratio(s.get("attributed_revenue", np.nan), s.get("leads", np.nan)),
    }


def peer_benchmark(
    history: pd.DataFrame, campaign_id: str, channel: str, campaign_type: str, min_peers: int = 3
) -> Benchmark:
    """Pooled CTR/CVR/CPA/ROAS of the peer campaigns (see module docstring).

    ``history``: one row per campaign (or campaign x month) with campaign_id, channel,
    campaign_type, spend, impressions, clicks, leads, attributed_revenue, all from months
    before the launch.
    """
    others = history[(history["campaign_id"] != campaign_id) & (history["spend"] > 0)]
    for scope, mask in (
        (
            "channel_type",
            (others["channel"] == channel) & (others["campaign_type"] == campaign_type),
        ),
        ("channel", others["channel"] == channel),
        (CROSS_CHANNEL_SCOPE, pd.Series(True, index=others.index)),
    ):
        peers = others[mask]
        n = int(peers["campaign_id"].nunique())
        if n >= min_peers or (scope == CROSS_CHANNEL_SCOPE and n > 0):
            return Benchmark(scope, n, _pooled(peers))
    return Benchmark("none", 0, {m: float("nan") for m in (*TARGET_METRICS, "revenue_per_lead")})


def cross_channel_targets(plan: Mapping[str, object]) -> list[str]:
    """The metrics whose target comes from the every-campaign benchmark (fewer than
    ``min_peers`` earlier campaigns of the channel), from a ``launch_plan`` row."""
    source = f"benchmark ({CROSS_CHANNEL_SCOPE})"
    return [m for m in TARGET_METRICS if plan.get(f"target_{m}_source") == source]


def resolve_targets(brief: Mapping[str, object], benchmark: Benchmark) -> pd.DataFrame:
    """Per target metric: the brief's value when set (> 0), else the benchmark (source)."""
    rows = []
    for metric in TARGET_METRICS:
        own = brief.get(f"target_{metric}")
        bench = benchmark.values.get(metric, float("nan"))
        if _finite(own) and float(own) > 0:  # type: ignore[arg-type]
            rows.append((metric, float(own), "brief", bench))  # type: ignore[arg-type]
        elif _finite(bench) and bench > 0:
            rows.append((metric, float(bench), f"benchmark ({benchmark.scope})", bench))
        else:
            rows.append((metric, float("nan"), "missing", bench))
    return pd.DataFrame(rows, columns=["metric", "target", "target_source", "benchmark"])


def channel_role(first_share: float, last_share: float, tolerance: float = 0.2) -> str:
    """awareness / conversion / balanced from first- vs last-touch credit shares."""
    if not (_finite(first_share) and _finite(last_share)) or (first_share <= 0 and last_share <= 0):
        return "unknown"
    if last_share <= 0:
        return "awareness"
    ratio = first_share / last_share
    if ratio > 1 + tolerance:
        return "awareness"
    if ratio < 1 / (1 + tolerance):
        return "conversion"
    return "balanced"


def campaign_life(start: date, end: date | None, always_on_days: int) -> tuple[date, date]:
    """[start, last day] of the campaign; an always-on campaign without an end date lives
    ``always_on_days`` (its planned budget covers that span)."""
    last = end if end is not None else start + timedelta(days=always_on_days - 1)
    return start, last


def pacing_schedule(
    planned_budget: float,
    start: date,
    end: date | None,
    *,
    always_on_days: int = 365,
    horizon_days: int = 84,
) -> pd.DataFrame:
    """Weekly planned spend (even daily pacing of the lifetime budget) for the first
    ``horizon_days`` of the campaign; week n covers days 7(n-1) .. 7n-1 from the start, the
    same weeks as the launch monitoring."""
    first, last = campaign_life(start, end, always_on_days)
    life = (last - first).days + 1
    if life <= 0 or not _finite(planned_budget):
        return pd.DataFrame(
            columns=[
                "week_start",
                "week_number",
                "days_active",
                "planned_spend",
                "cumulative_planned_spend",
            ]
        )
    daily = float(planned_budget) / life
    stop = min(last, first + timedelta(days=horizon_days - 1))
    rows: dict[date, int] = {}
    d = first
    while d <= stop:
        week = first + timedelta(days=7 * ((d - first).days // 7))
        rows[week] = rows.get(week, 0) + 1
        d += timedelta(days=1)
    out = pd.DataFrame({"week_start": list(rows), "days_active": list(rows.values())})
    out["week_number"] = np.arange(1, len(out) + 1)
    out["planned_spend"] = out["days_active"] * daily
    out["cumulative_planned_spend"] = out["planned_spend"].cumsum()
    return out[
        ["week_start", "week_number", "days_active", "planned_spend", "cumulative_planned_spend"]
    ]


def readiness(
    brief: Mapping[str, object],
    targets: pd.DataFrame,
    *,
    touches_seen: int,
    spend_so_far: float,
    utm_shared_with: Iterable[str] = (),
) -> list[str]:
    """Problems that block the launch (empty list = ready).

    Brief: a known campaign type (the objective), a planned budget > 0, a start date and,
    unless always-on, an end date not before it. Targets: every target metric resolved.
    Tracking configured: utm_campaign present, used by no other campaign, and seen on at
    least one touchpoint once the campaign has spend.
    """
    problems = []
    ctype = brief.get("campaign_type")
    if ctype not in CAMPAIGN_TYPES:
        problems.append(f"campaign_type {ctype!r} is not one of {', '.join(CAMPAIGN_TYPES)}")
    budget = brief.get("planned_budget")
    if not (_finite(budget) and float(budget) > 0):  # type: ignore[arg-type]
        problems.append("planned_budget missing or not positive")
    start, end = _as_date(brief.get("start_date")), _as_date(brief.get("end_date"))
    if start is None:
        problems.append("start_date missing")
    if end is None and ctype != "always_on":
        problems.append(f"end_date missing for a {ctype} campaign")
    if start is not None and end is not None and end < start:
        problems.append(f"end_date {end} before start_date {start}")
    missing = targets.loc[targets["target_source"] == "missing", "metric"].tolist()
    if missing:
        problems.append(f"no target and no benchmark for {', '.join(missing)}")
    utm = brief.get("utm_campaign")
    shared = sorted(utm_shared_with)
    if utm is None or (isinstance(utm, float) and math.isnan(utm)) or not str(utm).strip():
        problems.append("utm_campaign missing: touchpoints cannot be tied to the campaign")
    elif shared:
        problems.append(f"utm_campaign {utm!r} also used by {', '.join(shared)}")
    elif spend_so_far > 0 and touches_seen == 0:
        problems.append(
            f"utm_campaign {utm!r} not seen on any touchpoint although {spend_so_far:,.2f} "
            "was spent: tracking is not configured"
        )
    return problems


# ---------------------------------------------------------------- monitoring


def weekly_monitoring(
    daily: pd.DataFrame, leads: pd.DataFrame, start: date, as_of: date, days: int
) -> pd.DataFrame:
    """Week-by-week metrics of the first ``days`` days (up to ``as_of``).

    ``daily``: date, spend, impressions, clicks, touches (the campaign's tracked touches).
    ``leads``: lead_id, created_at (date), credit, mql (credit if MQL by as-of, else 0),
    sql (likewise).
    """
    stop = min(as_of, start + timedelta(days=days - 1))
    if stop < start:
        return pd.DataFrame()
    weeks = []
    d = start
    while d <= stop:
        weeks.append(d)
        d += timedelta(days=7)
    dd = daily.copy()
    dd["date"] = pd.to_datetime(dd["date"]).dt.date if not dd.empty else dd.get("date")
    ll = leads.copy()
    if not ll.empty:
        ll["created_at"] = pd.to_datetime(ll["created_at"]).dt.date
    rows = []
    for i, w in enumerate(weeks, start=1):
        w_end = min(w + timedelta(days=6), stop)
        sd = dd[(dd["date"] >= w) & (dd["date"] <= w_end)] if not dd.empty else dd
        sl = ll[(ll["created_at"] >= w) & (ll["created_at"] <= w_end)] if not ll.empty else ll
        rows.append(
            {
                "week_number": i,
                "week_start": w,
                "week_end": w_end,
                "spend": float(sd["spend"].sum()) if not sd.empty else 0.0,
                "impressions": int(sd["impressions"].sum()) if not sd.empty else 0,
                "clicks": int(sd["clicks"].sum()) if not sd.empty else 0,
                "touches": int(sd["touches"].sum()) if not sd.empty else 0,
                "leads": float(sl["credit"].sum()) if not sl.empty else 0.0,
                "mqls": float(sl["mql"].sum()) if not sl.empty else 0.0,
                "sqls": float(sl["sql"].sum()) if not sl.empty else 0.0,
            }
        )
    out = pd.DataFrame(rows)
    for c in ("spend", "leads", "mqls", "clicks", "impressions"):
        out[f"cumulative_{c}"] = out[c].cumsum()
    out["ctr"] = [_ratio(c, i) for c, i in zip(out["clicks"], out["impressions"], strict=True)]
    out["cvr"] = [_ratio(lead, c) for lead, c in zip(out["leads"], out["clicks"], strict=True)]
    out["cpa"] = [_ratio(s, lead) for s, lead in zip(out["spend"], out["leads"], strict=True)]
    return out


def window_totals(daily: pd.DataFrame, leads: pd.DataFrame, start: date, stop: date) -> dict:
    """Totals of spend, impressions, clicks, touches, credited leads/MQLs/SQLs in [start, stop]."""
    dd = daily.copy()
    if not dd.empty:
        dd["date"] = pd.to_datetime(dd["date"]).dt.date
        dd = dd[(dd["date"] >= start) & (dd["date"] <= stop)]
    ll = leads.copy()
    if not ll.empty:
        ll["created_at"] = pd.to_datetime(ll["created_at"]).dt.date
        ll = ll[(ll["created_at"] >= start) & (ll["created_at"] <= stop)]

    def total(df: pd.DataFrame, col: str) -> float:
        return float(df[col].sum()) if not df.empty and col in df.columns else 0.0

    return {
        "spend": total(dd, "spend"),
        "impressions": total(dd, "impressions"),
        "clicks": total(dd, "clicks"),
        "touches": total(dd, "touches"),
        "leads": total(ll, "credit"),
        "mqls": total(ll, "mql"),
        "mqls_in_window": total(ll, "mql_in_window"),
        "sqls": total(ll, "sql"),
        "revenue": total(ll, "revenue"),
        "first_spend": min(dd.loc[dd["spend"] > 0, "date"])
        if not dd.empty and (dd["spend"] > 0).any()
        else None,
    }


def tracking_check(weekly: pd.DataFrame) -> tuple[bool, str]:
    """Every week with spend has touchpoints carrying the campaign's utm_campaign; a week
    of spend without any is a broken-tracking alarm (tracking can break mid-flight)."""
    if weekly.empty or float(weekly["spend"].sum()) <= 0:
        return True, "no spend yet: nothing to verify"
    broken = weekly[(weekly["spend"] > 0) & (weekly["touches"] <= 0)]
    if not broken.empty:
        weeks = ", ".join(
            f"week {int(w)} ({s:,.2f})"
            for w, s in zip(broken["week_number"], broken["spend"], strict=True)
        )
        return False, (
            f"spend without any touchpoint carrying the campaign's utm_campaign in {weeks}: "
            "tracking is broken (check the UTM tags on the ads and landing pages)"
        )
    return True, (
        f"{float(weekly['touches'].sum()):,.0f} tracked touchpoints for "
        f"{float(weekly['spend'].sum()):,.2f} spend; every week with spend is tracked"
    )


def schedule_check(
    start: date, first_spend: date | None, as_of: date, grace_days: int = 2
) -> tuple[bool, str]:
    """Live on schedule: first spend within ``grace_days`` of the start date."""
    if as_of < start:
        return True, f"not started: starts {start}"
    due = start + timedelta(days=grace_days)
    if first_spend is None:
        if as_of <= due:
            return True, f"no spend yet; due by {due}"
        return False, f"no spend since the start on {start} (as of {as_of}): not live"
    if first_spend > due:
        return False, f"went live {(first_spend - start).days} days late ({first_spend})"
    return True, f"live since {first_spend}"


def performance_vs_targets(
    actual: Mapping[str, float], targets: Mapping[str, float], tolerance: float = 0.2
) -> pd.DataFrame:
    """Per metric with a target: actual, target, attainment (>= 1 is good), the attainment
    the tolerance requires, and within.

    attainment = actual / target, or target / actual for CPA (lower is better; a CPA with
    spend and no leads is infinite: attainment 0). ``within``: attainment >= 1 - tolerance
    (for CPA: actual <= target x (1 + tolerance), i.e. attainment >= 1 / (1 + tolerance)).
    """
    rows = []
    for metric in TARGET_METRICS:
        target = targets.get(metric, float("nan"))
        if not (_finite(target) and target > 0):
            continue
        value = actual.get(metric, float("nan"))
        if metric in LOWER_IS_BETTER:
            if value is None or (isinstance(value, float) and math.isnan(value)):
                attain, within = float("nan"), None
            elif math.isinf(value):
                attain, within = 0.0, False
            else:
                attain = target / value if value > 0 else float("inf")
                within = value <= target * (1 + tolerance) + 1e-12
        else:
            if not _finite(value):
                attain, within = float("nan"), None
            else:
                attain = value / target
                within = attain >= 1 - tolerance - 1e-12
        rows.append(
            {
                "metric": metric,
                "actual": value,
                "target": target,
                "attainment": attain,
                "required_attainment": 1 / (1 + tolerance)
                if metric in LOWER_IS_BETTER
                else 1 - tolerance,
                "within": within,
            }
        )
    return pd.DataFrame(
        rows,
        columns=["metric", "actual", "target", "attainment", "required_attainment", "within"],
    )


def describe_actual(metric: str, value: float) -> str:
    """ "CPA 4,539", or for a CPA with spend and no lead yet "CPA: no lead yet"."""
    if metric == "cpa" and isinstance(value, float) and math.isinf(value):
        return "CPA: spend and no lead yet"
    return f"{metric.upper()} {value:,.4g}"


def finite_or_nan(value: float) -> float:
    """``value``, or NaN (NULL in the warehouse) for an infinite ratio: the contract's ratios
    are NULL, never infinity, where the denominator is 0."""
    return value if _finite(value) else float("nan")


def weakest_attainment(performance: pd.DataFrame) -> tuple[float, float]:
    """(attainment, required attainment) of the metric furthest below what the tolerance
    requires: the value and threshold that decide the performance check."""
    rated = performance.dropna(subset=["attainment"])
    if rated.empty:
        return float("nan"), float("nan")
    worst = rated.loc[(rated["attainment"] / rated["required_attainment"]).idxmin()]
    return float(worst["attainment"]), float(worst["required_attainment"])


def early_metrics(totals: Mapping[str, float], revenue_per_lead: float) -> dict[str, float]:
    """CTR, CVR, CPA (inf with spend and no leads) and projected ROAS from window totals."""
    spend, leads = totals["spend"], totals["leads"]
    cpa = _ratio(spend, leads) if leads > 0 else (float("inf") if spend > 0 else float("nan"))
    return {
        "ctr": _ratio(totals["clicks"], totals["impressions"]),
        "cvr": _ratio(leads, totals["clicks"]),
        "cpa": cpa,
        "roas": _ratio(leads * revenue_per_lead, spend)
        if _finite(revenue_per_lead)
        else float("nan"),
        "actual_roas": _ratio(totals.get("revenue", 0.0), spend),
    }


@dataclass
class MqlExpectation:
    expected_mqls: float
    actual_mqls: float
    volume_ratio: float
    quality: float
    quality_benchmark: float
    quality_ratio: float
    passed: bool
    detail: str


def mql_expectation(
    spend: float,
    target_cpa: float,
    mql_rate_benchmark: float,
    actual_mqls: float,
    quality: float,
    quality_benchmark: float,
    tolerance: float = 0.2,
    counted_until: tuple[date, int] | None = None,
) -> MqlExpectation:
    """MQL volume against spend / target CPA x benchmark MQL rate, and lead quality (mean
    predicted SQL probability) against the channel's leads; both within ``tolerance``.
    ``counted_until``: (last lead day counted, MQL window days), said in the detail (the
    volume counts only leads old enough to have had the window, unlike the readout's
    MQL count)."""
    expected = (
        spend / target_cpa * mql_rate_benchmark
        if _finite(target_cpa) and target_cpa > 0 and _finite(mql_rate_benchmark)
        else float("nan")
    )
    volume = _ratio(actual_mqls, expected) if _finite(expected) and expected > 0 else float("nan")
    q_ratio = _ratio(quality, quality_benchmark) if _finite(quality) else float("nan")
    notes, ok = [], True
    if _finite(volume):
        good = volume >= 1 - tolerance - 1e-12
        ok &= good
        counted = (
            f" among leads created by {counted_until[0]} (each lead gets the "
            f"{counted_until[1]}-day MQL window)"
            if counted_until is not None
            else ""
        )
        notes.append(
            f"MQLs {actual_mqls:,.1f} vs {expected:,.1f} expected ({100 * volume:.0f}%){counted}"
        )
    else:
        if not (_finite(target_cpa) and target_cpa > 0):
            why = "no CPA target"
        elif not _finite(mql_rate_benchmark):
            why = "no MQL-rate benchmark for the channel"
        else:
            why = (
                "no spend old enough yet: leads get the MQL window to qualify, so only spend "
                "before the as-of day minus that window counts"
            )
        notes.append(f"MQL volume not evaluable ({why})")
    if _finite(q_ratio):
        good = q_ratio >= 1 - tolerance - 1e-12
        ok &= good
        notes.append(
            f"lead quality {quality:.3f} vs {quality_benchmark:.3f} for the channel "
            f"({100 * q_ratio:.0f}%)"
        )
    else:
        notes.append("lead quality not evaluable (no scored leads)")
    return MqlExpectation(
        expected,
        actual_mqls,
        volume,
        quality,
        quality_benchmark,
        q_ratio,
        bool(ok),
        "; ".join(notes),
    )


def budget_pace_check(
    planned_budget: float,
    start: date,
    end: date | None,
    as_of: date,
    spend: float,
    tolerance: float,
    *,
    always_on_days: int = 365,
) -> tuple[bool, str]:
    """Spend to date against the budget spread evenly over the flight (the plan's pacing
    schedule): fails when spend runs more than ``tolerance`` ahead of it or has passed the
    whole planned budget; says when the budget runs out at the campaign's own daily rate."""
    if not _finite(planned_budget) or planned_budget <= 0:
        return True, "no planned_budget: spend pace not judged"
    first, last = campaign_life(start, end, always_on_days)
    stop = min(as_of, last)
    if stop < first:
        return True, "not live yet: nothing to pace"
    life = (last - first).days + 1
    elapsed = (stop - first).days + 1
    planned_to_date = planned_budget * elapsed / life
    pace = _ratio(spend, planned_to_date)
    text = (
        f"spend {spend:,.2f} by day {elapsed} of {life} vs {planned_to_date:,.2f} planned to "
        f"date ({100 * pace:.0f}%)"
    )
    if spend >= planned_budget:
        return False, f"{text}: the whole planned budget of {planned_budget:,.2f} is spent"
    daily = spend / elapsed
    if pace > 1 + tolerance + 1e-12 and daily > 0:
        runs_out = first + timedelta(days=int(np.ceil(planned_budget / daily)) - 1)
        return False, (
            f"{text}: at {daily:,.2f} a day the {planned_budget:,.2f} budget runs out on "
            f"{runs_out}, before the flight ends on {last}; lower the daily cap"
        )
    return True, text


def evaluate_launch(
    plan: dict,
    daily: pd.DataFrame,
    leads: pd.DataFrame,
    quality: tuple[float, float],
    as_of: date,
    *,
    tolerance: float,
    first_window_days: int,
    grace_days: int,
    mql_window_days: int,
) -> dict:
    """The monitoring checks' outcomes for a campaign as of ``as_of``.

    ``plan``: the launch_plan row (start_date, target_*, benchmark_revenue_per_lead,
    benchmark_mql_rate); ``daily`` / ``leads`` as in ``weekly_monitoring``; ``quality``:
    (campaign's, channel's) mean predicted SQL probability.
    """
    start = _as_date(plan["start_date"])
    first_stop = min(as_of, start + timedelta(days=first_window_days - 1))
    all_totals = window_totals(daily, leads, start, as_of)
    first = window_totals(daily, leads, start, first_stop)
    weekly = weekly_monitoring(daily, leads, start, as_of, max((as_of - start).days + 1, 0))
    tracking_ok, tracking_detail = tracking_check(weekly)
    schedule_ok, schedule_detail = schedule_check(
        start, all_totals["first_spend"], as_of, grace_days
    )
    targets = {m: plan.get(f"target_{m}", np.nan) for m in TARGET_METRICS}
    metrics = early_metrics(first, plan.get("benchmark_revenue_per_lead", np.nan))
    perf = performance_vs_targets(metrics, targets, tolerance)
    judged = perf.dropna(subset=["within"])
    if as_of < start or first["spend"] <= 0:
        perf_ok, perf_detail = True, "not live yet: nothing to compare"
    elif judged.empty:
        perf_ok, perf_detail = True, "no targeted metric measurable yet"
    else:
        misses = judged[~judged["within"].astype(bool)]
        perf_ok = misses.empty
        perf_detail = (
            "; ".join(
                f"{describe_actual(r.metric, r.actual)} vs target {r.target:,.4g} "
                f"({100 * r.attainment:.0f}%)"
                for r in judged.itertuples()
            )
            + f" over {(first_stop - start).days + 1} days"
        )
    mature_stop = as_of - timedelta(days=mql_window_days)
    matured = window_totals(daily, leads, start, mature_stop)
    mql = mql_expectation(
        matured["spend"],
        targets["cpa"],
        plan.get("benchmark_mql_rate", np.nan),
        matured["mqls_in_window"],
        quality[0],
        quality[1],
        tolerance,
        counted_until=(mature_stop, mql_window_days),
    )
    pace = budget_pace_check(
        plan.get("planned_budget", np.nan),
        start,
        _as_date(plan.get("end_date")),
        as_of,
        all_totals["spend"],
        tolerance,
    )
    return {
        "budget_pace": pace,
        "start": start,
        "totals": all_totals,
        "first": first,
        "metrics": metrics,
        "performance": perf,
        "tracking": (tracking_ok, tracking_detail),
        "schedule": (schedule_ok, schedule_detail),
        "perf": (perf_ok, perf_detail),
        "mql": mql,
    }


# ---------------------------------------------------------------- decision

_STAGE_ADVICE = {
    "ctr": "click-through is the weak stage: refresh creative and tighten targeting",
    "cvr": "conversion after the click is the weak stage: fix the landing page and offer",
    "cpa": "cost per lead is high: cut the worst ad groups and bids",
    "roas": "value per dollar is low: shift spend to the segments whose leads qualify",
    "quality": "leads do not qualify: narrow the audience and tighten the lead form",
    "volume": "MQL volume is short: widen reach within the CPA target",
}


def week4_decision(
    days_live: int,
    start: date,
    tracking_ok: bool,
    performance: pd.DataFrame,
    mql: MqlExpectation | None,
    totals: Mapping[str, float],
    target_cpa: float,
    *,
    decision_day: int = 28,
    tolerance: float = 0.2,
    pause_below: float = 0.6,
    indicative: Iterable[str] = (),
) -> tuple[str, str]:
    """scale / pause / optimize at week 4 (``pending`` before), with the reason in numbers.

    ``indicative``: metrics whose target is only a cross-channel benchmark (too few earlier
    campaigns of this channel): a search CPA says little about a social or event campaign,
    so they are reported but neither pause nor scale the campaign."""
    if days_live < decision_day:
        return "pending", (
            f"{days_live} days live; the scale/pause/optimize decision is due on "
            f"{start + timedelta(days=decision_day)}"
        )
    if not tracking_ok:
        return "pause", (
            f"tracking is broken: {totals['spend']:,.2f} spent with no tracked touchpoint; "
            "pause and fix the UTM tags before spending more"
        )
    if (
        _finite(target_cpa)
        and target_cpa > 0
        and totals["leads"] <= 0
        and totals["spend"] >= 2 * target_cpa
    ):
        return "pause", (
            f"{totals['spend']:,.2f} spent (over two target CPAs of {target_cpa:,.2f}) "
            "without a single credited lead"
        )
    if mql is not None and _finite(mql.quality_ratio) and mql.quality_ratio < pause_below:
        sqls = totals.get("sqls", np.nan)
        counts = (
            f"; {sqls:,.0f} SQLs from {totals['leads']:,.0f} leads"
            if _finite(sqls) and totals.get("leads", 0) > 0
            else ""
        )
        return "pause", (
            f"leads do not qualify: lead quality {mql.quality:.3f} vs {mql.quality_benchmark:.3f} "
            f"for the channel's leads ({100 * mql.quality_ratio:.0f}%, below the "
            f"{100 * pause_below:.0f}% pause line){counts}; cheap leads that sales will not "
            f"work are no success whatever their CPA: {_STAGE_ADVICE['quality']}"
        )
    perf = performance.dropna(subset=["attainment"])
    if perf.empty:
        return (
            "optimize",
            "no targeted metric could be measured yet; keep spend flat and fix measurement",
        )

    def describe(row) -> str:
        return (
            f"{describe_actual(row.metric, row.actual)} vs target {row.target:,.4g} "
            f"({100 * row.attainment:.0f}% of target)"
        )

    decisive = perf[~perf["metric"].isin(set(indicative))]
    if decisive.empty:
        weakest = perf.loc[perf["attainment"].idxmin()]
        return "optimize", (
            f"{describe(weakest)}, but every target is a cross-channel benchmark (too few "
            "earlier campaigns in this channel), too different to pause or scale on: set the "
            "campaign's own target_cpa / target_roas for a decision"
        )
    key = decisive[decisive["metric"].isin(["cpa", "roas"])]
    if not key.empty and key["attainment"].min() < pause_below:
        worst = key.loc[key["attainment"].idxmin()]
        return "pause", f"{describe(worst)}, below the {100 * pause_below:.0f}% pause line"
    mql_ok = mql is None or mql.passed
    if (decisive["attainment"] >= 1 - 1e-12).all() and mql_ok:
        text = "; ".join(describe(r) for r in decisive.itertuples())
        extra = f"; {mql.detail}" if mql is not None else ""
        return "scale", f"every targeted metric meets target: {text}{extra}"
    weakest = perf.loc[perf["attainment"].idxmin()]
    stage = str(weakest["metric"])
    reason = describe(weakest)
    if mql is not None and not mql.passed:
        if _finite(mql.quality_ratio) and mql.quality_ratio < 1 - tolerance:
            stage = "quality"
        elif _finite(mql.volume_ratio) and mql.volume_ratio < 1 - tolerance:
            stage = "volume"
        reason += f"; {mql.detail}"
    return "optimize", f"{reason}: {_STAGE_ADVICE[stage]}"


def crm_cross_check(
    credited_leads: float,
    crm_leads: float,
    spend: float,
    target_cpa: float,
    tolerance: float = 0.2,
) -> str:
    """A note when the CRM's own campaign tag tells a different CPA story than touch credit:
    touch credit misses the CPA target (beyond tolerance) while the CRM-tagged leads meet it.
    Touch credit splits a lead over every touch before it; the CRM tag gives it whole to one
    campaign. Neither is the truth, so the decision stands and the note asks for a check."""
    if not (_finite(target_cpa) and target_cpa > 0 and spend > 0 and crm_leads > 0):
        return ""
    credited_cpa = spend / credited_leads if credited_leads > 0 else float("inf")
    crm_cpa = spend / crm_leads
    limit = target_cpa * (1 + tolerance)
    if credited_cpa > limit and crm_cpa <= limit:
        return (
            f" The CRM tags {crm_leads:,.0f} leads to this campaign (CPA {crm_cpa:,.2f}, within "
            f"target) against {credited_leads:,.1f} by touch credit (CPA {credited_cpa:,.2f}): "
            "touch credit shares these leads with other touches; check which view fits before "
            "acting."
        )
    return ""
