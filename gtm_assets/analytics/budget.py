"""The budget optimizer's core: channel series, curve fits, the reallocation, waste from
saturation, the quarterly plan, plots and the evaluation against a known truth.

Data choice (documented for reviewers). Response curves are fitted per paid channel on
*weekly* points (``grain="day"`` possible) over a trailing window (default 12 months).

Leads (metric ``conversions``): a week's outcome is the lead credit that the configured
attribution model gives the channel, placed in the week of the touches that earned it:

1. ``sql/marts/budget_touch_credit.sql`` spreads every lead (and won deal) of the window
   evenly over its touches in the lookback window (timing only);
2. for each conversion month and channel, that timing is rescaled to the model's total
   in ``marts.campaign_attribution`` (so totals reconcile exactly with attribution);
3. recent weeks have not had their full lookback yet (a touch this week can still earn
   credit from next month's conversions): each week's outcome is divided by its
   *completeness*, the share of credit that arrives within the week's observed follow-up,
   estimated from weeks old enough to be complete (chain-ladder style); weeks below
   ``min_completeness`` are left out of the fit.

Placing outcomes at touch time rather than conversion time aligns spend with what it
bought.

Revenue (default ``revenue_method="lead_value"``): the lead curve times the channel's
eventual won revenue per lead. Won deals close weeks to months after the lead (and the
attribution lookback before a *close* mostly sees post-lead nurture touches), so fitting
won-revenue credit on spend directly is mostly noise. Revenue per lead comes from the
leads' own deals (``sql/marts/budget_lead_value.sql``: each lead's even split over its
touch channels). A lead's revenue is by default (``value_basis="pipeline"``) its won
revenue plus its open opportunities' amounts at the trailing window's amount-weighted win
rate, young leads scaled up by the share of opportunity value created by their age: open
pipeline is known weeks to months before it closes, so a young account or a channel whose
leads are recent is valued on its opportunities rather than on its few closes yet. With
``value_basis="won"`` only closed-won revenue counts, scaled by the share that closes by
the leads' age. Both shares are a chain ladder over all leads (``deal_completeness``). By
default a regression of each lead's revenue on its channel mix (``lead_values_regression``)
shrinks the channels towards the mean under a hierarchical prior; else the credit-weighted
mean (``lead_values``), shrunk by empirical Bayes.
``revenue_method="attributed_revenue"`` fits the won-revenue credit directly instead.

What limits accuracy: the curves measure *attributed* outcomes, so they inherit the
attribution model's bias. On generated data with known causal curves (see the README)
Shapley credit recovers the channels' true response well; linear credit over-credits
channels that touch already-engaged people and leads the optimizer astray.
"""

from __future__ import annotations

import base64
import io
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import date

import numpy as np
import pandas as pd

from gtm_assets.analytics.allocation import (
    Curve,
    Linear,
    MeanHill,
    PeriodHill,
    check_kkt,
    historical_roi_allocation,
    optimize_allocation,
)
from gtm_assets.analytics.pacing import chain_ladder
from gtm_assets.analytics.response_curves import (
    DECAY_GRID,
    CurveFit,
    adstock,
    fit_hill,
    sub_period_decay,
)

METRICS = ("revenue", "conversions")
OBJECTIVE_CURVES = ("point", "bootstrap_mean")
_TYPE_OF_METRIC = {"revenue": "won", "conversions": "lead"}


@dataclass
class BudgetOptions:
    """Knobs of the optimizer (the Dagster Config mirrors these, with descriptions)."""

    objective: str = "revenue"
    bound_pct: float = 0.30
    pinned_channels: Sequence[str] = ()
    test_reserve: float = 0.10
    trailing_months: int = 12
    adstock: bool = True
    extrapolation_limit: float = 0.25
    min_points: int = 8
    min_r2: float = 0.1
    min_completeness: float = 0.5
    n_boot: int = 100
    kkt_tolerance: float = 0.02
    interval_level: float = 0.9
    seed: int = 0
    grain: str = "week"
    n_bounds: tuple[float, float] = (1.0, 1.0)
    # what the optimizer maximises per channel: the mean of the fit's bootstrap curves (the
    # expected revenue under the fit's uncertainty; see optimizer_curve) or the point fit
    objective_curve: str = "bootstrap_mean"
    # a channel without a usable curve may be cut at its average return (an upper bound on
    # a saturating channel's marginal return), never raised; False holds it
    cut_without_curve: bool = True
    # a weekly curve may saturate on the daily rate inside the week (see fit_hill_series)
    within_period: bool = True

    @property
    def grain_days(self) -> int:
        return GRAIN_DAYS[self.grain]

    def validate(self) -> None:
        if self.objective not in METRICS:
            raise ValueError(f"objective must be one of {METRICS}, got {self.objective!r}")
        # 10-15% is enforced by the reallocation's blocking check, so a wrong setting is
        # reported as a failed gate with the numbers rather than as a crash
        if not 0 <= self.test_reserve < 1:
            raise ValueError(f"test_reserve must be in [0, 1), got {self.test_reserve}")
        if not 0 < self.bound_pct < 1:
            raise ValueError("bound_pct must be in (0, 1)")
        if self.objective_curve not in OBJECTIVE_CURVES:
            raise ValueError(
                f"objective_curve must be one of {OBJECTIVE_CURVES}, got {self.objective_curve!r}"
            )


# ---------------------------------------------------------------- weekly series


GRAIN_DAYS = {"day": 1, "week": 7}


def lag_completeness(
    credit: pd.DataFrame, month_end: date, lookback_days: int, grain_days: int = 7
) -> pd.DataFrame:
    """Share of a touch period's eventual credit observed ``a`` days after the touch.

    From ``credit`` rows (conversion_type, period_start, lag_week, conversion_credit,
    value_credit) of periods whose whole lookback is observed, the cumulative share of
    credit by lag (in whole weeks) per conversion type and measure. Returns columns
    conversion_type, measure (conversions|revenue), lag_week, cdf (share with lag <
    (lag_week + 1) weeks).
    """
    c = credit.copy()
    cutoff = pd.Timestamp(month_end) - pd.Timedelta(days=grain_days + lookback_days)
    mature = c[pd.to_datetime(c["period_start"]) <= cutoff]
    rows = []
    max_lag = int(np.ceil(lookback_days / 7)) + 1
    for ctype, part in mature.groupby("conversion_type"):
        for measure, col in (("conversions", "conversion_credit"), ("revenue", "value_credit")):
            by_lag = part.groupby("lag_week")[col].sum().reindex(range(max_lag + 1), fill_value=0)
            total = by_lag.sum()
            cdf = by_lag.cumsum() / total if total > 0 else pd.Series(np.nan, index=by_lag.index)
            for lag, v in cdf.items():
                rows.append((ctype, measure, int(lag), float(v)))
    return pd.DataFrame(rows, columns=["conversion_type", "measure", "lag_week", "cdf"])


def _completeness_at(cdf: pd.Series, followup_days: float) -> float:
    """Interpolate the lag CDF (by whole weeks) at a follow-up in days."""
    if cdf.empty or cdf.isna().all():
        return np.nan
    knots_x = np.concatenate([[0.0], (cdf.index.to_numpy(dtype=float) + 1) * 7])
    knots_y = np.concatenate([[0.0], cdf.to_numpy(dtype=float)])
    return float(np.interp(followup_days, knots_x, knots_y, right=1.0))


