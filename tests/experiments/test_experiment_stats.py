"""Experiment statistics against scipy/statsmodels on the same counts, and hand-computed cases."""

from __future__ import annotations

import math
from datetime import date

import numpy as np
import pandas as pd
import pytest
from scipy import stats
from statsmodels.stats.multitest import multipletests
from statsmodels.stats.power import NormalIndPower, TTestIndPower
from statsmodels.stats.proportion import (
    confint_proportions_2indep,
    proportion_effectsize,
    proportions_ztest,
)

from gtm_assets.analytics.experiments import (
    ExperimentStatsConfig,
    cuped_adjust,
    experiment_results,
    newcombe_diff_interval,
    parse_planned_split,
    required_units_conversion,
    required_units_mean,
    srm_test,
    two_proportion_p_value,
    welch,
    wilson_interval,
)

MONTH = date(2025, 3, 1)
MONTH_END = date(2025, 4, 1)


def make_units(experiment_id: str, arms: dict[str, tuple[int, int]]) -> pd.DataFrame:
    """Units with exactly ``conversions`` of ``n`` converted per variant."""
    frames = []
    for variant, (n, k) in arms.items():
        i = np.arange(n)
        frames.append(
            pd.DataFrame(
                {
                    "experiment_id": experiment_id,
                    "unit_id": [f"{variant}-{j}" for j in i],
                    "variant": variant,
                    "converted": (i < k).astype(int),
                    "revenue": 0.0,
                    "pre_metric": np.nan,
                }
            )
        )
    return pd.concat(frames, ignore_index=True)


def make_experiment(
    experiment_id: str,
    split: str = "50/50",
    metric: str = "conversion",
    end_date: date | None = date(2025, 3, 20),
) -> dict:
    return {
        "experiment_id": experiment_id,
        "name": f"test {experiment_id}",
        "primary_metric": metric,
        "start_date": date(2025, 2, 1),
        "end_date": end_date,
        "planned_split": split,
    }


def run(exps: list[dict], units: list[pd.DataFrame], **cfg) -> pd.DataFrame:
    return experiment_results(
        pd.DataFrame(exps),
        pd.concat(units, ignore_index=True),
        MONTH,
        MONTH_END,
        ExperimentStatsConfig(**cfg),
    )


# ----------------------------------------------------------------------------- primitives


def test_two_proportion_z_test_by_hand_and_statsmodels():
    # 200/1000 vs 150/1000: pooled p = 0.175, se = sqrt(.175 * .825 * 2/1000), z = 2.9424
    se = math.sqrt(0.175 * 0.825 * (2 / 1000))
    z = 0.05 / se
    hand = math.erfc(z / math.sqrt(2))
    assert z == pytest.approx(2.9424, abs=1e-4)
    assert two_proportion_p_value(200, 1000, 150, 1000) == pytest.approx(hand, rel=1e-12)
    for counts in [(200, 1000, 150, 1000), (3, 40, 9, 38), (51, 2300, 40, 2280)]:
        _, ref = proportions_ztest([counts[0], counts[2]], [counts[1], counts[3]])
        assert two_proportion_p_value(*counts) == pytest.approx(ref, rel=1e-12)


def test_z_test_without_any_variation_is_not_significant():
    assert two_proportion_p_value(0, 100, 0, 120) == 1.0


def test_newcombe_matches_published_example_and_statsmodels():
    # Newcombe (1998), Stat Med 17:873, table II example (56/70 vs 48/80), method 10.
    low, high = newcombe_diff_interval(56, 70, 48, 80)
    assert (round(low, 4), round(high, 4)) == (0.0524, 0.3339)
    for counts in [(56, 70, 48, 80), (0, 50, 3, 60), (10, 10, 0, 10), (120, 4000, 95, 4100)]:
        ref = confint_proportions_2indep(*counts, method="newcomb", compare="diff")
        assert newcombe_diff_interval(*counts) == pytest.approx(ref, abs=1e-12)


