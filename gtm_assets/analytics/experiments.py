"""Experiment statistics: per experiment and variant, lift vs control, tests, SRM, power, CUPED.

Pure core (pandas/numpy/scipy/statsmodels in, DataFrame out); the Dagster asset in
``gtm_assets/assets/experiments.py`` only loads the month's units and writes the result.

Methods (each stated once, here, and tested against scipy/statsmodels directly):

- **Control**: the variant named ``control`` (case-insensitive); otherwise the first variant
  in planned-split order. Variant order is: ``control`` first, then the other variant names
  in alphabetical order; a plain split such as ``34/33/33`` assigns its shares in that
  order. A named split (``control:50/treatment:50``, ``=`` also accepted) maps by name.
- **Conversion rate test**: two-sided two-proportion z-test with the pooled standard error
  (``statsmodels.stats.proportion.proportions_ztest``), unadjusted -> ``p_value``.
- **95% interval of lift_abs** (treatment rate minus control rate): Newcombe's hybrid score
  interval (method 10 of Newcombe 1998, built from Wilson intervals), which behaves at 0
  conversions where the Wald interval collapses to a point.
- **lift_rel** = lift_abs / control rate (NULL when the control rate is 0).
- **Multiple testing**: Holm's step-down correction (``statsmodels.stats.multitest``,
  ``method="holm"``, controls the family-wise error rate) across every
  treatment-vs-control comparison of the month; done separately for ``p_value`` (the
  z-tests, contract column ``p_value_adjusted``) and for the decision tests
  (``decision_p_value_adjusted``, what the verdict reads).
- **Sample ratio mismatch**: chi-square goodness of fit of the units per variant against
  the planned split (``scipy.stats.chisquare``); flagged at p < ``srm_alpha`` (0.001). A
  planned split whose number of shares differs from the variants observed is flagged too.
- **Required units** for the minimum detectable effect (``mde_relative`` of the control's
  metric, default 10% relative): ``statsmodels.stats.power.NormalIndPower`` on Cohen's h for
  conversion; ``TTestIndPower`` on Cohen's d (pooled SD) for revenue; two-sided, planned
  allocation ratio. Reported per row for that row's arm (control: the most any comparison
  needs), so ``units`` and ``required_units`` compare on the same row.
- **Revenue** (primary_metric ``revenue``): revenue per unit (all units, zeros included),
  Welch's t-test and Welch interval of the difference (``scipy.stats.ttest_ind``,
  ``equal_var=False``).
- **CUPED** (when ``pre_metric`` is present for the experiment): y_adj = y - theta (x - mean
  x), theta = cov(x, y) / var(x) on the pooled units of the experiment (all arms), missing
  x filled with its mean (adjusts those units by 0). Welch test and interval on y_adj.
  y is ``converted`` for conversion experiments and ``revenue`` for revenue experiments.
- **Decision test**: the primary metric's test, CUPED-adjusted when available: z-test
  (conversion) or Welch (revenue), or Welch on y_adj with CUPED.
- **Verdict** (per treatment row): ``invalid: SRM`` when the experiment fails SRM (all its
  rows; the gate is checked by a blocking asset check); else with adjusted decision
  p < alpha: ``ship`` (lift > 0) or ``stop`` (lift < 0) once the planned sample is reached or
  the experiment has ended, ``keep running`` if still running and short of it (early
  significance under peeking is not trusted); not significant: ``stop`` when ended or
  at/above the required sample (no effect of the planned size), otherwise ``keep running``.
  Control rows carry ``baseline`` (or ``invalid: SRM``).
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from datetime import date

import numpy as np
import pandas as pd
from scipy import stats
from statsmodels.stats.multitest import multipletests
from statsmodels.stats.power import NormalIndPower, TTestIndPower
from statsmodels.stats.proportion import proportion_effectsize, proportions_ztest

VERDICT_SHIP = "ship"
VERDICT_STOP = "stop"
VERDICT_KEEP = "keep running"
VERDICT_INCONCLUSIVE = "inconclusive"  # ended short of its sample without a difference
VERDICT_SRM = "invalid: SRM"
VERDICT_BASELINE = "baseline"


@dataclass(frozen=True)
class ExperimentStatsConfig:
    """Knobs of the experiment statistics (mirrored by the asset's Dagster Config)."""

    alpha: float = 0.05  # two-sided significance level of every test and interval (95%)
    power: float = 0.80  # power for the required-units calculation
    mde_relative: float = 0.10  # minimum detectable effect, relative to the control's metric
    srm_alpha: float = 0.001  # SRM flagged when the chi-square p-value is below this
    correction: str = "holm"  # statsmodels multipletests method across the month's tests


RESULT_SCHEMA: dict[str, str] = {
    "month": "date",
    "experiment_id": "varchar",
    "experiment_name": "varchar",
    "primary_metric": "varchar",
    "status": "varchar",  # running (no end or ends after the month) or completed
    "start_date": "date",
    "end_date": "date",
    "campaign_id": "varchar",
    "variant": "varchar",
    "is_control": "boolean",
    "control_variant": "varchar",
    "planned_share": "double",
    "observed_share": "double",
    "units": "bigint",
    "conversions": "bigint",
    "conversion_rate": "double",
    "lift_abs": "double",
    "lift_rel": "double",
    "ci_low": "double",
    "ci_high": "double",
    "p_value": "double",
    "p_value_adjusted": "double",
    "srm_p_value": "double",
    "srm_flag": "boolean",
    "required_units": "bigint",
    "revenue": "double",
    "revenue_per_unit": "double",
    "revenue_lift_abs": "double",
    "revenue_lift_rel": "double",
    "revenue_ci_low": "double",
    "revenue_ci_high": "double",
    "revenue_p_value": "double",
    "cuped_applied": "boolean",
    "cuped_theta": "double",
    "cuped_variance_reduction": "double",
    "cuped_lift_abs": "double",
    "cuped_ci_low": "double",
    "cuped_ci_high": "double",
    "cuped_p_value": "double",
    "decision_test": "varchar",
    "decision_p_value": "double",
    "decision_p_value_adjusted": "double",
    "verdict": "varchar",
    "verdict_reason": "varchar",
}
RESULT_COLUMNS = list(RESULT_SCHEMA)


# --------------------------------------------------------------------------- basic tests


def wilson_interval(count: int, nobs: int, alpha: float = 0.05) -> tuple[float, float]:
    """Wilson score interval of a binomial proportion."""
    if nobs <= 0:
        return (math.nan, math.nan)
    z = stats.norm.ppf(1 - alpha / 2)
    p = count / nobs
    denom = 1 + z * z / nobs
    centre = (p + z * z / (2 * nobs)) / denom
    half = z * math.sqrt(p * (1 - p) / nobs + z * z / (4 * nobs * nobs)) / denom
    return (centre - half, centre + half)


def newcombe_diff_interval(
    count_t: int, nobs_t: int, count_c: int, nobs_c: int, alpha: float = 0.05
) -> tuple[float, float]:
    """Newcombe's hybrid score interval of p_t - p_c (Newcombe 1998, method 10)."""
    if nobs_t <= 0 or nobs_c <= 0:
        return (math.nan, math.nan)
    p_t, p_c = count_t / nobs_t, count_c / nobs_c
    l_t, u_t = wilson_interval(count_t, nobs_t, alpha)
    l_c, u_c = wilson_interval(count_c, nobs_c, alpha)
    diff = p_t - p_c
    low = diff - math.sqrt((p_t - l_t) ** 2 + (u_c - p_c) ** 2)
    high = diff + math.sqrt((u_t - p_t) ** 2 + (p_c - l_c) ** 2)
    return (low, high)


def two_proportion_p_value(count_t: int, nobs_t: int, count_c: int, nobs_c: int) -> float:
    """Two-sided pooled two-proportion z-test p-value (NaN when undefined, e.g. 0 vs 0)."""
    if nobs_t <= 0 or nobs_c <= 0:
        return math.nan
    pooled = (count_t + count_c) / (nobs_t + nobs_c)
    if pooled in (0.0, 1.0):
        # No variation at all: the rates are identical and there is no evidence of a
        # difference (statsmodels would divide by zero here).
        return 1.0
    _, p = proportions_ztest([count_t, count_c], [nobs_t, nobs_c], alternative="two-sided")
    return float(p)


def welch(y_t: np.ndarray, y_c: np.ndarray, alpha: float = 0.05) -> tuple[float, float, float]:
    """Welch's t-test of mean(y_t) - mean(y_c): (p_value, ci_low, ci_high).

    NaN when either arm has fewer than 2 units; p = 1 when both arms have no variance and
    equal means (nothing to test).
    """
    y_t = np.asarray(y_t, dtype=float)
    y_c = np.asarray(y_c, dtype=float)
    if len(y_t) < 2 or len(y_c) < 2:
        return (math.nan, math.nan, math.nan)
    diff = y_t.mean() - y_c.mean()
    if y_t.var(ddof=1) == 0 and y_c.var(ddof=1) == 0:
        return (1.0 if diff == 0 else 0.0, diff, diff)
    res = stats.ttest_ind(y_t, y_c, equal_var=False)
    ci = res.confidence_interval(1 - alpha)
    return (float(res.pvalue), float(ci.low), float(ci.high))


def srm_test(observed: list[int], planned_shares: list[float]) -> float:
    """Chi-square goodness-of-fit p-value of observed units vs the planned split."""
    obs = np.asarray(observed, dtype=float)
    shares = np.asarray(planned_shares, dtype=float)
    shares = shares / shares.sum()
    total = obs.sum()
    if total <= 0 or len(obs) < 2:
        return math.nan
    _, p = stats.chisquare(obs, f_exp=total * shares)
    return float(p)


def required_units_conversion(
    control_rate: float,
    mde_relative: float,
    ratio: float,
    alpha: float,
    power: float,
) -> tuple[float, float]:
    """Units needed in (control, treatment) arms to detect control_rate * (1 + mde_relative).

    ``ratio`` = planned treatment units / planned control units. NaN when undefined (a
    control rate of 0 or 1, or a target rate outside (0, 1)).
    """
    target = control_rate * (1 + mde_relative)
    if not (0 < control_rate < 1) or not (0 < target < 1):
        return (math.nan, math.nan)
    effect = abs(proportion_effectsize(target, control_rate))
    n_c = NormalIndPower().solve_power(
        effect_size=effect, alpha=alpha, power=power, ratio=ratio, alternative="two-sided"
    )
    return (float(n_c), float(n_c) * ratio)


def required_units_mean(
    control_mean: float,
    pooled_sd: float,
    mde_relative: float,
    ratio: float,
    alpha: float,
    power: float,
) -> tuple[float, float]:
    """Units needed in (control, treatment) arms to detect a mean change of mde_relative."""
    if not (pooled_sd > 0) or control_mean == 0 or not math.isfinite(control_mean):
        return (math.nan, math.nan)
    effect = abs(mde_relative * control_mean) / pooled_sd
    n_c = TTestIndPower().solve_power(
        effect_size=effect, alpha=alpha, power=power, ratio=ratio, alternative="two-sided"
    )
    return (float(n_c), float(n_c) * ratio)


def cuped_adjust(y: np.ndarray, x: np.ndarray) -> tuple[np.ndarray, float, float]:
    """CUPED: (y_adj, theta, variance_reduction) with theta from the pooled covariance.

    Missing x are filled with the mean of the present x (their adjustment is 0). Returns
    theta NaN and y unchanged when x has no variance.
    """
    y = np.asarray(y, dtype=float)
    x = np.asarray(x, dtype=float)
    present = ~np.isnan(x)
    if present.sum() < 2:
        return (y, math.nan, math.nan)
    x = np.where(present, x, x[present].mean())
    var_x = x.var(ddof=1)
    if var_x == 0:
        return (y, math.nan, math.nan)
    theta = float(np.cov(x, y, ddof=1)[0, 1] / var_x)
    y_adj = y - theta * (x - x.mean())
    var_y = y.var(ddof=1)
    reduction = float(1 - y_adj.var(ddof=1) / var_y) if var_y > 0 else math.nan
    return (y_adj, theta, reduction)


# --------------------------------------------------------------------------- planned split


_SPLIT_SEP = re.compile(r"[/,;|]")


def variant_order(variants: list[str]) -> list[str]:
    """``control`` (case-insensitive) first, then the other variant names alphabetically."""
    controls = sorted(v for v in variants if v.strip().lower() == "control")
    others = sorted(v for v in variants if v.strip().lower() != "control")
    return controls + others


def parse_planned_split(split: str | None, variants: list[str]) -> tuple[dict[str, float], str]:
    """Map each observed variant to its planned share (summing to 1).

    Returns (shares, problem); ``problem`` is "" when the split fits the variants. Plain
    shares (``50/50``, ``34/33/33``) follow ``variant_order``; named shares
    (``control:50/b:50``) map by name. A missing split means an equal split.
    """
    ordered = variant_order(variants)
    if split is None or not str(split).strip():
        return ({v: 1 / len(ordered) for v in ordered}, "")
    parts = [p.strip() for p in _SPLIT_SEP.split(str(split)) if p.strip()]
    named: dict[str, float] = {}
    plain: list[float] = []
    try:
        for part in parts:
            if ":" in part or "=" in part:
                name, value = re.split(r"[:=]", part, maxsplit=1)
                named[name.strip()] = float(value.strip().rstrip("%"))
            else:
                plain.append(float(part.rstrip("%")))
    except ValueError:
        return ({}, f"planned split {split!r} is not a list of numbers")
    if named and plain:
        return ({}, f"planned split {split!r} mixes named and unnamed shares")
    if named:
        lower = {k.lower(): val for k, val in named.items()}
        if set(lower) != {v.lower() for v in ordered}:
            return (
                {},
                f"planned split {split!r} names {sorted(named)} but the units show {ordered}",
            )
        values = [lower[v.lower()] for v in ordered]
    else:
        if len(plain) != len(ordered):
            return (
                {},
                f"planned split {split!r} has {len(plain)} shares but {len(ordered)} "
                f"variant(s) were observed ({', '.join(ordered)})",
            )
        values = plain
    if any(v <= 0 for v in values):
        return ({}, f"planned split {split!r} has a share <= 0")
    total = sum(values)
    return ({v: val / total for v, val in zip(ordered, values, strict=True)}, "")


# --------------------------------------------------------------------------- per experiment


def _date_or_none(value) -> date | None:
    return None if value is None or pd.isna(value) else pd.Timestamp(value).date()


def _experiment_rows(
    exp: pd.Series,
    units: pd.DataFrame,
    month_end: date,
    cfg: ExperimentStatsConfig,
) -> list[dict]:
    """Rows (one per variant) for one experiment, before the month-wide correction."""
    metric = str(exp.get("primary_metric") or "conversion").strip().lower()
    end = exp.get("end_date")
    ended = end is not None and not pd.isna(end) and pd.Timestamp(end).date() < month_end
    status = "completed" if ended else "running"

    units = units.copy()
    units["converted"] = units["converted"].fillna(0).astype(float)
    units["revenue"] = units["revenue"].fillna(0).astype(float)
    variants = variant_order([str(v) for v in units["variant"].unique()])
    shares, split_problem = parse_planned_split(exp.get("planned_split"), variants)
    control = variants[0]
    counts = units.groupby("variant")["unit_id"].count().reindex(variants).astype(int)
    total_units = int(counts.sum())

    # Sample ratio mismatch: blocking for this experiment's verdict.
    if split_problem:
        srm_p, srm_flag = math.nan, True
    elif len(variants) < 2:
        srm_p, srm_flag = math.nan, False
    else:
        srm_p = srm_test([int(counts[v]) for v in variants], [shares[v] for v in variants])
        srm_flag = bool(srm_p < cfg.srm_alpha)

    # CUPED on the primary metric when a pre-period value exists.
    y_col = "revenue" if metric == "revenue" else "converted"
    has_pre = "pre_metric" in units and units["pre_metric"].notna().any()
    if has_pre:
        y_adj, theta, reduction = cuped_adjust(
            units[y_col].to_numpy(), units["pre_metric"].astype(float).to_numpy()
        )
        cuped_ok = not math.isnan(theta)
    else:
        y_adj, theta, reduction, cuped_ok = units[y_col].to_numpy(float), math.nan, math.nan, False
    units["_y_adj"] = y_adj

    arm = {v: units[units["variant"] == v] for v in variants}
    c = arm[control]
    n_c, k_c = len(c), int(c["converted"].sum())
    rate_c = k_c / n_c if n_c else math.nan
    rev_c = float(c["revenue"].mean()) if n_c else math.nan

    rows: list[dict] = []
    control_required = math.nan
    for v in variants:
        a = arm[v]
        n, k = len(a), int(a["converted"].sum())
        row: dict = {
            "experiment_id": exp["experiment_id"],
            "experiment_name": exp.get("name"),
            "primary_metric": metric,
            "status": status,
            "start_date": _date_or_none(exp.get("start_date")),
            "end_date": _date_or_none(exp.get("end_date")),
            "campaign_id": None if pd.isna(exp.get("campaign_id")) else exp.get("campaign_id"),
            "variant": v,
            "is_control": v == control,
            "control_variant": control,
            "planned_share": shares.get(v, math.nan),
            "observed_share": n / total_units if total_units else math.nan,
            "units": n,
            "conversions": k,
            "conversion_rate": k / n if n else math.nan,
            "srm_p_value": srm_p,
            "srm_flag": srm_flag,
            "revenue": float(a["revenue"].sum()),
            "revenue_per_unit": float(a["revenue"].mean()) if n else math.nan,
            "cuped_applied": bool(cuped_ok),
            "cuped_theta": theta if cuped_ok else math.nan,
            "cuped_variance_reduction": reduction if cuped_ok else math.nan,
            "_ended": ended,
            "_split_problem": split_problem,
        }
        for col in [
            "lift_abs",
            "lift_rel",
            "ci_low",
            "ci_high",
            "p_value",
            "required_units",
            "revenue_lift_abs",
            "revenue_lift_rel",
            "revenue_ci_low",
            "revenue_ci_high",
            "revenue_p_value",
            "cuped_lift_abs",
            "cuped_ci_low",
            "cuped_ci_high",
            "cuped_p_value",
            "decision_p_value",
        ]:
            row[col] = math.nan
        row["decision_test"] = None
        if v != control and n_c > 0 and n > 0:
            rate_t = k / n
            row["lift_abs"] = rate_t - rate_c
            row["lift_rel"] = (rate_t - rate_c) / rate_c if rate_c > 0 else math.nan
            row["ci_low"], row["ci_high"] = newcombe_diff_interval(k, n, k_c, n_c, cfg.alpha)
            row["p_value"] = two_proportion_p_value(k, n, k_c, n_c)
            ratio = (
                shares[v] / shares[control]
                if not split_problem and shares.get(control)
                else n / n_c
            )
            if metric == "revenue":
                rev_t = float(a["revenue"].mean())
                row["revenue_lift_abs"] = rev_t - rev_c
                row["revenue_lift_rel"] = (rev_t - rev_c) / rev_c if rev_c else math.nan
                p, lo, hi = welch(a["revenue"].to_numpy(), c["revenue"].to_numpy(), cfg.alpha)
                row["revenue_p_value"], row["revenue_ci_low"], row["revenue_ci_high"] = p, lo, hi
                pooled_sd = (
                    float(
                        np.sqrt(
                            (
                                (n - 1) * a["revenue"].var(ddof=1)
                                + (n_c - 1) * c["revenue"].var(ddof=1)
                            )
                            / (n + n_c - 2)
                        )
                    )
                    if n + n_c > 2
                    else math.nan
                )
                req_c, req_t = required_units_mean(
                    rev_c, pooled_sd, cfg.mde_relative, ratio, cfg.alpha, cfg.power
                )
            else:
                req_c, req_t = required_units_conversion(
                    rate_c, cfg.mde_relative, ratio, cfg.alpha, cfg.power
                )
            row["required_units"] = math.ceil(req_t) if math.isfinite(req_t) else math.nan
            if math.isfinite(req_c):
                control_required = (
                    req_c if math.isnan(control_required) else max(control_required, req_c)
                )
            row["_req_c"] = req_c
            if cuped_ok:
                adj_t, adj_c = a["_y_adj"].to_numpy(), c["_y_adj"].to_numpy()
                row["cuped_lift_abs"] = float(adj_t.mean() - adj_c.mean())
                p, lo, hi = welch(adj_t, adj_c, cfg.alpha)
                row["cuped_p_value"], row["cuped_ci_low"], row["cuped_ci_high"] = p, lo, hi
                row["decision_test"] = f"welch_cuped_{metric}"
                row["decision_p_value"] = p
            elif metric == "revenue":
                row["decision_test"] = "welch_revenue"
                row["decision_p_value"] = row["revenue_p_value"]
            else:
                row["decision_test"] = "ztest_conversion"
                row["decision_p_value"] = row["p_value"]
            row["_decision_lift"] = (
                row["cuped_lift_abs"]
                if cuped_ok
                else (row["revenue_lift_abs"] if metric == "revenue" else row["lift_abs"])
            )
            base = rev_c if metric == "revenue" else rate_c
            row["_decision_lift_rel"] = (
                row["_decision_lift"] / base if base and math.isfinite(base) else math.nan
            )
        rows.append(row)
    for row in rows:
        if row["is_control"]:
            row["required_units"] = (
                math.ceil(control_required) if math.isfinite(control_required) else math.nan
            )
    return rows


def _correct(p_values: pd.Series, method: str) -> pd.Series:
    """Adjust the finite p-values of a family; NaN stays NaN."""
    out = pd.Series(np.nan, index=p_values.index, dtype=float)
    finite = p_values.dropna()
    if len(finite):
        out.loc[finite.index] = multipletests(finite.to_numpy(float), method=method)[1]
    return out


def _verdict(row: pd.Series, cfg: ExperimentStatsConfig) -> tuple[str, str]:
    """(verdict, reason) for one row, after the month-wide correction."""
    if row["srm_flag"]:
        if row["_split_problem"]:
            return VERDICT_SRM, f"sample ratio mismatch: {row['_split_problem']}"
        return (
            VERDICT_SRM,
            f"sample ratio mismatch: observed share {row['observed_share']:.3f} vs planned "
            f"{row['planned_share']:.3f} (chi-square p = {row['srm_p_value']:.2g} < "
            f"{cfg.srm_alpha:g}); results are not trustworthy until assignment is fixed",
        )
    if row["is_control"]:
        return VERDICT_BASELINE, "control arm that the other variants are compared with"
    p_adj = row["decision_p_value_adjusted"]
    lift = row.get("_decision_lift", math.nan)
    ended = bool(row["_ended"])
    req_t, req_c = row["required_units"], row.get("_req_c", math.nan)
    units_c = row["_control_units"]
    enough = (
        math.isfinite(req_t) and math.isfinite(req_c) and row["units"] >= req_t and units_c >= req_c
    )
    sample = (
        f"{row['units']:,} units vs {req_t:,.0f} required"
        if math.isfinite(req_t)
        else f"{row['units']:,} units (required sample undefined)"
    )
    test = row["decision_test"]
    if p_adj is None or not math.isfinite(p_adj):
        if ended:
            return VERDICT_INCONCLUSIVE, f"ended without a testable difference ({sample})"
        return VERDICT_KEEP, f"no testable difference yet ({sample})"
    significant = p_adj < cfg.alpha
    rel = row.get("_decision_lift_rel", math.nan)
    what = "revenue per unit" if row["primary_metric"] == "revenue" else "conversion rate"
    pct = f"{what} {rel:+.1%}" if rel is not None and math.isfinite(rel) else what
    if significant:
        direction = "better" if lift > 0 else "worse"
        if ended or enough:
            verdict = VERDICT_SHIP if lift > 0 else VERDICT_STOP
            return (
                verdict,
                f"{direction} than control ({test}, adjusted p = {p_adj:.3g} < {cfg.alpha:g}; "
                f"{pct}; {sample})",
            )
        return (
            VERDICT_KEEP,
            f"significant early ({test}, adjusted p = {p_adj:.3g}) but short of the planned "
            f"sample ({sample}); an early peek inflates false positives",
        )
    if enough:
        return (
            VERDICT_STOP,
            f"no significant difference at the planned sample ({test}, adjusted p = "
            f"{p_adj:.3g}; {sample}): an effect of the planned size is unlikely",
        )
    if ended:
        return (
            VERDICT_INCONCLUSIVE,
            f"ended without a significant difference ({test}, adjusted p = {p_adj:.3g}) but "
            f"underpowered ({sample}): inconclusive, rerun with more traffic if it matters",
        )
    return VERDICT_KEEP, f"not significant yet ({test}, adjusted p = {p_adj:.3g}; {sample})"


def experiment_results(
    experiments: pd.DataFrame,
    units: pd.DataFrame,
    month: date,
    month_end: date,
    cfg: ExperimentStatsConfig | None = None,
) -> pd.DataFrame:
    """One row per experiment x variant for the month (columns ``RESULT_COLUMNS``).

    ``experiments`` are the month's experiments (staging.experiments rows), ``units`` their
    units assigned before ``month_end``. Corrections run across every treatment-vs-control
    comparison of the month.
    """
    cfg = cfg or ExperimentStatsConfig()
    rows: list[dict] = []
    for _, exp in experiments.sort_values("experiment_id").iterrows():
        exp_units = units[units["experiment_id"] == exp["experiment_id"]]
        if exp_units.empty:
            continue
        rows.extend(_experiment_rows(exp, exp_units, month_end, cfg))
    if not rows:
        return empty_results()
    df = pd.DataFrame(rows)
    df["p_value_adjusted"] = _correct(df["p_value"], cfg.correction)
    df["decision_p_value_adjusted"] = _correct(df["decision_p_value"], cfg.correction)
    control_units = df[df["is_control"]].set_index("experiment_id")["units"]
    df["_control_units"] = df["experiment_id"].map(control_units)
    if "_req_c" not in df:
        df["_req_c"] = math.nan
    for col in ("_decision_lift", "_decision_lift_rel"):
        if col not in df:
            df[col] = math.nan
    verdicts = [_verdict(r, cfg) for _, r in df.iterrows()]
    df["verdict"] = [v for v, _ in verdicts]
    df["verdict_reason"] = [r for _, r in verdicts]
    df["month"] = month
    df = df[RESULT_COLUMNS].copy()
    return _typed(df)


def _typed(df: pd.DataFrame) -> pd.DataFrame:
    """Nullable dtypes per ``RESULT_SCHEMA`` (NaN becomes NULL when written)."""
    out = df.copy()
    for c, t in RESULT_SCHEMA.items():
        if t == "bigint":
            out[c] = pd.array([None if pd.isna(x) else int(x) for x in out[c]], dtype="Int64")
        elif t == "boolean":
            out[c] = out[c].astype("boolean")
        elif t == "double":
            out[c] = pd.to_numeric(out[c], errors="coerce").astype("Float64")
        elif t == "varchar":
            out[c] = out[c].astype("object").where(out[c].notna(), None)
    return out


def empty_results() -> pd.DataFrame:
    """A zero-row frame with the result columns (for skipped or empty months)."""
    return _typed(pd.DataFrame({c: [] for c in RESULT_COLUMNS}))


__all__ = [
    "ExperimentStatsConfig",
    "RESULT_COLUMNS",
    "RESULT_SCHEMA",
    "cuped_adjust",
    "empty_results",
    "experiment_results",
    "newcombe_diff_interval",
    "parse_planned_split",
    "required_units_conversion",
    "required_units_mean",
    "srm_test",
    "two_proportion_p_value",
    "variant_order",
    "welch",
    "wilson_interval",
]
