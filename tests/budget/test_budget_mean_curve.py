"""The bootstrap-mean objective (``objective_curve="bootstrap_mean"``): the curve the
optimizer maximises is the average of the fit's bootstrap Hill curves."""

import numpy as np
import pytest

from gtm_assets.analytics.allocation import MeanHill, PeriodHill, check_kkt, optimize_allocation
from gtm_assets.analytics.budget import BudgetOptions, optimizer_curve, reallocate
from gtm_assets.analytics.response_curves import CurveFit

DRAWS = np.array([[100.0, 50.0, 1.0], [80.0, 30.0, 1.0], [120.0, 90.0, 1.5]])


def _by_hand(s: float, periods: float) -> tuple[float, float]:
    """Mean value and marginal of the three draws, written out."""
    x = s / periods
    vals, margs = [], []
    for top, k, n in DRAWS:
        vals.append(top * x**n / (x**n + k**n))
        margs.append(top * n * k**n * x ** (n - 1) / (x**n + k**n) ** 2)
    return periods * float(np.mean(vals)), float(np.mean(margs))


@pytest.mark.parametrize("spend", [10.0, 200.0, 431.5])
def test_mean_curve_value_and_marginal_match_a_hand_computation(spend):
    curve = MeanHill(DRAWS, periods=4.3)
    value, marginal = _by_hand(spend, 4.3)
    assert float(curve.value(spend)) == pytest.approx(value, rel=1e-12)
    assert float(curve.marginal(spend)) == pytest.approx(marginal, rel=1e-12)
    # vectorised like the other curves
    both = curve.value(np.array([spend, spend]))
    assert both.shape == (2,) and both[0] == pytest.approx(value, rel=1e-12)


def test_mean_curve_at_zero_and_its_marginal_is_its_derivative():
    curve = MeanHill(DRAWS, periods=2.0)
    assert float(curve.value(0.0)) == 0.0
    # limits at zero: top / k for n = 1, 0 for n > 1
    assert float(curve.marginal(0.0)) == pytest.approx((100 / 50 + 80 / 30 + 0.0) / 3)
    s, h = 150.0, 1e-4
    numeric = (float(curve.value(s + h)) - float(curve.value(s - h))) / (2 * h)
    assert float(curve.marginal(s)) == pytest.approx(numeric, rel=1e-6)


def test_optimizer_meets_kkt_on_mean_curves():
    rng = np.random.default_rng(3)

    def draws(top, k, n, m=30):
        return np.column_stack(
            [top * rng.lognormal(0, 0.2, m), k * rng.lognormal(0, 0.5, m), np.full(m, n)]
        )

    curves = [
        MeanHill(draws(30_000, 5_000, 1.0), 4.3),
        MeanHill(draws(50_000, 15_000, 1.5), 4.3),
        MeanHill(draws(20_000, 2_000, 1.0), 4.3),
    ]
    current = np.array([20_000.0, 40_000.0, 8_000.0])
    lo, hi, budget = current * 0.7, current * 1.3, float(current.sum())
    res = optimize_allocation(curves, lo, hi, budget, reference=current)
    assert res.spend.sum() == pytest.approx(budget, rel=1e-9)
    kkt = check_kkt(curves, res.spend, lo, hi)
    assert kkt.passed, kkt.detail
    # no feasible move along the budget line improves the mean objective
    for i in range(3):
        for j in range(3):
            if i == j:
                continue
            s = res.spend.copy()
            step = 1e-3 * budget
            s[i] += step
            s[j] -= step
            if lo[j] <= s[j] and s[i] <= hi[i]:
                assert sum(float(c.value(x)) for c, x in zip(curves, s, strict=True)) <= (
                    res.objective + 1e-9 * abs(res.objective)
                )


def _fit(top, k, n, boot):
    return CurveFit(top, k, n, 0.0, 0.9, 1.0, 40, 1_000.0, 20_000.0, boot=boot)


def test_optimizer_curve_follows_the_option_and_falls_back_without_draws():
    boot = np.array([[60_000.0, 20_000.0, 1.0], [50_000.0, 15_000.0, 1.0]])
    fit = _fit(55_000.0, 18_000.0, 1.0, boot)
    point = optimizer_curve(fit, 4.0, BudgetOptions(objective_curve="point"))
    assert point == PeriodHill(55_000.0, 18_000.0, 1.0, 4.0)
    # the default is the bootstrap mean
    mean = optimizer_curve(fit, 4.0, BudgetOptions())
    assert isinstance(mean, MeanHill) and mean.draws.shape == (2, 3)
    # fewer than two finite draws: the point fit
    lone = _fit(55_000.0, 18_000.0, 1.0, np.array([boot[0], [np.nan, 1.0, 1.0]]))
    opts = BudgetOptions(objective_curve="bootstrap_mean")
    assert isinstance(optimizer_curve(lone, 4.0, opts), PeriodHill)
    with pytest.raises(ValueError, match="objective_curve"):
        BudgetOptions(objective_curve="median").validate()


def test_reallocation_on_the_mean_curves_passes_its_gates():
    rng = np.random.default_rng(0)

    def fit(top, k, n):
        boot = np.column_stack(
            [top * rng.normal(1, 0.1, 40), k * rng.lognormal(0, 0.4, 40), np.full(40, n)]
        )
        return _fit(top, k, n, boot)

    fits = {
        ("search", "revenue"): fit(60_000, 20_000, 1.0),
        ("social", "revenue"): fit(30_000, 3_000, 1.0),
        ("display", "revenue"): fit(25_000, 6_000, 1.8),
    }
    current = {"search": 40_000.0, "social": 30_000.0, "display": 30_000.0}
    opts = BudgetOptions()
    r = reallocate(fits, current, {}, {}, 30, opts)
    t = r.table.set_index("channel")
    assert r.kkt_passed, r.kkt_detail
    assert t["recommended_spend"].sum() == pytest.approx(90_000.0)
    # the reported marginal ROAS is the mean curve's
    w = t.loc["search", "recommended_spend"]
    curve = optimizer_curve(fits[("search", "revenue")], 30 / 7, opts)
    assert t.loc["search", "marginal_roas_recommended"] == pytest.approx(float(curve.marginal(w)))