def test_wilson_interval_hand_example():
    # Wilson 95% for 0/10: (0, z^2 / (10 + z^2)) = (0, 0.2775)
    z = stats.norm.ppf(0.975)
    low, high = wilson_interval(0, 10)
    assert low == pytest.approx(0.0, abs=1e-15)
    assert high == pytest.approx(z * z / (10 + z * z), rel=1e-12)


def test_srm_against_scipy_and_hand():
    # 5000 vs 5400 at 50/50: chi2 = 2 * 200^2 / 5200 = 15.385
    p = srm_test([5000, 5400], [50, 50])
    assert p == pytest.approx(stats.chi2.sf(2 * 200**2 / 5200, 1), rel=1e-12)
    assert p < 0.001
    ref = stats.chisquare([340, 330, 330], f_exp=[340, 330, 330]).pvalue
    assert srm_test([340, 330, 330], [34, 33, 33]) == pytest.approx(ref) == pytest.approx(1.0)


def test_required_units_against_statsmodels_and_formula():
    n_c, n_t = required_units_conversion(0.10, 0.10, 1.0, 0.05, 0.8)
    h = proportion_effectsize(0.11, 0.10)
    ref = NormalIndPower().solve_power(abs(h), alpha=0.05, power=0.8, ratio=1.0)
    assert n_c == pytest.approx(ref) and n_t == pytest.approx(ref)
    # closed form for equal arms: var(2 asin sqrt p) = 1/n, so n = 2 ((z_a/2 + z_b) / h)^2
    closed = 2 * ((stats.norm.ppf(0.975) + stats.norm.ppf(0.8)) / h) ** 2
    assert n_c == pytest.approx(closed, rel=1e-3)
    assert 14_000 < n_c < 15_500  # the familiar "about 14.7k per arm" for 10% -> 11%
    n_c2, n_t2 = required_units_conversion(0.10, 0.10, 2.0, 0.05, 0.8)
    assert n_t2 == pytest.approx(2 * n_c2)
    ref2 = NormalIndPower().solve_power(abs(h), alpha=0.05, power=0.8, ratio=2.0)
    assert n_c2 == pytest.approx(ref2)
    assert math.isnan(required_units_conversion(0.0, 0.1, 1.0, 0.05, 0.8)[0])
    n_mean, _ = required_units_mean(50.0, 100.0, 0.10, 1.0, 0.05, 0.8)
    assert n_mean == pytest.approx(
        TTestIndPower().solve_power(0.05, alpha=0.05, power=0.8, ratio=1.0)
    )


def test_welch_against_scipy():
    rng = np.random.default_rng(3)
    a, b = rng.exponential(10, 300), rng.exponential(12, 250)
    p, low, high = welch(a, b)
    ref = stats.ttest_ind(a, b, equal_var=False)
    ci = ref.confidence_interval(0.95)
    assert (p, low, high) == pytest.approx((ref.pvalue, ci.low, ci.high), rel=1e-12)
    # Welch df by hand (Welch-Satterthwaite) gives the same interval
    va, vb = a.var(ddof=1) / len(a), b.var(ddof=1) / len(b)
    df = (va + vb) ** 2 / (va**2 / (len(a) - 1) + vb**2 / (len(b) - 1))
    half = stats.t.ppf(0.975, df) * math.sqrt(va + vb)
    assert (low, high) == pytest.approx((a.mean() - b.mean() - half, a.mean() - b.mean() + half))


def test_planned_split_parsing():
    shares, problem = parse_planned_split("34/33/33", ["b", "control", "a"])
    assert problem == "" and shares == pytest.approx({"control": 0.34, "a": 0.33, "b": 0.33})
    shares, problem = parse_planned_split("treatment:70/control:30", ["control", "treatment"])
    assert problem == "" and shares == pytest.approx({"control": 0.3, "treatment": 0.7})
    _, problem = parse_planned_split("50/50", ["control", "a", "b"])
    assert "2 shares but 3 variant" in problem
    shares, problem = parse_planned_split(None, ["x", "y"])
    assert problem == "" and shares == {"x": 0.5, "y": 0.5}


