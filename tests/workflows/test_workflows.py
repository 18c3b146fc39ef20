"""Jobs, the quarter-end schedule and the new-campaign sensor."""

from __future__ import annotations

from datetime import UTC, date, datetime

import dagster as dg
import duckdb
import pytest

from gtm_assets.assets import workflows
from gtm_assets.partitions import campaign_partitions
from gtm_assets.resources import GtmSettings, WarehouseResource


def _all_defs(tmp_path) -> dg.Definitions:
    """Every role module's assets plus the executive assets, the workflow jobs and schedule."""
    import importlib
    import pkgutil

    from gtm_assets import assets as assets_package
    from gtm_assets.assets.executive import build_executive_assets
    from gtm_assets.partitions import monthly_partitions

    modules = [
        importlib.import_module(f"gtm_assets.assets.{i.name}")
        for i in pkgutil.iter_modules(assets_package.__path__)
        if i.name not in {"common", "executive"}
    ]
    assets = dg.load_assets_from_modules(modules)
    monthly = [
        a
        for a in assets
        if isinstance(a, dg.AssetsDefinition) and a.partitions_def == monthly_partitions
    ]
    executive = build_executive_assets([k for a in monthly for k in a.keys])
    return dg.Definitions(
        assets=[*assets, *executive],
        jobs=[
            workflows.monthly_review_analysis_only,
            workflows.monthly_review_planning_only,
            workflows.monthly_review_attribution_only,
            workflows.quarterly_planning,
            workflows.campaign_launch,
        ],
        schedules=[workflows.quarterly_planning_quarter_end],
        sensors=[workflows.new_campaign_sensor],
        resources=_resources(tmp_path),
    )


def _write_copy(path, campaigns: list[tuple], as_of: date) -> None:
    """A minimal analysts' read copy: staging.campaigns and staging.ad_spend."""
    con = duckdb.connect(str(path))
    con.execute("create schema if not exists staging")
    con.execute(
        "create or replace table staging.campaigns (campaign_id varchar, start_date date, "
        "end_date date, utm_campaign varchar)"
    )
    con.executemany("insert into staging.campaigns values (?, ?, ?, ?)", campaigns)
    con.execute("create or replace table staging.ad_spend (date date, spend double)")
    con.execute("insert into staging.ad_spend values (?, 1.0)", [as_of])
    con.close()


def _resources(tmp_path):
    return {
        "warehouse": WarehouseResource(
            path=str(tmp_path / "wh.duckdb"), read_copy_path=str(tmp_path / "wh.read.duckdb")
        ),
        "settings": GtmSettings(raw_dir=str(tmp_path / "raw"), reports_dir=str(tmp_path)),
    }


def _evaluate(instance, resources):
    context = dg.build_sensor_context(instance=instance, resources=resources)
    return workflows.new_campaign_sensor(context)


def test_sensor_adds_new_campaign_and_requests_its_run(tmp_path):
    instance = dg.DagsterInstance.ephemeral()
    resources = _resources(tmp_path)
    copy = tmp_path / "wh.read.duckdb"
    as_of = date(2024, 3, 31)
    _write_copy(copy, [("OLD", date(2023, 1, 1), date(2023, 2, 1), "old")], as_of)

    first = _evaluate(instance, resources)
    # an old campaign gets its partition but no run (its first weeks are long over)
    assert first.dynamic_partitions_requests[0].partition_keys == ["OLD"]
    assert first.run_requests == []
    instance.add_dynamic_partitions(campaign_partitions.name, ["OLD"])
    assert isinstance(_evaluate(instance, resources), dg.SkipReason)

    # a new campaign appears in the read copy
    _write_copy(
        copy,
        [
            ("OLD", date(2023, 1, 1), date(2023, 2, 1), "old"),
            ("NEW", date(2024, 3, 20), date(2024, 5, 1), "new"),
        ],
        as_of,
    )
    second = _evaluate(instance, resources)
    assert [r.partition_keys for r in second.dynamic_partitions_requests] == [["NEW"]]
    assert [(r.partition_key, r.run_key) for r in second.run_requests] == [
        ("NEW", "NEW@2024-03-31")
    ]
    assert second.run_requests[0].tags["gtm/as_of"] == "2024-03-31"
    instance.add_dynamic_partitions(campaign_partitions.name, ["NEW"])
    # newer data: the campaign is still in its first weeks, so a new run (new run key)
    _write_copy(
        copy,
        [
            ("OLD", date(2023, 1, 1), date(2023, 2, 1), "old"),
            ("NEW", date(2024, 3, 20), date(2024, 5, 1), "new"),
        ],
        date(2024, 4, 7),
    )
    third = _evaluate(instance, resources)
    assert third.dynamic_partitions_requests == []
    assert [r.run_key for r in third.run_requests] == ["NEW@2024-04-07"]


