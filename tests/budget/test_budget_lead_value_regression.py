"""Revenue per lead by regression on the leads' channel mix (hand-computed examples)."""

import numpy as np
import pandas as pd
import pytest
import statsmodels.api as sm
from scipy.integrate import quad

from gtm_assets.analytics.budget import (
    lead_value_draws,
    lead_values,
    lead_values_regression,
    prior_spread_posterior,
)

NO_LAGS = pd.DataFrame(columns=["lag_days", "lead_age_days", "value"])


def _split(leads: list[tuple[dict[str, float], float]]) -> pd.DataFrame:
    """Rows of the lead split from (channel -> credit, won value) per lead, all mature."""
    rows = [
        (f"L{i}", channel, credit, 400, won)
        for i, (mix, won) in enumerate(leads)
        for channel, credit in mix.items()
    ]
    return pd.DataFrame(rows, columns=["lead_id", "channel", "credit", "age_days", "won_value"])


def test_regression_unmixes_leads_touched_by_two_channels():
    # A's leads bring 100, B's 500; a lead touched by both (even split) brings 300.
    split = _split([({"A": 1.0}, 100.0), ({"B": 1.0}, 500.0), ({"A": 0.5, "B": 0.5}, 300.0)])
    v = lead_values_regression(split, NO_LAGS, 100, 0.3, shrink=False).set_index("channel")
    assert v["value_per_lead"].tolist() == pytest.approx([100.0, 500.0])
    assert v["value_se"].tolist() == pytest.approx([0.0, 0.0], abs=1e-9)
    assert v["credited_leads"].tolist() == pytest.approx([1.5, 1.5])
    # the credit-weighted mean pulls both towards the middle: (100 + 150) / 1.5, (500 + 150) / 1.5
    avg = lead_values(split, NO_LAGS, 100, 0.3, shrink=False).set_index("channel")
    assert avg["value_per_lead"].tolist() == pytest.approx([250 / 1.5, 650 / 1.5])


def test_regression_corrects_young_leads_like_the_average():
    # F(10) = 0.25: a 30-day-old lead's 100 so far stands for 400
    lags = pd.DataFrame(
        {"lag_days": [10, 50], "lead_age_days": [150, 120], "value": [100.0, 300.0]}
    )
    split = pd.DataFrame(
        {
            "lead_id": ["L1", "L2"],
            "channel": ["A", "B"],
            "credit": [1.0, 1.0],
            "age_days": [30, 200],
            "won_value": [100.0, 50.0],
        }
    )
    v = lead_values_regression(split, lags, 100, 0.2, shrink=False).set_index("channel")
    assert v["value_per_lead"].tolist() == pytest.approx([400.0, 50.0])


def _posterior_mean_reference(
    raw: np.ndarray, se2: np.ndarray, mu: float, upper: float = np.inf
) -> np.ndarray:
    """Independent reference for one-channel leads (a diagonal design): with ``tau`` known
    the ridge value is ``mu + tau^2 / (tau^2 + se2) (raw - mu)``; average it over
    ``p(tau) ~ prod N(raw | mu, tau^2 + se2)`` (flat prior on [0, upper]) by quadrature."""

    def density(t: float) -> float:
        v = t * t + se2
        return float(np.exp(-0.5 * np.sum(np.log(v) + (raw - mu) ** 2 / v)))

    norm = quad(density, 0, upper, limit=400)[0]
    return np.array(
        [
            quad(
                lambda t, c=c: density(t) * (mu + t * t / (t * t + se2[c]) * (raw[c] - mu)),
                0,
                upper,
                limit=400,
            )[0]
            / norm
            for c in range(len(raw))
        ]
    )


def test_regression_shrinkage_against_quadrature():
    # one-channel leads, two each: means 100, 300, 500; mean revenue per lead 300;
    # residuals +-100 -> sigma^2 = 60000 / (6 - 3) = 20000, se^2 = 10000 per channel
    split = _split(
        [
            ({c: 1.0}, x)
            for c, xs in (("A", [0, 200]), ("B", [200, 400]), ("C", [400, 600]))
            for x in xs
        ]
    )
    v = lead_values_regression(split, NO_LAGS, 100, 0.3).set_index("channel")
    assert v["value_raw"].tolist() == pytest.approx([100.0, 300.0, 500.0])
    assert v["value_se"].tolist() == pytest.approx([100.0] * 3)
    raw, se2 = np.array([100.0, 300.0, 500.0]), np.full(3, 10_000.0)
    # the prior is flat on tau in [0, 20 sqrt(max dev^2 + max se^2)]: same integral by quad
    upper = 20 * np.sqrt(200.0**2 + 10_000.0)
    ref = _posterior_mean_reference(raw, se2, 300.0, upper)
    assert v["value_per_lead"].tolist() == pytest.approx(ref.tolist(), rel=1e-3)
    # and the truncation of the flat prior moves it by under 1% of the gap to the mean
    untruncated = _posterior_mean_reference(raw, se2, 300.0)
    assert np.abs(v["value_per_lead"].to_numpy() - untruncated).max() < 0.01 * 200
    # B sits on the mean; A and C are pulled towards it, symmetrically, but not onto it
    assert v.loc["B", "value_per_lead"] == pytest.approx(300.0)
    assert 100 < v.loc["A", "value_per_lead"] < 300 - 50
    assert v.loc["A", "shrinkage"] == pytest.approx(v.loc["C", "shrinkage"])