# ----------------------------------------------------------------------------- CUPED


def _correlated(rng, n, effect, rho=0.8):
    x = rng.normal(100, 20, n)
    noise = rng.normal(0, 20 * math.sqrt(1 - rho**2) / rho, n)
    return x, x + noise + effect


def test_cuped_theta_and_estimate_match_regression_adjustment():
    rng = np.random.default_rng(11)
    x_c, y_c = _correlated(rng, 4000, 0.0)
    x_t, y_t = _correlated(rng, 4000, 2.0)
    x = np.concatenate([x_c, x_t])
    y = np.concatenate([y_c, y_t])
    treat = np.r_[np.zeros(4000), np.ones(4000)]
    y_adj, theta, reduction = cuped_adjust(y, x)
    # theta by hand: pooled covariance over pooled variance
    hand_theta = ((x - x.mean()) * (y - y.mean())).sum() / ((x - x.mean()) ** 2).sum()
    assert theta == pytest.approx(hand_theta, rel=1e-12)
    cuped_est = y_adj[treat == 1].mean() - y_adj[treat == 0].mean()
    # direct regression-adjusted (ANCOVA) estimate: y ~ 1 + treat + (x - mean x)
    design = np.column_stack([np.ones_like(x), treat, x - x.mean()])
    coef, *_ = np.linalg.lstsq(design, y, rcond=None)
    assert cuped_est == pytest.approx(coef[1], abs=0.05)
    assert abs(cuped_est - 2.0) < abs(y_t.mean() - y_c.mean() - 2.0) + 0.5
    # variance reduction is about rho^2 = 0.64 on data built with rho = 0.8
    assert reduction == pytest.approx(np.corrcoef(x, y)[0, 1] ** 2, abs=0.02)
    assert 0.58 < reduction < 0.70


def test_cuped_reduces_the_variance_of_the_estimate_across_replications():
    rng = np.random.default_rng(5)
    raw, adj = [], []
    for _ in range(200):
        x_c, y_c = _correlated(rng, 300, 0.0, rho=0.7)
        x_t, y_t = _correlated(rng, 300, 1.0, rho=0.7)
        y_adj, _, _ = cuped_adjust(np.r_[y_c, y_t], np.r_[x_c, x_t])
        raw.append(y_t.mean() - y_c.mean())
        adj.append(y_adj[300:].mean() - y_adj[:300].mean())
    ratio = np.var(adj) / np.var(raw)
    assert ratio == pytest.approx(1 - 0.49, abs=0.12)
    assert np.mean(adj) == pytest.approx(1.0, abs=0.3)


def test_cuped_in_results_uses_welch_on_adjusted_values():
    rng = np.random.default_rng(8)
    x_c, y_c = _correlated(rng, 500, 0.0)
    x_t, y_t = _correlated(rng, 500, 3.0)
    units = pd.DataFrame(
        {
            "experiment_id": "rev",
            "unit_id": [f"u{i}" for i in range(1000)],
            "variant": ["control"] * 500 + ["treatment"] * 500,
            "converted": 1,
            "revenue": np.r_[y_c, y_t],
            "pre_metric": np.r_[x_c, x_t],
        }
    )
    out = run([make_experiment("rev", metric="revenue")], [units])
    t = out[~out["is_control"]].iloc[0]
    y_adj, theta, reduction = cuped_adjust(units["revenue"].to_numpy(), units["pre_metric"])
    ref = stats.ttest_ind(y_adj[500:], y_adj[:500], equal_var=False)
    assert t["cuped_applied"] and t["cuped_theta"] == pytest.approx(theta)
    assert t["cuped_p_value"] == pytest.approx(ref.pvalue, rel=1e-9)
    assert t["decision_test"] == "welch_cuped_revenue"
    assert t["decision_p_value"] == pytest.approx(ref.pvalue, rel=1e-9)
    assert (t["cuped_ci_high"] - t["cuped_ci_low"]) < (t["revenue_ci_high"] - t["revenue_ci_low"])
    raw = stats.ttest_ind(y_t, y_c, equal_var=False)
    assert t["revenue_p_value"] == pytest.approx(raw.pvalue, rel=1e-9)
    assert t["revenue_per_unit"] == pytest.approx(y_t.mean())


