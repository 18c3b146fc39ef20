"""The budget assets end to end on the synthetic warehouse of conftest.py (known curves)."""

import dagster as dg
import duckdb
import numpy as np
import pandas as pd
import pytest
from budget_world import MEAN_VALUE, PAID_SHARE, TRUE, WON_RATE, build_world

from gtm_assets.analytics.response_curves import hill
from gtm_assets.assets import budget as b
from gtm_assets.resources import GtmSettings, WarehouseResource

ASSETS = [
    b.budget_response_curves,
    b.budget_reallocation,
    b.budget_pacing,
    b.budget_waste,
    b.budget_triggers,
    b.budget_quarterly_allocation,
]


def _read(path: str, sql: str) -> pd.DataFrame:
    """One query's result from a read-only connection to the warehouse at ``path``."""
    with duckdb.connect(path, read_only=True) as con:
        return con.execute(sql).df()


CONTRACT = [
    "month",
    "channel",
    "current_spend",
    "recommended_spend",
    "lower_bound",
    "upper_bound",
    "marginal_roas_current",
    "marginal_roas_recommended",
    "expected_revenue_current",
    "expected_revenue_recommended",
]


def _run(path, key="2024-12-01", run_config=None):
    resources = {
        "warehouse": WarehouseResource(path=path, read_copy_path=path + ".read"),
        "settings": GtmSettings(raw_dir="unused", reports_dir="unused", attribution_model="linear"),
    }
    return dg.materialize(ASSETS, resources=resources, partition_key=key, run_config=run_config)


@pytest.fixture(scope="module")
def ran(world_path):
    # free Hill exponent, so the fit can be checked against the world's true curves
    free = {"ops": {"budget_response_curves": {"config": {"hill_n_min": 0.5, "hill_n_max": 3.0}}}}
    result = _run(world_path, run_config=free)
    assert result.success
    return world_path, result


def test_gates_pass_and_contract_columns(ran):
    path, result = ran
    checks = {e.check_name: e for e in result.get_asset_check_evaluations()}
    for name in (
        "allocation_sums_to_budget",
        "within_bounds",
        "reserve_within_range",
        "marginal_roas_equalised",
    ):
        assert checks[name].passed, name
    con = duckdb.connect(path, read_only=True)
    df = con.execute("select * from marts.budget_reallocation where month = date '2024-12-01'").df()
    assert CONTRACT == [c for c in df.columns if c in CONTRACT]
    assert sorted(df["channel"]) == sorted(TRUE)
    plan = con.execute(
        "select sum(planned_spend) from staging.budget_plan where month = date '2025-01-01'"
    ).fetchall()[0][0]
    assert df["recommended_spend"].sum() == pytest.approx(0.9 * plan)
    for t in (
        "budget_pacing",
        "budget_pacing_schedule",
        "budget_waste",
        "budget_triggers",
        "budget_quarterly_allocation",
        "budget_curve_points",
        "budget_curve_bootstrap",
    ):
        n = con.execute(
            f"select count(*) from marts.{t} where month = date '2024-12-01'"
        ).fetchall()[0][0]
        assert n > 0, t
    con.close()


def test_fitted_lead_curves_track_the_truth_in_the_observed_range(ran):
    path, _ = ran
    curves = _read(
        path,
        "select * from marts.budget_response_curves "
        "where month = date '2024-12-01' and metric = 'conversions'",
    )
    for r in curves.itertuples():
        top, k, n, base = TRUE[r.channel]
        s = np.array([0.6, 1.0, 1.4]) * base  # inside the observed range (0.4x - 1.6x)
        fitted = hill(s, r.top, r.k, r.n)
        truth = PAID_SHARE * hill(s, top, k, n)
        assert fitted == pytest.approx(truth, rel=0.15), r.channel
        assert r.saturation_grain in ("week", "day"), r.channel
        if r.saturation_grain == "day":
            # a concave curve (n = 1 by default) loses to any uneven day: never negative
            assert -1e-9 <= r.flighting_shortfall < 1, r.channel
        else:
            assert np.isnan(r.flighting_shortfall), r.channel


def test_reserve_outside_range_fails_the_gate_and_keeps_the_good_slice(world_path, tmp_path):
    path = str(tmp_path / "w.duckdb")
    con = duckdb.connect(path)
    build_world(con)
    con.close()

    def run(reserve: float):
        return dg.materialize(
            [b.budget_response_curves, b.budget_reallocation],
            resources={
                "warehouse": WarehouseResource(path=path, read_copy_path=path + ".read"),
                "settings": GtmSettings(
                    raw_dir="unused", reports_dir="unused", attribution_model="linear"
                ),
            },
            partition_key="2024-12-01",
            run_config={
                "ops": {
                    "budget_response_curves": {"config": {"n_boot": 0}},
                    "budget_reallocation": {"config": {"test_reserve": reserve}},
                }
            },
            raise_on_error=False,
        )

    def stored() -> pd.DataFrame:
        with duckdb.connect(path, read_only=True) as c:
            return c.execute(
                "select channel, recommended_spend, test_reserve_amount "
                "from marts.budget_reallocation order by channel"
            ).df()

    assert run(0.10).success
    good = stored()
    result = run(0.05)
    checks = {e.check_name: e for e in result.get_asset_check_evaluations()}
    assert not checks["reserve_within_range"].passed
    assert checks["allocation_sums_to_budget"].passed
    # the rejected recommendation did not replace the month's good slice
    pd.testing.assert_frame_equal(stored(), good)
    notes = next(
        m.metadata["notes"].value
        for m in result.asset_materializations_for_node("budget_reallocation")
    )
    assert "not written: the recommendation failed reserve_within_range" in notes


