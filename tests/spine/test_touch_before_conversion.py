"""Every model that ties leads to touches counts touches strictly before the conversion, as
attribution's paths do: a form-fill touch logged at the lead's own timestamp is the
conversion, not a cause of it."""

from datetime import date, datetime

import duckdb
import pytest

from gtm_assets.sql_files import load_sql

LEAD_AT = datetime(2024, 3, 10, 12)


@pytest.fixture
def con():
    con = duckdb.connect()
    con.execute("create schema staging; create schema intermediate")
    con.execute(
        "create table staging.touchpoints as select * from (values "
        "('t1', 'p1', timestamp '2024-03-01 09:00', 'paid_search'), "
        "('t2', 'p1', $lead_at, 'email'), "
        "('t3', 'p2', $lead_at, 'events')) "
        "as t(touchpoint_id, person_id, ts, channel)",
        {"lead_at": LEAD_AT},
    )
    con.execute(
        "create table staging.leads as select * from (values "
        "('L1', 'p1', $lead_at), ('L2', 'p2', $lead_at)) as t(lead_id, person_id, created_at)",
        {"lead_at": LEAD_AT},
    )
    con.execute(
        "create table staging.opportunities (opportunity_id varchar, lead_id varchar, "
        "person_id varchar, created_at timestamp, amount double, stage varchar, "
        "close_date date, closed_at timestamp, is_closed boolean, is_won boolean)"
    )
    con.execute(
        "create table intermediate.conversions as select * from (values "
        "('lead', 'L1', 'p1', $lead_at, 0.0), ('lead', 'L2', 'p2', $lead_at, 0.0)) "
        "as t(conversion_type, lead_id, person_id, converted_at, value)",
        {"lead_at": LEAD_AT},
    )
    return con


def test_lead_first_channel_ignores_the_touch_at_creation(con):
    rows = con.execute(
        load_sql("intermediate/lead_first_channel"),
        {"since": datetime(2024, 3, 1), "as_of": datetime(2024, 4, 1)},
    ).fetchall()
    assert rows == [("L1", "paid_search")]  # L2's only touch is the conversion itself


def test_budget_lead_value_splits_over_touches_before_the_lead(con):
    rows = con.execute(
        load_sql("marts/budget_lead_value"),
        {"window_start": date(2024, 3, 1), "month_end": date(2024, 4, 1), "lookback_days": 90},
    ).fetchall()
    assert [(r[0], r[1], r[2]) for r in rows] == [("L1", "paid_search", 1.0)]