# ----------------------------------------------------------------------------- results table


def test_results_row_matches_direct_library_calls():
    units = make_units("e1", {"control": (2000, 200), "treatment": (2000, 250)})
    out = run([make_experiment("e1")], [units])
    c = out[out["is_control"]].iloc[0]
    t = out[~out["is_control"]].iloc[0]
    assert (c["variant"], c["units"], c["conversions"]) == ("control", 2000, 200)
    assert t["conversion_rate"] == pytest.approx(0.125)
    assert t["lift_abs"] == pytest.approx(0.025)
    assert t["lift_rel"] == pytest.approx(0.25)
    assert t["p_value"] == pytest.approx(proportions_ztest([250, 200], [2000, 2000])[1])
    ref = confint_proportions_2indep(250, 2000, 200, 2000, method="newcomb", compare="diff")
    assert (t["ci_low"], t["ci_high"]) == pytest.approx(ref)
    assert t["srm_p_value"] == pytest.approx(1.0) and not t["srm_flag"]
    h = proportion_effectsize(0.11, 0.10)
    req = math.ceil(NormalIndPower().solve_power(abs(h), alpha=0.05, power=0.8, ratio=1))
    assert t["required_units"] == req and c["required_units"] == req
    # a single comparison: Holm leaves the p-value unchanged
    assert t["p_value_adjusted"] == pytest.approx(t["p_value"])
    assert pd.isna(c["lift_abs"]) and c["verdict"] == "baseline"


def test_holm_across_the_months_tests_by_hand():
    # three experiments whose z-tests give p-values; Holm adjusts them as a family
    units = [
        make_units("a", {"control": (1000, 100), "t": (1000, 135)}),
        make_units("b", {"control": (1000, 100), "t": (1000, 125)}),
        make_units("c", {"control": (1000, 100), "t": (1000, 104)}),
    ]
    out = run([make_experiment(e) for e in "abc"], units)
    t = out[~out["is_control"]].set_index("experiment_id")
    raw = t["p_value"].astype(float)
    order = raw.sort_values().index.tolist()
    m = 3
    hand, running = {}, 0.0
    for i, exp in enumerate(order):
        running = max(running, min(1.0, (m - i) * raw[exp]))
        hand[exp] = running
    for exp in "abc":
        assert t.loc[exp, "p_value_adjusted"] == pytest.approx(hand[exp])
    ref = multipletests(raw.to_numpy(), method="holm")[1]
    assert t["p_value_adjusted"].astype(float).to_numpy() == pytest.approx(ref)
    bh = run([make_experiment(e) for e in "abc"], units, correction="fdr_bh")
    ref_bh = multipletests(raw.to_numpy(), method="fdr_bh")[1]
    assert bh[~bh["is_control"]]["p_value_adjusted"].astype(float).to_numpy() == pytest.approx(
        ref_bh
    )


def test_multi_variant_each_vs_control_and_control_without_the_name():
    units = make_units("m", {"B": (1000, 120), "A": (1000, 100), "C": (1000, 90)})
    out = run([make_experiment("m", split="34/33/33")], [units]).set_index("variant")
    assert out.loc["A", "is_control"] and out["control_variant"].eq("A").all()
    assert out.loc["B", "lift_abs"] == pytest.approx(0.02)
    assert out.loc["C", "lift_abs"] == pytest.approx(-0.01)
    assert out.loc["A", "planned_share"] == pytest.approx(0.34)
    ref = stats.chisquare([1000, 1000, 1000], f_exp=[1020, 990, 990]).pvalue
    assert out.loc["B", "srm_p_value"] == pytest.approx(ref)
    assert out.loc["C", "p_value"] == pytest.approx(proportions_ztest([90, 100], [1000, 1000])[1])


# ----------------------------------------------------------------------------- verdicts