def test_without_budget_plan_the_budget_is_current_spend(tmp_path):
    path = str(tmp_path / "noplan.duckdb")
    con = duckdb.connect(path)
    build_world(con, with_plan=False)
    con.close()
    result = dg.materialize(
        [b.budget_response_curves, b.budget_reallocation, b.budget_pacing],
        resources={
            "warehouse": WarehouseResource(path=path, read_copy_path=path + ".read"),
            "settings": GtmSettings(
                raw_dir="unused", reports_dir="unused", attribution_model="linear"
            ),
        },
        partition_key="2024-12-01",
        run_config={"ops": {"budget_response_curves": {"config": {"n_boot": 0}}}},
    )
    assert result.success
    mats = result.asset_materializations_for_node("budget_reallocation")
    md = mats[0].metadata
    assert md["budget_source"].value == "current_spend"
    assert "budget_plan not supplied" in md["notes"].value
    con = duckdb.connect(path, read_only=True)
    spend = con.execute(
        "select sum(spend) from staging.ad_spend where month = date '2024-12-01'"
    ).fetchall()[0][0]
    rec = con.execute("select sum(recommended_spend) from marts.budget_reallocation").fetchall()[0][
        0
    ]
    exponents = con.execute("select distinct n from marts.budget_response_curves").fetchall()
    sources = con.execute(
        "select distinct plan_source from marts.budget_pacing where level = 'channel'"
    ).fetchall()
    con.close()
    assert rec == pytest.approx(0.9 * spend)
    assert sources == [("campaign_planned_budget",)]
    assert exponents == [(1.0,)]  # the default fixes the Hill exponent at 1


def test_revenue_curves_are_lead_curves_times_revenue_per_lead(ran):
    path, _ = ran
    curves = _read(
        path, "select * from marts.budget_response_curves where month = date '2024-12-01'"
    )
    rev = curves[curves["metric"] == "revenue"].set_index("channel")
    conv = curves[curves["metric"] == "conversions"].set_index("channel")
    for channel in TRUE:
        # 30% of leads win a deal worth 1000 on average -> about 300 per lead
        assert rev.loc[channel, "value_per_lead"] == pytest.approx(WON_RATE * MEAN_VALUE, rel=0.2)
        assert rev.loc[channel, "top"] == pytest.approx(
            conv.loc[channel, "top"] * rev.loc[channel, "value_per_lead"]
        )
        assert rev.loc[channel, "k"] == pytest.approx(conv.loc[channel, "k"])


def test_value_basis_is_recorded_and_won_only_is_available(ran, tmp_path):
    import shutil

    path, _ = ran
    con = duckdb.connect(path, read_only=True)
    default = con.execute(
        "select distinct value_basis, pipeline_win_rate from marts.budget_response_curves "
        "where month = date '2024-12-01'"
    ).fetchall()
    con.close()
    # every closed opportunity of the synthetic world was won: open pipeline counts in full
    assert default == [("pipeline", 1.0)]
    copy = str(tmp_path / "w.duckdb")
    shutil.copy(path, copy)
    won = {"ops": {"budget_response_curves": {"config": {"value_basis": "won"}}}}
    assert _run(copy, run_config=won).success
    rows = _read(
        copy,
        "select channel, value_basis, pipeline_win_rate, value_per_lead "
        "from marts.budget_response_curves where month = date '2024-12-01' and metric = 'revenue'",
    )
    assert set(rows["value_basis"]) == {"won"} and rows["pipeline_win_rate"].isna().all()
    for channel in TRUE:
        value = rows.set_index("channel").loc[channel, "value_per_lead"]
        assert value == pytest.approx(WON_RATE * MEAN_VALUE, rel=0.2)


def test_a_world_without_spend_runs_every_budget_asset(tmp_path):
    """Valid but empty of money: every spend row is 0. No channel has a curve (the curves
    table is empty, which once failed on a merge), and next month's plan holds every
    channel at its planned amount, scaled to fit the budget after the reserve (which once
    raised)."""
    path = str(tmp_path / "nospend.duckdb")
    con = duckdb.connect(path)
    build_world(con)
    con.execute("update staging.ad_spend set spend = 0")
    con.close()
    result = _run(path, run_config={"ops": {"budget_response_curves": {"config": {"n_boot": 0}}}})
    assert result.success
    curves = _read(path, "select count(*) as n from marts.budget_response_curves")
    assert curves["n"].iloc[0] == 0
    realloc = _read(path, "select * from marts.budget_reallocation")
    plan = _read(
        path, "select sum(planned_spend) as s from staging.budget_plan where month = '2025-01-01'"
    )["s"].iloc[0]
    assert realloc["recommended_spend"].sum() == pytest.approx(0.9 * plan)


def test_a_budget_of_zero_reserves_zero_of_zero(tmp_path):
    """No spend and a plan of zeros: nothing to allocate. The reserve gate reads the
    configured 10% (0 of 0 has no share), instead of blocking the month on NaN."""
    path = str(tmp_path / "zero.duckdb")
    con = duckdb.connect(path)
    build_world(con)
    con.execute("update staging.ad_spend set spend = 0")
    con.execute("update staging.budget_plan set planned_spend = 0")
    con.close()
    result = _run(path, run_config={"ops": {"budget_response_curves": {"config": {"n_boot": 0}}}})
    assert result.success
    checks = {e.check_name: e for e in result.get_asset_check_evaluations()}
    assert checks["reserve_within_range"].passed
    assert checks["reserve_within_range"].metadata["reserve_share"].value == pytest.approx(0.10)
    assert _read(path, "select sum(recommended_spend) as s from marts.budget_reallocation")[
        "s"
    ].fillna(0).iloc[0] == pytest.approx(0.0)