def test_spread_within_the_noise_is_shrunk_hard_but_not_erased():
    # means 100, 150, 200 with se 100 each: a point estimate of the spread is 0 (every
    # channel would get the mean, 150); averaging over the spread keeps the order
    split = _split(
        [
            ({c: 1.0}, x)
            for c, xs in (("A", [0, 200]), ("B", [50, 250]), ("C", [100, 300]))
            for x in xs
        ]
    )
    v = lead_values_regression(split, NO_LAGS, 100, 0.3).set_index("channel")
    upper = 20 * np.sqrt(50.0**2 + 10_000.0)
    ref = _posterior_mean_reference(
        np.array([100.0, 150.0, 200.0]), np.full(3, 10_000.0), 150.0, upper
    )
    assert v["value_per_lead"].tolist() == pytest.approx(ref.tolist(), rel=1e-3)
    assert 100 < v.loc["A", "value_per_lead"] < v.loc["B", "value_per_lead"] == pytest.approx(150)
    assert v.loc["A", "shrinkage"] > 0.5


def test_prior_spread_posterior_weights():
    est = np.array([0.0, 10.0, 30.0])
    se2 = np.array([1.0, 4.0, 25.0])
    tau2, weight = prior_spread_posterior(est, se2, 10.0)
    assert weight.sum() == pytest.approx(1.0)
    assert tau2[0] == 0.0 and np.all(np.diff(tau2) > 0)
    # the posterior mean of tau^2 against quadrature of the same flat prior on [0, upper]
    upper = float(np.sqrt(tau2[-1]))

    def density(t: float) -> float:
        v = t * t + se2
        return float(np.exp(-0.5 * np.sum(np.log(v) + (est - 10.0) ** 2 / v)))

    ref = (
        quad(lambda t: t * t * density(t), 0, upper, limit=400)[0]
        / quad(density, 0, upper, limit=400)[0]
    )
    assert float(weight @ tau2) == pytest.approx(ref, rel=1e-3)
    # no spread beyond a huge noise: the posterior piles up near 0 but is not a point mass
    tau2, weight = prior_spread_posterior(est, se2 * 1e6, 10.0)
    assert float(weight @ tau2) > 0


def _random_split(n: int, seed: int, big_deal: float | None = None) -> pd.DataFrame:
    """n mature leads over channels A, B, C (one or two channels each, even split), won
    revenue 0 or a deal (A's deals 3x the others'); optionally one extra lead, A only, with
    a deal of ``big_deal``."""
    rng = np.random.default_rng(seed)
    rows = []
    for i in range(n):
        mix = rng.choice(["A", "B", "C"], size=rng.integers(1, 3), replace=False)
        value = {"A": 3000.0, "B": 1000.0, "C": 1000.0}
        won = sum(value[c] for c in mix) / len(mix) if rng.random() < 0.2 else 0.0
        won *= rng.lognormal(0, 0.3) if won else 1.0
        rows += [(f"L{i}", c, 1.0 / len(mix), 400, won) for c in mix]
    if big_deal is not None:
        rows.append(("LBIG", "A", 1.0, 400, big_deal))
    return pd.DataFrame(rows, columns=["lead_id", "channel", "credit", "age_days", "won_value"])


def test_value_draws_without_shrinkage_match_the_robust_standard_error():
    """Resampling leads is the pairs bootstrap of the regression, whose spread estimates
    the heteroskedasticity-robust (HC0) standard error: statsmodels as the reference."""
    split = _random_split(3000, seed=1)
    draws = lead_value_draws(split, NO_LAGS, 100, 0.3, shrink=False, n_draws=400, seed=3)
    x = split.pivot_table(index="lead_id", columns="channel", values="credit", fill_value=0.0)
    y = split.groupby("lead_id")["won_value"].first().reindex(x.index)
    ref = sm.OLS(y.to_numpy(), x.to_numpy()).fit(cov_type="HC0")
    point = lead_values_regression(split, NO_LAGS, 100, 0.3, shrink=False).set_index("channel")
    for j, c in enumerate(x.columns):
        assert point.loc[c, "value_raw"] == pytest.approx(ref.params[j])
        assert np.std(draws[c], ddof=1) == pytest.approx(ref.bse[j], rel=0.15)
        assert np.mean(draws[c]) == pytest.approx(ref.params[j], rel=0.05)


def test_one_large_deal_widens_its_channels_draws():
    """One deal 40x the usual in channel A: A's point value jumps, and its draws swing with
    the deal in or out of the resample (about a third of resamples leave it out)."""
    base = _random_split(600, seed=2)
    big = _random_split(600, seed=2, big_deal=120_000.0)
    spread = {}
    for name, split in (("base", base), ("big", big)):
        d = lead_value_draws(split, NO_LAGS, 100, 0.3, n_draws=300, seed=5)
        spread[name] = np.quantile(d["A"], 0.95) - np.quantile(d["A"], 0.05)
    assert spread["big"] > 3 * spread["base"]
    assert lead_value_draws(big, NO_LAGS, 100, 0.3, n_draws=0) == {}
    assert lead_value_draws(big.iloc[0:0], NO_LAGS, 100, 0.3) == {}
