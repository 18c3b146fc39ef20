"""Small hand-checkable warehouses shaped like staging.touchpoints / intermediate.conversions."""

from __future__ import annotations

import duckdb
import pandas as pd
import pytest


def make_warehouse(touches: list[tuple], conversions: list[tuple]) -> duckdb.DuckDBPyConnection:
    """touches: (touchpoint_id, person_id, ts, touch_type, channel, campaign_id);
    conversions: (conversion_id, conversion_type, person_id, converted_at, value[, lead_id])."""
    con = duckdb.connect()
    con.execute("create schema staging")
    con.execute("create schema intermediate")
    con.execute("create schema marts")
    t = pd.DataFrame(
        touches,
        columns=["touchpoint_id", "person_id", "ts", "touch_type", "channel", "campaign_id"],
    )
    t["ts"] = pd.to_datetime(t["ts"])
    con.register("t_df", t)
    con.execute(
        "create table staging.touchpoints as select touchpoint_id, person_id, ts::timestamp as ts, "
        "date_trunc('month', ts)::date as month, touch_type, null::varchar as utm_source, "
        "null::varchar as utm_medium, null::varchar as utm_campaign, channel, "
        "'explicit' as channel_source, campaign_id::varchar as campaign_id, "
        "null::varchar as content_id from t_df"
    )
    c = pd.DataFrame(
        [tuple(row) + (None,) * (6 - len(row)) for row in conversions],
        columns=[
            "conversion_id",
            "conversion_type",
            "person_id",
            "converted_at",
            "value",
            "lead_id",
        ],
    )
    c["converted_at"] = pd.to_datetime(c["converted_at"])
    con.register("c_df", c)
    con.execute(
        "create table intermediate.conversions as select conversion_id, conversion_type, "
        "person_id, lead_id::varchar as lead_id, converted_at::timestamp as converted_at, "
        "date_trunc('month', converted_at)::date as month, value::double as value from c_df"
    )
    con.unregister("t_df")
    con.unregister("c_df")
    return con


@pytest.fixture
def small_warehouse() -> duckdb.DuckDBPyConnection:
    """March 2024. Person p1 wins 1000 after email -> search -> social (+ a touch after the
    win and one 100 days before); p2 converts (lead) after one display touch; p3 only has
    touches (null path); p4 converted in February (not at risk in March)."""
    touches = [
        ("t0", "p1", "2023-11-20 10:00", "click", "display", None),  # outside 90 days
        ("t1", "p1", "2024-03-01 10:00", "email_click", "email", "cmp_e"),
        ("t2", "p1", "2024-03-08 10:00", "click", "paid_search", "cmp_s"),
        ("t3", "p1", "2024-03-15 10:00", "click", "paid_social", None),
        ("t4", "p1", "2024-03-20 10:00", "click", "paid_search", "cmp_s"),  # after win
        ("t5", "p2", "2024-03-02 09:00", "impression", "display", "cmp_d"),
        ("t6", "p3", "2024-03-03 09:00", "click", "paid_search", "cmp_s"),
        ("t7", "p3", "2024-03-04 09:00", "email_open", "email", "cmp_e"),
        ("t8", "p4", "2024-03-05 09:00", "click", "display", "cmp_d"),
    ]
    conversions = [
        ("w1", "won", "p1", "2024-03-15 10:00", 1000.0),  # same ts as t3: t3 not before
        ("l2", "lead", "p2", "2024-03-10 09:00", 0.0),
        ("w4", "won", "p4", "2024-02-10 09:00", 500.0),
        ("w5", "won", "p5", "2024-03-12 09:00", 300.0),  # no touches at all
    ]
    return make_warehouse(touches, conversions)
