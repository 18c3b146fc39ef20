"""Quarterly planning assets on the hand-made warehouse of ``quarter_world.py``."""

from __future__ import annotations

from datetime import date

import dagster as dg
import duckdb
import pytest

from gtm_assets.assets.executive import report_sections_in
from gtm_assets.assets.quarterly import (
    quarter_budget,
    quarter_campaign_calendar,
    quarter_goals,
    quarter_review,
    quarter_risks,
    quarter_trends,
    quarterly_plan,
)
from gtm_assets.resources import GtmSettings, WarehouseResource
from tests.quarterly import quarter_world

ASSETS = [
    quarter_trends,
    quarter_review,
    quarter_budget,
    quarter_goals,
    quarter_campaign_calendar,
    quarter_risks,
    quarterly_plan,
]
Q1 = "2024-01-01"


def _run(tmp_path, emptied: tuple[str, ...] = (), **world):
    path = tmp_path / "wh.duckdb"
    quarter_world.build(path, **world)
    if emptied:
        con = duckdb.connect(str(path))
        for table in emptied:
            con.execute(f"delete from {table}")
        con.close()
    resources = {
        "warehouse": WarehouseResource(
            path=str(path), read_copy_path=str(tmp_path / "read.duckdb")
        ),
        "settings": GtmSettings(raw_dir=str(tmp_path), reports_dir=str(tmp_path / "reports")),
    }
    result = dg.materialize(
        ASSETS,
        partition_key=Q1,
        resources=resources,
        instance=dg.DagsterInstance.ephemeral(),
        raise_on_error=False,
    )
    checks = {e.check_name: e for e in result.get_asset_check_evaluations()}
    return path, result, checks


def _query(path, sql: str):
    con = duckdb.connect(str(path), read_only=True)
    try:
        return con.execute(sql).df()
    finally:
        con.close()


@pytest.fixture(scope="module")
def complete(tmp_path_factory):
    return _run(tmp_path_factory.mktemp("quarter"))


def test_complete_quarter_passes_every_gate(complete):
    _, result, checks = complete
    assert result.success
    for name in ("budget_sums", "goals_specific", "plan_complete", "calendar_within_budget"):
        assert checks[name].passed, (name, checks[name].metadata)


def test_review_verdicts_and_learnings(complete):
    path, _, _ = complete
    ch = _query(path, "select * from marts.quarter_channel_review where quarter = '2024-01-01'")
    got = ch.set_index("channel")
    assert got.loc["paid_search", "spend"] == pytest.approx(30000.0)
    assert got.loc["paid_search", "roas"] == pytest.approx(3.0)
    assert got.loc["paid_search", "verdict"] == "worked"
    assert got.loc["display", "verdict"] == "did not work"
    assert got.loc["organic_search", "verdict"] == "unpaid"
    # budget plan for January only: 9,000 -> 30,000 / 9,000
    assert got.loc["paid_search", "utilization"] == pytest.approx(30000 / 9000)
    assert got.loc["paid_search", "first_touch_share"] == pytest.approx(0.6)
    learn = _query(
        path, "select * from marts.quarter_learnings where quarter = '2024-01-01' order by rank"
    )
    assert learn["learning"].iloc[0].startswith("paid_search returned 3.00 per dollar")
    assert any("Persistent bottleneck: mql -> sql" in s for s in learn["learning"])


def test_budget_goals_and_milestones(complete):
    path, _, _ = complete
    b = _query(path, "select * from marts.quarter_budget where quarter = '2024-01-01'")
    assert b["historical_roi_spend"].sum() == pytest.approx(50000.0)
    assert b["marginal_roi_spend"].sum() == pytest.approx(50000.0)
    reserve = b[b["channel"] == "test_reserve"].iloc[0]
    assert reserve["historical_roi_spend"] == pytest.approx(5000.0)
    g = _query(path, "select * from marts.quarter_goals where quarter = '2024-01-01'")
    total = g[g["scope"] == "total"].set_index("metric")["target_value"]
    # paid_search 31,000 at CPA 100 -> 310 leads; display 14,000 at CPA 250 -> 56; organic 150
    assert total["leads"] == pytest.approx(310 + 56 + 150)
    assert total["revenue"] == pytest.approx(95000 + 9500 + 30000)
    assert total["spend"] == pytest.approx(50000.0)
    assert set(g["due_date"].astype(str)) == {"2024-06-30"}
    ms = _query(
        path,
        "select * from marts.quarter_goal_milestones where quarter = '2024-01-01' "
        "and scope = 'total' and metric = 'spend' order by milestone_month",
    )
    assert ms["cumulative_target"].tolist() == pytest.approx([16000.0, 32000.0, 50000.0])