def verdict_of(arms, end_date=date(2025, 3, 20), split="50/50", **cfg):
    out = run(
        [make_experiment("v", split=split, end_date=end_date)], [make_units("v", arms)], **cfg
    )
    t = out[~out["is_control"]].iloc[0]
    return t["verdict"], t["verdict_reason"], out


def test_srm_mismatch_invalidates_every_row_even_when_significant():
    # 5000 vs 5400 units at a planned 50/50, with a huge, significant lift
    verdict, reason, out = verdict_of({"control": (5000, 500), "treatment": (5400, 900)})
    assert out["srm_flag"].all() and (out["srm_p_value"] < 0.001).all()
    assert set(out["verdict"]) == {"invalid: SRM"}
    assert "sample ratio mismatch" in reason
    assert out["p_value"].dropna().iloc[0] < 1e-6  # the test itself would say "ship"


def test_split_with_the_wrong_number_of_shares_is_srm():
    verdict, reason, _ = verdict_of(
        {"control": (100, 10), "a": (100, 10), "b": (100, 10)}, split="50/50"
    )
    assert verdict == "invalid: SRM" and "2 shares but 3 variant" in reason


def test_ship_when_ended_and_significantly_better():
    verdict, reason, _ = verdict_of({"control": (2000, 200), "treatment": (2000, 280)})
    assert verdict == "ship" and "better than control" in reason


def test_stop_when_significantly_worse():
    verdict, reason, _ = verdict_of({"control": (2000, 280), "treatment": (2000, 200)})
    assert verdict == "stop" and "worse than control" in reason


def test_inconclusive_when_ended_underpowered_without_significance():
    verdict, reason, _ = verdict_of({"control": (2000, 200), "treatment": (2000, 205)})
    assert verdict == "inconclusive" and "ended without a significant difference" in reason
    assert "underpowered" in reason


def test_keep_running_when_running_short_of_sample_and_not_significant():
    verdict, reason, _ = verdict_of({"control": (2000, 200), "treatment": (2000, 205)}, None)
    assert verdict == "keep running" and "not significant yet" in reason


def test_keep_running_when_significant_early_but_short_of_sample():
    verdict, reason, _ = verdict_of({"control": (2000, 200), "treatment": (2000, 280)}, None)
    assert verdict == "keep running" and "significant early" in reason


def test_running_with_enough_units_decides():
    # 20,000 per arm exceeds the ~14.7k needed for 10% -> 11%
    verdict, reason, _ = verdict_of({"control": (20000, 2000), "treatment": (20000, 2010)}, None)
    assert verdict == "stop" and "at the planned sample" in reason
    verdict, _, _ = verdict_of({"control": (20000, 2000), "treatment": (20000, 2300)}, None)
    assert verdict == "ship"


def test_holm_can_turn_a_ship_into_no_ship():
    # p about 0.03 alone ships; with two null companions Holm pushes it above 0.05
    alone, _, _ = verdict_of({"control": (3000, 300), "treatment": (3000, 350)})
    assert alone == "ship"
    units = [
        make_units("a", {"control": (3000, 300), "treatment": (3000, 350)}),
        make_units("b", {"control": (3000, 300), "treatment": (3000, 301)}),
        make_units("c", {"control": (3000, 300), "treatment": (3000, 299)}),
    ]
    out = run([make_experiment(e) for e in "abc"], units)
    a = out[(out["experiment_id"] == "a") & ~out["is_control"]].iloc[0]
    assert a["p_value"] < 0.05 < a["p_value_adjusted"]
    assert a["verdict"] == "inconclusive"  # ended short of its planned sample


def test_empty_input_gives_the_schema():
    out = experiment_results(
        pd.DataFrame(columns=["experiment_id", "primary_metric", "end_date", "planned_split"]),
        pd.DataFrame(columns=["experiment_id", "unit_id", "variant", "converted", "revenue"]),
        MONTH,
        MONTH_END,
    )
    assert out.empty and "verdict" in out.columns and "srm_flag" in out.columns