def period_points(
    spend_daily: pd.DataFrame,
    credit: pd.DataFrame,
    model_credit: pd.DataFrame,
    window_start: date,
    month_end: date,
    lookback_days: int,
    min_completeness: float = 0.5,
    grain: str = "week",
) -> pd.DataFrame:
    """Spend and attributed outcome per channel, metric and period (day or Monday-start
    week) inside ``[window_start, month_end)`` (see module docstring).

    Returns: channel, metric, grain, period_start, spend, outcome_observed, completeness,
    outcome (observed / completeness), used_in_fit, attribution_missing. Only channels with
    spend in the window and only whole periods from the first day of the spend export on
    (earlier weeks are unknown, not zero: counting them would inflate the fit's points and
    R²). A period whose touches can earn credit in a conversion month that has no
    attribution slice (``model_credit`` has no row for it: a month before the first
    partition, or not materialized yet) is unknown too: ``attribution_missing``, left out.
    """
    cols = [
        "channel",
        "metric",
        "grain",
        "period_start",
        "spend",
        "outcome_observed",
        "completeness",
        "outcome",
        "used_in_fit",
        "attribution_missing",
    ]
    if grain not in GRAIN_DAYS:
        raise ValueError(f"grain must be day or week, got {grain!r}")
    gdays = GRAIN_DAYS[grain]
    if spend_daily.empty:
        return pd.DataFrame(columns=cols)
    sd = spend_daily.copy()
    sd["date"] = pd.to_datetime(sd["date"])
    # periods before the spend export begins hold no information (not zero spend)
    first = max(pd.Timestamp(window_start), sd["date"].min())
    if grain == "week":
        sd["period_start"] = (
            sd["date"] - pd.to_timedelta(sd["date"].dt.day_of_week, unit="D")
        ).dt.date
        first = first + pd.Timedelta(days=(7 - first.weekday()) % 7)
    else:
        sd["period_start"] = sd["date"].dt.date
    last = pd.Timestamp(month_end) - pd.Timedelta(days=gdays)
    periods = (
        [d.date() for d in pd.date_range(first, last, freq=f"{gdays}D")] if first <= last else []
    )
    channels = sorted(sd.loc[sd["spend"] > 0, "channel"].unique())
    spend = sd.groupby(["channel", "period_start"])["spend"].sum()

    c = credit.copy()
    if not c.empty:
        c["period_start"] = pd.to_datetime(c["period_start"]).dt.date
        c["conversion_month"] = pd.to_datetime(c["conversion_month"]).dt.date
    m = model_credit.copy()
    if not m.empty:
        m["conversion_month"] = pd.to_datetime(m["conversion_month"]).dt.date
    cdfs = (
        lag_completeness(c, month_end, lookback_days, gdays)
        if not c.empty
        else pd.DataFrame(columns=["conversion_type", "measure", "lag_week", "cdf"])
    )
    attributed = set(m["conversion_month"]) if not m.empty else set()
    missing = {
        period: _credit_months(period, gdays, lookback_days, month_end) - attributed != set()
        for period in periods
    }
    rows = []
    for metric in METRICS:
        ctype = _TYPE_OF_METRIC[metric]
        timing_col = "value_credit" if metric == "revenue" else "conversion_credit"
        model_col = "model_revenue" if metric == "revenue" else "model_conversions"
        outcome = pd.Series(dtype=float)
        if not c.empty and not m.empty:
            part = c[c["conversion_type"] == ctype]
            timing = part.groupby(["conversion_month", "channel", "period_start"])[timing_col].sum()
            timing = timing.reset_index()
            totals = timing.groupby(["conversion_month", "channel"])[timing_col].transform("sum")
            timing["share"] = timing[timing_col] / totals.replace(0, np.nan)
            mm = m[m["conversion_type"] == ctype][["conversion_month", "channel", model_col]]
            joined = timing.merge(mm, on=["conversion_month", "channel"], how="inner")
            joined["credit"] = joined["share"].fillna(0) * joined[model_col].fillna(0)
            outcome = joined.groupby(["channel", "period_start"])["credit"].sum()
        sel = cdfs[(cdfs["conversion_type"] == ctype) & (cdfs["measure"] == metric)]
        cdf = sel.set_index("lag_week")["cdf"].sort_index()
        for period in periods:
            followup = (pd.Timestamp(month_end) - pd.Timestamp(period)).days - gdays / 2
            comp = _completeness_at(cdf, followup)
            ok = bool(np.isfinite(comp) and comp >= min_completeness) and not missing[period]
            for ch in channels:
                obs = float(outcome.get((ch, period), 0.0))
                s = float(spend.get((ch, period), 0.0))
                rows.append(
                    (
                        ch,
                        metric,
                        grain,
                        period,
                        s,
                        obs,
                        comp,
                        obs / comp if ok else np.nan,
                        ok,
                        missing[period],
                    )
                )
    return pd.DataFrame(rows, columns=cols)


def _credit_months(period: date, gdays: int, lookback_days: int, month_end: date) -> set[date]:
    """The conversion months in which touches of the period starting ``period`` can earn
    credit: from the period's first month to the month of its last day plus the lookback,
    capped at the month being computed."""
    last = min(
        pd.Timestamp(period) + pd.Timedelta(days=gdays - 1 + lookback_days),
        pd.Timestamp(month_end) - pd.Timedelta(days=1),
    )
    return {d.date() for d in pd.date_range(pd.Timestamp(period).replace(day=1), last, freq="MS")}


# ---------------------------------------------------------------- revenue per lead


def deal_completeness(lags: pd.DataFrame, horizon_days: int) -> Callable[[float], float]:
    """Share of a lead's eventual deal value (won revenue, or opportunity amount) dated
    within ``a`` days of the lead: the chain ladder at day grain over every lead, young or
    old, so that a young account's deals count too.

    ``lags``: lag_days (lead to deal), lead_age_days (lead to the month's end), value;
    :func:`~gtm_assets.analytics.pacing.chain_ladder` in days. With every lead older than
    the horizon this is the plain cumulative share. Returns F(a) (1 from the horizon on);
    without deals, F = 1 everywhere.
    """
    if lags.empty:
        return lambda a: 1.0
    ladder = chain_ladder(
        lags["lag_days"].to_numpy(dtype=float),
        lags["lead_age_days"].to_numpy(dtype=float),
        lags["value"].to_numpy(dtype=float),
        horizon_days,
    )

    def f(a: float) -> float:
        return float(ladder[int(min(max(a, 0), horizon_days))])

    return f


def win_rate(opportunity_lags: pd.DataFrame) -> float:
    """Amount-weighted share of the closed opportunities that were won (``closed`` and
    ``won`` flags as of the month's end); NaN without a closed opportunity."""
    if opportunity_lags.empty:
        return float("nan")
    closed = opportunity_lags[opportunity_lags["closed"].astype(bool)]
    total = float(closed["value"].sum())
    if total <= 0:
        return float("nan")
    return float(closed.loc[closed["won"].astype(bool), "value"].sum()) / total


LEAD_VALUE_COLUMNS = [
    "channel",
    "credited_leads",
    "value_per_lead",
    "value_raw",
    "value_se",
    "shrinkage",
    "leads_used",
    "won_value_observed",
]


def _mature_leads(
    lead_split: pd.DataFrame,
    lags: pd.DataFrame,
    horizon_days: int,
    min_completeness: float,
    pipeline_win_rate: float | None = None,
) -> pd.DataFrame:
    """``lead_split`` with each lead's ``revenue`` so far and its completeness F(age)
    (:func:`deal_completeness` on ``lags``), keeping the leads with F(age) >=
    ``min_completeness``.

    ``revenue`` is the won revenue, plus the lead's open pipeline (``open_pipeline``) at
    ``pipeline_win_rate`` when one is given: then ``lags`` should be the lead-to-opportunity
    lags, since what is still to come for a lead is opportunities, not closes."""
    f = deal_completeness(lags, horizon_days)
    d = lead_split.copy()
    ages = d["age_days"].to_numpy(dtype=float)
    comp = {a: f(a) for a in np.unique(ages)}
    d["completeness"] = [comp[a] for a in ages]
    d["revenue"] = d["won_value"].astype(float)
    if pipeline_win_rate is not None:
        d["revenue"] += pipeline_win_rate * d["open_pipeline"].astype(float)
    return d[d["completeness"] >= min_completeness].copy()


