"""Revenue per lead by regression on the leads' channel mix (hand-computed examples)."""

import pandas as pd
import pytest

from gtm_assets.analytics.budget import _eb_prior_variance, lead_values, lead_values_regression

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


def test_regression_shrinkage_hand_computed():
    # one-channel leads, two each: means 100, 300, 500; mean revenue per lead 300;
    # residuals +-100 -> sigma^2 = 60000 / (6 - 3) = 20000, se^2 = 10000 per channel;
    # tau^2 = (200^2 + 0 + 200^2) / 3 - 10000 = 16666.67 (equal weights); ridge penalty
    # sigma^2 / tau^2 = 1.2 -> A = (2 * 100 + 1.2 * 300) / 3.2 = 175, C = 425
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
    assert v["value_per_lead"].tolist() == pytest.approx([175.0, 300.0, 425.0])
    assert v.loc["A", "shrinkage"] == pytest.approx(0.375)
    assert v.loc["C", "shrinkage"] == pytest.approx(0.375)
    # spread within the noise (means 100, 150, 200): every channel gets the mean, 150
    split = _split(
        [
            ({c: 1.0}, x)
            for c, xs in (("A", [0, 200]), ("B", [50, 250]), ("C", [100, 300]))
            for x in xs
        ]
    )
    v = lead_values_regression(split, NO_LAGS, 100, 0.3)
    assert v["value_per_lead"].tolist() == pytest.approx([150.0] * 3)


def test_prior_variance_fixed_point_with_unequal_noise():
    est = pd.Series([0.0, 10.0, 30.0]).to_numpy()
    se2 = pd.Series([1.0, 4.0, 25.0]).to_numpy()
    tau2 = _eb_prior_variance(est, se2, 10.0)
    w = 1.0 / (tau2 + se2)
    # the returned value solves the weighted moment equation
    assert tau2 == pytest.approx(float((w * ((est - 10.0) ** 2 - se2)).sum() / w.sum()))
    assert _eb_prior_variance(est, se2 * 1000, 10.0) == 0.0
