"""Issue 5's correctness criterion on `gtm generate` data (slow: about 4 minutes).

Generates 12 months (seed 42) at scale 5 and at the default scale 1, loads them, runs
attribution, campaign performance and the budget assets month by month (curves on Shapley
credit, 20 bootstrap draws to keep it quick; the default is 100), and evaluates every
month's recommendation that has curves on the generator's true response curves: the share
of the truly achievable revenue uplift it captures, the true optimum sought within the
configured +-30% bounds and the same budget (a channel the recommendation held still
counts against it; ``evaluate_against_truth``).

Measured at these settings: scale 5, at least 0.9 in 10 of 10 months, median 1.00, worst
0.92; scale 1, 6 of 10, median 0.95, worst 0.43 (2026-03). Before open pipeline in the
revenue per lead, the hierarchical prior and cut-only channels without a curve, the same
measurement gave scale 5 3 of 10 (median 0.82) and scale 1 3 of 10 (median 0.79, worst
0.07). The thresholds are the measurements with a little room.
"""

import dagster as dg
import duckdb
import numpy as np
import pandas as pd
import pytest

from gtm_assets.analytics.budget import evaluate_against_truth
from gtm_assets.assets import attribution, budget, campaign_roi, raw
from gtm_assets.generate import generate
from gtm_assets.generate.truth import true_response
from gtm_assets.partitions import add_months
from gtm_assets.resources import GtmSettings, WarehouseResource

pytestmark = pytest.mark.slow
GATES = {
    "allocation_sums_to_budget",
    "within_bounds",
    "reserve_within_range",
    "marginal_roas_equalised",
}

MONTHS = [
    f"{y}-{m:02d}-01" for y, m in [(2025, 11), (2025, 12)] + [(2026, i) for i in range(1, 11)]
]


def monthly_captures(tmp_path, scale: int, seed: int) -> np.ndarray:
    """Capture of every month's recommendation that has curves, in month order."""
    raw_dir = tmp_path / "raw"
    generate(raw_dir, months=12, end_month="2026-10", scale=scale, seed=seed)
    path = str(tmp_path / "w.duckdb")
    resources = {
        "warehouse": WarehouseResource(path=path, read_copy_path=path + ".read"),
        "settings": GtmSettings(raw_dir=str(raw_dir), reports_dir=str(tmp_path / "reports")),
    }
    upstream = [
        raw.raw_exports,
        raw.staging_tables,
        attribution.attribution_credit,
        campaign_roi.campaign_performance,
    ]
    mine = [budget.budget_response_curves, budget.budget_reallocation]
    config = {
        "ops": {
            "budget_response_curves": {"config": {"attribution_model": "shapley", "n_boot": 20}}
        }
    }
    for key in MONTHS:
        assert dg.materialize(upstream, resources=resources, partition_key=key).success
        result = dg.materialize(mine, resources=resources, partition_key=key, run_config=config)
        gates = [e for e in result.get_asset_check_evaluations() if e.check_name in GATES]
        assert len(gates) == 4 and all(e.passed for e in gates), key

    truth = pd.read_csv(raw_dir / "truth" / "response_curves.csv")
    con = duckdb.connect(path, read_only=True)
    realloc = con.execute("select * from marts.budget_reallocation order by month, channel").df()
    con.close()
    captures = []
    for month, part in realloc.groupby("month"):
        if not (part["curve_source"] == "hill_fit").any():
            continue  # the first months: no channel has the weeks for a curve yet
        nxt = add_months(pd.Timestamp(month).date(), 1)
        days = (add_months(nxt, 1) - nxt).days
        ev = evaluate_against_truth(part, lambda c, s: true_response(c, s, "revenue", truth), days)
        if np.isfinite(ev["capture"]):
            captures.append(ev["capture"])
    print(f"scale {scale} seed {seed} captures:", np.round(captures, 3))
    return np.array(captures)


def test_recommendation_captures_the_achievable_uplift_at_scale_5(tmp_path):
    captures = monthly_captures(tmp_path, scale=5, seed=42)
    assert len(captures) >= 10
    assert np.median(captures) >= 0.95
    assert (captures >= 0.9).sum() >= 9
    assert captures.min() > 0.88


def test_recommendation_at_the_default_scale(tmp_path):
    captures = monthly_captures(tmp_path, scale=1, seed=42)
    assert len(captures) >= 10
    assert np.median(captures) >= 0.9
    assert (captures >= 0.9).sum() >= 6
    # the months with six or more months of history
    assert np.median(captures[4:]) >= 0.9
    assert captures.min() > 0.3