def lead_values(
    lead_split: pd.DataFrame,
    lags: pd.DataFrame,
    horizon_days: int = 270,
    min_completeness: float = 0.3,
    shrink: bool = True,
    channels: Sequence[str] | None = None,
    pipeline_win_rate: float | None = None,
) -> pd.DataFrame:
    """Each channel's expected eventual won revenue per (credited) lead.

    ``lead_split``: lead_id, channel, credit (the lead's even split over its touches'
    channels), age_days, won_value (revenue sourced so far) and, with
    ``pipeline_win_rate``, open_pipeline (see :func:`_mature_leads`). Young leads have not
    closed yet: each lead's revenue so far is divided by F(age) (:func:`deal_completeness`),
    and leads with F(age) below ``min_completeness`` are left out. ``value_raw`` =
    sum(credit * revenue / F) / sum(credit) over the kept leads, with its sampling variance
    ``value_se**2 = sum(credit^2 (x - value_raw)^2) / sum(credit)^2``.

    Won deals are rare and their amounts skewed, so a channel's raw value is noisy. With
    ``shrink`` the values are shrunk towards the credit-weighted mean of ``channels``
    (default: all) by James-Stein / empirical Bayes: ``tau^2`` = between-channel variance
    beyond sampling noise, ``value_per_lead = mean + tau^2 / (tau^2 + se^2) * (raw - mean)``.
    """
    cols = LEAD_VALUE_COLUMNS
    if lead_split.empty:
        return pd.DataFrame(columns=cols)
    d = _mature_leads(lead_split, lags, horizon_days, min_completeness, pipeline_win_rate)
    d["x"] = d["revenue"] / d["completeness"]
    d["w_value"] = d["credit"] * d["x"]
    d["w_obs"] = d["credit"] * d["won_value"]
    g = d.groupby("channel").agg(
        credited_leads=("credit", "sum"),
        value=("w_value", "sum"),
        leads_used=("lead_id", "nunique"),
        won_value_observed=("w_obs", "sum"),
    )
    g["value_raw"] = g["value"] / g["credited_leads"].replace(0, np.nan)
    d["dev2"] = (d["credit"] * (d["x"] - d["channel"].map(g["value_raw"]))) ** 2
    g["value_se"] = np.sqrt(d.groupby("channel")["dev2"].sum()) / g["credited_leads"]
    g["value_per_lead"] = g["value_raw"]
    g["shrinkage"] = 0.0
    pool = g if channels is None else g[g.index.isin(list(channels))]
    pool = pool[np.isfinite(pool["value_raw"]) & (pool["credited_leads"] > 0)]
    if shrink and len(pool) >= 3:
        w = pool["credited_leads"]
        mean = float((w * pool["value_raw"]).sum() / w.sum())
        spread = float(np.mean((pool["value_raw"] - mean) ** 2))
        tau2 = max(spread - float(np.mean(pool["value_se"] ** 2)), 0.0)
        se2 = g["value_se"] ** 2
        keep = tau2 / (tau2 + se2) if tau2 > 0 else se2 * 0.0
        g["value_per_lead"] = mean + keep * (g["value_raw"] - mean)
        g["shrinkage"] = 1.0 - keep
    return g.reset_index()[cols]


TAU_GRID_POINTS = 400


def prior_spread_posterior(
    est: np.ndarray, se2: np.ndarray, mean: float, points: int = TAU_GRID_POINTS
) -> tuple[np.ndarray, np.ndarray]:
    """Posterior of the between-channel spread ``tau`` of true values around ``mean``:
    ``est_c ~ N(mean, tau^2 + se2_c)`` with a flat prior on ``tau`` (Gelman 2006, the
    hierarchical normal model of BDA ch. 5 with the mean fixed). Returns a grid of
    ``tau^2`` values and their normalised weights (trapezoid rule).

    Averaging over ``tau`` rather than plugging in a point estimate matters with a handful
    of channels: the point estimate is often exactly 0 (every channel gets the mean, as
    if they were known to be equal) when one channel stands out by less than its noise.
    """
    dev2 = (np.asarray(est, dtype=float) - mean) ** 2
    se2 = np.maximum(np.asarray(se2, dtype=float), 0.0)
    scale = np.sqrt(float(np.max(dev2) + np.max(se2)))
    if not np.isfinite(scale) or scale <= 0:
        return np.zeros(1), np.ones(1)
    tau = np.linspace(0.0, 20.0 * scale, points)
    var = tau[:, None] ** 2 + se2[None, :]
    with np.errstate(divide="ignore", invalid="ignore"):
        loglik = -0.5 * np.sum(np.log(var) + dev2[None, :] / var, axis=1)
    loglik = np.where(np.isfinite(loglik), loglik, -np.inf)
    if not np.isfinite(loglik).any():
        return np.zeros(1), np.ones(1)
    weight = np.exp(loglik - np.max(loglik))
    weight[[0, -1]] *= 0.5
    return tau**2, weight / weight.sum()


def lead_values_regression(
    lead_split: pd.DataFrame,
    lags: pd.DataFrame,
    horizon_days: int = 270,
    min_completeness: float = 0.3,
    shrink: bool = True,
    channels: Sequence[str] | None = None,
    pipeline_win_rate: float | None = None,
) -> pd.DataFrame:
    """Each channel's expected eventual won revenue per lead, by regression on the leads'
    channel mix (same input and output columns as :func:`lead_values`).

    A lead touched by several channels mixes their values, so the credit-weighted mean of
    :func:`lead_values` pulls every channel towards the overall mean (a lead sourced by an
    expensive-deal channel that also got nurture email lends email half its deal). The
    regression un-mixes it: each kept lead's maturity-corrected revenue ``x_i = revenue_i /
    F(age_i)`` is modelled as ``sum_c credit_ic * beta_c`` (its even split over its touch
    channels times the channels' values), solved by least squares; ``value_raw`` is
    ``beta``, ``value_se`` its standard error ``sqrt(diag(sigma^2 (X'X)^-1))``.

    With ``shrink`` the coefficients get a normal prior around the mean revenue per lead
    ``mu`` whose spread ``tau`` is itself uncertain: the value is the ridge regression
    towards ``mu`` (penalty ``sigma^2 / tau^2``) averaged over the posterior of ``tau``
    given the raw values of ``channels`` (default all; :func:`prior_spread_posterior`).
    Values are clipped at 0. ``shrinkage`` = 1 - (value - mu) / (value_raw - mu), the share
    pulled towards the mean.
    """
    cols = LEAD_VALUE_COLUMNS
    design = _value_design(
        lead_split, lags, horizon_days, min_completeness, channels, pipeline_win_rate
    )
    if design is None:
        return pd.DataFrame(columns=cols)
    g, x, y, pool = design
    raw, se2, value, shrinkage = _solve_values(x, y, pool, shrink)
    g["value_raw"] = raw
    g["value_se"] = np.sqrt(se2)
    g["value_per_lead"] = np.maximum(value, 0.0)
    g["shrinkage"] = shrinkage
    return g.reset_index()[cols]


def lead_value_draws(
    lead_split: pd.DataFrame,
    lags: pd.DataFrame,
    horizon_days: int = 270,
    min_completeness: float = 0.3,
    shrink: bool = True,
    channels: Sequence[str] | None = None,
    pipeline_win_rate: float | None = None,
    n_draws: int = 100,
    seed: int = 0,
) -> dict[str, np.ndarray]:
    """Bootstrap draws of :func:`lead_values_regression`'s ``value_per_lead`` per channel:
    the leads resampled with replacement and the whole estimate (least squares, the prior's
    spread, the shrinkage) redone on each resample. The pipeline's win rate and the lag
    completeness are held fixed.

    Won revenue is a few skewed deal amounts, so a channel's value can rest on one deal; its
    draws then swing with that deal in or out, which the homoscedastic ``value_se`` does not
    show. Multiplied into the lead curves' bootstrap draws (:func:`revenue_from_leads`), they
    carry that uncertainty into the revenue bands and the reallocation's gain interval."""
    design = _value_design(
        lead_split, lags, horizon_days, min_completeness, channels, pipeline_win_rate
    )
    if design is None or n_draws <= 0:
        return {}
    g, x, y, pool = design
    rng = np.random.default_rng(seed)
    m = len(y)
    draws = np.empty((n_draws, x.shape[1]))
    for b in range(n_draws):
        idx = rng.integers(0, m, m)
        draws[b] = np.maximum(_solve_values(x[idx], y[idx], pool, shrink)[2], 0.0)
    return {str(c): draws[:, j] for j, c in enumerate(g.index)}


def _value_design(
    lead_split: pd.DataFrame,
    lags: pd.DataFrame,
    horizon_days: int,
    min_completeness: float,
    channels: Sequence[str] | None,
    pipeline_win_rate: float | None = None,
) -> tuple[pd.DataFrame, np.ndarray, np.ndarray, list[int]] | None:
    """The regression's per-channel frame (credited_leads, leads_used, won_value_observed),
    design matrix (lead x channel credit), response (maturity-corrected revenue per lead)
    and the channel positions the prior is estimated from; None without mature leads."""
    if lead_split.empty:
        return None
    d = _mature_leads(lead_split, lags, horizon_days, min_completeness, pipeline_win_rate)
    if d.empty:
        return None
    d["w_obs"] = d["credit"] * d["won_value"]
    g = d.groupby("channel").agg(
        credited_leads=("credit", "sum"),
        leads_used=("lead_id", "nunique"),
        won_value_observed=("w_obs", "sum"),
    )
    leads = d.groupby("lead_id", sort=True).agg(
        revenue=("revenue", "first"), completeness=("completeness", "first")
    )
    y = (leads["revenue"] / leads["completeness"]).to_numpy(dtype=float)
    x = (
        d.pivot_table(
            index="lead_id", columns="channel", values="credit", aggfunc="sum", fill_value=0.0
        )
        .reindex(index=leads.index, columns=g.index, fill_value=0.0)
        .to_numpy(dtype=float)
    )
    wanted = None if channels is None else set(channels)
    pool = [i for i, c in enumerate(g.index) if wanted is None or c in wanted]
    return g, x, y, pool


