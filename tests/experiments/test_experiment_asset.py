"""The experiment_results asset end to end on a small hand-made warehouse."""

from __future__ import annotations

from datetime import date, datetime

import dagster as dg
import duckdb
import pandas as pd
import pytest

from gtm_assets.assets.experiments import experiment_results_asset, srm_gate_check
from gtm_assets.resources import WarehouseResource


def _warehouse(tmp_path, present: bool = True):
    path = tmp_path / "wh.duckdb"
    con = duckdb.connect(str(path))
    for schema in ("raw", "staging", "marts"):
        con.execute(f"create schema {schema}")
    con.execute("create table raw.load_manifest (table_name varchar, present boolean)")
    con.execute(
        "insert into raw.load_manifest values ('experiments', $p), ('experiment_units', $p)",
        {"p": present},
    )
    con.execute(
        """create table staging.experiments (experiment_id varchar, name varchar,
        hypothesis varchar, primary_metric varchar, start_date date, end_date date,
        campaign_id varchar, planned_split varchar)"""
    )
    con.execute(
        """create table staging.experiment_units (experiment_id varchar, unit_id varchar,
        variant varchar, assigned_at timestamp, converted integer, revenue double,
        pre_metric double)"""
    )
    exps = [
        # ok: ended in March, 2000 vs 2000
        ("ok", "Green button", "h", "conversion", date(2025, 2, 1), date(2025, 3, 15), "50/50"),
        # srm: 5000 vs 5400 at 50/50, running
        ("srm", "New pricing page", "h", "conversion", date(2025, 3, 1), None, "50/50"),
        # ended in January: not this month's
        ("old", "Old test", "h", "conversion", date(2024, 12, 1), date(2025, 1, 31), "50/50"),
    ]
    for e in exps:
        con.execute(
            "insert into staging.experiments values ($1, $2, $3, $4, $5, $6, null, $7)", list(e)
        )
    rows = []
    for exp, arms in {
        "ok": {"control": (2000, 200), "treatment": (2000, 280)},
        "srm": {"control": (5000, 500), "treatment": (5400, 560)},
        "old": {"control": (100, 10), "treatment": (100, 12)},
    }.items():
        for variant, (n, k) in arms.items():
            for i in range(n):
                rows.append(
                    (exp, f"{exp}-{variant}-{i}", variant, datetime(2025, 3, 2), int(i < k))
                )
    # a unit assigned after the month end must not count
    rows.append(("ok", "late", "treatment", datetime(2025, 4, 2), 1))
    units = pd.DataFrame(rows, columns=["experiment_id", "unit_id", "variant", "assigned_at", "c"])
    con.register("u", units)
    con.execute(
        "insert into staging.experiment_units "
        "select experiment_id, unit_id, variant, assigned_at, c, 0.0, null from u"
    )
    con.close()
    return WarehouseResource(path=str(path), read_copy_path=str(tmp_path / "r.duckdb"))


def _materialize(resource):
    return dg.materialize(
        [experiment_results_asset],
        resources={"warehouse": resource},
        partition_key="2025-03-01",
        raise_on_error=True,
        selection=None,
    )


