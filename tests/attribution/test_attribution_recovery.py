"""Recovery metrics on a small hand-made truth."""

from __future__ import annotations

from datetime import date

import pandas as pd
import pytest

from gtm_assets.analytics.attribution_recovery import recovery_summary, recovery_table, tv_distance

MAR = date(2024, 3, 1)


def test_tv_distance_hand_computed():
    a = pd.Series({"x": 0.5, "y": 0.5})
    b = pd.Series({"x": 0.2, "y": 0.3, "z": 0.5})
    assert tv_distance(a, b) == pytest.approx((0.3 + 0.2 + 0.5) / 2)
    assert tv_distance(a, a) == 0.0
    assert tv_distance(pd.Series({"x": 1.0}), pd.Series({"y": 1.0})) == 1.0


def test_recovery_table_per_model_and_month():
    truth = pd.DataFrame(
        {
            "month": [MAR, MAR],
            "conversion_type": ["lead", "lead"],
            "channel": ["paid_search", "direct"],
            "true_share": [1.0, 0.0],
        }
    )
    shares = pd.DataFrame(
        {
            "month": [MAR] * 4 + [date(2024, 4, 1)],
            "conversion_type": ["lead"] * 5,
            "model": ["last_touch", "last_touch", "shapley", "shapley", "shapley"],
            "channel": ["paid_search", "direct", "paid_search", "unclassified", "direct"],
            "share": [0.25, 0.75, 0.9, 0.1, 1.0],
        }
    )
    table = recovery_table(shares, truth).set_index("model")["tv_distance"]
    assert table.to_dict() == pytest.approx({"last_touch": 0.75, "shapley": 0.1})  # April: no truth
    summary = recovery_summary(recovery_table(shares, truth))
    assert list(summary["month"]) == ["2024-03-01", "mean"]
    assert summary.loc[1, "shapley"] == pytest.approx(0.1)