def test_plan_document(complete):
    path, result, _ = complete
    html = (path.parent / "reports" / "quarterly-plan-2024-Q2.html").read_text(encoding="utf-8")
    sections = report_sections_in(html)
    assert {
        k: sections[k]
        for k in ("summary", "review", "budget", "goals", "calendar", "testing", "risks")
    } == dict.fromkeys(
        ("summary", "review", "budget", "goals", "calendar", "testing", "risks"), "ok"
    )
    assert "<script>alert" not in html and "&lt;script&gt;alert" in html
    cal = _query(path, "select * from marts.quarter_campaign_calendar where quarter = '2024-01-01'")
    assert cal.groupby("channel")["budget"].sum().to_dict() == pytest.approx(
        {"paid_search": 31000.0, "display": 14000.0}
    )
    tests = _query(path, "select * from marts.quarter_testing_roadmap where quarter = '2024-01-01'")
    assert tests["kind"].tolist() == ["bottleneck"] and tests["budget"].iloc[0] == pytest.approx(
        5000.0
    )


def test_missing_month_fails_the_plan(tmp_path):
    """A month of the quarter not run: the first asset's gate names it and nothing of the
    plan is built or written (no quarter tables beyond the status, no plan file)."""
    path, result, checks = _run(tmp_path, drop_month=date(2024, 3, 1))
    gate = checks["quarter_months_run"]
    assert not gate.passed
    assert gate.metadata["missing_months"].value == "2024-03 (marts.executive_summary)"
    assert not result.success  # blocking
    assert "plan_complete" not in checks  # the plan never ran
    assert not list((tmp_path / "reports").glob("quarterly-plan-*.html"))
    status = _query(path, "select * from marts.quarter_plan_status where rows = 0")
    assert len(status) == 1 and status["table_name"].iloc[0] == "marts.executive_summary"
    tables = set(
        _query(path, "select table_name from duckdb_tables() where schema_name = 'marts'")[
            "table_name"
        ]
    )
    assert "quarter_trends" not in tables and "quarter_budget" not in tables


def test_budget_that_does_not_sum_blocks(tmp_path):
    _, result, checks = _run(tmp_path, allocated_scale=0.8)
    gate = checks["budget_sums"]
    assert not gate.passed
    assert "test reserve is 28.0% of the budget" in gate.metadata["problems"].value
    assert not result.asset_materializations_for_node("quarter_goals")  # blocked


def test_run_quarter_entry_point(tmp_path):
    from gtm_assets.assets import workflows

    path = tmp_path / "wh.duckdb"
    quarter_world.build(path)
    defs = dg.Definitions(
        assets=ASSETS,
        jobs=[workflows.quarterly_planning],
        resources={
            "warehouse": WarehouseResource(
                path=str(path), read_copy_path=str(tmp_path / "r.duckdb")
            ),
            "settings": GtmSettings(raw_dir=str(tmp_path), reports_dir=str(tmp_path / "reports")),
        },
    )
    result = workflows.run_quarter("2024-Q1", instance=dg.DagsterInstance.ephemeral(), defs=defs)
    assert result.success
    assert (tmp_path / "reports" / "quarterly-plan-2024-Q2.html").exists()
    with pytest.raises(ValueError, match="not runnable"):
        workflows.run_quarter("2099-Q1", defs=defs)


def test_quarter_with_nothing_to_test_keeps_a_typed_empty_roadmap(tmp_path):
    """No experiment, curve or bottleneck calls for a test (this world has no experiments
    or curves; its bottlenecks are removed): the roadmap slice is empty but typed, and the
    plan says the reserve stays unassigned."""
    path, result, _ = _run(tmp_path, emptied=("marts.funnel_bottlenecks",))
    assert result.success
    columns = _query(path, "describe marts.quarter_testing_roadmap")
    assert {"rank", "budget", "start_date"} <= set(columns["column_name"])
    html = (tmp_path / "reports" / "quarterly-plan-2024-Q2.html").read_text(encoding="utf-8")
    assert "the reserve stays unassigned" in html


def test_gtm_quarter_prints_the_plan_it_wrote(tmp_path, monkeypatch, capsys):
    from gtm_assets import cli

    quarter_world.build(tmp_path / "wh.duckdb")
    monkeypatch.setenv("GTM_DUCKDB_PATH", str(tmp_path / "wh.duckdb"))
    monkeypatch.setenv("GTM_REPORTS_DIR", str(tmp_path / "reports"))
    monkeypatch.setenv("GTM_RAW_DIR", str(tmp_path))
    assert cli.main(["quarter", "--quarter", "2024-Q1"]) == cli.EXIT_OK
    plan = tmp_path.resolve() / "reports" / "quarterly-plan-2024-Q2.html"
    assert plan.exists()
    assert f"Plan:        {plan} (for the quarter after 2024-Q1)" in capsys.readouterr().out
    # the analysts' read copy is republished with the quarter's tables
    goals = _query(tmp_path / "wh.read.duckdb", "select count(*) as n from marts.quarter_goals")
    assert goals["n"].iloc[0] > 0


def test_missing_months_text_names_tables_or_the_whole_review():
    import pandas as pd

    from gtm_assets.assets.quarterly import missing_months_text

    present = pd.DataFrame(
        {
            "month": pd.to_datetime(["2024-01-01"] * 2 + ["2024-02-01"] * 2 + ["2024-03-01"] * 2),
            "table_name": ["marts.a", "marts.b"] * 3,
            "rows": [0, 0, 5, 0, 5, 5],
        }
    )
    assert missing_months_text(present) == "2024-01 (no monthly review); 2024-02 (marts.b)"
    assert missing_months_text(present.assign(rows=1)) == ""
