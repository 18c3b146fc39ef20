"""Lead scoring: a calibrated probability that a lead becomes an SQL, refitted every month on
data available at that month's end only, plus the tables that judge and use it.

Method (the README repeats it for users):

* **Unit and label.** A lead, labelled 1 when it reached SQL (or any later stage, the funnel's
  shared stage definition) within ``label_window_days`` of its creation. Only *mature* leads
  (created at least ``label_window_days`` before the as-of moment) carry a label, so no outcome
  is still pending and nothing after the as-of moment is read.
* **Features.** Fit: industry, company-size band, seniority, country (one-hot, rare levels
  pooled into ``other``), log company size; first-touch channel. Engagement: touches of each
  type in the ``pre_days`` before creation and in the ``post_days`` after it (log counts and
  "any" indicators). Touches after the lead reached SQL are left out when the data show
  that reaching SQL brings touches (sales working the lead: demo and pricing visits, meeting
  emails), tested on the leads that reached SQL inside their post window
  (``post_sql_touch_test``): such touches describe the outcome and would leak it. The post
  window is fixed so that every training lead and every scored lead is described the same
  way; a lead whose post window has not closed at the as-of moment is scored provisionally
  (``features_complete = false``) and scored again next month.
* **Model.** statsmodels GLM Binomial (logit) with a ridge penalty ``alpha`` on standardised
  features (intercept unpenalised). Time-based validation: the last ``validation_months`` of
  mature leads are held out; the model fitted on the earlier months is judged on them (AUC,
  Brier, ECE, reliability, lift by decile), then the production model is refitted on all
  mature leads of the training window.
* **MQL threshold.** From the user's rule: ``target_precision`` (the lowest threshold whose
  validation SQL rate reaches the target) or ``sales_capacity`` (the threshold that would have
  produced about that many MQLs per month over the validation months).
* **Calibration.** If the validation ECE exceeds both ``calibration_tolerance`` and the ECE a
  perfectly calibrated score would show on as many leads by chance, and a likelihood-ratio
  test rejects calibration at ``recalibration_p_value`` (``recalibration="auto"``), a Platt
  map fitted on the validation months is applied to the production model. The
  performance row then says so; its ECE is in-sample for the two Platt parameters.
* **Score** = round(100 x probability); grades by score cut-offs.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from dataclasses import dataclass, field, replace
from datetime import date, datetime

import duckdb
import numpy as np
import pandas as pd
import statsmodels.api as sm
from scipy import stats

from gtm_assets.analytics.funnel import FunnelInputs, add_months, load_funnel_inputs
from gtm_assets.raw.schema import TOUCH_TYPES
from gtm_assets.sql_files import load_sql

PHASES: tuple[str, ...] = ("pre", "post")
FIT_CATEGORICALS: tuple[str, ...] = ("industry", "company_size_band", "seniority", "country")
CATEGORICALS: tuple[str, ...] = (*FIT_CATEGORICALS, "channel")
#: Touch types that mean the person was on our site (summed into ``log_<phase>_site``).
SITE_TYPES: tuple[str, ...] = ("visit", "content_view")
SIZE_KNOTS: tuple[int, ...] = (1, 2, 3, 4)
MQL_RULES = ("target_precision", "sales_capacity")
CRM_RULE = "crm mql stage"  # the CRM's own MQL status, a rule in the threshold table


@dataclass(frozen=True)
class ScoringSettings:
    """Knobs of the scoring engine (the asset's Config mirrors and documents them)."""

    pre_days: int = 90
    post_days: int = 14
    label_window_days: int = 60
    training_months: int = 12
    validation_months: int = 2
    alpha: float = 0.01
    min_level_count: int = 20
    min_train_leads: int = 200
    min_positives: int = 20
    mql_rule: str = "target_precision"
    target_precision: float = 0.5
    monthly_sales_capacity: int = 100
    min_mqls_for_threshold: int = 20
    grade_cutoffs: tuple[int, int, int] = (60, 40, 20)
    calibration_bins: int = 10
    psi_bins: int = 10
    calibration_tolerance: float = 0.05
    recalibration: str = "none"
    recalibration_p_value: float = 0.01


# --------------------------------------------------------------------------------------------
# metrics
# --------------------------------------------------------------------------------------------


def auc(y: np.ndarray, p: np.ndarray) -> float | None:
    """Area under the ROC curve (Mann-Whitney, ties count one half). None if one class only."""
    y = np.asarray(y, dtype=bool)
    p = np.asarray(p, dtype=float)
    n1 = int(y.sum())
    n0 = len(y) - n1
    if n1 == 0 or n0 == 0:
        return None
    ranks = stats.rankdata(p)
    return float((ranks[y].sum() - n1 * (n1 + 1) / 2) / (n1 * n0))


def brier(y: np.ndarray, p: np.ndarray) -> float | None:
    y = np.asarray(y, dtype=float)
    return float(np.mean((np.asarray(p, dtype=float) - y) ** 2)) if len(y) else None


def reliability_table(y: np.ndarray, p: np.ndarray, bins: int = 10) -> pd.DataFrame:
    """Equal-width probability bins: n, mean predicted, observed rate and its Wilson 95% CI."""
    y = np.asarray(y, dtype=float)
    p = np.asarray(p, dtype=float)
    idx = np.minimum((p * bins).astype(int), bins - 1)
    rows = []
    for b in range(bins):
        sel = idx == b
        n = int(sel.sum())
        k = int(y[sel].sum())
        lo, hi = wilson_interval(k, n)
        rows.append(
            {
                "bin": b + 1,
                "bin_low": b / bins,
                "bin_high": (b + 1) / bins,
                "n": n,
                "mean_predicted": float(p[sel].mean()) if n else None,
                "observed_rate": k / n if n else None,
                "ci_low": lo,
                "ci_high": hi,
            }
        )
    return pd.DataFrame(rows)


def ece(y: np.ndarray, p: np.ndarray, bins: int = 10) -> float | None:
    """Expected calibration error: sum over equal-width bins of n_b/N x |mean p - rate|."""
    if len(y) == 0:
        return None
    table = reliability_table(y, p, bins)
    table = table[table["n"] > 0]
    gap = (table["mean_predicted"] - table["observed_rate"]).abs()
    return float((table["n"] * gap).sum() / table["n"].sum())


def ece_noise_quantile(
    p: np.ndarray, bins: int = 10, q: float = 0.95, sims: int = 400, seed: int = 0
) -> float | None:
    """The ``q`` quantile of the ECE a *perfectly calibrated* score with these predictions
    would show on this many leads (outcomes simulated as Bernoulli(p)): how much ECE is
    sampling noise alone. Used so the calibration gate does not fire on noise in small months."""
    p = np.asarray(p, dtype=float)
    if len(p) == 0:
        return None
    rng = np.random.default_rng(seed)
    idx = np.minimum((p * bins).astype(int), bins - 1)
    sum_p = np.bincount(idx, weights=p, minlength=bins)
    values = np.empty(sims)
    for i in range(sims):
        y = rng.random(len(p)) < p
        sum_y = np.bincount(idx, weights=y, minlength=bins)
        values[i] = np.abs(sum_p - sum_y).sum() / len(p)
    return float(np.quantile(values, q))


def lift_by_decile(y: np.ndarray, p: np.ndarray) -> pd.DataFrame:
    """Decile 1 = the 10% highest scores. Lift = decile SQL rate / overall rate."""
    y = np.asarray(y, dtype=float)
    p = np.asarray(p, dtype=float)
    n = len(y)
    order = np.argsort(-p, kind="stable")
    decile = np.empty(n, dtype=int)
    decile[order] = np.arange(n) * 10 // max(n, 1) + 1
    base = y.mean() if n else np.nan
    rows = []
    captured = 0.0
    for d in range(1, 11):
        sel = decile == d
        k = float(y[sel].sum())
        captured += k
        m = int(sel.sum())
        rows.append(
            {
                "decile": d,
                "n": m,
                "sqls": int(k),
                "mean_predicted": float(p[sel].mean()) if m else None,
                "observed_rate": k / m if m else None,
                "lift": (k / m) / base if m and base > 0 else None,
                "cumulative_capture": captured / y.sum() if y.sum() > 0 else None,
            }
        )
    return pd.DataFrame(rows)


def psi(reference: np.ndarray, current: np.ndarray, bins: int = 10) -> float | None:
    """Population stability index of ``current`` against ``reference``, with bins at the
    reference's quantiles (empty bins get a share of 1e-4 so the log stays finite)."""
    reference = np.asarray(reference, dtype=float)
    current = np.asarray(current, dtype=float)
    if len(reference) == 0 or len(current) == 0:
        return None
    edges = np.unique(np.quantile(reference, np.linspace(0, 1, bins + 1)[1:-1]))
    ref_share = np.bincount(
        np.searchsorted(edges, reference, side="right"), minlength=len(edges) + 1
    )
    cur_share = np.bincount(np.searchsorted(edges, current, side="right"), minlength=len(edges) + 1)
    r = np.maximum(ref_share / len(reference), 1e-4)
    c = np.maximum(cur_share / len(current), 1e-4)
    return float(np.sum((c - r) * np.log(c / r)))


def wilson_interval(
    k: int, n: int, z: float = 1.959963984540054
) -> tuple[float | None, float | None]:
    """Wilson score 95% interval for a binomial proportion."""
    if n == 0:
        return None, None
    phat = k / n
    denom = 1 + z**2 / n
    centre = (phat + z**2 / (2 * n)) / denom
    half = z * np.sqrt(phat * (1 - phat) / n + z**2 / (4 * n**2)) / denom
    return float(centre - half), float(centre + half)


# --------------------------------------------------------------------------------------------
# features and model
# --------------------------------------------------------------------------------------------


def touch_feature_frame(lead_ids: pd.Series, counts: pd.DataFrame) -> pd.DataFrame:
    """Wide engagement counts per lead (``<phase>_<touch_type>``), zeros where no touches.
    ``counts``: lead_id, phase (pre/post), touch_type, n."""
    cols = [f"{ph}_{t}" for ph in PHASES for t in TOUCH_TYPES]
    if len(counts):
        c = counts[counts["touch_type"].isin(TOUCH_TYPES) & counts["phase"].isin(PHASES)]
        wide = (
            c.assign(col=c["phase"] + "_" + c["touch_type"])
            .pivot_table(index="lead_id", columns="col", values="n", aggfunc="sum")
            .reindex(columns=cols)
        )
    else:
        wide = pd.DataFrame(columns=cols)
    out = wide.reindex(pd.Index(lead_ids, name="lead_id")).fillna(0.0).astype(float)
    return out.reset_index()


@dataclass
class FeatureSpec:
    """Levels and scaling learned on the training leads, re-applied to any other leads."""

    levels: dict[str, list[str]] = field(default_factory=dict)
    size_median: float = 0.0
    columns: list[str] = field(default_factory=list)
    means: np.ndarray | None = None
    sds: np.ndarray | None = None

    def raw_matrix(self, leads: pd.DataFrame) -> pd.DataFrame:
        """Unscaled design matrix (no intercept)."""
        parts: dict[str, pd.Series | np.ndarray] = {}
        for cat in CATEGORICALS:
            values = leads[cat].astype(object).where(leads[cat].notna(), "unknown").astype(str)
            known = self.levels[cat]
            values = values.where(values.isin(known), "other")
            for level in known[1:]:  # first level = reference
                parts[f"{cat}={level}"] = (values == level).astype(float).to_numpy()
            if "other" not in known:
                parts[f"{cat}=other"] = (values == "other").astype(float).to_numpy()
        size = pd.to_numeric(leads["company_size"], errors="coerce")
        filled = size.fillna(self.size_median).clip(lower=1).to_numpy(dtype=float)
        log10_size = np.log10(filled)
        parts["log_company_size"] = np.log1p(filled)
        parts["company_size_missing"] = size.isna().astype(float).to_numpy()
        # piecewise-linear (hinge) terms let the size effect bend, e.g. saturate
        for knot in SIZE_KNOTS:
            parts[f"log10_size_over_{knot}"] = np.maximum(log10_size - knot, 0.0)
        for ph in PHASES:
            total = np.zeros(len(leads))
            for t in TOUCH_TYPES:
                n = leads[f"{ph}_{t}"].to_numpy(dtype=float)
                total += n
                parts[f"log_{ph}_{t}"] = np.log1p(n)
                parts[f"any_{ph}_{t}"] = (n > 0).astype(float)
            site = sum(leads[f"{ph}_{t}"].to_numpy(dtype=float) for t in SITE_TYPES)
            parts[f"log_{ph}_site"] = np.log1p(site)
            parts[f"log_{ph}_total"] = np.log1p(total)
            parts[f"{ph}_content_view_2plus"] = (leads[f"{ph}_content_view"] >= 2).to_numpy(float)
        # interactions: engagement depth matters more at larger companies; senior titles mean
        # different things at tiny and at large companies
        centred = log10_size - 2.0
        parts["post_content_view_2plus_x_log10_size"] = parts["post_content_view_2plus"] * centred
        parts["log_post_site_x_log10_size"] = parts["log_post_site"] * centred
        senior = leads["seniority"].astype(str).isin(["vp", "cxo"]).to_numpy()
        parts["senior_x_size_under_50"] = (senior & (filled < 50)).astype(float)
        parts["senior_x_log10_size"] = senior * centred
        return pd.DataFrame(parts, index=leads.index)

    def matrix(self, leads: pd.DataFrame) -> np.ndarray:
        raw = self.raw_matrix(leads).reindex(columns=self.columns, fill_value=0.0)
        return (raw.to_numpy(dtype=float) - self.means) / self.sds


def fit_feature_spec(train: pd.DataFrame, min_level_count: int) -> FeatureSpec:
    spec = FeatureSpec()
    for cat in CATEGORICALS:
        values = train[cat].astype(object).where(train[cat].notna(), "unknown").astype(str)
        counts = values.value_counts()
        keep = sorted(counts[counts >= min_level_count].index, key=lambda v: (-counts[v], v))
        if len(keep) < len(counts):
            keep.append("other")
        spec.levels[cat] = keep or ["other"]
    size = pd.to_numeric(train["company_size"], errors="coerce")
    spec.size_median = float(size.median()) if size.notna().any() else 0.0
    raw = spec.raw_matrix(train)
    sds = raw.std(ddof=0)
    raw = raw.loc[:, sds > 1e-12]
    # a column identical to an earlier one (e.g. the total when only one type occurs) adds
    # nothing but a split coefficient: drop it
    raw = raw.loc[:, ~raw.T.duplicated().to_numpy()]
    spec.columns = list(raw.columns)
    spec.means = raw.mean().to_numpy()
    spec.sds = raw.std(ddof=0).to_numpy()
    return spec


@dataclass
class LeadModel:
    """A fitted scorer: feature spec + GLM coefficients (intercept first)."""

    spec: FeatureSpec
    params: np.ndarray
    platt: tuple[float, float] | None = None

    def predict(self, leads: pd.DataFrame) -> np.ndarray:
        x = self.spec.matrix(leads)
        eta = self.params[0] + x @ self.params[1:]
        if self.platt is not None:
            eta = self.platt[0] + self.platt[1] * eta
        return 1.0 / (1.0 + np.exp(-eta))

    def factors(self) -> pd.DataFrame:
        """Coefficient per standard deviation of each feature, as an odds ratio."""
        coef = self.params[1:]
        df = pd.DataFrame(
            {
                "feature": self.spec.columns,
                "coefficient_per_sd": coef,
                "odds_ratio_per_sd": np.exp(coef),
                "feature_sd": self.spec.sds,
                "coefficient_per_unit": coef / self.spec.sds,
            }
        )
        df["feature_group"] = np.where(
            df["feature"].str.contains("pre_|post_", regex=True), "engagement", "fit"
        )
        return df


def fit_lead_model(train: pd.DataFrame, y: np.ndarray, settings: ScoringSettings) -> LeadModel:
    """Ridge-penalised logistic GLM (statsmodels) on standardised features."""
    spec = fit_feature_spec(train, settings.min_level_count)
    x = sm.add_constant(spec.matrix(train), has_constant="add")
    alpha = np.full(x.shape[1], settings.alpha)
    alpha[0] = 0.0
    model = sm.GLM(np.asarray(y, dtype=float), x, family=sm.families.Binomial())
    result = model.fit_regularized(alpha=alpha, L1_wt=0.0)
    return LeadModel(spec=spec, params=np.asarray(result.params, dtype=float))


def fit_platt(y: np.ndarray, p: np.ndarray) -> tuple[float, float]:
    """Platt scaling: logit(p_calibrated) = a + b x logit(p), fitted by maximum likelihood
    (statsmodels GLM Binomial) on held-out leads."""
    p = np.clip(np.asarray(p, dtype=float), 1e-9, 1 - 1e-9)
    x = sm.add_constant(np.log(p / (1 - p)), has_constant="add")
    res = sm.GLM(np.asarray(y, dtype=float), x, family=sm.families.Binomial()).fit()
    return float(res.params[0]), float(res.params[1])


def platt_lr_pvalue(y: np.ndarray, p: np.ndarray) -> float:
    """Likelihood-ratio test of "the scores are calibrated" (logit(p_true) = logit(p), i.e.
    Platt a = 0, b = 1) against a free Platt map: chi-square with 2 degrees of freedom."""
    y = np.asarray(y, dtype=float)
    p = np.clip(np.asarray(p, dtype=float), 1e-9, 1 - 1e-9)
    a, b = fit_platt(y, p)
    q = apply_platt(p, (a, b))
    ll_fixed = np.sum(y * np.log(p) + (1 - y) * np.log(1 - p))
    ll_free = np.sum(y * np.log(q) + (1 - y) * np.log(1 - q))
    return float(stats.chi2.sf(max(2 * (ll_free - ll_fixed), 0.0), df=2))


def apply_platt(p: np.ndarray, platt: tuple[float, float]) -> np.ndarray:
    p = np.clip(np.asarray(p, dtype=float), 1e-9, 1 - 1e-9)
    eta = platt[0] + platt[1] * np.log(p / (1 - p))
    return 1.0 / (1.0 + np.exp(-eta))


# --------------------------------------------------------------------------------------------
# thresholds, grades
# --------------------------------------------------------------------------------------------


#: Days in an average month: validation volumes are per this many days.
DAYS_PER_MONTH = 365.25 / 12


def validation_span_months(val_start: date, as_of: pd.Timestamp, label_window_days: int) -> float:
    """How many months of leads the validation set holds: from ``val_start`` to the newest
    mature lead (``as_of`` minus the label window), in average months. The newest mature
    month is usually only partly mature (two days of July when the labels need 60 days and
    the data end on 31 August), so "two validation months" often hold about one; per-month
    volumes divide by this span, not by the setting."""
    cutoff = pd.Timestamp(as_of) - pd.Timedelta(days=label_window_days)
    days = (cutoff - pd.Timestamp(val_start)).total_seconds() / 86_400
    return max(days, 1.0) / DAYS_PER_MONTH


def choose_threshold(
    y: np.ndarray, p: np.ndarray, months: float, settings: ScoringSettings
) -> tuple[float, str]:
    """MQL probability threshold from the user's rule, judged on validation leads.

    ``target_precision``: the lowest threshold whose leads at or above it reached SQL at a rate
    >= target (with at least ``min_mqls_for_threshold`` of them); if none does, the threshold
    with the best such rate. ``sales_capacity``: the score of the (capacity x months)-th best
    validation lead, i.e. about ``monthly_sales_capacity`` MQLs a month."""
    y = np.asarray(y, dtype=float)
    p = np.asarray(p, dtype=float)
    order = np.argsort(-p, kind="stable")
    ps, ys = p[order], y[order]
    if settings.mql_rule == "sales_capacity":
        k = max(1, int(round(settings.monthly_sales_capacity * months)))
        if k >= len(ps):
            return float(
                ps[-1]
            ), f"capacity {settings.monthly_sales_capacity}/month exceeds leads: all are MQLs"
        return float(ps[k - 1]), f"about {settings.monthly_sales_capacity} MQLs a month"
    if settings.mql_rule != "target_precision":
        raise ValueError(f"unknown mql_rule {settings.mql_rule!r}; use one of {MQL_RULES}")
    cum_precision = np.cumsum(ys) / np.arange(1, len(ys) + 1)
    # candidate cut = each distinct score; precision of everything >= it
    last_of_value = np.r_[ps[1:] != ps[:-1], True]
    eligible = last_of_value & (np.arange(1, len(ps) + 1) >= settings.min_mqls_for_threshold)
    ok = eligible & (cum_precision >= settings.target_precision)
    if ok.any():
        i = int(np.max(np.nonzero(ok)[0]))
        return float(
            ps[i]
        ), f"validation SQL rate {cum_precision[i]:.2f} >= target {settings.target_precision:.2f}"
    if eligible.any():
        idx = np.nonzero(eligible)[0]
        i = int(idx[np.argmax(cum_precision[idx])])
        return float(ps[i]), (
            f"target precision {settings.target_precision:.2f} not reachable; best "
            f"{cum_precision[i]:.2f}"
        )
    return 1.0, "too few validation leads to set a threshold: no MQLs"


def grade(score: np.ndarray, cutoffs: Sequence[int]) -> np.ndarray:
    """A: score >= cutoffs[0], B: >= cutoffs[1], C: >= cutoffs[2], else D."""
    a, b, c = cutoffs
    s = np.asarray(score, dtype=float)
    return np.select([s >= a, s >= b, s >= c], ["A", "B", "C"], "D")


def threshold_table(
    y: np.ndarray,
    p: np.ndarray,
    months: float,
    thresholds: Sequence[float],
    crm_mql: np.ndarray | None = None,
    recommended: float | None = None,
    previous: float | None = None,
) -> pd.DataFrame:
    """Expected monthly MQL volume, SQL yield, precision and recall at each threshold, on the
    validation leads, with the change against the CRM's own MQL rule on the same leads and
    against last month's threshold: the expected effect of switching.

    ``is_recommended`` marks the score threshold from the MQL rule, unless the CRM's own
    rule dominates it on the same leads (at least as many SQLs at no lower precision), or the
    score shows no signal on them (it does not rank SQLs above the rest: one-sided
    Mann-Whitney p >= 0.05, e.g. AUC 0.37 on 6 SQLs): a score that does worse than the
    current process, or no better than chance, is not recommended over it."""
    y = np.asarray(y, dtype=float)
    p = np.asarray(p, dtype=float)
    months = max(months, 1 / DAYS_PER_MONTH)
    total = y.sum()
    rows = []
    for t in thresholds:
        rows.append(_rule_row(f"score >= {100 * t:.0f}", float(t), p >= t, y, months, total))
    if recommended is not None:
        row = _rule_row(
            f"recommended: score >= {100 * recommended:.0f}",
            float(recommended),
            p >= recommended,
            y,
            months,
            total,
        )
        rows.append({**row, "is_recommended": True})
    if previous is not None and not np.isnan(previous):
        label = f"last month: score >= {100 * previous:.0f}"
        rows.append(_rule_row(label, float(previous), p >= previous, y, months, total))
    if crm_mql is not None:
        rows.append(_rule_row(CRM_RULE, None, np.asarray(crm_mql, bool), y, months, total))
    out = pd.DataFrame(rows)
    out["is_recommended"] = out.get("is_recommended", pd.Series(False, index=out.index))
    out["is_recommended"] = out["is_recommended"].fillna(False).astype(bool)
    crm = out["rule"] == CRM_RULE
    if crm.any() and out["is_recommended"].any():
        if _dominates(out[crm].iloc[0], out[out["is_recommended"]].iloc[0]) or not has_signal(y, p):
            out["is_recommended"] = crm
    for ref_label, suffix in ((CRM_RULE, "crm"), ("last month: ", "last_month")):
        ref = out[out["rule"].str.startswith(ref_label)]
        for col in ("mqls_per_month", "sqls_per_month"):
            base = float(ref[col].iloc[0]) if len(ref) else np.nan
            out[f"{col}_change_vs_{suffix}"] = out[col] - base
    return out


def with_rule_in_force(
    scores: pd.DataFrame, scored: pd.DataFrame, thresholds: pd.DataFrame, as_of: pd.Timestamp
) -> pd.DataFrame:
    """Add ``mql_rule`` (the recommended rule this month: ``score`` or the CRM's
    ``crm mql stage``) and ``is_mql_by_rule`` (the lead is an MQL under that rule: the score's
    flag, or the CRM's MQL stage, or a later one, reached by ``as_of``). ``is_mql`` stays the
    score's own flag."""
    recommended = thresholds.loc[thresholds["is_recommended"], "rule"]
    crm = bool(len(recommended)) and recommended.iloc[0] == CRM_RULE
    out = scores.copy()
    out["mql_rule"] = CRM_RULE if crm else "score"
    if crm:
        mql_at = pd.to_datetime(scored["mql_at"])
        out["is_mql_by_rule"] = (mql_at.notna() & (mql_at < as_of)).to_numpy()
    else:
        out["is_mql_by_rule"] = out["is_mql"].to_numpy()
    return out


def has_signal(y: np.ndarray, p: np.ndarray, alpha: float = 0.05) -> bool:
    """Whether the score ranks the SQLs above the other leads beyond chance (one-sided
    Mann-Whitney U test at ``alpha``; the U statistic is the AUC times the pairs)."""
    y = np.asarray(y, dtype=bool)
    p = np.asarray(p, dtype=float)
    if y.all() or not y.any():
        return False
    return bool(stats.mannwhitneyu(p[y], p[~y], alternative="greater").pvalue < alpha)


def _dominates(rule: pd.Series, other: pd.Series) -> bool:
    """``rule`` finds at least as many SQLs as ``other`` at no lower precision."""
    if pd.isna(rule["precision"]):
        return False
    other_precision = 0.0 if pd.isna(other["precision"]) else float(other["precision"])
    return (
        float(rule["sqls_per_month"]) >= float(other["sqls_per_month"])
        and float(rule["precision"]) >= other_precision
    )


def _rule_row(
    name: str, t: float | None, sel: np.ndarray, y: np.ndarray, months: float, total: float
) -> dict:
    n = int(sel.sum())
    k = float(y[sel].sum())
    return {
        "rule": name,
        "probability_threshold": t,
        "mqls_per_month": n / months,
        "sqls_per_month": k / months,
        "precision": k / n if n else None,
        "recall": k / total if total else None,
    }


# --------------------------------------------------------------------------------------------
# the monthly run
# --------------------------------------------------------------------------------------------


@dataclass
class ScoringResult:
    """Every table of one month (DataFrames without the ``month`` column unless noted)."""

    fitted: bool
    reason: str
    performance: pd.DataFrame
    deciles: pd.DataFrame
    reliability: pd.DataFrame
    factors: pd.DataFrame
    thresholds: pd.DataFrame
    scores: pd.DataFrame
    model: LeadModel | None = None
    threshold: float | None = None
    validation: pd.DataFrame | None = None


def label_leads(leads: pd.DataFrame, as_of: pd.Timestamp, label_window_days: int) -> pd.DataFrame:
    """Mature leads with ``y`` = reached SQL within the label window (stage times from
    ``funnel.lead_stage_entries``, so the definition is the funnel's)."""
    window = pd.Timedelta(days=label_window_days)
    mature = leads[leads["lead_at"] + window <= as_of].copy()
    reached = mature["sql_at"].notna() & (mature["sql_at"] - mature["lead_at"] <= window)
    mature["y"] = reached.astype(int)
    # the CRM's MQL rule as the CRM recorded it (an explicit MQL stage), not the funnel's
    # "reached MQL or a later stage": with that, every SQL would count as a CRM MQL and the
    # rule would show a recall of 1 by construction
    crm_at = mature["crm_mql_at"] if "crm_mql_at" in mature else mature["mql_at"]
    crm = crm_at.notna() & (crm_at - mature["lead_at"] <= window)
    mature["crm_mql"] = crm.astype(int)
    return mature


def run_month(
    leads: pd.DataFrame,
    month_start: date,
    settings: ScoringSettings,
    previous_threshold: float | None = None,
    backlog_ids: Collection[str] = (),
    data_end: date | None = None,
) -> ScoringResult:
    """Fit, validate and score for one month.

    ``leads``: one row per lead created before the month's end with the segment columns,
    ``company_size``, the stage times of ``funnel.lead_stage_entries`` (``lead_at``, ``mql_at``,
    ``sql_at``, ...) and the engagement counts of ``touch_feature_frame`` (computed as of the
    month's end). ``backlog_ids``: older leads no earlier month scored (created before the
    first month with a model, or in months without one); they are scored too, flagged
    ``backscored``, and left out of this month's monitoring (drift, volumes). ``data_end``:
    where the exports end when that is inside the month; labels mature, and scores are
    stamped, there."""
    month_end = add_months(month_start, 1)
    as_of = pd.Timestamp(min(data_end, month_end) if data_end else month_end)
    labelled = label_leads(leads, as_of, settings.label_window_days)
    # training window: the latest `training_months` months of mature leads
    if len(labelled):
        last = labelled["lead_at"].max()
        last_month = date(last.year, last.month, 1)
        first_month = add_months(last_month, -(settings.training_months - 1))
        val_start = add_months(last_month, -(settings.validation_months - 1))
    else:
        first_month = val_start = month_start
    window = labelled[labelled["lead_at"] >= pd.Timestamp(first_month)]
    is_val = window["lead_at"] >= pd.Timestamp(val_start)
    train, val = window[~is_val], window[is_val]
    scored = _scoring_population(leads, month_start, as_of, settings)
    empty = ScoringResult(
        fitted=False,
        reason="",
        performance=pd.DataFrame(),
        deciles=pd.DataFrame(),
        reliability=pd.DataFrame(),
        factors=pd.DataFrame(),
        thresholds=pd.DataFrame(),
        scores=pd.DataFrame(),
    )
    needs = (
        (train, "training", settings.min_train_leads, settings.min_positives),
        (val, "validation", settings.min_train_leads // 4, settings.min_positives // 4),
    )
    for part, name, min_leads, min_sqls in needs:
        sqls = int(part["y"].sum())
        if len(part) < min_leads or sqls < min_sqls:
            empty.reason = (
                f"skipped: {len(part)} mature {name} leads with {sqls} SQLs as of {month_end} "
                f"(need {min_leads} and {min_sqls})"
            )
            empty.performance = _performance_row(
                empty, train, val, None, None, None, scored, settings, first_month, val_start, leads
            )
            return empty
    # 1) out-of-time validation of a model fitted on the earlier months
    val_model = fit_lead_model(train, train["y"].to_numpy(), settings)
    p_val_raw = val_model.predict(val)
    y_val = val["y"].to_numpy()
    n_val_months = validation_span_months(val_start, as_of, settings.label_window_days)
    # recalibrate only when needed: validation ECE beyond both the tolerance and the ECE a
    # perfectly calibrated score would show on this many leads by chance, and a clear
    # (likelihood-ratio) rejection of "calibrated": two months of validation leads are few,
    # and a Platt map fitted to their noise makes later months worse, not better
    raw_ece = ece(y_val, p_val_raw, settings.calibration_bins)
    noise = ece_noise_quantile(p_val_raw, settings.calibration_bins)
    needed = (
        raw_ece is not None
        and raw_ece > max(settings.calibration_tolerance, noise or 0.0)
        and platt_lr_pvalue(y_val, p_val_raw) < settings.recalibration_p_value
    )
    if settings.recalibration not in ("auto", "platt", "none"):
        raise ValueError(
            f"recalibration must be auto, platt or none, not {settings.recalibration!r}"
        )
    platt = None
    if settings.recalibration == "platt" or (settings.recalibration == "auto" and needed):
        platt = fit_platt(y_val, p_val_raw)
    p_val = apply_platt(p_val_raw, platt) if platt else p_val_raw
    threshold, rule_note = choose_threshold(y_val, p_val, n_val_months, settings)
    # 2) production model on every mature lead of the window (+ the validation Platt map)
    model = fit_lead_model(window, window["y"].to_numpy(), settings)
    model.platt = platt
    p_scored = model.predict(scored) if len(scored) else np.array([])
    backlog = leads[
        leads["lead_id"].isin(list(backlog_ids))
        & ~leads["lead_id"].isin(scored["lead_id"])
        & (leads["lead_at"] < as_of)
    ].reset_index(drop=True)
    p_backlog = model.predict(backlog) if len(backlog) else np.array([])
    scores = _score_rows(scored, p_scored, threshold, as_of, settings, backscored=False)
    if len(backlog):
        scores = pd.concat(
            [scores, _score_rows(backlog, p_backlog, threshold, as_of, settings, backscored=True)],
            ignore_index=True,
        )
    grid = [t / 100 for t in range(5, 100, 5)]
    thresholds = threshold_table(
        y_val,
        p_val,
        n_val_months,
        grid,
        crm_mql=val["crm_mql"].to_numpy(),
        recommended=threshold,
        previous=previous_threshold,
    )
    scores = with_rule_in_force(
        scores, pd.concat([scored, backlog], ignore_index=True), thresholds, as_of
    )
    result = ScoringResult(
        fitted=True,
        reason=rule_note,
        performance=pd.DataFrame(),
        deciles=lift_by_decile(y_val, p_val),
        reliability=reliability_table(y_val, p_val, settings.calibration_bins),
        factors=_rank_factors(model.factors()),
        thresholds=thresholds,
        scores=scores,
        model=model,
        threshold=threshold,
        validation=val.assign(p=p_val, p_raw=p_val_raw),
    )
    p_ref = model.predict(window)
    result.performance = _performance_row(
        result, train, val, p_val, p_ref, p_scored, scored, settings, first_month, val_start, leads
    )
    return result


def _touch_test_fields(leads: pd.DataFrame) -> dict:
    """The post-SQL touch decision of ``scoring_frame`` (none for hand-made frames)."""
    test = leads.attrs.get("post_sql_touches")
    if test is None:
        return {}
    return {
        "post_sql_touches": "left out" if test.cut else "kept",
        "post_sql_touch_rate_ratio": test.rate_ratio,
        "post_sql_touch_p_value": test.p_value,
        "post_sql_touch_note": test.describe(),
    }


def _score_rows(
    frame: pd.DataFrame,
    p: np.ndarray,
    threshold: float,
    as_of: pd.Timestamp,
    settings: ScoringSettings,
    backscored: bool,
) -> pd.DataFrame:
    """The score rows of ``frame``'s leads from their predicted SQL probabilities ``p``."""
    score = np.round(100 * p).astype(int)
    return pd.DataFrame(
        {
            "lead_id": frame["lead_id"].to_numpy(),
            "scored_at": as_of,
            "score": score,
            "predicted_sql_probability": p,
            "grade": grade(score, settings.grade_cutoffs),
            "is_mql": p >= threshold,
            "features_complete": (
                frame["lead_at"] + pd.Timedelta(days=settings.post_days) <= as_of
            ).to_numpy(),
            "lead_created_at": frame["lead_at"].to_numpy(),
            "backscored": backscored,
        }
    )


def _scoring_population(
    leads: pd.DataFrame, month_start: date, as_of: pd.Timestamp, settings: ScoringSettings
) -> pd.DataFrame:
    """Leads created this month, plus earlier leads whose post-creation window was still open
    at the previous month's end (their final score is this month's)."""
    since = pd.Timestamp(month_start) - pd.Timedelta(days=settings.post_days)
    return leads[(leads["lead_at"] >= since) & (leads["lead_at"] < as_of)].reset_index(drop=True)


def _rank_factors(df: pd.DataFrame, top: int = 10) -> pd.DataFrame:
    pos = (
        df[df["coefficient_per_sd"] > 0]
        .nlargest(top, "coefficient_per_sd")
        .assign(direction="positive")
    )
    neg = (
        df[df["coefficient_per_sd"] < 0]
        .nsmallest(top, "coefficient_per_sd")
        .assign(direction="negative")
    )
    out = pd.concat([pos, neg], ignore_index=True)
    out["rank"] = out.groupby("direction").cumcount() + 1
    return out


def _performance_row(
    result: ScoringResult,
    train: pd.DataFrame,
    val: pd.DataFrame,
    p_val: np.ndarray | None,
    p_ref: np.ndarray | None,
    p_scored: np.ndarray | None,
    scored: pd.DataFrame,
    settings: ScoringSettings,
    train_start: date,
    val_start: date,
    leads: pd.DataFrame,
) -> pd.DataFrame:
    y_val = val["y"].to_numpy() if len(val) else np.array([])
    fitted = p_val is not None
    platt = result.model.platt if result.model is not None else None
    # this month's population only: backscored backlog leads are not this month's leads
    complete = (
        result.scores.loc[~result.scores["backscored"], "features_complete"].to_numpy()
        if fitted and p_scored is not None
        else None
    )
    row = {
        "model_fitted": result.fitted,
        "note": result.reason,
        "train_start": train_start,
        "validation_start": val_start,
        "n_train": len(train),
        "train_sqls": int(train["y"].sum()) if len(train) else 0,
        "n_validation": len(val),
        "validation_sqls": int(y_val.sum()),
        "validation_base_rate": float(y_val.mean()) if len(y_val) else None,
        "auc": auc(y_val, p_val) if fitted else None,
        "brier": brier(y_val, p_val) if fitted else None,
        "ece": ece(y_val, p_val, settings.calibration_bins) if fitted else None,
        "ece_noise_95": (ece_noise_quantile(p_val, settings.calibration_bins) if fitted else None),
        "recalibrated": platt is not None,
        "ece_before_recalibration": (
            ece(y_val, result.validation["p_raw"].to_numpy(), settings.calibration_bins)
            if fitted and result.validation is not None
            else None
        ),
        "platt_a": platt[0] if platt is not None else None,
        "platt_b": platt[1] if platt is not None else None,
        "crm_mql_auc": auc(y_val, val["crm_mql"].to_numpy()) if len(val) else None,
        "mql_rule": settings.mql_rule,
        "probability_threshold": result.threshold,
        "n_scored": len(scored) if fitted else 0,
        "mqls_scored": int(np.sum(p_scored >= result.threshold))
        if fitted and p_scored is not None
        else 0,
        # drift on leads with a complete post-creation window only: provisional scores of
        # very young leads are low by construction and would look like drift
        "psi_vs_training": psi(p_ref, p_scored[complete], settings.psi_bins)
        if complete is not None and complete.any()
        else None,
        "label_window_days": settings.label_window_days,
        "alpha": settings.alpha,
        **_touch_test_fields(leads),
    }
    return pd.DataFrame([row])


# --------------------------------------------------------------------------------------------
# MQL quality, feedback, lead source
# --------------------------------------------------------------------------------------------


def mql_quality(
    entries: pd.DataFrame, cohort_month: date, window_days: int, as_of: pd.Timestamp
) -> pd.DataFrame:
    """MQL -> SQL within ``window_days`` for MQLs of the (mature) cohort month, overall and by
    lead_source, first-touch channel and campaign, with Wilson 95% intervals."""
    start, end = pd.Timestamp(cohort_month), pd.Timestamp(add_months(cohort_month, 1))
    cohort = entries[(entries["mql_at"] >= start) & (entries["mql_at"] < end)].copy()
    window = pd.Timedelta(days=window_days)
    cohort["sql"] = (
        cohort["sql_at"].notna()
        & (cohort["sql_at"] - cohort["mql_at"] <= window)
        & (cohort["sql_at"] < as_of)
    ).astype(int)
    cohort["all"] = "all"
    rows = []
    for dim in ("all", "lead_source", "channel", "campaign_id"):
        values = cohort[dim].astype(object).where(cohort[dim].notna(), "unknown").astype(str)
        for value, grp in cohort.groupby(values, sort=True):
            n, k = len(grp), int(grp["sql"].sum())
            lo, hi = wilson_interval(k, n)
            rows.append(
                {
                    "cohort_month": cohort_month,
                    "window_days": window_days,
                    "dimension": "campaign" if dim == "campaign_id" else dim,
                    "value": value,
                    "mqls": n,
                    "sqls": k,
                    "sql_rate": k / n if n else None,
                    "ci_low": lo,
                    "ci_high": hi,
                }
            )
    if not rows:
        rows.append(
            {
                "cohort_month": cohort_month,
                "window_days": window_days,
                "dimension": "all",
                "value": "all",
                "mqls": 0,
                "sqls": 0,
                "sql_rate": None,
                "ci_low": None,
                "ci_high": None,
            }
        )
    return pd.DataFrame(rows)


def feedback_summary(feedback: pd.DataFrame, scores: pd.DataFrame | None = None) -> pd.DataFrame:
    """Sales verdicts of the month by reason, with each reason's share of its verdict, and the
    acceptance rate overall; mean score of the leads if known. Reasons that differ only in
    case or surrounding spaces are one reason, shown in its most frequent spelling (ties: the
    first in sort order); free text is otherwise kept as written."""
    if feedback.empty:
        return pd.DataFrame(columns=["verdict", "reason", "n", "share_of_verdict", "mean_score"])
    fb = feedback.copy()
    fb["verdict"] = fb["verdict"].astype(str).str.strip().str.lower()
    written = fb["reason"].astype(object).where(fb["reason"].notna(), "").astype(str).str.strip()
    key = written.str.lower()
    spelling = (
        pd.DataFrame({"key": key, "written": written})
        .value_counts()
        .reset_index(name="n")
        .sort_values(["key", "n", "written"], ascending=[True, False, True])
        .drop_duplicates("key")
        .set_index("key")["written"]
    )
    fb["reason"] = key.map(spelling).where(key != "", "(no reason)")
    if scores is not None and len(scores):
        fb = fb.merge(
            scores[["lead_id", "score"]].drop_duplicates("lead_id"), on="lead_id", how="left"
        )
    else:
        fb["score"] = np.nan
    out = (
        fb.groupby(["verdict", "reason"], sort=True)
        .agg(n=("lead_id", "size"), mean_score=("score", "mean"))
        .reset_index()
    )
    out["share_of_verdict"] = out["n"] / out.groupby("verdict")["n"].transform("sum")
    totals = (
        fb.groupby("verdict").agg(n=("lead_id", "size"), mean_score=("score", "mean")).reset_index()
    )
    totals["reason"] = "(all)"
    totals["share_of_verdict"] = totals["n"] / totals["n"].sum()
    return pd.concat([totals, out], ignore_index=True)[
        ["verdict", "reason", "n", "share_of_verdict", "mean_score"]
    ]


def source_comparison(leads: pd.DataFrame) -> pd.DataFrame:
    """CRM ``lead_source`` against the touchpoint-derived first channel (first touch strictly
    before creation): leads per pair, the pair's share of the source, and whether the pair is
    the source's most common channel. ``first_channel`` 'none' = no touch before creation."""
    if leads.empty:
        return pd.DataFrame(
            columns=["lead_source", "first_channel", "leads", "share_of_source", "is_dominant"]
        )
    df = leads.copy()
    df["lead_source"] = (
        df["lead_source"].astype(object).where(df["lead_source"].notna(), "(empty)").astype(str)
    )
    df["first_channel"] = (
        df["first_channel"].astype(object).where(df["first_channel"].notna(), "none").astype(str)
    )
    out = df.groupby(["lead_source", "first_channel"]).size().rename("leads").reset_index()
    out["share_of_source"] = out["leads"] / out.groupby("lead_source")["leads"].transform("sum")
    top = out.groupby("lead_source")["leads"].transform("max")
    out["is_dominant"] = out["leads"] == top
    return out


# --------------------------------------------------------------------------------------------
# loading (SQL files in sql/intermediate/lead_*.sql and funnel_*.sql)
# --------------------------------------------------------------------------------------------


def scoring_frame(
    con: duckdb.DuckDBPyConnection,
    as_of: date,
    month: date,
    settings: ScoringSettings,
    earliest: datetime | None = None,
    cut_after_sql: bool | None = None,
) -> tuple[pd.DataFrame, FunnelInputs]:
    """One row per lead created before ``as_of`` (and after the training window's start, or
    ``earliest`` when that is before it): stage times (the funnel's shared definition),
    firmographics, first channel at creation and engagement counts, all computed from rows
    before ``as_of``. Touches after SQL are left out as ``post_sql_touch_test`` decides, or
    as ``cut_after_sql`` says; the test (with the decision) is ``leads.attrs["post_sql_touches"]``."""
    cut = feature_as_of(as_of)
    inputs = load_funnel_inputs(con, as_of)
    since = since_for_features(month, settings)
    params = {
        "as_of": cut,
        "since": min(since, earliest) if earliest is not None else since,
        "pre_days": settings.pre_days,
        "post_days": settings.post_days,
    }
    reached = inputs.lead_entries.loc[inputs.lead_entries["sql_at"].notna(), ["lead_id", "sql_at"]]

    def touch_counts(post_days: int) -> pd.DataFrame:
        con.register("lead_sql_reached", reached)
        try:
            return con.execute(
                load_sql("intermediate/lead_touch_counts"), params | {"post_days": post_days}
            ).df()
        finally:
            con.unregister("lead_sql_reached")

    counts = touch_counts(settings.post_days)
    first = con.execute(
        load_sql("intermediate/lead_first_channel"), {"as_of": cut, "since": params["since"]}
    ).df()
    leads = inputs.lead_entries.drop(columns=["channel"]).merge(
        inputs.leads[["lead_id", "lead_source", "campaign_id", "company_size"]],
        on="lead_id",
        how="left",
    )
    leads = leads[leads["lead_at"] >= pd.Timestamp(params["since"])]
    leads = leads.merge(first, on="lead_id", how="left")
    leads["channel"] = (
        leads["first_channel"].astype(object).where(leads["first_channel"].notna(), "none")
    )
    test = post_sql_touch_test(counts, leads, settings.post_days, pd.Timestamp(cut))
    drop_after_sql = test.cut if cut_after_sql is None else cut_after_sql
    if drop_after_sql:
        # cutting at SQL shortens the window of exactly the leads that reached SQL, and "fewer
        # touches" would then carry the label: every lead is counted over the same, shorter
        # window, one that few leads reach SQL within
        horizon = common_post_horizon(leads, settings.post_days)
        if horizon < settings.post_days:
            counts = touch_counts(horizon)
        test = replace(test, horizon_days=horizon)
        counts = counts[~counts["after_sql"]]
    wide = touch_feature_frame(leads["lead_id"], counts)
    # one row order whatever order the queries returned (the fit's float sums follow it)
    leads = leads.merge(wide, on="lead_id", how="left").sort_values("lead_id", kind="stable")
    leads = leads.reset_index(drop=True)
    leads.attrs["post_sql_touches"] = replace(test, cut=drop_after_sql)
    return leads, inputs


@dataclass(frozen=True)
class PostSqlTouchTest:
    """Do touches come faster once a lead reached SQL? Counted over the post-creation window
    of the leads that reached SQL inside it (window closed by the as-of moment)."""

    leads: int
    touches_before: int
    days_before: float
    touches_after: int
    days_after: float
    rate_ratio: float | None
    p_value: float | None
    cut: bool
    #: the touch type that came clearly faster after SQL when the pooled count did not
    #: (weekly nurture email to every lead can hide sales visits in the total)
    driver_type: str | None = None
    driver_ratio: float | None = None
    driver_p_value: float | None = None
    #: days after creation over which engagement is counted for every lead when cut
    horizon_days: int | None = None

    def describe(self) -> str:
        text = self._verdict()
        if self.cut and self.horizon_days is not None:
            text += (
                f"; engagement after creation is counted over the first {self.horizon_days} "
                "day(s) for every lead (few reach SQL that early), so a window cut short by "
                "SQL cannot give the label away"
            )
        return text

    def _verdict(self) -> str:
        verb = "left out" if self.cut else "kept"
        if self.driver_type is not None:
            pace = (
                "came only after SQL"
                if self.driver_ratio is None or not np.isfinite(self.driver_ratio)
                else f"came {self.driver_ratio:.2f}x as fast after SQL as before it"
            )
            return (
                f"touches after SQL {verb}: on the {self.leads:,} leads that reached SQL inside "
                f"the post-creation window, {self.driver_type} touches {pace} (one-sided p = "
                f"{self.driver_p_value:.2g}, adjusted for the touch types tested), although "
                f"all touches together came {self.rate_ratio:.2f}x as fast"
            )
        if self.rate_ratio is None:
            return (
                f"touches after SQL {verb} ({self.leads} leads reached SQL inside the "
                "post-creation window: too few to test whether sales drive them)"
            )
        if self.touches_after == 0:
            pace = "no touch came after SQL"
        else:
            pace = f"touches came {self.rate_ratio:.2f}x as fast after SQL as before it"
        return (
            f"touches after SQL {verb}: on the {self.leads:,} leads that reached SQL inside "
            f"the post-creation window, {pace} (one-sided p = {self.p_value:.2g})"
        )


#: common_post_horizon: the share of SQL leads whose window may still be cut by their SQL.
HORIZON_QUANTILE = 0.10


def common_post_horizon(leads: pd.DataFrame, post_days: int) -> int:
    """Days after creation over which every lead's engagement is counted when touches after
    SQL are left out: the ``HORIZON_QUANTILE`` quantile of the time from lead to SQL (whole
    days, at least 1, at most ``post_days``), so that few leads reach SQL inside it."""
    reached = leads[leads["sql_at"].notna() & (leads["sql_at"] > leads["lead_at"])]
    if reached.empty:
        return post_days
    days = (reached["sql_at"] - reached["lead_at"]).dt.total_seconds() / 86_400
    return int(min(post_days, max(1, int(np.floor(days.quantile(HORIZON_QUANTILE))))))


#: post_sql_touch_test: fewest qualifying leads and touches for a verdict, the significance
#: level, and the smallest rate ratio that counts as sales working the lead.
POST_SQL_MIN_LEADS = 30
POST_SQL_ALPHA = 0.01
POST_SQL_MIN_RATIO = 1.25
#: a touch type needs this many touches in the tested windows to be tested on its own
POST_SQL_MIN_TYPE_TOUCHES = 30


def post_sql_touch_test(
    counts: pd.DataFrame, leads: pd.DataFrame, post_days: int, as_of: pd.Timestamp
) -> PostSqlTouchTest:
    """Whether touches after SQL are outcome-driven and must be left out of the features.

    Leads that reached SQL inside their (closed) post-creation window were watched for a while
    before SQL and a while after it. If reaching SQL does not change how often they touch us
    (engagement that comes from intent), the touches after SQL are as good a feature as the
    ones before, for scored leads too. If touches come clearly faster after SQL (sales
    working the lead), they carry the label: then they are left out (``cut``). Test: the
    count after SQL given the total is binomial with the after-SQL share of the lead-days
    when the rates are equal (the conditional test for two Poisson rates), one-sided.
    Too few leads to tell: cut, the choice that cannot leak."""
    window = pd.Timedelta(days=post_days)
    q = leads[
        leads["sql_at"].notna()
        & (leads["sql_at"] > leads["lead_at"])
        & (leads["sql_at"] < leads["lead_at"] + window)
        & (leads["lead_at"] + window <= as_of)
    ]
    post = counts[(counts["phase"] == "post") & counts["lead_id"].isin(q["lead_id"])]
    after = int(post.loc[post["after_sql"], "n"].sum())
    before = int(post.loc[~post["after_sql"], "n"].sum())
    days_before = float((q["sql_at"] - q["lead_at"]).dt.total_seconds().sum() / 86400)
    days_after = float(len(q) * post_days - days_before)
    if len(q) < POST_SQL_MIN_LEADS or after + before == 0 or days_before <= 0:
        return PostSqlTouchTest(len(q), before, days_before, after, days_after, None, None, True)
    share = days_after / (days_before + days_after)
    p_value = float(stats.binomtest(after, after + before, share, alternative="greater").pvalue)
    ratio = (after / days_after) / (before / days_before) if before else float("inf")
    cut = p_value < POST_SQL_ALPHA and ratio >= POST_SQL_MIN_RATIO
    test = PostSqlTouchTest(len(q), before, days_before, after, days_after, ratio, p_value, cut)
    if cut:
        return test
    # per touch type too: a type sales drive (visits after a call) can hide in a total that
    # uniform nurture email dominates; Bonferroni over the types with enough touches
    by_type = post.groupby(["touch_type", "after_sql"])["n"].sum().unstack(fill_value=0)
    by_type = by_type[by_type.sum(axis=1) >= POST_SQL_MIN_TYPE_TOUCHES]
    for touch_type, row in by_type.iterrows():
        n_after, n_before = int(row.get(True, 0)), int(row.get(False, 0))
        p = float(stats.binomtest(n_after, n_after + n_before, share, alternative="greater").pvalue)
        p_adjusted = min(1.0, p * len(by_type))
        type_ratio = (n_after / days_after) / (n_before / days_before) if n_before else float("inf")
        if p_adjusted < POST_SQL_ALPHA and type_ratio >= POST_SQL_MIN_RATIO:
            if test.driver_p_value is None or p_adjusted < test.driver_p_value:
                test = replace(
                    test,
                    cut=True,
                    driver_type=str(touch_type),
                    driver_ratio=type_ratio,
                    driver_p_value=p_adjusted,
                )
    return test


# --------------------------------------------------------------------------------------------
# evaluation against known truth (generated data)
# --------------------------------------------------------------------------------------------


def out_of_time_evaluation(
    model: LeadModel, later: pd.DataFrame, truth: pd.DataFrame, bins: int = 10
) -> dict[str, float | int | None]:
    """Judge a model on leads it never saw (created after its fit month) against the recorded
    truth: AUC of the score and of the true probability (the oracle) on the realised outcome,
    their ratio, and the score's ECE. ``truth``: lead_id, true_sql_probability, reached_sql."""
    df = later.merge(truth, on="lead_id", how="inner")
    p = model.predict(df)
    y = df["reached_sql"].astype(int).to_numpy()
    oracle = df["true_sql_probability"].to_numpy(dtype=float)
    a, ao = auc(y, p), auc(y, oracle)
    return {
        "n": len(df),
        "sqls": int(y.sum()),
        "auc": a,
        "oracle_auc": ao,
        "auc_ratio": a / ao if a is not None and ao else None,
        "ece": ece(y, p, bins),
        "oracle_ece": ece(y, oracle, bins),
        "brier": brier(y, p),
    }


def feature_as_of(as_of: date | datetime) -> datetime:
    """The as-of moment as a naive UTC datetime for binding into SQL."""
    return pd.Timestamp(as_of).to_pydatetime()


def since_for_features(month_start: date, settings: ScoringSettings) -> datetime:
    """Earliest lead creation a month needs (its training window, with slack for the label
    window), so feature SQL does not scan older leads."""
    months_back = settings.training_months + settings.label_window_days // 28 + 2
    start = add_months(month_start, -months_back)
    return datetime(start.year, start.month, 1)


def evaluate_out_of_time(
    con: duckdb.DuckDBPyConnection,
    truth: pd.DataFrame,
    fit_month: date,
    data_end: date,
    settings: ScoringSettings,
) -> dict[str, float | int | str | None]:
    """Fit exactly as the monthly asset does at ``fit_month``'s end, then judge the model on
    every lead created after that moment whose post-creation window closed before
    ``data_end`` (features as of ``data_end``), against the recorded truth."""
    fit_end = add_months(fit_month, 1)
    train_frame, _ = scoring_frame(con, fit_end, fit_month, settings)
    result = run_month(train_frame, fit_month, settings)
    if result.model is None:
        return {"fit_month": str(fit_month), "note": result.reason}
    later_frame, _ = scoring_frame(
        con,
        data_end,
        add_months(data_end, -1),
        settings,
        cut_after_sql=train_frame.attrs["post_sql_touches"].cut,
    )
    window = pd.Timedelta(days=settings.post_days)
    later = later_frame[
        (later_frame["lead_at"] >= pd.Timestamp(fit_end))
        & (later_frame["lead_at"] + window <= pd.Timestamp(data_end))
    ]
    out: dict[str, float | int | str | None] = {"fit_month": str(fit_month)}
    out.update(out_of_time_evaluation(result.model, later, truth))
    perf = result.performance.iloc[0]
    out["validation_auc"] = perf["auc"]
    out["validation_ece"] = perf["ece"]
    return out
