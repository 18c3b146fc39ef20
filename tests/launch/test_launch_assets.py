"""Launch assets on the hand-made world of ``launch_world.py`` (numbers explained there)."""

from __future__ import annotations

from datetime import date

import dagster as dg
import duckdb
import pandas as pd
import pytest

from gtm_assets.assets.launch import (
    launch_monitoring,
    launch_plan,
    launch_read_copy,
    launch_readout,
)
from gtm_assets.partitions import campaign_partitions
from gtm_assets.resources import GtmSettings, WarehouseResource
from tests.launch import launch_world

ASSETS = [launch_plan, launch_monitoring, launch_readout]


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    folder = tmp_path_factory.mktemp("launch")
    path = folder / "wh.duckdb"
    launch_world.build(path)
    instance = dg.DagsterInstance.ephemeral()
    instance.add_dynamic_partitions(
        campaign_partitions.name, ["GOOD", "UNDER", "BROKEN", "NOUTM", "DARK"]
    )
    resources = {
        "warehouse": WarehouseResource(
            path=str(path), read_copy_path=str(folder / "wh.read.duckdb")
        ),
        "settings": GtmSettings(raw_dir=str(folder), reports_dir=str(folder)),
    }
    results = {
        cid: dg.materialize(
            ASSETS, partition_key=cid, instance=instance, resources=resources, raise_on_error=False
        )
        for cid in ("GOOD", "UNDER", "BROKEN", "NOUTM", "DARK")
    }
    return path, results


def _checks(result) -> dict[str, dg.AssetCheckEvaluation]:
    return {e.check_name: e for e in result.get_asset_check_evaluations()}


def _row(path, table: str, cid: str) -> dict:
    con = duckdb.connect(str(path), read_only=True)
    try:
        df = con.execute(f"select * from {table} where campaign_id = ?", [cid]).df()
    finally:
        con.close()
    assert len(df) == 1
    return df.iloc[0].to_dict()


def test_plan_benchmarks_targets_role_and_pacing(world):
    path, results = world
    assert _checks(results["GOOD"])["launch_ready"].passed
    plan = _row(path, "marts.launch_plan", "GOOD")
    assert pd.Timestamp(plan["as_of"]).date() == launch_world.AS_OF
    assert (plan["benchmark_scope"], plan["benchmark_peers"]) == ("channel_type", 3)
    assert plan["benchmark_ctr"] == pytest.approx(0.015)
    assert plan["benchmark_cvr"] == pytest.approx(0.01)
    assert plan["benchmark_cpa"] == pytest.approx(5000 / 60)
    assert plan["benchmark_roas"] == pytest.approx(2.0)
    assert plan["target_cpa"] == 50.0 and plan["target_cpa_source"] == "brief"
    assert plan["target_roas"] == pytest.approx(2.0)
    assert plan["target_roas_source"] == "benchmark (channel_type)"
    assert plan["benchmark_mql_rate"] == pytest.approx(0.4)
    # first-touch 6/10 vs last-touch 3/10 in February (March ignored): awareness
    assert plan["channel_role"] == "awareness"
    assert plan["first_touch_share"] == pytest.approx(0.6)
    # 5600 over 56 days = 100 a day; first four weeks = 28 days = 2800 -> 56 leads at CPA 50
    assert plan["planned_spend_first_4_weeks"] == pytest.approx(2800.0)
    assert plan["expected_leads_first_4_weeks"] == pytest.approx(56.0)
    assert plan["expected_mqls_first_4_weeks"] == pytest.approx(22.4)
    assert "MQL" in plan["routing"]


def test_peers_are_credited_by_the_launch_s_rule(tmp_path):
    """The launch credits its leads linearly, so the peers' leads and revenue are linear
    too (P1: 20 leads and 3,000 before March), not campaign_performance's Shapley (60 and
    9,000); an attribution run without the linear model falls back to the ROI model."""
    from gtm_assets.assets.launch import _peer_history

    path = tmp_path / "wh.duckdb"
    launch_world.build(path)
    with duckdb.connect(str(path)) as con:
        p1 = _peer_history(con, date(2024, 3, 1), "shapley").set_index("campaign_id").loc["P1"]
        assert (p1["spend"], p1["leads"], p1["attributed_revenue"]) == (1000.0, 20.0, 3000.0)
        con.execute("delete from marts.campaign_attribution_roi where model = 'linear'")
        p1 = _peer_history(con, date(2024, 3, 1), "shapley").set_index("campaign_id").loc["P1"]
        assert (p1["leads"], p1["attributed_revenue"]) == (60.0, 9000.0)


def test_readiness_gate_blocks(world):
    _, results = world
    for cid, fragment in (("NOUTM", "utm_campaign missing"), ("DARK", "not seen")):
        check = _checks(results[cid])["launch_ready"]
        assert not check.passed
        assert fragment in check.metadata["problems"].value
        # blocking: nothing downstream ran
        assert not results[cid].asset_materializations_for_node("launch_monitoring")
    assert (
        "end_date missing" in _checks(results["NOUTM"])["launch_ready"].metadata["problems"].value
    )