def test_sensor_never_takes_the_write_lock(tmp_path):
    """The sensor reads the copy while a writer holds the warehouse itself."""
    resources = _resources(tmp_path)
    _write_copy(tmp_path / "wh.read.duckdb", [("A", date(2024, 3, 1), None, "a")], date(2024, 3, 2))
    writer = duckdb.connect(str(tmp_path / "wh.duckdb"))
    try:
        result = _evaluate(dg.DagsterInstance.ephemeral(), resources)
    finally:
        writer.close()
    assert [r.partition_key for r in result.run_requests] == ["A"]


def test_sensor_falls_back_to_the_raw_export(tmp_path):
    raw = tmp_path / "raw"
    raw.mkdir()
    (raw / "campaigns.csv").write_text(
        "Campaign_ID,campaign_name,start_date,end_date\n"
        "C1,One,2099-01-01,2099-02-01\n"
        '"C2","Two, with comma",2000-01-01,2000-02-01\n',
        encoding="utf-8",
    )
    result = _evaluate(dg.DagsterInstance.ephemeral(), _resources(tmp_path))
    assert result.dynamic_partitions_requests[0].partition_keys == ["C1", "C2"]
    assert [r.partition_key for r in result.run_requests] == ["C1"]  # C2 ended long ago


def test_sensor_skips_without_any_source(tmp_path):
    assert isinstance(
        _evaluate(dg.DagsterInstance.ephemeral(), _resources(tmp_path)), dg.SkipReason
    )


@pytest.mark.parametrize(
    ("tick", "partition"),
    [
        (datetime(2026, 4, 2, 6, tzinfo=UTC), "2026-01-01"),
        (datetime(2026, 7, 2, 6, tzinfo=UTC), "2026-04-01"),
        (datetime(2026, 10, 2, 6, tzinfo=UTC), "2026-07-01"),
        (datetime(2027, 1, 2, 6, tzinfo=UTC), "2026-10-01"),
    ],
)
def test_quarter_end_schedule_runs_the_closed_quarter(tmp_path, tick, partition):
    repo = _all_defs(tmp_path).get_repository_def()
    context = dg.build_schedule_context(scheduled_execution_time=tick, repository_def=repo)
    request = workflows.quarterly_planning_quarter_end.evaluate_tick(context).run_requests[0]
    assert request.partition_key == partition
    assert request.run_key == f"quarterly_planning:{partition}"


def test_quarter_end_schedule_next_ticks():
    from dagster._utils.schedules import cron_string_iterator

    schedule = workflows.quarterly_planning_quarter_end
    assert schedule.cron_schedule == "0 6 2 1,4,7,10 *"
    assert schedule.execution_timezone == "UTC"
    ticks = cron_string_iterator(
        datetime(2026, 2, 15, tzinfo=UTC).timestamp(), schedule.cron_schedule, "UTC"
    )
    got = [next(ticks) for _ in range(4)]
    assert [t.strftime("%Y-%m-%d %H:%M") for t in got] == [
        "2026-04-02 06:00",
        "2026-07-02 06:00",
        "2026-10-02 06:00",
        "2027-01-02 06:00",
    ]
    assert [workflows.closed_quarter_key(t) for t in got] == [
        "2026-01-01",
        "2026-04-01",
        "2026-07-01",
        "2026-10-01",
    ]


def test_schedule_skips_before_the_first_quarter(tmp_path):
    repo = _all_defs(tmp_path).get_repository_def()
    context = dg.build_schedule_context(
        scheduled_execution_time=datetime(2020, 4, 2, 6, tzinfo=UTC), repository_def=repo
    )
    result = workflows.quarterly_planning_quarter_end.evaluate_tick(context)
    assert not result.run_requests and result.skip_message


@pytest.mark.parametrize(
    ("text", "key"),
    [
        ("2026-Q1", "2026-01-01"),
        ("2025-q4", "2025-10-01"),
        ("2026-07", "2026-07-01"),
        ("2026-04-01", "2026-04-01"),
    ],
)
def test_quarter_partition_key(text, key):
    assert workflows.quarter_partition_key(text) == key


@pytest.mark.parametrize("text", ["2026-Q5", "2026-02", "2026-04-02"])
def test_quarter_partition_key_rejects(text):
    with pytest.raises(ValueError):
        workflows.quarter_partition_key(text)


def test_execution_mode_jobs_select_the_right_groups(tmp_path):
    """Each mode job resolves against every asset to exactly its groups' assets."""
    defs = _all_defs(tmp_path)
    graph = defs.resolve_asset_graph()

    def selected(name: str) -> set[str]:
        job = defs.resolve_job_def(name)
        return {graph.get(k).group_name for k in job.asset_layer.executable_asset_keys}

    assert selected("monthly_review_analysis_only") <= set(workflows.ANALYSIS_GROUPS)
    assert {"raw", "staging", "attribution", "campaign_roi"} <= selected(
        "monthly_review_analysis_only"
    )
    assert selected("monthly_review_planning_only") == {"budget", "executive"}
    assert selected("monthly_review_attribution_only") == {"attribution"}
    assert selected("campaign_launch") == {"campaign_launch"}
    for name in ("monthly_review_analysis_only", "campaign_launch", "quarterly_planning"):
        job = defs.resolve_job_def(name)
        assert job.tags.get("gtm/warehouse") == "writer"
        assert job.executor_def.name == "in_process"
