"""The code location loads, and its monthly job and schedule resolve and tick correctly."""

from datetime import UTC, datetime

import dagster as dg
import pytest

from gtm_assets.definitions import build_definitions
from gtm_assets.partitions import monthly_partitions


@pytest.fixture(scope="module")
def defs():
    return build_definitions(raw_dir="unused", warehouse="unused.duckdb")


def test_code_location_loads(defs):
    dg.Definitions.validate_loadable(defs)


def test_every_asset_is_grouped_and_warehouse_assets_share_one_pool(defs):
    graph = defs.resolve_asset_graph()
    for key in graph.get_all_asset_keys():
        node = graph.get(key)
        assert node.group_name and node.group_name != "default", key
    monthly = defs.resolve_job_def("monthly_review")
    for node in monthly.graph.node_defs:
        assert node.pool == "duckdb_warehouse", node.name


def test_monthly_job_covers_every_monthly_asset(defs):
    graph = defs.resolve_asset_graph()
    monthly_keys = {
        k for k in graph.get_all_asset_keys() if graph.get(k).partitions_def == monthly_partitions
    }
    job = defs.resolve_job_def("monthly_review")
    assert set(job.asset_layer.selected_asset_keys) == monthly_keys
    assert {"raw_exports", "campaign_performance", "monthly_report", "analyst_read_copy"} <= {
        k.to_user_string() for k in monthly_keys
    }
    assert job.executor_def.name == "in_process"
    assert job.tags.get("gtm/warehouse") == "writer"


def test_month_end_schedule_runs_the_month_that_just_closed(defs):
    schedule = defs.resolve_schedule_def("monthly_review_month_end")
    assert schedule.cron_schedule == "0 6 1 * *"
    assert schedule.job_name == "monthly_review"
    tick = datetime(2026, 11, 1, 6, 0, tzinfo=UTC)
    with dg.build_schedule_context(scheduled_execution_time=tick) as context:
        requests = list(schedule.evaluate_tick(context).run_requests or [])
    assert [r.partition_key for r in requests] == ["2026-10-01"]
    from dagster._utils.schedules import cron_string_iterator

    ticks = cron_string_iterator(
        datetime(2026, 11, 2, tzinfo=UTC).timestamp(), schedule.cron_schedule, "UTC"
    )
    assert [next(ticks).strftime("%Y-%m-%d %H:%M") for _ in range(2)] == [
        "2026-12-01 06:00",
        "2027-01-01 06:00",
    ]


def test_quarterly_and_launch_workflows_are_defined(defs):
    assert defs.resolve_job_def("quarterly_planning")
    assert defs.resolve_job_def("campaign_launch")
    assert defs.resolve_sensor_def("new_campaign_sensor")
    assert defs.resolve_schedule_def("quarterly_planning_quarter_end")