def test_good_campaign_passes_monitoring_and_scales(world):
    path, results = world
    checks = _checks(results["GOOD"])
    for name in (
        "tracking_verified",
        "live_on_schedule",
        "performance_within_tolerance",
        "mql_volume_and_quality",
        "budget_pace",
    ):
        assert checks[name].passed, (name, checks[name].metadata)
    readout = _row(path, "marts.launch_readout", "GOOD")
    # 100 a day against 5,600 over 56 days: on pace
    assert readout["budget_pace_ok"] and "(100%)" in readout["budget_pace"]
    assert readout["days_live"] == 28
    assert readout["spend"] == pytest.approx(2800.0)
    assert readout["credited_leads"] == pytest.approx(56.0)
    assert readout["actual_cpa"] == pytest.approx(50.0)
    assert readout["projected_roas"] == pytest.approx(56 * (10000 / 60) / 2800)
    assert readout["decision"] == "scale"


def test_broken_tracking_alarm_and_pause(world):
    path, results = world
    checks = _checks(results["BROKEN"])
    assert checks["launch_ready"].passed  # tracking was seen in week 1
    alarm = checks["tracking_verified"]
    assert not alarm.passed and alarm.severity == dg.AssetCheckSeverity.ERROR
    assert "week 2 (700.00)" in alarm.metadata["detail"].value
    readout = _row(path, "marts.launch_readout", "BROKEN")
    assert readout["decision"] == "pause" and "tracking" in readout["reason"]


def test_thirty_percent_under_target_fails_and_optimizes(world):
    path, results = world
    perf = _checks(results["UNDER"])["performance_within_tolerance"]
    assert not perf.passed and perf.severity == dg.AssetCheckSeverity.WARN
    assert "CTR 0.014 vs target 0.02 (70%)" in perf.metadata["detail"].value
    readout = _row(path, "marts.launch_readout", "UNDER")
    assert readout["decision"] == "optimize" and readout["reason"].startswith("CTR")


def test_weekly_monitoring_rows(world):
    path, _ = world
    con = duckdb.connect(str(path), read_only=True)
    try:
        weeks = con.execute(
            "select week_number, week_start, spend, touches, leads, planned_spend "
            "from marts.launch_monitoring where campaign_id = 'BROKEN' order by week_number"
        ).fetchall()
    finally:
        con.close()
    assert [w[0] for w in weeks] == [1, 2, 3, 4]
    assert weeks[0][1] == date(2024, 3, 4)
    assert [w[2] for w in weeks] == pytest.approx([700.0] * 4)
    assert [w[3] for w in weeks] == [14, 0, 0, 0]
    assert [w[4] for w in weeks] == pytest.approx([14.0, 0.0, 0.0, 0.0])
    assert [w[5] for w in weeks] == pytest.approx([700.0] * 4)


def test_experiments_summary_reads_treatment_arms():
    from gtm_assets.assets.launch import experiments_summary

    df = pd.DataFrame(
        {
            "experiment_id": ["E1", "E1", "E2"],
            "name": ["Form", "Form", "Subject line"],
            "variant": ["control", "short", "control"],
            "is_control": [True, False, True],
            "verdict": [None, "ship", None],
            "verdict_reason": [None, "lift 2.1 points, adjusted p = 0.01", None],
        }
    )
    assert experiments_summary(df) == (
        "Form: short ship (lift 2.1 points, adjusted p = 0.01); Subject line: no readout yet"
    )
    assert experiments_summary(pd.DataFrame()) == "no experiment on this campaign"


def test_run_launch_entry_point_adds_partition_and_honours_as_of(tmp_path):
    from gtm_assets.assets import workflows

    path = tmp_path / "wh.duckdb"
    launch_world.build(path)
    defs = dg.Definitions(
        assets=[*ASSETS, launch_read_copy],
        jobs=[workflows.campaign_launch],
        resources={
            "warehouse": WarehouseResource(
                path=str(path), read_copy_path=str(tmp_path / "r.duckdb")
            ),
            "settings": GtmSettings(raw_dir=str(tmp_path), reports_dir=str(tmp_path)),
        },
    )
    instance = dg.DagsterInstance.ephemeral()
    result = workflows.run_launch("GOOD", as_of="2024-03-20", instance=instance, defs=defs)
    assert result.success
    assert instance.has_dynamic_partition(campaign_partitions.name, "GOOD")
    readout = _row(path, "marts.launch_readout", "GOOD")
    # 17 days live: the decision is pending until day 28
    assert readout["days_live"] == 17 and readout["decision"] == "pending"
    assert "2024-04-01" in readout["reason"]
    # the analysts' read copy is republished with the launch tables
    assert _row(tmp_path / "r.duckdb", "marts.launch_readout", "GOOD")["decision"] == "pending"
