import numpy as np
import pytest
from scipy.optimize import curve_fit

from gtm_assets.analytics.response_curves import (
    adstock,
    fit_hill,
    hill,
    hill_marginal,
    period_level,
    period_response,
)


def test_hill_hand_values():
    # s = K -> top / 2; s = 2K, n = 2 -> top * 4 / 5
    assert hill(100.0, 10.0, 100.0, 1.0) == pytest.approx(5.0)
    assert hill(200.0, 10.0, 100.0, 2.0) == pytest.approx(8.0)
    assert hill(0.0, 10.0, 100.0, 2.0) == 0.0


def test_hill_marginal_matches_numeric_derivative():
    for n in (0.7, 1.0, 2.5):
        s = np.array([10.0, 100.0, 350.0])
        h = 1e-4
        numeric = (hill(s + h, 7.0, 120.0, n) - hill(s - h, 7.0, 120.0, n)) / (2 * h)
        assert hill_marginal(s, 7.0, 120.0, n) == pytest.approx(numeric, rel=1e-5)
    # n = 1 at s = K: top * K / (2K)^2 = top / (4K)
    assert hill_marginal(100.0, 8.0, 100.0, 1.0) == pytest.approx(0.02)


def test_adstock_hand_example():
    assert adstock([100.0, 0.0, 0.0], 0.5) == pytest.approx([100.0, 50.0, 25.0])
    assert adstock([10.0, 10.0, 10.0], 0.6) == pytest.approx([10.0, 10.0, 10.0])  # steady state


@pytest.mark.parametrize(
    "top,k,n", [(50_000.0, 8_000.0, 1.0), (20_000.0, 12_000.0, 2.2), (9_000.0, 3_000.0, 0.7)]
)
def test_fit_recovers_known_parameters(top, k, n):
    rng = np.random.default_rng(3)
    s = rng.uniform(0.2 * k, 3.0 * k, 80)
    y = hill(s, top, k, n) * (1 + rng.normal(0, 0.02, s.size))
    fit = fit_hill(s, y, fit_adstock=False, n_boot=30)
    assert fit.usable
    assert fit.top == pytest.approx(top, rel=0.05)
    assert fit.k == pytest.approx(k, rel=0.05)
    assert fit.n == pytest.approx(n, rel=0.05)
    lo, hi = fit.response_interval(k)
    assert lo[0] <= hill(k, top, k, n) <= hi[0]


def test_fit_recovers_adstock_decay():
    rng = np.random.default_rng(5)
    s = rng.uniform(2_000, 20_000, 100)
    y = hill(adstock(s, 0.4), 40_000.0, 9_000.0, 1.5) * (1 + rng.normal(0, 0.02, s.size))
    fit = fit_hill(s, y, fit_adstock=True, n_boot=0)
    assert fit.adstock_decay == pytest.approx(0.4)
    assert fit.k == pytest.approx(9_000.0, rel=0.08)
    # ignoring carryover fits clearly worse
    assert fit_hill(s, y, fit_adstock=False, n_boot=0).r2 < fit.r2 - 0.05


def test_unusable_when_too_few_points_or_flat_spend():
    few = fit_hill([1.0, 2.0, 3.0], [1.0, 2.0, 3.0], n_boot=0)
    assert not few.usable and "periods with spend" in few.reason
    rng = np.random.default_rng(0)
    flat = np.full(20, 1000.0) * (1 + rng.normal(0, 0.001, 20))
    fit = fit_hill(flat, rng.normal(50, 5, 20), n_boot=0)
    assert not fit.usable


def test_a_new_channel_seen_at_one_spend_level_has_no_identified_saturation():
    """40 weeks before launch (no spend, no leads), then 12 weeks at 3,600-4,400 whose lead
    counts (about 10 a week) do not follow the small spend changes: the launch step and a
    flat cluster fit a plateau best (k at the bottom of the search), a saturation the data
    never showed. (n = 1, the pipeline's default shape.)"""
    rng = np.random.default_rng(11)
    spend = np.concatenate([np.zeros(40), rng.uniform(3_600, 4_400, 12)])
    leads = np.concatenate([np.zeros(40), rng.poisson(10, 12).astype(float)])
    fit = fit_hill(spend, leads, fit_adstock=False, n_boot=0, n_bounds=(1.0, 1.0))
    assert fit.r2 > 0.8  # a "good" fit, thanks to the launch step
    assert fit.k < 0.5 * spend[spend > 0].min()
    assert not fit.usable and "saturation not identified" in fit.reason
    # the same channel with spend spread over 1,000-12,000 shows its curve
    wide = rng.uniform(1_000, 12_000, 52)
    ok = fit_hill(
        wide,
        rng.poisson(hill(wide, 40.0, 6_000.0, 1.0)).astype(float),
        fit_adstock=False,
        n_boot=0,
        n_bounds=(1.0, 1.0),
    )
    assert ok.usable and ok.k > 0.5 * wide.min()


