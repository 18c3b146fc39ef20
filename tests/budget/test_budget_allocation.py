import itertools

import numpy as np
import pytest

from gtm_assets.analytics.allocation import (
    Linear,
    PeriodHill,
    check_kkt,
    historical_roi_allocation,
    optimize_allocation,
)


def brute_force(curves, lo, hi, budget, steps=200):
    """Independent reference: exhaustive grid over all but the last channel."""
    grids = [np.linspace(a, b, steps + 1) for a, b in zip(lo[:-1], hi[:-1], strict=True)]
    best, arg = -np.inf, None
    for combo in itertools.product(*grids[:-1]):
        last_two = budget - sum(combo) - grids[-1]
        ok = (last_two >= lo[-1] - 1e-9) & (last_two <= hi[-1] + 1e-9)
        if not ok.any():
            continue
        fixed = sum(float(c.value(x)) for c, x in zip(curves, combo, strict=False))
        v = fixed + curves[-2].value(grids[-1][ok]) + curves[-1].value(last_two[ok])
        j = int(np.argmax(v))
        if v[j] > best:
            best, arg = float(v[j]), (*combo, grids[-1][ok][j], last_two[ok][j])
    return best, np.array(arg)


CASES = {
    "three_concave": (
        [
            PeriodHill(30_000, 5_000, 1.0, 4.3),
            PeriodHill(20_000, 2_000, 0.7, 4.3),
            PeriodHill(40_000, 9_000, 1.0, 4.3),
        ],
        np.array([20_000.0, 8_000.0, 30_000.0]),
    ),
    "four_with_s_curves": (
        [
            PeriodHill(30_000, 5_000, 1.0, 4.3),
            PeriodHill(50_000, 15_000, 2.2, 4.3),
            PeriodHill(20_000, 2_000, 0.7, 4.3),
            PeriodHill(40_000, 9_000, 1.5, 4.3),
        ],
        np.array([20_000.0, 40_000.0, 8_000.0, 30_000.0]),
    ),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_optimizer_matches_brute_force_grid(case):
    curves, current = CASES[case]
    lo, hi, budget = current * 0.7, current * 1.3, float(current.sum())
    result = optimize_allocation(curves, lo, hi, budget, reference=current)
    best, arg = brute_force(curves, lo, hi, budget, steps=120 if len(curves) == 4 else 400)
    assert result.spend.sum() == pytest.approx(budget, rel=1e-9)
    assert np.all(result.spend >= lo - 1e-6) and np.all(result.spend <= hi + 1e-6)
    # the optimizer is at least as good as the grid and lands next to the grid optimum
    assert result.objective >= best - 1e-6 * best
    assert result.objective - best < 1e-3 * best
    step = float(np.max(hi - lo)) / 120
    assert np.max(np.abs(result.spend - arg)) <= 2 * step
    assert check_kkt(curves, result.spend, lo, hi).passed


def test_kkt_equal_marginals_and_bounds():
    curves, current = CASES["three_concave"]
    lo, hi = current * 0.7, current * 1.3
    res = optimize_allocation(curves, lo, hi, float(current.sum()), reference=current)
    rep = check_kkt(curves, res.spend, lo, hi)
    m = np.array([float(c.marginal(s)) for c, s in zip(curves, res.spend, strict=True)])
    interior = [i for i, s in enumerate(rep.status) if s == "interior"]
    assert len(interior) >= 2
    assert np.ptp(m[interior]) / rep.multiplier < 0.01
    # the current (unoptimised) mix is not optimal: the check must say so
    bad = check_kkt(curves, current, lo, hi)
    assert not bad.passed


def test_binding_bounds_and_pinned_channel():
    curves = [Linear(3.0), Linear(1.0), PeriodHill(10_000, 1_000, 1.0)]
    lo = np.array([70.0, 70.0, 500.0])
    hi = np.array([130.0, 130.0, 500.0])  # third pinned
    res = optimize_allocation(curves, lo, hi, 700.0)
    assert res.spend == pytest.approx([130.0, 70.0, 500.0], abs=1e-6)
    rep = check_kkt(curves, res.spend, lo, hi)
    assert rep.status == ["at_upper", "at_lower", "pinned"] and rep.passed


def test_infeasible_budget_raises():
    with pytest.raises(ValueError, match="infeasible"):
        optimize_allocation([Linear(1.0), Linear(2.0)], [10.0, 10.0], [20.0, 20.0], 100.0)


def test_historical_roi_fills_best_average_first():
    s = historical_roi_allocation([1.0, 3.0, 2.0], [70.0, 70.0, 70.0], [130.0, 130.0, 130.0], 300.0)
    assert s == pytest.approx([70.0, 130.0, 100.0])
