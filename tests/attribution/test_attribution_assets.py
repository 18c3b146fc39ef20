"""The attribution multi-asset end to end on a small file warehouse."""

from __future__ import annotations

import dagster as dg
import pytest
from attribution_fixtures import make_warehouse

from gtm_assets.assets import attribution as asset_module
from gtm_assets.resources import GtmSettings, WarehouseResource


@pytest.fixture
def warehouse_file(tmp_path):
    mem = make_warehouse(
        [
            ("t1", "p1", "2024-03-01 10:00", "email_click", "email", "cmp_e"),
            ("t2", "p1", "2024-03-08 10:00", "click", "paid_search", "cmp_s"),
            ("t3", "p2", "2024-03-02 09:00", "impression", "display", "cmp_d"),
            ("t4", "p3", "2024-03-03 09:00", "click", "paid_search", None),
        ],
        [
            ("w1", "won", "p1", "2024-03-15 10:00", 1000.0),
            ("o1", "opportunity", "p1", "2024-03-12 10:00", 1000.0),
            ("l1", "lead", "p1", "2024-03-09 10:00", 0.0),
            ("l2", "lead", "p2", "2024-03-10 09:00", 0.0),
            ("l9", "lead", "p9", "2024-03-10 09:00", 0.0),
        ],
    )
    path = tmp_path / "wh.duckdb"
    mem.execute(f"attach '{path}' as wh")
    mem.execute("copy from database memory to wh")
    mem.close()
    return path


def _run(path, tmp_path, **config):
    resources = {
        "warehouse": WarehouseResource(path=str(path), read_copy_path=str(tmp_path / "r.duckdb")),
        "settings": GtmSettings(raw_dir=str(tmp_path), reports_dir=str(tmp_path)),
    }
    return dg.materialize(
        [asset_module.attribution_credit],
        resources=resources,
        partition_key="2024-03-01",
        run_config={"ops": {"attribution_credit": {"config": config}}} if config else None,
    )


def test_attribution_asset_writes_both_marts_and_passes_checks(warehouse_file, tmp_path):
    result = _run(warehouse_file, tmp_path)
    assert result.success
    checks = {
        (e.asset_key.to_user_string(), e.check_name): e
        for e in result.get_asset_check_evaluations()
    }
    insight_keys = {
        "attribution_assisted",
        "attribution_path_stats",
        "attribution_top_paths",
        "attribution_transitions",
        "attribution_model_comparison",
        "attribution_model_disagreement",
    }
    assert set(checks) == {
        ("channel_attribution", "credit_sums_to_conversions"),
        ("channel_attribution", "shares_sum_to_one"),
        ("channel_attribution", "no_negative_credit"),
        ("channel_attribution", "revenue_credit_sums_to_revenue"),
        ("channel_attribution", "touch_coverage"),
        ("channel_attribution", "deal_cycle_within_lookback"),
        ("campaign_attribution", "campaign_credit_matches_channel_credit"),
    } | {(key, "consistent_with_paths") for key in insight_keys}
    coverage = checks.pop(("channel_attribution", "touch_coverage"))
    assert all(c.passed for c in checks.values())
    # 2 of 3 leads have a touch: below the 70% default, a warning, not a failure
    assert not coverage.passed and coverage.severity == dg.AssetCheckSeverity.WARN
    assert (
        coverage.metadata["problems"].value == "lead: 67% of conversions have a touch (below 70%)"
    )
    import duckdb

    con = duckdb.connect(str(warehouse_file), read_only=True)
    channel = con.execute(
        "select conversion_type, model, sum(attributed_conversions), sum(share), "
        "any_value(coverage), typeof(any_value(month)) from marts.channel_attribution "
        "group by all order by all"
    ).fetchall()
    # lead: l1 (email > paid_search), l2 (display); l9 has no touch -> coverage 2/3
    assert len(channel) == 21
    for ctype, _model, conv, share, coverage, month_type in channel:
        assert month_type == "DATE"
        assert share == pytest.approx(1.0)
        assert conv == pytest.approx({"lead": 2, "opportunity": 1, "won": 1}[ctype])
        assert coverage == pytest.approx({"lead": 2 / 3, "opportunity": 1, "won": 1}[ctype])
    campaign = con.execute(
        "select campaign_id, attributed_revenue from marts.campaign_attribution "
        "where conversion_type = 'won' and model = 'last_touch' order by campaign_id"
    ).fetchall()
    assert campaign == [("cmp_e", 0.0), ("cmp_s", pytest.approx(1000.0))]
    for key in insight_keys:
        months = con.execute(f"select distinct month from marts.{key}").fetchall()
        assert [str(m[0]) for m in months] == ["2024-03-01"], key
    assisted = con.execute(
        "select channel, last_touch_conversions, assisted_conversions "
        "from marts.attribution_assisted where conversion_type = 'lead' order by channel"
    ).fetchall()
    # l1: email > paid_search (email assists, paid_search closes); l2: display closes
    assert assisted == [("display", 1, 0), ("email", 0, 1), ("paid_search", 1, 0)]
    con.close()