def _solve_values(
    x: np.ndarray, y: np.ndarray, pool: list[int], shrink: bool
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """(raw least-squares values, their variances, shrunk values, shrinkage share)."""
    m, p = x.shape
    xtx = x.T @ x
    xty = x.T @ y
    raw = np.linalg.lstsq(x, y, rcond=None)[0]
    sigma2 = float(np.sum((y - x @ raw) ** 2)) / max(m - p, 1)
    se2 = sigma2 * np.diag(np.linalg.pinv(xtx))
    mu = float(y.mean())
    value = raw.copy()
    shrinkage = np.zeros(p)
    if shrink and len(pool) >= 3:
        idx = np.array(pool)
        tau2, weight = prior_spread_posterior(raw[idx], se2[idx], mu)
        value = np.full(p, mu) * float(weight[tau2 == 0].sum())
        free = tau2 > 0
        if free.any():
            penalty = sigma2 / tau2[free]
            lhs = xtx[None, :, :] + penalty[:, None, None] * np.eye(p)[None, :, :]
            rhs = xty[None, :] + penalty[:, None] * mu
            ridge = np.linalg.solve(lhs, rhs[:, :, None])[:, :, 0]
            value = value + weight[free] @ ridge
        gap = raw - mu
        with np.errstate(divide="ignore", invalid="ignore"):
            shrinkage = np.where(np.abs(gap) > 0, 1.0 - (value - mu) / gap, 0.0)
        shrinkage = np.clip(shrinkage, 0.0, 1.0)
    return raw, se2, value, shrinkage


def revenue_from_leads(
    fits: Mapping[tuple[str, str], CurveFit],
    values: pd.DataFrame,
    value_draws: Mapping[str, np.ndarray] | None = None,
) -> dict[tuple[str, str], CurveFit]:
    """Revenue curves as lead curves times the channel's revenue per lead: same K, n and
    carryover, ``top`` scaled by value_per_lead; each bootstrap draw's ``top`` by the
    channel's matching draw of ``value_draws`` (:func:`lead_value_draws`, paired by
    position, recycled if fewer), else by value_per_lead."""
    v = (
        dict(zip(values["channel"], values["value_per_lead"], strict=True))
        if not values.empty
        else {}
    )
    out = dict(fits)
    for (channel, metric), f in fits.items():
        if metric != "conversions":
            continue
        value = v.get(channel, np.nan)
        if f.usable and f.top == 0.0:
            value = 0.0  # no leads at all: zero revenue whatever a lead would be worth
        # a value of 0 is a measured zero return (usable, flat); NaN is unknown
        usable = bool(f.usable and np.isfinite(value) and value >= 0)
        boot = f.boot.copy()
        drawn = (value_draws or {}).get(channel)
        if boot.size and drawn is not None and len(drawn) and np.isfinite(value) and value > 0:
            boot[:, 0] = boot[:, 0] * np.resize(np.asarray(drawn, dtype=float), boot.shape[0])
        elif boot.size:
            boot[:, 0] = boot[:, 0] * (value if np.isfinite(value) else np.nan)
        out[(channel, "revenue")] = replace(
            f,
            top=f.top * value if np.isfinite(value) else np.nan,
            boot=boot,
            usable=usable,
            reason=f.reason
            if not f.usable
            else ("" if usable else "no revenue per lead for this channel"),
        )
    return out


def revenue_points_from_leads(points: pd.DataFrame, values: pd.DataFrame) -> pd.DataFrame:
    """Weekly revenue points consistent with ``revenue_from_leads``: the lead points times
    the channel's revenue per lead (replacing the direct won-revenue points)."""
    v = (
        dict(zip(values["channel"], values["value_per_lead"], strict=True))
        if not values.empty
        else {}
    )
    conv = points[points["metric"] == "conversions"].copy()
    factor = conv["channel"].map(v).astype(float)
    conv["metric"] = "revenue"
    conv["outcome_observed"] = conv["outcome_observed"] * factor
    conv["outcome"] = conv["outcome"] * factor
    return pd.concat([points[points["metric"] == "conversions"], conv], ignore_index=True)


# ---------------------------------------------------------------- curves


def fit_curves(
    points: pd.DataFrame, options: BudgetOptions, spend_daily: pd.DataFrame | None = None
) -> dict[tuple[str, str], CurveFit]:
    """Fit one Hill curve per (channel, metric) on the weeks marked ``used_in_fit``.

    The weekly series is kept in time order with all weeks (adstock needs the sequence);
    weeks that are not used still feed the carryover of later weeks with their spend.
    With ``spend_daily`` (date, channel, spend) and a grain longer than a day, each fit may
    also saturate on the daily rate inside the period (``daily_design``; see
    ``fit_hill_series``).
    """
    fits: dict[tuple[str, str], CurveFit] = {}
    for (channel, metric), part in points.groupby(["channel", "metric"], sort=True):
        part = part.sort_values("period_start")
        y = np.where(
            part["used_in_fit"].to_numpy(dtype=bool), part["outcome"].to_numpy(float), np.nan
        )
        daily = (
            daily_design(spend_daily, channel, part["period_start"], options.grain_days)
            if spend_daily is not None and options.grain_days > 1 and options.within_period
            else None
        )
        fits[(channel, metric)] = fit_hill_series(part["spend"].to_numpy(float), y, options, daily)
    return fits


def daily_design(
    spend_daily: pd.DataFrame, channel: str, period_starts: pd.Series, period_days: int
) -> np.ndarray:
    """Spend of ``channel`` per period (rows, in the order of ``period_starts``) and day of
    the period (columns), at the period's rate: a day's spend times ``period_days``, so a
    row's mean is the period's spend. Days without a spend row are zero."""
    starts = pd.to_datetime(pd.Series(period_starts)).to_numpy()
    days = starts[:, None] + np.arange(period_days) * np.timedelta64(1, "D")
    values = channel_daily_spend(spend_daily, channel, pd.DatetimeIndex(days.ravel()))
    return values.reshape(len(starts), period_days) * period_days


def channel_daily_spend(
    spend_daily: pd.DataFrame, channel: str, days: pd.DatetimeIndex
) -> np.ndarray:
    """``channel``'s spend on each of ``days`` (rows of the same day added; zero where it
    had none)."""
    sd = spend_daily[spend_daily["channel"] == channel]
    by_day = sd.groupby(pd.to_datetime(sd["date"]))["spend"].sum()
    return by_day.reindex(days).fillna(0.0).to_numpy(float)


def fit_hill_series(
    spend: np.ndarray,
    outcome: np.ndarray,
    options: BudgetOptions,
    daily: np.ndarray | None = None,
) -> CurveFit:
    """Adstock fit on a series whose outcome may be NaN in places: the carryover runs over
    all periods, the fit uses periods with an outcome.

    The decay is chosen by AIC, ``m log(SSE / m) + 2 [decay > 0]``: a carryover must
    improve the fit by more than chance to be adopted (outcomes are already placed at
    their touch date, so most of the delay between spend and conversion is gone).

    With ``daily`` (``daily_design``), the curve may also saturate on the daily rate: each
    period's outcome is then the mean of the curve over its days, so a week of pulses earns
    less than the same spend spread evenly. Both saturation grains have the same
    parameters; the one with the lower AIC wins (the period grain on a tie, e.g. when spend
    is even inside every period, where the two coincide). The fitted curve is the response
    to spend spread evenly over the period either way."""
    keep = np.isfinite(outcome)
    m = int(keep.sum())
    best: CurveFit | None = None
    best_decay = 0.0
    best_design = spend
    best_aic = np.inf
    designs = [spend] if daily is None else [spend, daily]
    for design in designs:
        for decay in DECAY_GRID if options.adstock else (0.0,):
            x = adstock(design, decay)
            fit = fit_hill(
                x[keep],
                outcome[keep],
                fit_adstock=False,
                n_boot=0,
                min_points=options.min_points,
                min_r2=options.min_r2,
                n_bounds=options.n_bounds,
            )
            if not np.isfinite(fit.r2):
                fit.saturation_grain = options.grain
                return fit
            aic = m * np.log(max(1.0 - fit.r2, 1e-12)) + (2.0 if decay > 0 else 0.0)
            if aic < best_aic - 1e-9:
                best, best_decay, best_design, best_aic = fit, decay, design, aic
    assert best is not None
    x = adstock(best_design, best_decay)
    final = fit_hill(
        x[keep],
        outcome[keep],
        fit_adstock=False,
        n_boot=options.n_boot,
        seed=options.seed,
        min_points=options.min_points,
        min_r2=options.min_r2,
        n_bounds=options.n_bounds,
    )
    final.adstock_decay = best_decay
    final.saturation_grain = "day" if best_design is not spend else options.grain
    # the observed range is of actual spend, not of adstocked spend
    pos = spend[keep][spend[keep] > 0]
    if pos.size:
        final.spend_min, final.spend_max = float(pos.min()), float(pos.max())
    return final


def flighting_shortfall(fit: CurveFit, daily_spend: np.ndarray, period_days: int) -> float:
    """Share of expected outcome that ``daily_spend`` (one value per day, in time order)
    loses against the same total spread evenly, on a curve that saturates on the daily rate
    (``saturation_grain == "day"``): ``1 - mean_d f(x_d) / f(mean_d x_d)`` with ``x`` the
    days' spend at the period's rate, carried over day by day at the fit's decay.

    The carryover is the pattern's own in its steady state (the days repeated, so the
    carryover into the first day is what the last days leave), as the even spread's is: a
    burst on the 1st is not read as a standing rate, a burst on the last day keeps the
    carryover it brings the days after it, and where in the month a burst falls does not
    matter. NaN for a curve fitted on period totals (whose fit says nothing about the days
    inside a period), an unusable one, or no spend."""
    s = np.asarray(daily_spend, dtype=float)
    if fit.saturation_grain != "day" or not fit.usable or s.size == 0 or s.sum() <= 0:
        return np.nan
    decay = float(fit.adstock_decay) if np.isfinite(fit.adstock_decay) else 0.0
    r = sub_period_decay(decay, period_days)
    from_nothing = adstock(np.concatenate([[0.0], s]), r)[1:]
    carried_in = from_nothing[-1] / (1.0 - r**s.size)
    x = (from_nothing + carried_in * r ** np.arange(1, s.size + 1)) * period_days
    even = float(fit.response(s.mean() * period_days)[()])
    if even <= 0:
        return np.nan
    return 1.0 - float(np.mean(fit.response(x))) / even


def curves_table(
    fits: Mapping[tuple[str, str], CurveFit],
    current_per_period: Mapping[str, float],
    grain: str = "week",
) -> pd.DataFrame:
    """One row per channel x metric: parameters, bootstrap SEs, goodness of fit, observed
    spend range, average and marginal return at current spend (with interval), and flags."""
    rows = []
    for (channel, metric), f in sorted(fits.items()):
        cur = float(current_per_period.get(channel, 0.0))
        resp = float(f.response(cur)[()]) if f.usable else np.nan
        marg = float(f.marginal(cur)[()]) if f.usable and cur > 0 else np.nan
        m_lo, m_hi = f.marginal_interval(cur) if f.usable and cur > 0 else (np.nan, np.nan)
        boot_se = f.boot.std(axis=0, ddof=1) if f.boot.shape[0] > 1 else np.full(3, np.nan)
        rows.append(
            {
                "channel": channel,
                "metric": metric,
                "grain": grain,
                "top": f.top,
                "k": f.k,
                "n": f.n,
                "adstock_decay": f.adstock_decay,
                "saturation_grain": f.saturation_grain or grain,
                "top_se": float(boot_se[0]),
                "k_se": float(boot_se[1]),
                "n_se": float(boot_se[2]),
                "r2": f.r2,
                "rmse": f.rmse,
                "n_points": f.n_points,
                "n_boot": int(f.boot.shape[0]),
                "spend_min_observed": f.spend_min,
                "spend_max_observed": f.spend_max,
                "current_period_spend": cur,
                "expected_outcome_current": resp,
                "average_return_current": resp / cur if cur > 0 and f.usable else np.nan,
                "marginal_return_current": marg,
                "marginal_return_ci_low": float(np.asarray(m_lo).ravel()[0]),
                "marginal_return_ci_high": float(np.asarray(m_hi).ravel()[0]),
                "current_outside_observed": bool(
                    np.isfinite(f.spend_max) and (cur > f.spend_max or cur < f.spend_min)
                ),
                "far_from_saturation": bool(f.usable and f.k > 2 * f.spend_max),
                "usable": f.usable,
                "reason": f.reason or None,
            }
        )
    return pd.DataFrame(rows)


# ---------------------------------------------------------------- reallocation


def optimizer_curve(fit: CurveFit, periods: float, options: BudgetOptions) -> Curve:
    """The curve the optimizer maximises for a usable fit over a period of ``periods``
    grain units: the point fit (``objective_curve="point"``), or the mean over the fit's
    bootstrap draws (``"bootstrap_mean"``, the default; for revenue each draw already
    carries its paired revenue-per-lead draw), i.e. the expected revenue under the fit's
    uncertainty rather than the revenue of its single best curve. Falls back to the point
    fit without at least two finite draws."""
    point = PeriodHill(fit.top, fit.k, fit.n, periods)
    if options.objective_curve == "point":
        return point
    b = np.asarray(fit.boot, dtype=float).reshape(-1, 3)
    b = b[np.all(np.isfinite(b), axis=1) & (b[:, 1] > 0) & (b[:, 0] >= 0)]
    if b.shape[0] < 2:
        return point
    return MeanHill(b, periods)


@dataclass
class Reallocation:
    table: pd.DataFrame
    budget: float
    allocatable: float
    reserve: float
    budget_source: str
    kkt_passed: bool
    kkt_detail: str
    kkt_gap: float
    multiplier: float
    total_current: float
    total_reference: float
    total_recommended: float
    total_recommended_ci: tuple[float, float]
    total_current_ci: tuple[float, float]
    # the gain of the recommendation over the reference mix, draw by draw (paired)
    gain_ci: tuple[float, float] = (np.nan, np.nan)
    notes: list[str] = field(default_factory=list)


CUT_ONLY = "may be cut at its average return, not raised"
#: The start of the reason of a channel held (or cut-only) for want of a usable curve.
NO_CURVE = "no usable response curve"


def reallocate(
    fits: Mapping[tuple[str, str], CurveFit],
    current_spend: Mapping[str, float],
    planned_next: Mapping[str, float],
    average_return: Mapping[str, float],
    days_next_month: int,
    options: BudgetOptions,
) -> Reallocation:
    """Recommend next month's spend per channel.

    Budget: the next month's budget plan total when supplied, else this month's total
    spend; ``test_reserve`` of it is held back for experiments and the rest allocated.
    Reference spend: a user-pinned channel keeps its current spend; every other channel
    keeps its current share of what remains (so the bounds are feasible whatever the
    budget). Bounds: reference * (1 -/+ ``bound_pct``); the upper bound is also capped at
    ``(1 + extrapolation_limit)`` times the largest per-period spend the curve was fitted on
    (never below the reference): the optimizer refuses to extrapolate far. A channel
    without a usable curve is priced at its historical average return; with
    ``cut_without_curve`` (default) it may move between its lower bound and its reference
    (``pinned_reason`` says so): for a saturating response the marginal return is at most
    the average, so a channel whose average is below the others' marginal return should
    lose budget, while nothing says it would use more well. Otherwise it is held at its
    reference (``pinned`` with the reason). A channel only in the plan (no spend history)
    is held at its planned amount; when the held amounts exceed what can be allocated, every
    channel's amount is scaled to fit (``notes`` says so).

    The curves maximised, and the expected revenue and marginal ROAS reported, are
    :func:`optimizer_curve`'s: by default each channel's mean bootstrap curve.
    """
    options.validate()
    metric = options.objective
    periods = days_next_month / options.grain_days
    notes: list[str] = []
    channels = sorted(set(current_spend) | set(planned_next))
    current = np.array([float(current_spend.get(c, 0.0)) for c in channels])
    if planned_next:
        budget = float(sum(planned_next.values()))
        source = "budget_plan"
    else:
        budget = float(current.sum())
        source = "current_spend"
        notes.append("no budget plan for next month: the budget is this month's total spend")
    reserve = options.test_reserve * budget
    alloc = budget - reserve

    reason = {}
    cut_only: dict[str, str] = {}
    pinned_amount = {}
    for i, c in enumerate(channels):
        if c in options.pinned_channels:
            reason[c] = "pinned by configuration"
            pinned_amount[c] = current[i]
        elif c in planned_next and planned_next[c] <= 0:
            reason[c] = "no budget in next month's plan: held at 0"
            pinned_amount[c] = 0.0
        elif current[i] <= 0 and c in planned_next:
            reason[c] = "no spend this month: held at its planned amount"
            pinned_amount[c] = float(planned_next[c])
    rest = alloc - sum(pinned_amount.values())
    free_current = sum(current[i] for i, c in enumerate(channels) if c not in pinned_amount)
    if rest < 0:
        # more held than there is to allocate (a month without spend, a plan for channels
        # that did not run): the current mix, held amounts included, scaled to fit
        need = sum(pinned_amount.values())
        scale = alloc / (need + free_current)
        pinned_amount = {c: v * scale for c, v in pinned_amount.items()}
        for c, amount in pinned_amount.items():
            if amount > 0:
                reason[c] += f" (scaled to {scale:.0%} to fit the budget after the reserve)"
        rest = alloc - sum(pinned_amount.values())
        notes.append(
            f"the channels held at a fixed amount need {need:,.2f} but {alloc:,.2f} is "
            "allocatable after the test reserve: every channel's amount (held or current) "
            f"is scaled to {scale:.0%} to fit"
        )
    factor = rest / free_current if free_current > 0 else 0.0
    reference = np.array(
        [pinned_amount.get(c, current[i] * factor) for i, c in enumerate(channels)]
    )
    curves: list[Curve] = []
    lo = np.empty(len(channels))
    hi = np.empty(len(channels))
    capped = np.zeros(len(channels), dtype=bool)
    source_of_curve = []
    for i, c in enumerate(channels):
        f = fits.get((c, metric))
        usable = f is not None and f.usable
        if usable:
            curves.append(optimizer_curve(f, periods, options))
            source_of_curve.append("hill_fit")
        else:
            rate = float(average_return.get(c, np.nan))
            curves.append(Linear(rate if np.isfinite(rate) else 0.0))
            source_of_curve.append("average_return" if np.isfinite(rate) else "none")
            if c not in reason:
                why = NO_CURVE + (f": {f.reason}" if f is not None and f.reason else "")
                if options.cut_without_curve and np.isfinite(rate) and rate >= 0:
                    cut_only[c] = f"{why}; {CUT_ONLY}"
                else:
                    reason[c] = why
        if c in reason:
            lo[i] = hi[i] = reference[i]
            continue
        if c in cut_only:
            lo[i], hi[i] = reference[i] * (1 - options.bound_pct), reference[i]
            continue
        lo[i] = reference[i] * (1 - options.bound_pct)
        hi[i] = reference[i] * (1 + options.bound_pct)
        cap = f.spend_max * (1 + options.extrapolation_limit) * periods
        if cap < hi[i]:
            hi[i] = max(cap, reference[i])
            capped[i] = True
    result = optimize_allocation(curves, lo, hi, alloc, reference=reference)
    rec = result.spend
    kkt = check_kkt(curves, rec, lo, hi, rel_tol=options.kkt_tolerance)

    def value(i: int, s: float) -> float:
        return float(np.asarray(curves[i].value(s)))

    def marginal(i: int, s: float) -> float:
        return (
            float(np.asarray(curves[i].marginal(s))) if source_of_curve[i] == "hill_fit" else np.nan
        )

    # bootstrap intervals of channel and total outcomes (independent fits per channel)
    level = options.interval_level

    def drawn(boot: np.ndarray, spend: float) -> np.ndarray:
        """The outcome of ``spend`` over the next month under each bootstrap curve."""
        return np.array(
            [periods * float(PeriodHill(t, k, n, 1).value(spend / periods)) for t, k, n in boot]
        )

    draws_cur, draws_rec, draws_gain = [], [], []
    for i, c in enumerate(channels):
        f = fits.get((c, metric))
        if source_of_curve[i] == "hill_fit" and f.boot.shape[0] > 1:
            dc, dr = drawn(f.boot, current[i]), drawn(f.boot, rec[i])
            dg = dr - drawn(f.boot, reference[i])
        else:
            dc = np.array([value(i, current[i])])
            dr = np.array([value(i, rec[i])])
            dg = dr - np.array([value(i, reference[i])])
        draws_cur.append(dc)
        draws_rec.append(dr)
        draws_gain.append(dg)
    n_draw = max(len(d) for d in draws_cur) if draws_cur else 0

    def align(d: np.ndarray) -> np.ndarray:
        return np.resize(d, n_draw) if d.size != n_draw else d

    alpha = (1 - level) / 2
    tot_cur = np.sum([align(d) for d in draws_cur], axis=0) if n_draw else np.zeros(1)
    tot_rec = np.sum([align(d) for d in draws_rec], axis=0) if n_draw else np.zeros(1)
    tot_gain = np.sum([align(d) for d in draws_gain], axis=0) if n_draw else np.zeros(1)

    rows = []
    for i, c in enumerate(channels):
        status = kkt.status[i]
        rows.append(
            {
                "channel": c,
                "current_spend": current[i],
                "reference_spend": reference[i],
                "recommended_spend": rec[i],
                "lower_bound": lo[i],
                "upper_bound": hi[i],
                "change": rec[i] - current[i],
                "change_pct": 100 * (rec[i] - current[i]) / current[i]
                if current[i] > 0
                else np.nan,
                "marginal_roas_current": marginal(i, current[i]),
                "marginal_roas_recommended": marginal(i, rec[i]),
                "average_roas_current": value(i, current[i]) / current[i]
                if current[i] > 0
                else np.nan,
                "expected_revenue_current": value(i, current[i]),
                "expected_revenue_recommended": value(i, rec[i]),
                # the current mix at the allocatable budget: recommended - reference is the
                # gain from reallocating alone (current - reference is what the reserve costs)
                "expected_revenue_reference": value(i, reference[i]),
                "expected_revenue_current_ci_low": float(np.quantile(draws_cur[i], alpha)),
                "expected_revenue_current_ci_high": float(np.quantile(draws_cur[i], 1 - alpha)),
                "expected_revenue_recommended_ci_low": float(np.quantile(draws_rec[i], alpha)),
                "expected_revenue_recommended_ci_high": float(np.quantile(draws_rec[i], 1 - alpha)),
                "pinned": status == "pinned",
                "pinned_reason": reason.get(c, cut_only.get(c)),
                "at_bound": status if status in ("at_lower", "at_upper") else None,
                "extrapolation_capped": bool(capped[i]),
                "curve_source": source_of_curve[i],
                "objective": metric,
            }
        )
    table = pd.DataFrame(rows)
    table["note"] = [
        _beyond_observed_note(
            c,
            rec[i],
            planned_next.get(c),
            fits.get((c, metric)),
            periods,
            c in reason or c in cut_only,
            options,
        )
        for i, c in enumerate(channels)
    ]
    notes += [f"{c}: {n}" for c, n in zip(channels, table["note"], strict=True) if n]
    # the month's gain over the reference mix (recommended - reference, summed over
    # channels draw by draw): an interval that includes 0 means the move may gain nothing
    gain_ci = (float(np.quantile(tot_gain, alpha)), float(np.quantile(tot_gain, 1 - alpha)))
    table["total_gain_ci_low"], table["total_gain_ci_high"] = gain_ci
    table["next_budget"], table["budget_source"] = budget, source
    table["test_reserve_amount"] = reserve
    return Reallocation(
        table=table,
        budget=budget,
        allocatable=alloc,
        reserve=reserve,
        budget_source=source,
        kkt_passed=kkt.passed,
        kkt_detail=kkt.detail,
        kkt_gap=kkt.max_rel_gap,
        multiplier=kkt.multiplier,
        total_current=float(table["expected_revenue_current"].sum()),
        total_reference=float(table["expected_revenue_reference"].sum()),
        total_recommended=float(table["expected_revenue_recommended"].sum()),
        total_current_ci=(
            float(np.quantile(tot_cur, alpha)),
            float(np.quantile(tot_cur, 1 - alpha)),
        ),
        total_recommended_ci=(
            float(np.quantile(tot_rec, alpha)),
            float(np.quantile(tot_rec, 1 - alpha)),
        ),
        gain_ci=gain_ci,
        notes=notes,
    )


def _beyond_observed_note(
    channel: str,
    recommended: float,
    planned: float | None,
    fit: CurveFit | None,
    periods: float,
    held: bool,
    options: BudgetOptions,
) -> str | None:
    """What the table must say when a held channel's amount, or the plan's, lies beyond the
    extrapolation cap (``1 + extrapolation_limit`` times the most the channel has spent in a
    period, scaled to the month): no curve measured a return there."""
    if fit is None or not np.isfinite(fit.spend_max) or fit.spend_max <= 0:
        return None
    most = fit.spend_max * periods
    cap = (1 + options.extrapolation_limit) * most
    said = []
    if held and recommended > cap:
        said.append(
            f"held at {recommended:,.0f}, {recommended / most:.1f}x the most it has spent "
            f"({most:,.0f} at its busiest {options.grain}'s rate): its expected revenue there "
            "is its average return extended in a straight line, not a measured one"
        )
    if planned is not None and planned > cap:
        said.append(
            f"next month's plan puts it at {planned:,.0f}, {planned / most:.1f}x the most it has "
            f"spent ({most:,.0f}): no curve can say what that returns; only the plan's total "
            "is used"
        )
    return "; ".join(said) or None


def saturation_waste(
    fits: Mapping[tuple[str, str], CurveFit],
    current_spend: Mapping[str, float],
    periods: float,
    min_probability: float = 0.95,
) -> pd.DataFrame:
    """Channels past saturation: marginal ROAS < 1 while average ROAS >= 1 (revenue curve),
    on the point fit and on at least ``min_probability`` of the fit's bootstrap draws, so a
    point estimate below 1 by noise is not reported as waste (as the CPA rule asks for a
    significant shortfall). A fit without two or more draws is judged on its point fit, and
    the detail says so.

    ``wasted_spend`` is the spend above the point ``S1`` where the marginal ROAS falls to 1,
    net of the revenue it still brings: ``(S - S1) - (F(S) - F(S1))``.
    """
    rows = []
    for channel, spend in sorted(current_spend.items()):
        f = fits.get((channel, "revenue"))
        if f is None or not f.usable or spend <= 0:
            continue
        curve = PeriodHill(f.top, f.k, f.n, periods)
        marg = float(curve.marginal(spend))
        avg = float(curve.value(spend)) / spend
        draws = f.marginal_draws(spend / periods)[:, 0]
        below = float(np.mean(draws < 1.0)) if draws.size >= 2 else np.nan
        if marg < 1.0 and avg >= 1.0 and not below < min_probability:
            lo, hi = 0.0, spend
            for _ in range(100):
                mid = (lo + hi) / 2
                # past the curve's peak marginal, marginal is decreasing in spend
                if float(curve.marginal(mid)) >= 1.0:
                    lo = mid
                else:
                    hi = mid
            s1 = lo
            wasted = (spend - s1) - (float(curve.value(spend)) - float(curve.value(s1)))
            rows.append(
                {
                    "kind": "past_saturation",
                    "scope": "channel",
                    "scope_id": channel,
                    "name": channel,
                    "channel": channel,
                    "spend": spend,
                    "metric": "marginal_roas",
                    "value": marg,
                    "threshold": 1.0,
                    "wasted_spend": wasted,
                    "detail": (
                        f"average ROAS {avg:.2f} looks fine but the last dollar returns {marg:.2f} "
                        + (
                            f"(below 1 on {below:.0%} of the bootstrap's curves)"
                            if np.isfinite(below)
                            else "(no bootstrap draws: the point fit alone)"
                        )
                        + f"; the {spend - s1:,.0f} spent above {s1:,.0f} a month returns less "
                        "than it costs"
                    ),
                }
            )
    return pd.DataFrame(rows)


# ---------------------------------------------------------------- quarterly


def quarterly_allocation(
    fits: Mapping[tuple[str, str], CurveFit],
    quarter_spend: Mapping[str, float],
    planned_quarter: Mapping[str, float] | None,
    average_return: Mapping[str, float],
    days_next_quarter: int,
    options: BudgetOptions,
) -> tuple[pd.DataFrame, dict]:
    """Q+1 plan: the same optimisation on quarter totals, beside the historical-ROI rule
    ("fund the best average ROAS first") within the same bounds and budget, both scored
    on the fitted curves."""
    opts = BudgetOptions(**{**options.__dict__})
    re = reallocate(
        fits, quarter_spend, planned_quarter or {}, average_return, days_next_quarter, opts
    )
    t = re.table
    periods = days_next_quarter / options.grain_days
    hist = historical_roi_allocation(
        [average_return.get(c, np.nan) for c in t["channel"]],
        t["lower_bound"].to_numpy(),
        t["upper_bound"].to_numpy(),
        re.allocatable,
    )
    expected_hist = []
    for c, s in zip(t["channel"], hist, strict=True):
        f = fits.get((c, options.objective))
        if f is not None and f.usable:
            expected_hist.append(float(optimizer_curve(f, periods, options).value(s)))
        else:
            expected_hist.append(float(average_return.get(c, 0.0)) * s)
    out = pd.DataFrame(
        {
            "channel": t["channel"],
            "current_quarter_spend": t["current_spend"],
            "average_roas_history": [average_return.get(c, np.nan) for c in t["channel"]],
            "lower_bound": t["lower_bound"],
            "upper_bound": t["upper_bound"],
            "historical_roi_spend": hist,
            "marginal_roi_spend": t["recommended_spend"],
            "expected_revenue_current": t["expected_revenue_current"],
            "expected_revenue_historical_roi": expected_hist,
            "expected_revenue_marginal_roi": t["expected_revenue_recommended"],
            "marginal_roas_current": t["marginal_roas_current"],
            "marginal_roas_marginal_roi": t["marginal_roas_recommended"],
            "pinned": t["pinned"],
            "pinned_reason": t["pinned_reason"],
            "objective": t["objective"],
        }
    )
    summary = {
        "budget": re.budget,
        "allocatable": re.allocatable,
        "budget_source": re.budget_source,
        "kkt_passed": re.kkt_passed,
        "expected_current": float(out["expected_revenue_current"].sum()),
        "expected_historical_roi": float(np.sum(expected_hist)),
        "expected_marginal_roi": float(out["expected_revenue_marginal_roi"].sum()),
    }
    return out, summary


# ---------------------------------------------------------------- evaluation vs truth


@dataclass(frozen=True)
class FunctionCurve:
    """A per-grain response function (e.g. the generator's true curve) over a period."""

    fn: Callable[[np.ndarray], np.ndarray]
    periods: float = 1.0

    def value(self, spend: np.ndarray | float) -> np.ndarray:
        s = np.asarray(spend, dtype=float)
        return self.periods * np.asarray(self.fn(s / self.periods), dtype=float)

    def marginal(self, spend: np.ndarray | float) -> np.ndarray:
        s = np.asarray(spend, dtype=float)
        h = np.maximum(1e-4 * np.maximum(s, 1.0), 1e-6)
        lo = np.maximum(s - h, 0.0)
        return (self.value(s + h) - self.value(lo)) / (s + h - lo)


def uplift_capture(
    true_curves: Sequence[Curve],
    baseline: Sequence[float],
    recommended: Sequence[float],
    lower: Sequence[float],
    upper: Sequence[float],
    budget: float,
) -> dict:
    """Share of the truly achievable uplift that a recommendation captures.

    ``capture = (T(rec) - T(base)) / (T(opt) - T(base))`` where ``T`` is the summed true
    outcome and ``opt`` the true optimum within the same bounds and budget. ``baseline``
    is the current mix at the same budget (the reference spend).
    """
    base = np.asarray(baseline, dtype=float)
    rec = np.asarray(recommended, dtype=float)
    opt = optimize_allocation(true_curves, lower, upper, budget, reference=base).spend

    def total(s: np.ndarray) -> float:
        return float(
            sum(float(np.asarray(c.value(x))) for c, x in zip(true_curves, s, strict=True))
        )

    t_base, t_rec, t_opt = total(base), total(rec), total(opt)
    achievable = t_opt - t_base
    return {
        "true_baseline": t_base,
        "true_recommended": t_rec,
        "true_optimum": t_opt,
        "achievable_uplift": achievable,
        "recommended_uplift": t_rec - t_base,
        "capture": (t_rec - t_base) / achievable
        if achievable > 1e-9 * max(abs(t_base), 1)
        else np.nan,
        "optimum_spend": opt,
    }


# ---------------------------------------------------------------- plots


def plot_response_curve(
    fit: CurveFit,
    channel: str,
    metric: str,
    points: pd.DataFrame | None,
    current_per_period: float,
    recommended_per_period: float | None,
    grain: str = "week",
) -> bytes:
    """PNG of a channel's fitted weekly curve with its bootstrap band, the weeks it was
    fitted on, the observed spend range, and current / recommended weekly spend marked."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 3.6), dpi=100)
    try:
        hi = (
            max(
                [
                    v
                    for v in (fit.spend_max, current_per_period, recommended_per_period or 0)
                    if np.isfinite(v)
                ]
                or [1.0]
            )
            * 1.6
        )
        grid = np.linspace(0, hi, 200)
        if points is not None and not points.empty:
            used = points[points["used_in_fit"]]
            ax.scatter(used["spend"], used["outcome"], s=12, alpha=0.6, label="weeks fitted")
        if np.isfinite(fit.top):
            ax.plot(grid, fit.response(grid), color="C1", label="fitted Hill curve")
            lo, up = fit.response_interval(grid)
            if np.isfinite(lo).all():
                ax.fill_between(grid, lo, up, color="C1", alpha=0.2, label="90% bootstrap band")
            ax.axvspan(
                fit.spend_min, fit.spend_max, color="grey", alpha=0.08, label="observed spend"
            )
        ax.axvline(current_per_period, color="k", linestyle="--", label="current")
        if recommended_per_period is not None:
            ax.axvline(recommended_per_period, color="C2", linestyle="-", label="recommended")
        ax.set_xlabel(f"spend per {grain}")
        ax.set_ylabel(f"attributed {metric} per {grain}")
        status = "" if fit.usable else f" (not used: {fit.reason})"
        ax.set_title(f"{channel}{status}", fontsize=9)
        ax.legend(fontsize=7, loc="lower right")
        fig.tight_layout()
        buf = io.BytesIO()
        fig.savefig(buf, format="png")
        return buf.getvalue()
    finally:
        plt.close(fig)


def png_markdown(png: bytes, alt: str) -> str:
    """Markdown image with a base64 data URI (for Dagster metadata and HTML reports)."""
    return f"![{alt}](data:image/png;base64,{base64.b64encode(png).decode('ascii')})"


# ---------------------------------------------------------------- tables <-> fits


def boot_table(fits: Mapping[tuple[str, str], CurveFit]) -> pd.DataFrame:
    """Bootstrap parameter draws as rows (channel, metric, draw, top, k, n)."""
    rows = [
        (channel, metric, j, float(t), float(k), float(n))
        for (channel, metric), f in sorted(fits.items())
        for j, (t, k, n) in enumerate(f.boot)
    ]
    return pd.DataFrame(rows, columns=["channel", "metric", "draw", "top", "k", "n"])


def fits_from_tables(curves: pd.DataFrame, boot: pd.DataFrame) -> dict[tuple[str, str], CurveFit]:
    """Rebuild fitted curves from ``marts.budget_response_curves`` and
    ``marts.budget_curve_bootstrap`` rows of one month (for the reallocation, the report)."""
    fits: dict[tuple[str, str], CurveFit] = {}
    for r in curves.itertuples(index=False):
        if boot.empty or "metric" not in boot.columns:
            b = boot.iloc[0:0]
        else:
            b = boot[(boot["channel"] == r.channel) & (boot["metric"] == r.metric)]
            b = b.sort_values("draw")
        fits[(r.channel, r.metric)] = CurveFit(
            top=float(r.top) if pd.notna(r.top) else np.nan,
            k=float(r.k) if pd.notna(r.k) else np.nan,
            n=float(r.n) if pd.notna(r.n) else np.nan,
            adstock_decay=float(r.adstock_decay) if pd.notna(r.adstock_decay) else np.nan,
            r2=float(r.r2) if pd.notna(r.r2) else np.nan,
            rmse=float(r.rmse) if pd.notna(r.rmse) else np.nan,
            n_points=int(r.n_points),
            spend_min=float(r.spend_min_observed) if pd.notna(r.spend_min_observed) else np.nan,
            spend_max=float(r.spend_max_observed) if pd.notna(r.spend_max_observed) else np.nan,
            boot=b[["top", "k", "n"]].to_numpy(dtype=float) if not b.empty else np.empty((0, 3)),
            usable=bool(r.usable),
            reason=r.reason if isinstance(r.reason, str) else "",
            saturation_grain=str(getattr(r, "saturation_grain", "") or ""),
        )
    return fits


def channel_plots(
    curves: pd.DataFrame,
    boot: pd.DataFrame,
    points: pd.DataFrame,
    reallocation: pd.DataFrame,
    metric: str,
    days_next_month: int,
) -> dict[str, bytes]:
    """PNG per channel for one month from the budget tables (what the report embeds).

    ``reallocation`` rows give current and recommended monthly spend; they are drawn at
    their weekly equivalent (monthly spend * 7 / days of the month planned)."""
    fits = fits_from_tables(curves, boot)
    out = {}
    grain = str(curves["grain"].iloc[0]) if "grain" in curves.columns and len(curves) else "week"
    per_period = GRAIN_DAYS[grain] / days_next_month
    realloc = reallocation.set_index("channel") if not reallocation.empty else None
    for (channel, m), fit in sorted(fits.items()):
        if m != metric:
            continue
        pts = points[(points["channel"] == channel) & (points["metric"] == metric)]
        cur = rec = None
        if realloc is not None and channel in realloc.index:
            cur = float(realloc.at[channel, "current_spend"]) * per_period
            rec = float(realloc.at[channel, "recommended_spend"]) * per_period
        if cur is None:
            cur_row = curves[(curves["channel"] == channel) & (curves["metric"] == metric)]
            cur = float(cur_row["current_period_spend"].iloc[0]) if not cur_row.empty else 0.0
        out[channel] = plot_response_curve(fit, channel, metric, pts, cur, rec, grain)
    return out


OUR_HOLDS = (NO_CURVE,)  # holds and cut-only bounds of our own making


def evaluate_against_truth(
    reallocation: pd.DataFrame,
    true_fn: Callable[[str, np.ndarray], np.ndarray],
    days: int,
    bound_pct: float = BudgetOptions.bound_pct,
) -> dict:
    """Uplift capture of one month's recommendation on the true curves.

    ``true_fn(channel, spend_per_day)`` is the true expected outcome per day (the
    generator's ``true_response``); a month of ``days`` days with spend S spread evenly
    yields ``days * f(S / days)``. The baseline is the reference spend (the current mix at
    the same allocatable budget) and the budget the recommendation's.

    The true optimum is sought within the configured bounds (``bound_pct`` around the
    reference): a channel the recommendation held for want of a usable curve, or capped at
    the spend it has been observed at, is free to move there, so holding a channel costs
    capture rather than making the comparison easier. Pins by configuration and by next
    month's plan stay. ``capture_within_own_bounds`` compares with the optimum inside the
    recommendation's own bounds instead.
    """
    t = reallocation.sort_values("channel")
    curves = [FunctionCurve(lambda s, c=c: true_fn(c, s), float(days)) for c in t["channel"]]
    ref = t["reference_spend"].to_numpy(float)
    lo = t["lower_bound"].to_numpy(float)
    hi = t["upper_bound"].to_numpy(float)
    args = (
        curves,
        ref,
        t["recommended_spend"].to_numpy(float),
    )
    budget = float(t["recommended_spend"].sum())
    ours = t["pinned_reason"].fillna("").str.startswith(OUR_HOLDS).to_numpy()
    if "extrapolation_capped" in t:
        ours = ours | t["extrapolation_capped"].fillna(False).astype(bool).to_numpy()
    nominal_lo = np.where(ours, ref * (1 - bound_pct), lo)
    nominal_hi = np.where(ours, ref * (1 + bound_pct), hi)
    out = uplift_capture(*args, nominal_lo, nominal_hi, budget)
    own = uplift_capture(*args, lo, hi, budget)
    out["capture_within_own_bounds"] = own["capture"]
    out["channels"] = list(t["channel"])
    return out
