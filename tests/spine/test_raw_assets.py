"""The raw and staging assets through Dagster: accept, reuse, reject (nothing changed)."""

import csv
from pathlib import Path

import dagster as dg
import duckdb
import pandas as pd
import pytest

from gtm_assets.assets.raw import raw_exports, staging_tables
from gtm_assets.resources import GtmSettings, WarehouseResource
from tests.spine import sample_month as sm

TABLES = {
    "campaigns": sm.CAMPAIGNS,
    "fx_rates": sm.FX,
    "ad_spend": sm.AD_SPEND,
    "touchpoints": sm.TOUCHPOINTS,
    "leads": sm.LEADS,
    "lead_stage_history": sm.STAGES,
    "opportunities": sm.OPPORTUNITIES,
    "targets": [{**t, "month": t["month"].strftime("%Y-%m")} for t in sm.TARGETS],
}


def write_sample(folder: Path) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    for name, rows in TABLES.items():
        pd.DataFrame(rows).to_csv(folder / f"{name}.csv", index=False, quoting=csv.QUOTE_MINIMAL)
    return folder


def _resources(tmp_path: Path, raw: Path) -> dict:
    warehouse = tmp_path / "w.duckdb"
    return {
        "warehouse": WarehouseResource(
            path=str(warehouse), read_copy_path=str(tmp_path / "w.read.duckdb")
        ),
        "settings": GtmSettings(raw_dir=str(raw), reports_dir=str(tmp_path / "reports")),
    }


def _materialize(resources):
    return dg.materialize(
        [raw_exports, staging_tables],
        resources=resources,
        partition_key="2024-02-01",
        raise_on_error=False,
    )


def _checks(result) -> dict[str, bool]:
    return {e.check_name: e.passed for e in result.get_asset_check_evaluations()}


def test_valid_exports_load_and_gates_pass(tmp_path):
    resources = _resources(tmp_path, write_sample(tmp_path / "raw"))
    result = _materialize(resources)
    assert result.success
    checks = _checks(result)
    assert checks["exports_cover_the_month"]
    assert checks["row_counts_match_raw"] and checks["money_converted"]
    assert checks["channels_classified"] is False  # 1 of 5 sample touches is unclassifiable: warned
    assert checks["campaign_channels_agree"]  # every campaign touch has its campaign's channel
    con = duckdb.connect(str(tmp_path / "w.duckdb"), read_only=True)
    assert con.execute("select count(*) from staging.touchpoints").fetchall() == [(5,)]
    con.close()


def test_touches_off_their_campaign_s_channel_warn(tmp_path):
    """One facebook / cpc click tagged spring_launch (C1, paid_search) is paid_social: 1 of
    the 3 touches that name a campaign, above 2%: warned, not blocked."""
    raw = write_sample(tmp_path / "raw")
    touches = pd.read_csv(raw / "touchpoints.csv")
    extra = {"touchpoint_id": "fb1", "person_id": "p9", "ts": "2024-02-20 09:00:00"}
    extra |= {"touch_type": "click", "utm_source": "facebook", "utm_medium": "cpc"}
    extra |= {"utm_campaign": "spring_launch"}
    pd.concat([touches, pd.DataFrame([extra])]).to_csv(raw / "touchpoints.csv", index=False)
    result = _materialize(_resources(tmp_path, raw))
    assert result.success
    assert _checks(result)["campaign_channels_agree"] is False
    evaluation = next(
        e for e in result.get_asset_check_evaluations() if e.check_name == "campaign_channels_agree"
    )
    assert evaluation.metadata["touchpoints_off_their_campaign_channel"].value == 1


def test_unchanged_exports_are_not_reloaded(tmp_path):
    resources = _resources(tmp_path, write_sample(tmp_path / "raw"))
    assert _materialize(resources).success
    second = _materialize(resources)
    meta = second.asset_materializations_for_node("raw_exports")[0].metadata
    assert meta["reused_previous_load"].value is True
    staging_meta = second.asset_materializations_for_node("staging_tables")[0].metadata
    assert staging_meta["rebuilt"].value is False


def test_rejected_exports_change_nothing(tmp_path):
    raw = write_sample(tmp_path / "raw")
    resources = _resources(tmp_path, raw)
    assert _materialize(resources).success
    con = duckdb.connect(str(tmp_path / "w.duckdb"), read_only=True)
    before = con.execute("select * from staging.ad_spend order by all").fetchall()
    con.close()

    spend = pd.read_csv(raw / "ad_spend.csv").drop(columns=["spend"])
    spend.to_csv(raw / "ad_spend.csv", index=False)
    result = _materialize(resources)
    assert not result.success
    failure = next(e for e in result.all_events if e.event_type == dg.DagsterEventType.STEP_FAILURE)
    message = failure.event_specific_data.error.message
    assert "ad_spend" in message and "spend" in message

    con = duckdb.connect(str(tmp_path / "w.duckdb"), read_only=True)
    assert con.execute("select * from staging.ad_spend order by all").fetchall() == before
    assert con.execute("select sum(spend) from raw.ad_spend").fetchall()[0][0] == pytest.approx(
        750.0
    )
    con.close()


def test_a_month_outside_the_exports_is_blocked(tmp_path):
    resources = _resources(tmp_path, write_sample(tmp_path / "raw"))
    result = dg.materialize(
        [raw_exports, staging_tables],
        resources=resources,
        partition_key="2025-06-01",
        raise_on_error=False,
    )
    assert not result.success
    assert _checks(result)["exports_cover_the_month"] is False
    assert not result.asset_materializations_for_node("staging_tables")
