"""The funnel SQL inputs and the Dagster asset on a tiny hand-made warehouse."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import dagster as dg
import duckdb
import pandas as pd
import pytest

from gtm_assets.assets.funnel import funnel_stages
from gtm_assets.resources import WarehouseResource


def make_staging(path: Path) -> None:
    """Staging tables shaped as in docs/architecture.md, with the rows of test_funnel_core."""
    con = duckdb.connect(str(path))
    con.execute("create schema staging")
    leads = pd.DataFrame(
        {
            "lead_id": ["L1", "L2", "L3", "L4", "L5", "L6", "L7"],
            "person_id": ["P1", "P2", "P3", "P4", "P5", "P6", "P7"],
            "created_at": pd.to_datetime(
                [
                    "2024-02-05",
                    "2024-02-10",
                    "2024-02-25",
                    "2024-02-28",
                    "2024-03-02",
                    "2024-03-25",
                    "2024-03-01",
                ]
            ),
            "lead_source": ["web"] * 7,
            "campaign_id": [None] * 7,
            "company": ["c"] * 7,
            "industry": ["saas", "saas", "retail", "retail", "saas", "saas", "retail"],
            "company_size": [100] * 7,
            "company_size_band": ["50-199"] * 7,
            "country": ["DE"] * 7,
            "seniority": ["vp"] * 7,
        }
    )
    leads["month"] = leads["created_at"].dt.to_period("M").dt.start_time
    hist = pd.DataFrame(
        {
            "lead_id": ["L1", "L2", "L4", "L5", "L5", "L1"],
            "stage": ["mql", "mql", "sql", "mql", "mql", "sql"],
            "entered_at": pd.to_datetime(
                ["2024-02-20", "2024-03-20", "2024-03-10", "2024-03-12", "2024-03-20", "2024-05-01"]
            ),
        }
    )
    opps = pd.DataFrame(
        {
            "opportunity_id": ["O1"],
            "lead_id": ["L4"],
            "person_id": ["P4"],
            "created_at": pd.to_datetime(["2024-03-15"]),
            "amount": [1000.0],
            "stage": ["closed_won"],
            "closed_at": pd.to_datetime(["2024-05-01"]),  # won after the as-of: not a customer
            "is_closed": [True],
            "is_won": [True],
        }
    )
    touches = pd.DataFrame(
        {
            "touchpoint_id": ["t1", "t2", "t3", "t4", "t5", "t0"],
            "person_id": ["P1", "P2", "P9", "P3", "P1", "P2"],
            "ts": pd.to_datetime(
                ["2024-02-01", "2024-02-03", "2024-02-15", "2024-02-26", "2024-01-20", "2024-01-01"]
            ),
            "touch_type": ["visit", "click", "visit", "visit", "impression", "email_open"],
            "channel": ["email", "paid_search", "email", "email", "display", "email"],
        }
    )
    for name, df in {
        "leads": leads,
        "lead_stage_history": hist,
        "opportunities": opps,
        "touchpoints": touches,
    }.items():
        con.register("df", df)
        con.execute(f"create table staging.{name} as select * from df")  # noqa: S608
        con.unregister("df")
    con.close()


def test_funnel_asset_writes_month_slices(tmp_path: Path) -> None:
    db = tmp_path / "w.duckdb"
    make_staging(db)
    wh = WarehouseResource(path=str(db), read_copy_path=str(tmp_path / "r.duckdb"))
    for _ in range(2):  # re-running a month replaces its slice
        result = dg.materialize(
            [funnel_stages], resources={"warehouse": wh}, partition_key="2024-03-01"
        )
        assert result.success
    checks = {c.check_name: c.passed for c in result.get_asset_check_evaluations()}
    assert checks["funnel_counts_consistent"] is True
    con = duckdb.connect(str(db), read_only=True)
    stages = con.execute(
        "select * from marts.funnel_stages where segment_type = 'all' order by from_stage"
    ).df()
    assert len(stages) == 5
    definitions = con.execute("select to_stage, definition from marts.funnel_definitions").df()
    assert definitions["definition"].str.len().gt(40).all()  # every step says what it counts
    r = stages.set_index("from_stage").loc["lead"]
    assert (r.entered, r.converted, r.conversion_rate) == (4, 2, 0.5)
    assert r.cohort_month == pd.Timestamp(date(2024, 2, 1))
    assert r.current_cohort_km_rate == pytest.approx(0.5)
    v = stages.set_index("from_stage").loc["visitor"]
    # P3 was a lead before visiting; P1's impression before the visit is not a site touch
    assert (v.entered, v.converted) == (3, 2)
    # first-touch channel: P1's first touch was a display impression, P2's an email open
    ch = con.execute(
        "select segment, entered from marts.funnel_stages where segment_type = 'channel' "
        "and from_stage = 'visitor' order by segment"
    ).fetchall()
    assert ch == [("display", 1), ("email", 2)]
    sql_opp = stages.set_index("from_stage").loc["sql"]
    assert sql_opp.period_to_entries == 1  # O1 created in March
    assert con.execute("select count(*) from marts.funnel_stages").fetchall()[0][0] == len(
        con.execute(
            "select distinct segment_type, segment, from_stage from marts.funnel_stages"
        ).fetchall()
    )
    types = dict(
        con.execute("describe marts.funnel_stages").fetchall()
        and [(r[0], r[1]) for r in con.execute("describe marts.funnel_stages").fetchall()]
    )
    assert types["month"] == "DATE" and types["conversion_rate"] == "DOUBLE"
    con.close()


def test_inconsistent_funnel_keeps_the_previous_slice_of_every_table(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A month whose stages fail funnel_counts_consistent (a step converting more than
    entered) is rolled back whole: funnel_stages and funnel_velocity keep their good slice."""
    import gtm_assets.assets.funnel as module

    db = tmp_path / "w.duckdb"
    make_staging(db)
    wh = WarehouseResource(path=str(db), read_copy_path=str(tmp_path / "r.duckdb"))

    def run() -> dg.ExecuteInProcessResult:
        return dg.materialize(
            [funnel_stages],
            resources={"warehouse": wh},
            partition_key="2024-03-01",
            raise_on_error=False,
        )

    def stored() -> dict[str, pd.DataFrame]:
        with duckdb.connect(str(db), read_only=True) as con:
            return {
                t: con.execute(f"select * from marts.{t} order by all").df()
                for t in ("funnel_stages", "funnel_velocity")
            }

    assert run().success
    good = stored()
    real = module.compute_funnel

    def corrupted(*args, **kwargs):
        tables = real(*args, **kwargs)
        stages = tables["marts.funnel_stages"]
        stages["converted"] = stages["entered"] + 1
        tables["marts.funnel_velocity"] = tables["marts.funnel_velocity"].iloc[0:0]
        return tables

    monkeypatch.setattr(module, "compute_funnel", corrupted)
    result = run()
    checks = {c.check_name: c for c in result.get_asset_check_evaluations()}
    assert not checks["funnel_counts_consistent"].passed
    after = stored()
    for table, frame in good.items():
        pd.testing.assert_frame_equal(after[table], frame)
    (mat,) = result.asset_materializations_for_node("funnel_stages")
    note = mat.metadata["not_written"].value
    assert note.startswith("not written: failed blocking check(s) funnel_counts_consistent;")
    assert "marts.funnel_stages, marts.funnel_velocity" in note