def test_period_response_of_a_daily_design_hand_values():
    # top 10, K 100, n 1; a week at a rate of 700 as [0, 0, 0, 0, 0, 0, 4900] (one pulse):
    # mean over days of 10 * x / (x + 100) = (10 * 4900 / 5000) / 7 = 1.4
    pulse = np.array([[0, 0, 0, 0, 0, 0, 4900.0]])
    even = np.full((1, 7), 700.0)
    assert period_response(pulse, 10.0, 100.0, 1.0) == pytest.approx([1.4])
    assert period_response(even, 10.0, 100.0, 1.0) == pytest.approx([10 * 700 / 800])
    assert period_level(pulse) == pytest.approx([700.0])
    # a 1-D design is the curve itself
    assert period_response(np.array([700.0]), 10.0, 100.0, 1.0) == pytest.approx([8.75])


def test_adstock_of_a_daily_design_compounds_to_the_period_decay():
    s = np.zeros((3, 7))
    s[0, 0] = 7.0
    x = adstock(s, 0.5)
    assert x.shape == (3, 7)
    per_day = 0.5 ** (1 / 7)
    assert x.ravel() == pytest.approx(adstock(s.ravel(), per_day))
    assert x[1, 0] / x[0, 0] == pytest.approx(0.5)  # one period later: the period decay


def _pulsed_weeks(rng: np.random.Generator, weeks: int) -> np.ndarray:
    """Weeks of daily spend: some even, some in one- or two-day pulses, totals varied."""
    design = np.zeros((weeks, 7))
    for w in range(weeks):
        total = rng.uniform(2_000, 30_000)
        kind = w % 3
        if kind == 0:
            design[w] = total / 7
        else:
            days = rng.choice(7, size=kind, replace=False)
            design[w, days] = total / kind
    return design


def test_daily_design_fit_matches_scipy_curve_fit_and_recovers_the_daily_curve():
    """Truth saturates on the daily rate; the outcome is only seen per week. The design fit
    recovers the curve at the weekly rate and agrees with scipy's curve_fit on the same
    model; a fit on the weekly totals alone is biased towards the pulses' low return."""
    rng = np.random.default_rng(11)
    days = _pulsed_weeks(rng, 90)
    top_w, k_w = 30_000.0, 70_000.0  # per week at the weekly rate (daily K = 10,000)
    design = days * 7
    y = period_response(design, top_w, k_w, 1.0) * (1 + rng.normal(0, 0.02, len(days)))
    fit = fit_hill(design, y, fit_adstock=False, n_boot=0, n_bounds=(1.0, 1.0))
    assert fit.usable
    assert fit.top == pytest.approx(top_w, rel=0.05)
    assert fit.k == pytest.approx(k_w, rel=0.05)
    assert fit.spend_max == pytest.approx(float(days.sum(axis=1).max()))

    def model(_: np.ndarray, top: float, k: float) -> np.ndarray:
        return period_response(design, top, k, 1.0)

    (ref_top, ref_k), _ = curve_fit(model, np.arange(len(y)), y, p0=(20_000.0, 50_000.0))
    assert fit.top == pytest.approx(ref_top, rel=1e-3)
    assert fit.k == pytest.approx(ref_k, rel=1e-3)

    weekly = fit_hill(days.sum(axis=1), y, fit_adstock=False, n_boot=0, n_bounds=(1.0, 1.0))
    at = 15_000.0
    true_marginal = hill_marginal(at, top_w, k_w, 1.0)
    assert abs(fit.marginal(at) - true_marginal) < 0.05 * true_marginal
    assert abs(weekly.marginal(at) - true_marginal) > 0.15 * true_marginal
    assert fit.r2 > weekly.r2