def test_asset_writes_the_months_slice_and_gates_srm(tmp_path):
    resource = _warehouse(tmp_path)
    result = _materialize(resource)
    assert result.success
    checks = {c.check_name: c for c in result.get_asset_check_evaluations()}
    assert checks["srm_gate"].passed
    assert checks["statistics_valid"].passed
    assert not checks["no_sample_ratio_mismatch"].passed
    assert checks["no_sample_ratio_mismatch"].severity == dg.AssetCheckSeverity.WARN
    text = checks["no_sample_ratio_mismatch"].metadata["srm_experiments"].value
    assert text.startswith("srm (p = ") and "ok" not in text
    with duckdb.connect(resource.path, read_only=True) as con:
        out = con.execute(
            "select experiment_id, variant, units, verdict, month, srm_flag "
            "from marts.experiment_results order by 1, 2"
        ).df()
        types = dict(
            con.execute(
                "select column_name, data_type from information_schema.columns "
                "where table_name = 'experiment_results'"
            ).fetchall()
        )
    assert set(out["experiment_id"]) == {"ok", "srm"}  # "old" ended before March
    assert out[out.experiment_id == "ok"]["units"].tolist() == [2000, 2000]  # late unit excluded
    assert out[out.experiment_id == "ok"]["verdict"].tolist() == ["baseline", "ship"]
    assert set(out[out.experiment_id == "srm"]["verdict"]) == {"invalid: SRM"}
    assert (out["month"] == pd.Timestamp(2025, 3, 1)).all()
    assert types["month"] == "DATE" and types["p_value"] == "DOUBLE"
    assert types["srm_flag"] == "BOOLEAN" and types["units"] == "BIGINT"
    assert types["start_date"] == "DATE" and types["end_date"] == "DATE"
    # re-running the month replaces the slice instead of appending
    _materialize(resource)
    with duckdb.connect(resource.path, read_only=True) as con:
        assert con.execute("select count(*) from marts.experiment_results").fetchall()[0][0] == 4


def test_asset_skips_when_optional_tables_are_absent(tmp_path):
    resource = _warehouse(tmp_path, present=False)
    result = _materialize(resource)
    mat = result.asset_materializations_for_node("experiment_results")[0]
    assert mat.metadata["skipped"].value == ("skipped: experiments, experiment_units not supplied")
    assert mat.metadata["dagster/row_count"].value == 0
    with duckdb.connect(resource.path, read_only=True) as con:
        assert con.execute("select count(*) from marts.experiment_results").fetchall()[0][0] == 0
        cols = [r[0] for r in con.execute("describe marts.experiment_results").fetchall()]
    for col in ("month", "experiment_id", "variant", "p_value_adjusted", "required_units"):
        assert col in cols


def test_srm_gate_fails_when_a_flagged_experiment_keeps_a_decision():
    df = pd.DataFrame(
        {
            "experiment_id": ["x", "x"],
            "srm_flag": [True, True],
            "verdict": ["invalid: SRM", "ship"],
        }
    )
    result = srm_gate_check(df)
    assert not result.passed
    assert result.metadata["rows_with_a_decision_despite_srm"].value == 1


@pytest.mark.parametrize("key", ["srm_gate", "statistics_valid"])
def test_gates_are_blocking(key):
    specs = {s.name: s for s in experiment_results_asset.check_specs}
    assert specs[key].blocking
    assert not specs["no_sample_ratio_mismatch"].blocking


def test_failed_gate_keeps_the_months_previous_slice(tmp_path, monkeypatch):
    """A readout that lets a decision through despite SRM fails srm_gate and is not
    written: the month's previous (good) slice stays for analysts reading the table."""
    import gtm_assets.assets.experiments as module

    resource = _warehouse(tmp_path)
    assert _materialize(resource).success

    def stored():
        with duckdb.connect(resource.path, read_only=True) as con:
            return con.execute("select * from marts.experiment_results order by all").df()

    good = stored()
    real = module.experiment_results

    def leaky(*args, **kwargs):
        df = real(*args, **kwargs)
        df.loc[df["experiment_id"] == "srm", "verdict"] = "ship"
        return df

    monkeypatch.setattr(module, "experiment_results", leaky)
    result = dg.materialize(
        [experiment_results_asset],
        resources={"warehouse": resource},
        partition_key="2025-03-01",
        raise_on_error=False,
    )
    checks = {c.check_name: c for c in result.get_asset_check_evaluations()}
    assert not checks["srm_gate"].passed and checks["statistics_valid"].passed
    pd.testing.assert_frame_equal(stored(), good)
    (mat,) = result.asset_materializations_for_node("experiment_results")
    assert mat.metadata["not_written"].value == (
        "not written: failed blocking check(s) srm_gate; the previous slice of "
        "marts.experiment_results is kept"
    )
    assert mat.metadata["dagster/row_count"].value == 0