def test_rerun_replaces_the_slice_and_low_coverage_warns(warehouse_file, tmp_path):
    assert _run(warehouse_file, tmp_path).success
    result = _run(warehouse_file, tmp_path, min_coverage=0.9, touch_types=["click"])
    assert result.success  # WARN, not blocking
    coverage = next(
        e for e in result.get_asset_check_evaluations() if e.check_name == "touch_coverage"
    )
    assert not coverage.passed
    assert coverage.severity == dg.AssetCheckSeverity.WARN
    import duckdb

    con = duckdb.connect(str(warehouse_file), read_only=True)
    rows = con.execute(
        "select count(*) from marts.channel_attribution where model = 'linear' "
        "and conversion_type = 'lead'"
    ).fetchall()[0][0]
    assert rows == 1  # clicks only: l1's paid_search; one slice, not two
    con.close()


def test_month_without_conversions_writes_empty_slices(warehouse_file, tmp_path):
    resources = {
        "warehouse": WarehouseResource(
            path=str(warehouse_file), read_copy_path=str(tmp_path / "r.duckdb")
        ),
        "settings": GtmSettings(raw_dir=str(tmp_path), reports_dir=str(tmp_path)),
    }
    result = dg.materialize(
        [asset_module.attribution_credit], resources=resources, partition_key="2024-05-01"
    )
    assert result.success
    assert all(e.passed for e in result.get_asset_check_evaluations())
    import duckdb

    con = duckdb.connect(str(warehouse_file), read_only=True)
    assert con.execute("select count(*) from marts.channel_attribution").fetchall() == [(0,)]
    assert con.execute(
        "select count(*) from marts.attribution_transitions where month = '2024-05-01'"
    ).fetchall() == [(0,)]
    con.close()


@pytest.fixture
def long_cycle_file(tmp_path):
    """One won deal (1,000) closing 135 days after its lead: the lead came from an event
    click, the deal's own 90-day path holds only a nurture email."""
    mem = make_warehouse(
        [
            ("t1", "p1", "2023-10-25 10:00", "click", "events", "cmp_ev"),
            ("t2", "p1", "2024-03-01 10:00", "email_click", "email", "cmp_e"),
        ],
        [
            ("L1", "lead", "p1", "2023-11-01 10:00", 0.0, "L1"),
            ("w1", "won", "p1", "2024-03-15 10:00", 1000.0, "L1"),
        ],
    )
    path = tmp_path / "wh.duckdb"
    mem.execute(f"attach '{path}' as wh")
    mem.execute("copy from database memory to wh")
    mem.close()
    return path


def test_a_sales_cycle_longer_than_the_lookback_warns(long_cycle_file, tmp_path):
    """The won deal (1,000) closes 135 days after its lead: with the 90-day lookback its
    sourcing touch is outside the path, and the check warns with the cycle's numbers; a
    150-day lookback covers it."""
    path = long_cycle_file

    def cycle_check(**config):
        result = _run(path, tmp_path, **config)
        assert result.success  # WARN, not blocking
        return next(
            e
            for e in result.get_asset_check_evaluations()
            if e.check_name == "deal_cycle_within_lookback"
        )

    short = cycle_check()
    assert not short.passed and short.severity == dg.AssetCheckSeverity.WARN
    problem = short.metadata["problem"].value
    assert "won: 100% of revenue from leads created more than 90 days before" in problem
    assert "median 135 days from lead" in problem
    assert cycle_check(lookback_days=150).passed
    assert cycle_check(anchor_on_lead=True).passed


def test_roi_credits_deals_along_their_sourcing_lead_path(long_cycle_file, tmp_path):
    """The won deal (1,000) closes 135 days after its lead; the lead came from an event,
    the deal's own 90-day path holds only a nurture email. channel/campaign_attribution
    keep the deal's own path (email gets the revenue); the ROI table credits the deal along
    its lead's path (the event gets it), unless roi_basis is deal_path."""
    import duckdb

    path = long_cycle_file

    def won_revenue(table: str) -> dict:
        con = duckdb.connect(str(path), read_only=True)
        rows = con.execute(
            f"select campaign_id, sum(attributed_revenue) from {table} "  # noqa: S608
            "where conversion_type = 'won' and model = 'shapley' group by 1 order by 1"
        ).fetchall()
        con.close()
        return {c: v for c, v in rows if v}

    result = _run(path, tmp_path)
    assert result.success
    assert all(
        e.passed
        for e in result.get_asset_check_evaluations()
        if e.check_name != "deal_cycle_within_lookback"
    )
    assert won_revenue("marts.campaign_attribution") == {"cmp_e": pytest.approx(1000.0)}
    assert won_revenue("marts.campaign_attribution_roi") == {"cmp_ev": pytest.approx(1000.0)}
    assert _run(path, tmp_path, roi_basis="deal_path").success
    assert won_revenue("marts.campaign_attribution_roi") == {"cmp_e": pytest.approx(1000.0)}
