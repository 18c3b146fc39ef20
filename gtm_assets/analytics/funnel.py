"""Funnel health: stage entries, cohort and period conversion, censoring, velocity, bottlenecks.

Definitions (the README and the asset descriptions repeat them for marketers):

* **Stages** ``visitor -> lead -> mql -> sql -> opportunity -> customer``.
* **Visitor**: a person (``person_id``) with at least one touchpoint of a *site* type
  (``VISIT_TOUCH_TYPES``: visit, click, email_click, content_view, form_fill). Impressions,
  email opens and event attendance alone do not make a visitor. The visitor enters the funnel
  at their first such touch. People who were already leads before their first site touch are
  not part of a visitor cohort (they never were anonymous visitors in the data).
* **Lead**: ``staging.leads.created_at``. ``visitor -> lead`` converts when the same person's
  first lead is created at or after their first visit.
* **MQL / SQL**: first entry to that stage in ``staging.lead_stage_history``. **Opportunity**:
  the earlier of the stage-history entry and the first opportunity's ``created_at``.
  **Customer**: the earlier of the stage-history entry and the first won opportunity's
  ``closed_at``. A lead that reaches a later stage without passing an earlier one (for
  example straight to SQL) is counted as having passed the earlier stage at that moment
  (``backfill_skipped_stages``): the funnel stays monotone. A stage dated before the lead
  was created counts at the creation, so a lead and its stages stay in the lead's month.
  This is ``MQL_DEFINITION``; lead scoring uses the same function, and an asset check compares
  the counts both publish.
* Only events strictly before the as-of moment (the end of the analysed month) are used.

Conversion rates:

* **Cohort rate** (``conversion_rate`` in ``marts.funnel_stages``): of the units that entered the
  from-stage during the *cohort month*, the share that reached the to-stage within
  ``window_days``. The cohort month is the latest month whose whole window has elapsed by the
  as-of moment (``mature_cohort_month``), so every reported cohort rate is final and never an
  immature cohort mistaken for a drop.
* The **current cohort** (entered during the analysed month) is right-censored: most members
  have been followed for less than the window. Its early read is a Kaplan-Meier estimate of
  converting within ``early_read_days`` (= min(14, window); ``current_cohort_km_rate``, NULL
  when nobody has been followed that long), shown beside the mature cohort's share converted
  within the same number of days (``cohort_rate_at_early_read``): like is compared with like.
  ``current_cohort_km_se`` is its Greenwood standard error and ``early_read_p_value`` the
  one-sided p-value that the current cohort converts more slowly than the mature one did by
  that age (normal approximation); the executive summary raises an early warning from it.
* **Period rate**: entries to the to-stage during the month divided by entries to the
  from-stage during the month: a throughput ratio, not a probability (it can exceed 1).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, datetime, timedelta

import duckdb
import numpy as np
import pandas as pd
from scipy import stats

STAGES: tuple[str, ...] = ("visitor", "lead", "mql", "sql", "opportunity", "customer")
LEAD_STAGES: tuple[str, ...] = STAGES[1:]
TRANSITIONS: tuple[tuple[str, str], ...] = tuple(zip(STAGES[:-1], STAGES[1:], strict=True))
SEGMENT_TYPES: tuple[str, ...] = (
    "all",
    "channel",
    "industry",
    "company_size_band",
    "country",
    "seniority",
)
#: Segments known for anonymous visitors (firmographics exist only once a person is a lead).
VISITOR_SEGMENT_TYPES: tuple[str, ...] = ("all", "channel")
VISIT_TOUCH_TYPES: tuple[str, ...] = (
    "visit",
    "click",
    "email_click",
    "content_view",
    "form_fill",
)
DEFAULT_WINDOWS: dict[str, int] = {
    "visitor->lead": 30,
    "lead->mql": 30,
    "mql->sql": 30,
    "sql->opportunity": 30,
    "opportunity->customer": 120,
}
MQL_DEFINITION = (
    "mql = first entry to CRM stage 'mql' in lead_stage_history, or to any later stage "
    "(sql, opportunity, customer) if earlier; entries before the as-of moment only; a stage "
    "dated before the lead's creation counts at the creation"
)
DAYS_TO_CONVERT_DEFINITION = (
    "days from entering the step's first stage to entering its second, over the units that "
    "converted; a lead that skipped the first stage counts as entered and converted but not "
    "in the days (it passed the stage in an unknown time, not in 0 days)"
)
#: What each transition counts (``marts.funnel_definitions``); mql steps use MQL_DEFINITION.
STAGE_DEFINITIONS = {
    "visitor->lead": (
        "visitor = a person's first site touch (visit, click, email click, content view, form "
        "fill; not an impression, email open or event alone), unless already a lead; converts "
        "when the person's first lead is created at or after it"
    ),
    "sql->opportunity": (
        "sql = first CRM stage 'sql', or any later stage if earlier; opportunity = the earlier "
        "of the stage 'opportunity' and the lead's first deal's created_at"
    ),
    "opportunity->customer": (
        "customer = the earlier of the stage 'customer' and the lead's first won deal's closed_at"
    ),
}
UNKNOWN = "unknown"


def transition_name(from_stage: str, to_stage: str) -> str:
    return f"{from_stage}->{to_stage}"


def _ts(value: date | datetime) -> pd.Timestamp:
    return pd.Timestamp(value)


def add_months(value: date, months: int) -> date:
    """First day of the month ``months`` after ``value``'s month."""
    index = value.year * 12 + value.month - 1 + months
    return date(index // 12, index % 12 + 1, 1)


# --------------------------------------------------------------------------------------------
# stage entries
# --------------------------------------------------------------------------------------------


def backfill_skipped_stages(entries: pd.DataFrame, stages: tuple[str, ...]) -> pd.DataFrame:
    """Make stage entry times monotone: a stage's time is the earliest of itself and every
    later stage's time (a lead that skipped a stage passed it when it reached the later one)."""
    out = entries.copy()
    cols = [f"{s}_at" for s in stages]
    running = out[cols[-1]]
    for col in reversed(cols[:-1]):
        running = out[col].where(
            running.isna() | (out[col].notna() & (out[col] <= running)), running
        )
        out[col] = running
    return out


def lead_stage_entries(
    leads: pd.DataFrame,
    history: pd.DataFrame,
    opportunities: pd.DataFrame,
    first_channel: pd.DataFrame | None,
    as_of: datetime | date,
) -> pd.DataFrame:
    """One row per lead: ``lead_at .. customer_at`` (NaT when not reached by ``as_of``) and the
    segment columns. This is the one MQL/SQL definition the funnel and lead scoring share;
    ``sql/intermediate/lead_stage_reached.sql`` is its SQL twin for the executive summary
    and launch (tested equal).

    ``leads``: lead_id, person_id, created_at, industry, company_size_band, country, seniority.
    ``history``: lead_id, stage, entered_at. ``opportunities``: lead_id, created_at, closed_at,
    is_won. ``first_channel``: lead_id, channel (the channel of the person's first touch
    before the lead was created; leads without one are ``unknown``).
    """
    cut = _ts(as_of)
    base = leads.loc[pd.to_datetime(leads["created_at"]) < cut].copy()
    base["lead_at"] = pd.to_datetime(base["created_at"])
    hist = history.loc[
        pd.to_datetime(history["entered_at"]) < cut, ["lead_id", "stage", "entered_at"]
    ]
    hist = hist.assign(entered_at=pd.to_datetime(hist["entered_at"]))
    for stage in ("mql", "sql", "opportunity", "customer"):
        first = hist.loc[hist["stage"] == stage].groupby("lead_id")["entered_at"].min()
        base[f"{stage}_at"] = _lookup(base["lead_id"], first)
    opps = opportunities.copy()
    opps["created_at"] = pd.to_datetime(opps["created_at"])
    opps["closed_at"] = pd.to_datetime(opps["closed_at"])
    opp_first = opps.loc[opps["created_at"] < cut].groupby("lead_id")["created_at"].min()
    won = opps.loc[opps["is_won"].fillna(False).astype(bool) & (opps["closed_at"] < cut)]
    won_first = won.groupby("lead_id")["closed_at"].min()
    base["opportunity_at"] = _earliest(base["opportunity_at"], _lookup(base["lead_id"], opp_first))
    base["customer_at"] = _earliest(base["customer_at"], _lookup(base["lead_id"], won_first))
    for stage in LEAD_STAGES:
        base[f"{stage}_at"] = pd.to_datetime(base[f"{stage}_at"]).astype("datetime64[us]")
    # a stage dated before the lead was created is reached at the creation: the lead and
    # its stages stay in the lead's month
    for stage in LEAD_STAGES[1:]:
        at = base[f"{stage}_at"]
        base[f"{stage}_at"] = at.where(at.isna() | (at >= base["lead_at"]), base["lead_at"])
    # the CRM's own MQL flag, before skipped stages are filled in: lead scoring's benchmark
    # rule (a lead that went straight to SQL was not an MQL under the CRM's rule)
    base["crm_mql_at"] = base["mql_at"]
    recorded = {s: base[f"{s}_at"].notna() for s in LEAD_STAGES[1:]}
    base = backfill_skipped_stages(base, LEAD_STAGES)
    for stage, seen in recorded.items():
        base[f"{stage}_skipped"] = base[f"{stage}_at"].notna() & ~seen
    if first_channel is not None and len(first_channel):
        base["channel"] = base["lead_id"].map(
            first_channel.drop_duplicates("lead_id").set_index("lead_id")["channel"]
        )
    else:
        base["channel"] = None
    for seg in SEGMENT_TYPES[1:]:
        base[seg] = base[seg].astype(object).where(base[seg].notna(), UNKNOWN).astype(str)
    keep = [
        "lead_id",
        "person_id",
        *SEGMENT_TYPES[1:],
        *[f"{s}_at" for s in LEAD_STAGES],
        "crm_mql_at",
        *[f"{s}_skipped" for s in LEAD_STAGES[1:]],
    ]
    return base[keep].reset_index(drop=True)


def _lookup(keys: pd.Series, values: pd.Series) -> pd.Series:
    """``keys`` mapped through a timestamp Series indexed by key (NaT where missing)."""
    values = pd.to_datetime(values).astype("datetime64[us]")
    out = pd.Series(pd.NaT, index=keys.index, dtype="datetime64[us]")
    if len(values):
        out = keys.map(values).astype("datetime64[us]")
    return out


def _earliest(a: pd.Series, b: pd.Series) -> pd.Series:
    a = pd.to_datetime(a)
    b = pd.to_datetime(b)
    return a.where(b.isna() | (a.notna() & (a <= b)), b)


def visitor_entries(
    visitors: pd.DataFrame, leads: pd.DataFrame, as_of: datetime | date
) -> pd.DataFrame:
    """One row per visitor: ``visitor_at`` (first site touch), ``lead_at`` (first lead created at
    or after it, NaT if none by ``as_of``) and ``channel`` (first-touch channel).

    ``visitors``: person_id, first_visit_at, channel. People whose first lead precedes their
    first visit are dropped (they never were anonymous visitors)."""
    cut = _ts(as_of)
    v = visitors.loc[pd.to_datetime(visitors["first_visit_at"]) < cut].copy()
    v["visitor_at"] = pd.to_datetime(v["first_visit_at"]).astype("datetime64[us]")
    lead_times = leads.loc[pd.to_datetime(leads["created_at"]) < cut, ["person_id", "created_at"]]
    lead_times = lead_times.assign(created_at=pd.to_datetime(lead_times["created_at"]))
    first_lead = lead_times.groupby("person_id")["created_at"].min()
    v["first_lead_at"] = _lookup(v["person_id"], first_lead)
    v = v.loc[v["first_lead_at"].isna() | (v["first_lead_at"] >= v["visitor_at"])]
    v["lead_at"] = v["first_lead_at"].astype("datetime64[us]")
    v["channel"] = v["channel"].astype(object).where(v["channel"].notna(), UNKNOWN).astype(str)
    return v[["person_id", "channel", "visitor_at", "lead_at"]].reset_index(drop=True)


def transition_frame(
    visitors: pd.DataFrame, lead_entries: pd.DataFrame, from_stage: str, to_stage: str
) -> pd.DataFrame:
    """Units for one transition: ``from_at``, ``to_at``, the segment columns that apply and
    ``timed``: False where the lead skipped the from-stage (it passed it only when it
    reached a later one, so its days in the stage are unknown, not 0)."""
    if from_stage == "visitor":
        frame = visitors.rename(columns={"visitor_at": "from_at", "lead_at": "to_at"})
        segs = [s for s in VISITOR_SEGMENT_TYPES if s != "all"]
    else:
        frame = lead_entries.rename(
            columns={f"{from_stage}_at": "from_at", f"{to_stage}_at": "to_at"}
        )
        segs = list(SEGMENT_TYPES[1:])
    skipped = f"{from_stage}_skipped"
    frame = frame.loc[frame["from_at"].notna()].copy()
    frame["timed"] = ~frame[skipped].astype(bool) if skipped in frame.columns else True
    frame = frame[["from_at", "to_at", "timed", *segs]]
    frame["days"] = (frame["to_at"] - frame["from_at"]).dt.total_seconds() / 86400.0
    frame["days"] = frame["days"].clip(lower=0.0)
    return frame.reset_index(drop=True)


@dataclass(frozen=True)
class Units:
    """One transition's units as numpy arrays (times in microseconds since the epoch)."""

    f: np.ndarray  # from-stage entry
    t: np.ndarray  # to-stage entry (meaningless where ``has_t`` is False)
    has_t: np.ndarray
    days: np.ndarray  # days from -> to (NaN where no to-stage entry)
    timed: np.ndarray  # the from-stage entry was recorded, not passed by skipping it

    @classmethod
    def of(cls, frame: pd.DataFrame) -> Units:
        has_t = frame["to_at"].notna().to_numpy()
        f = frame["from_at"].astype("datetime64[us]").to_numpy().view("int64")
        t = frame["to_at"].astype("datetime64[us]").to_numpy().view("int64")
        return cls(
            f=f,
            t=t,
            has_t=has_t,
            days=frame["days"].to_numpy(dtype=float),
            timed=frame["timed"].to_numpy(dtype=bool),
        )

    def __len__(self) -> int:
        return len(self.f)

    def take(self, sel: np.ndarray) -> Units:
        return Units(
            f=self.f[sel],
            t=self.t[sel],
            has_t=self.has_t[sel],
            days=self.days[sel],
            timed=self.timed[sel],
        )

    def from_between(self, start: date | datetime, end: date | datetime) -> np.ndarray:
        return (self.f >= _us(start)) & (self.f < _us(end))

    def to_between(self, start: date | datetime, end: date | datetime) -> np.ndarray:
        return self.has_t & (self.t >= _us(start)) & (self.t < _us(end))


def _us(value: date | datetime) -> int:
    return int(np.datetime64(pd.Timestamp(value).to_datetime64(), "us").view("int64"))


def segment_groups(frame: pd.DataFrame) -> list[tuple[str, str, Units]]:
    """(segment_type, segment, units) for ``all`` and every segment column present."""
    units = Units.of(frame)
    groups: list[tuple[str, str, Units]] = [("all", "all", units)]
    for seg in SEGMENT_TYPES[1:]:
        if seg in frame.columns:
            for value, idx in sorted(frame.groupby(seg, sort=False).indices.items()):
                groups.append((seg, str(value), units.take(np.asarray(idx))))
    return groups


# --------------------------------------------------------------------------------------------
# censoring
# --------------------------------------------------------------------------------------------


def mature_cohort_month(month_start: date, as_of: datetime | date, window_days: int) -> date:
    """Latest cohort month whose every member has had ``window_days`` to convert by ``as_of``.

    A member entering on the last instant of cohort month ``c`` needs until
    ``first day of c+1 + window_days``; the cohort is mature when that is <= ``as_of``."""
    cut = _ts(as_of)
    c = month_start
    while _ts(add_months(c, 1)) + timedelta(days=window_days) > cut:
        c = add_months(c, -1)
    return c


def kaplan_meier_conversion(
    durations: np.ndarray, converted: np.ndarray, horizon_days: float
) -> float | None:
    """Kaplan-Meier estimate of P(converted within ``horizon_days``) under right censoring.

    ``durations``: days to conversion for converters, days of follow-up for the others.
    Returns None when nobody has been followed (converted or still at risk) up to the horizon,
    because the survival curve is then undefined there."""
    estimate = kaplan_meier_with_se(durations, converted, horizon_days)
    return None if estimate is None else estimate[0]


def kaplan_meier_with_se(
    durations: np.ndarray, converted: np.ndarray, horizon_days: float
) -> tuple[float, float] | None:
    """``kaplan_meier_conversion`` and its standard error (Greenwood's formula:
    var S = S^2 sum d / (n (n - d)) over the event times up to the horizon)."""
    d = np.asarray(durations, dtype=float)
    e = np.asarray(converted, dtype=bool)
    if len(d) == 0 or d.max() < horizon_days:
        return None
    survival, greenwood = 1.0, 0.0
    for t in np.unique(d[e & (d <= horizon_days)]):
        at_risk = np.sum(d >= t)
        events = np.sum(e & (d == t))
        survival *= 1.0 - events / at_risk
        if at_risk > events:
            greenwood += events / (at_risk * (at_risk - events))
    return float(1.0 - survival), float(survival * np.sqrt(greenwood))


def early_read_p_value(
    km_rate: float | None, km_se: float | None, reference_rate: float | None, reference_n: int
) -> float | None:
    """One-sided p-value that the current cohort converts more slowly than the mature
    cohort did by the same age: z = (km - ref) / sqrt(se_km^2 + ref (1 - ref) / n_ref)."""
    if km_rate is None or km_se is None or reference_rate is None or reference_n <= 0:
        return None
    variance = km_se**2 + reference_rate * (1 - reference_rate) / reference_n
    if variance <= 0:
        return None
    return float(stats.norm.cdf((km_rate - reference_rate) / np.sqrt(variance)))


# --------------------------------------------------------------------------------------------
# funnel_stages
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class FunnelSettings:
    """Knobs of the funnel computation (the asset's Config mirrors them)."""

    windows: Mapping[str, int]
    baseline_months: int = 3
    alpha: float = 0.05
    min_entered: int = 30
    early_read_days: int = 14


def _cohort_stats(u: Units, window_days: int, as_of: pd.Timestamp) -> dict:
    """Entered, converted within the window (and before ``as_of``), rate, median/p75 days
    (over the converted units whose from-stage entry was recorded)."""
    entered = len(u)
    hit = u.has_t & (u.days <= window_days) & (u.t < _us(as_of))
    converted = int(hit.sum())
    days = u.days[hit & u.timed]
    return {
        "entered": entered,
        "converted": converted,
        "conversion_rate": converted / entered if entered else None,
        "median_days_to_convert": float(np.median(days)) if len(days) else None,
        "p75_days_to_convert": float(np.quantile(days, 0.75)) if len(days) else None,
    }


def _month(start: date) -> tuple[date, date]:
    return start, add_months(start, 1)


def funnel_stages(
    visitors: pd.DataFrame,
    lead_entries: pd.DataFrame,
    month_start: date,
    settings: FunnelSettings,
    as_of: date | datetime | None = None,
) -> pd.DataFrame:
    """``marts.funnel_stages`` for one month: one row per segment x transition.

    ``visitors`` comes from ``visitor_entries``, ``lead_entries`` from ``lead_stage_entries``,
    both built with the same ``as_of``: the month's end (default), or where the data end
    inside it (a cohort is mature only when its window closed before the data end)."""
    month_end = add_months(month_start, 1)
    as_of = _ts(min(pd.Timestamp(as_of), pd.Timestamp(month_end)) if as_of else month_end)
    rows: list[dict] = []
    for from_stage, to_stage in TRANSITIONS:
        name = transition_name(from_stage, to_stage)
        window = int(settings.windows[name])
        frame = transition_frame(visitors, lead_entries, from_stage, to_stage)
        cohort = mature_cohort_month(month_start, as_of, window)
        for seg_type, seg, u in segment_groups(frame):
            in_cohort = u.take(u.from_between(*_month(cohort)))
            current = u.take(u.from_between(*_month(month_start)))
            follow = (_us(as_of) - current.f) / 86_400e6
            conv_now = current.has_t & (current.t < _us(as_of))
            dur = np.where(conv_now, current.days, follow)
            period_to = int(u.to_between(*_month(month_start)).sum())
            period_from = int(u.from_between(*_month(month_start)).sum())
            early = min(window, settings.early_read_days)
            early_hits = in_cohort.has_t & (in_cohort.days <= early)
            row = {
                "month": month_start,
                "segment_type": seg_type,
                "segment": seg,
                "from_stage": from_stage,
                "to_stage": to_stage,
                "cohort_month": cohort,
                "window_days": window,
                **_cohort_stats(in_cohort, window, as_of),
                "period_from_entries": period_from,
                "period_to_entries": period_to,
                "period_rate": period_to / period_from if period_from else None,
                "current_cohort_entered": len(current),
                "current_cohort_converted_so_far": int(conv_now.sum()),
                "early_read_days": early,
            }
            km = kaplan_meier_with_se(dur, conv_now, early)
            reference = float(early_hits.mean()) if len(in_cohort) else None
            row |= {
                "current_cohort_km_rate": None if km is None else km[0],
                "cohort_rate_at_early_read": reference,
                "current_cohort_km_se": None if km is None else km[1],
                "early_read_p_value": early_read_p_value(
                    None if km is None else km[0],
                    None if km is None else km[1],
                    reference,
                    len(in_cohort),
                ),
            }
            rows.append(row)
    return as_typed(pd.DataFrame(rows, columns=FUNNEL_STAGE_COLUMNS))


FUNNEL_STAGE_COLUMNS = [
    "month",
    "segment_type",
    "segment",
    "from_stage",
    "to_stage",
    "cohort_month",
    "window_days",
    "entered",
    "converted",
    "conversion_rate",
    "median_days_to_convert",
    "p75_days_to_convert",
    "period_from_entries",
    "period_to_entries",
    "period_rate",
    "current_cohort_entered",
    "current_cohort_converted_so_far",
    "early_read_days",
    "current_cohort_km_rate",
    "cohort_rate_at_early_read",
    "current_cohort_km_se",
    "early_read_p_value",
]


def as_typed(df: pd.DataFrame) -> pd.DataFrame:
    """Object columns holding only numbers/None become float64, so DuckDB gets DOUBLE (NULL for
    None) instead of an untyped NULL column; dates and text stay as they are."""
    for col in df.columns:
        if df[col].dtype != object:
            continue
        values = df[col].dropna()
        if values.empty or all(
            isinstance(v, int | float | np.number) and not isinstance(v, bool) for v in values
        ):
            df[col] = df[col].astype("float64")
    return df


# --------------------------------------------------------------------------------------------
# velocity
# --------------------------------------------------------------------------------------------


def funnel_velocity(
    visitors: pd.DataFrame, lead_entries: pd.DataFrame, month_start: date
) -> pd.DataFrame:
    """Median and p75 days per transition for transitions *completed* in the month and in the
    prior month, with the month-over-month change (days; positive = slower)."""
    prior = add_months(month_start, -1)
    rows: list[dict] = []
    for from_stage, to_stage in TRANSITIONS:
        frame = transition_frame(visitors, lead_entries, from_stage, to_stage)
        frame = frame.loc[frame["to_at"].notna()]
        for seg_type, seg, u in segment_groups(frame):
            now_done = u.to_between(*_month(month_start))
            before_done = u.to_between(*_month(prior))
            now = u.days[now_done & u.timed]
            before = u.days[before_done & u.timed]
            med = float(np.median(now)) if len(now) else None
            p75 = float(np.quantile(now, 0.75)) if len(now) else None
            pmed = float(np.median(before)) if len(before) else None
            pp75 = float(np.quantile(before, 0.75)) if len(before) else None
            rows.append(
                {
                    "month": month_start,
                    "segment_type": seg_type,
                    "segment": seg,
                    "from_stage": from_stage,
                    "to_stage": to_stage,
                    "conversions": int(now_done.sum()),
                    "median_days": med,
                    "p75_days": p75,
                    "prior_conversions": int(before_done.sum()),
                    "prior_median_days": pmed,
                    "prior_p75_days": pp75,
                    "median_days_change": med - pmed
                    if med is not None and pmed is not None
                    else None,
                    "p75_days_change": p75 - pp75 if p75 is not None and pp75 is not None else None,
                }
            )
    return as_typed(pd.DataFrame(rows))


# --------------------------------------------------------------------------------------------
# bottlenecks
# --------------------------------------------------------------------------------------------


def two_proportion_z_less(x1: int, n1: int, x0: int, n0: int) -> float | None:
    """One-sided p-value of H1: p1 < p0 (pooled two-proportion z-test). None if undefined."""
    if n1 == 0 or n0 == 0:
        return None
    pooled = (x1 + x0) / (n1 + n0)
    se = np.sqrt(pooled * (1 - pooled) * (1 / n1 + 1 / n0))
    if se == 0:
        return None
    z = (x1 / n1 - x0 / n0) / se
    return float(stats.norm.cdf(z))


def benjamini_hochberg(p: np.ndarray) -> np.ndarray:
    """Benjamini-Hochberg adjusted p-values (NaN stays NaN)."""
    p = np.asarray(p, dtype=float)
    out = np.full_like(p, np.nan)
    ok = ~np.isnan(p)
    m = int(ok.sum())
    if m == 0:
        return out
    vals = p[ok]
    order = np.argsort(vals)
    ranked = vals[order] * m / np.arange(1, m + 1)
    adj = np.minimum.accumulate(ranked[::-1])[::-1].clip(max=1.0)
    res = np.empty(m)
    res[order] = adj
    out[ok] = res
    return out


def funnel_bottlenecks(
    visitors: pd.DataFrame,
    lead_entries: pd.DataFrame,
    month_start: date,
    settings: FunnelSettings,
    target_rates: Mapping[str, float] | None = None,
    as_of: date | datetime | None = None,
) -> pd.DataFrame:
    """Transitions (overall and per segment) whose latest mature cohort rate fell short of the
    trailing baseline (pooled previous ``baseline_months`` cohorts; one-sided two-proportion
    z-test) or of a target rate (one-sided exact binomial test), Benjamini-Hochberg adjusted
    across the month's tests. ``shortfall_units`` = entered x (reference rate - rate) for the
    reference it is significantly short of; ``downstream_customers_lost`` multiplies that by
    the overall mature rates of every later transition. Flagged rows are ranked by it.
    ``share_of_shortfall`` says which segments of a segment type carry the drop."""
    month_end = add_months(month_start, 1)
    as_of = _ts(min(pd.Timestamp(as_of), pd.Timestamp(month_end)) if as_of else month_end)
    target_rates = dict(target_rates or {})
    overall_rate: dict[str, float] = {}
    rows: list[dict] = []
    for from_stage, to_stage in TRANSITIONS:
        name = transition_name(from_stage, to_stage)
        window = int(settings.windows[name])
        frame = transition_frame(visitors, lead_entries, from_stage, to_stage)
        cohort = mature_cohort_month(month_start, as_of, window)
        base_start = add_months(cohort, -settings.baseline_months)
        for seg_type, seg, u in segment_groups(frame):
            cur = _cohort_stats(u.take(u.from_between(*_month(cohort))), window, as_of)
            base = _cohort_stats(u.take(u.from_between(base_start, cohort)), window, as_of)
            if seg_type == "all" and cur["conversion_rate"] is not None:
                overall_rate[name] = cur["conversion_rate"]
            p_base = (
                two_proportion_z_less(
                    cur["converted"], cur["entered"], base["converted"], base["entered"]
                )
                if cur["entered"] >= settings.min_entered
                and base["entered"] >= settings.min_entered
                else None
            )
            target = target_rates.get(name)
            p_target = None
            if target is not None and cur["entered"] >= settings.min_entered:
                p_target = float(
                    stats.binomtest(
                        cur["converted"], cur["entered"], target, alternative="less"
                    ).pvalue
                )
            rows.append(
                {
                    "month": month_start,
                    "segment_type": seg_type,
                    "segment": seg,
                    "from_stage": from_stage,
                    "to_stage": to_stage,
                    "cohort_month": cohort,
                    "entered": cur["entered"],
                    "converted": cur["converted"],
                    "conversion_rate": cur["conversion_rate"],
                    "baseline_start": base_start,
                    "baseline_entered": base["entered"],
                    "baseline_converted": base["converted"],
                    "baseline_rate": base["conversion_rate"],
                    "p_value_vs_baseline": p_base,
                    "target_rate": target,
                    "p_value_vs_target": p_target,
                }
            )
    df = pd.DataFrame(rows)
    if df.empty:
        return df
    pvals = np.concatenate(
        [df["p_value_vs_baseline"].astype(float), df["p_value_vs_target"].astype(float)]
    )
    adj = benjamini_hochberg(pvals)
    n = len(df)
    df["p_adj_vs_baseline"] = adj[:n]
    df["p_adj_vs_target"] = adj[n:]
    short_base = df["p_adj_vs_baseline"] < settings.alpha
    short_target = df["p_adj_vs_target"] < settings.alpha
    gap_base = (df["baseline_rate"].astype(float) - df["conversion_rate"].astype(float)).where(
        short_base, 0.0
    )
    gap_target = (df["target_rate"].astype(float) - df["conversion_rate"].astype(float)).where(
        short_target, 0.0
    )
    gap = np.maximum(gap_base.fillna(0.0), gap_target.fillna(0.0)).clip(lower=0.0)
    df["flagged"] = short_base | short_target
    df["short_of"] = np.select(
        [short_base & short_target, short_base, short_target],
        ["baseline,target", "baseline", "target"],
        "",
    )
    df["shortfall_units"] = df["entered"] * gap
    names = [transition_name(a, b) for a, b in TRANSITIONS]
    downstream = {}
    for i, name in enumerate(names):
        factor = 1.0
        for later in names[i + 1 :]:
            factor *= overall_rate.get(later, np.nan)
        downstream[name] = factor
    key = df["from_stage"] + "->" + df["to_stage"]
    df["downstream_customers_lost"] = df["shortfall_units"] * key.map(downstream).astype(float)
    # which segments carry the drop: positive gap vs baseline, whether or not significant
    raw_gap = (df["baseline_rate"].astype(float) - df["conversion_rate"].astype(float)).clip(
        lower=0.0
    )
    raw_units = (df["entered"] * raw_gap).fillna(0.0)
    df["_raw_units"] = raw_units
    totals = df.groupby([key, df["segment_type"]])["_raw_units"].transform("sum")
    df["share_of_shortfall"] = (raw_units / totals.where(totals > 0)).where(
        df["segment_type"] != "all"
    )
    df = df.drop(columns="_raw_units")
    # rank flagged rows by the customers they cost, separately per segment type
    df["rank"] = (
        df["downstream_customers_lost"]
        .where(df["flagged"])
        .groupby(df["segment_type"])
        .rank(ascending=False, method="first")
    )
    return as_typed(df)


# --------------------------------------------------------------------------------------------
# loading (SQL files in sql/intermediate/funnel_*.sql)
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class FunnelInputs:
    """Everything the funnel needs, as of one moment."""

    visitors: pd.DataFrame
    lead_entries: pd.DataFrame
    leads: pd.DataFrame


def load_funnel_inputs(con: duckdb.DuckDBPyConnection, as_of: date | datetime) -> FunnelInputs:
    """Read the staging tables (rows before ``as_of`` only) and build the stage entries."""
    from gtm_assets.sql_files import load_sql

    cut = pd.Timestamp(as_of).to_pydatetime()
    params = {"as_of": cut}
    leads = con.execute(load_sql("intermediate/funnel_leads"), params).df()
    history = con.execute(load_sql("intermediate/funnel_stage_history"), params).df()
    opps = con.execute(load_sql("intermediate/funnel_opportunities"), params).df()
    first_channel = (
        con.execute(
            load_sql("intermediate/lead_first_channel"),
            {"as_of": cut, "since": datetime(1900, 1, 1)},
        )
        .df()
        .rename(columns={"first_channel": "channel"})
    )
    visitors = con.execute(
        load_sql("intermediate/funnel_visitors"),
        {**params, "visit_types": list(VISIT_TOUCH_TYPES)},
    ).df()
    entries = lead_stage_entries(leads, history, opps, first_channel, cut)
    return FunnelInputs(
        visitors=visitor_entries(visitors, leads, cut), lead_entries=entries, leads=leads
    )


def funnel_integrity_problems(stages: pd.DataFrame) -> list[str]:
    """Internal consistency of ``funnel_stages``: 0 <= converted <= entered, rates in [0, 1],
    and for every segment type the segments add up to the ``all`` row (they partition it)."""
    problems: list[str] = []
    if (stages["converted"] > stages["entered"]).any():
        problems.append("converted exceeds entered")
    rate = stages["conversion_rate"].dropna()
    if ((rate < 0) | (rate > 1)).any():
        problems.append("conversion_rate outside [0, 1]")
    keys = ["from_stage", "to_stage"]
    overall = stages[stages["segment_type"] == "all"].set_index(keys)
    for seg_type, grp in stages[stages["segment_type"] != "all"].groupby("segment_type"):
        sums = grp.groupby(keys)[["entered", "converted", "current_cohort_entered"]].sum()
        totals = overall[["entered", "converted", "current_cohort_entered"]].add_suffix("_all")
        joined = sums.join(totals)
        for col in ("entered", "converted", "current_cohort_entered"):
            bad = joined[joined[col] != joined[f"{col}_all"]]
            if len(bad):
                problems.append(f"{seg_type}: segment {col} do not add up to the total")
    return problems
