"""Staging: currency conversion, channel derivation, bands, conversions — hand-checked."""

from datetime import datetime

import pytest

from gtm_assets.assets.raw import build_staging
from tests.spine.sample_month import load_sample


@pytest.fixture
def con(raw_con):
    load_sample(raw_con)
    build_staging(raw_con, "USD")
    return raw_con


def test_money_is_converted_at_the_latest_rate_on_or_before_the_date(con):
    spend = dict(
        con.execute(
            "select date::varchar, spend from staging.ad_spend where campaign_id = 'C2'"
        ).fetchall()
    )
    assert spend == {"2024-01-20": pytest.approx(55.0), "2024-02-03": pytest.approx(120.0)}
    budget = con.execute(
        "select planned_budget, planned_budget_original from staging.campaigns where campaign_id = 'C2'"
    ).fetchall()
    assert budget == [(pytest.approx(1100.0), 1000.0)]
    amounts = dict(
        con.execute("select opportunity_id, amount from staging.opportunities").fetchall()
    )
    assert amounts == {"O1": pytest.approx(1200.0), "O2": pytest.approx(500.0)}


def test_missing_currency_means_reporting_currency(con):
    assert con.execute(
        "select currency from staging.campaigns where campaign_id = 'C3'"
    ).fetchall() == [("USD",)]


def test_channel_derivation_priority(con):
    rows = dict(
        (tid, (channel, source, campaign))
        for tid, channel, source, campaign in con.execute(
            "select touchpoint_id, channel, channel_source, campaign_id from staging.touchpoints"
        ).fetchall()
    )
    assert rows["t1"] == ("paid_social", "explicit", None)
    assert rows["t2"] == ("paid_search", "rule", "C1")
    assert rows["t3"] == ("direct", "rule", None)
    assert rows["t4"] == ("paid_search", "campaign", "C1")
    assert rows["t5"] == ("unclassified", "unclassified", None)


def test_company_size_bands_and_normalised_fields(con):
    rows = dict(
        (lead, (band, country, seniority))
        for lead, band, country, seniority in con.execute(
            "select lead_id, company_size_band, country, seniority from staging.leads"
        ).fetchall()
    )
    assert rows == {
        "L1": ("1-49", "DE", "vp"),
        "L2": ("50-199", "FR", "ic"),
        "L3": ("unknown", "US", "cxo"),
    }


def test_conversions(con):
    rows = con.execute(
        "select conversion_id, conversion_type, person_id, converted_at, value, month::varchar "
        "from intermediate.conversions order by conversion_id"
    ).fetchall()
    assert rows == [
        ("lead:L1", "lead", "p1", datetime(2024, 2, 10, 12), 0.0, "2024-02-01"),
        ("lead:L2", "lead", "p2", datetime(2024, 1, 25, 12), 0.0, "2024-01-01"),
        ("lead:L3", "lead", "p3", datetime(2024, 2, 12, 12), 0.0, "2024-02-01"),
        (
            "opportunity:O1",
            "opportunity",
            "p1",
            datetime(2024, 2, 20, 12),
            pytest.approx(1200.0),
            "2024-02-01",
        ),
        ("opportunity:O2", "opportunity", "p2", datetime(2024, 2, 21, 12), 500.0, "2024-02-01"),
        ("won:O1", "won", "p1", datetime(2024, 2, 28, 12), pytest.approx(1200.0), "2024-02-01"),
    ]


def test_targets_month_and_channel_scope_normalised(con):
    rows = con.execute(
        "select month::varchar, scope_id from staging.targets where scope = 'channel'"
    ).fetchall()
    assert rows == [("2024-02-01", "paid_search")]


def test_staging_keeps_raw_row_counts(con):
    from gtm_assets.sql_files import load_sql

    rows = con.execute(load_sql("staging/row_count_reconciliation")).fetchall()
    assert all(raw == staged for _, raw, staged in rows)


def test_campaign_tag_overrides_the_direct_rule(raw_con):
    """A touch with no source and no medium is direct by the rules, unless its utm_campaign
    names a known campaign: then it takes the campaign's channel (a typed-in visit carries
    no campaign tag)."""
    load_sample(raw_con)
    raw_con.execute(
        "insert into raw.touchpoints (touchpoint_id, person_id, ts, touch_type, utm_campaign) "
        "values ('t6', 'p2', timestamp '2024-02-06 09:00', 'visit', 'Paris_Event'), "
        "('t7', 'p2', timestamp '2024-02-06 10:00', 'visit', 'not-a-campaign')"
    )
    build_staging(raw_con, "USD")
    rows = dict(
        (tid, (channel, source, campaign))
        for tid, channel, source, campaign in raw_con.execute(
            "select touchpoint_id, channel, channel_source, campaign_id from staging.touchpoints"
        ).fetchall()
    )
    event_channel = raw_con.execute(
        "select channel from staging.campaigns where utm_campaign_key = 'paris_event'"
    ).fetchone()[0]
    assert event_channel != "direct"
    assert rows["t6"] == (event_channel, "campaign", rows["t6"][2])
    assert rows["t6"][2] is not None
    assert rows["t7"] == ("direct", "rule", None)
    assert rows["t3"] == ("direct", "rule", None)


def test_staging_is_current_until_the_staging_sql_changes(raw_con):
    from gtm_assets.assets.raw import staging_is_current

    assert staging_is_current(raw_con)  # no build record: nothing to compare
    load_sample(raw_con)
    build_staging(raw_con, "USD")
    raw_con.execute("create table staging.build_info as select 'other' as signature")
    assert not staging_is_current(raw_con)  # built by other staging SQL (an upgrade)
    from gtm_assets.assets.raw import _staging_signature, _stored_fingerprint

    current = _staging_signature(_stored_fingerprint(raw_con))
    raw_con.execute("update staging.build_info set signature = $s", {"s": current})
    assert staging_is_current(raw_con)


def test_a_closed_deal_without_closed_at_closes_on_its_close_date(raw_con):
    """Many CRMs export only the close date: O1 (won, close_date 2024-02-28, no closed_at)
    closes at 2024-02-28 00:00 for every consumer, the won conversion and the funnel alike;
    O2 is open and has no close time."""
    from gtm_assets.sql_files import load_sql

    load_sample(raw_con)
    raw_con.execute("update raw.opportunities set closed_at = null where opportunity_id = 'O1'")
    build_staging(raw_con, "USD")
    rows = raw_con.execute(
        "select opportunity_id, closed_at, close_time_source from staging.opportunities "
        "order by opportunity_id"
    ).fetchall()
    assert rows == [("O1", datetime(2024, 2, 28), "close_date"), ("O2", None, None)]
    won = raw_con.execute(
        "select conversion_id, converted_at from intermediate.conversions "
        "where conversion_type = 'won'"
    ).fetchall()
    assert won == [("won:O1", datetime(2024, 2, 28))]
    funnel = raw_con.execute(
        "select lead_id, is_won from ("
        + load_sql("intermediate/funnel_opportunities")
        + ") order by lead_id",
        {"as_of": datetime(2024, 3, 1)},
    ).fetchall()
    assert funnel == [("L1", True), ("L2", False)]
    # won the day it was created (12:00 on 20 February): it closes at its creation, not at
    # the midnight before it
    raw_con.execute(
        "update raw.opportunities set close_date = date '2024-02-20' where opportunity_id = 'O1'"
    )
    build_staging(raw_con, "USD")
    closed = raw_con.execute(
        "select closed_at from staging.opportunities where opportunity_id = 'O1'"
    ).fetchall()
    assert closed == [(datetime(2024, 2, 20, 12),)]
    # with neither closed_at nor close_date the close time is unknown, not its creation
    raw_con.execute("update raw.opportunities set close_date = null where opportunity_id = 'O1'")
    build_staging(raw_con, "USD")
    closed = raw_con.execute(
        "select closed_at, close_time_source from staging.opportunities where opportunity_id = 'O1'"
    ).fetchall()
    assert closed == [(None, None)]


def test_touches_off_their_campaign_s_channel_are_counted_and_said(raw_con):
    """Two February clicks tagged spring_launch (C1, a paid_search campaign) come from
    facebook / cpc, which the rules call paid_social: campaign ROI counts them for C1,
    channel ROAS for paid_social, so the data-quality section says so."""
    from gtm_assets.report.sections import campaign_channel_note
    from gtm_assets.sql_files import load_sql
    from tests.conftest import insert_rows

    load_sample(raw_con)
    insert_rows(
        raw_con,
        "raw.touchpoints",
        [
            dict(
                touchpoint_id=f"fb{i}",
                person_id="p9",
                ts=datetime(2024, 2, 20 + i, 9),
                touch_type="click",
                utm_source="facebook",
                utm_medium="cpc",
                utm_campaign="spring_launch",
            )
            for i in range(2)
        ],
    )
    build_staging(raw_con, "USD")
    rows = raw_con.execute(
        load_sql("staging/campaign_channel_conflicts"), {"start": None, "end": None}
    ).fetchall()
    assert rows == [("C1", "paid_search", "paid_social", 2)]
    march = raw_con.execute(
        load_sql("staging/campaign_channel_conflicts"),
        {"start": datetime(2024, 3, 1), "end": datetime(2024, 4, 1)},
    ).fetchall()
    assert march == []
    note = campaign_channel_note(raw_con, datetime(2024, 2, 1).date())
    assert note.startswith(
        "2 touchpoints this month name a campaign but carry another channel than the "
        "campaign's (most: C1, a paid_search campaign, 2 touchpoints as paid_social)"
    )
    assert campaign_channel_note(raw_con, datetime(2024, 1, 1).date()) is None


def test_tabs_and_line_breaks_around_utm_values_are_trimmed(raw_con):
    """An export can pad values with a tab or a line break (a copied spreadsheet cell):
    'Spring_Launch\\t' names C1 as 'Spring_Launch' does, and ' Google\\t' / 'CPC\\r\\n' match
    the paid-search rule, as the loader's shared-utm check already trims them."""
    load_sample(raw_con)
    raw_con.execute(
        "insert into raw.touchpoints (touchpoint_id, person_id, ts, touch_type, utm_source, "
        "utm_medium, utm_campaign) values ('t8', 'p2', timestamp '2024-02-07 09:00', 'click', "
        "' Google' || chr(9), 'CPC' || chr(13) || chr(10), 'Spring_Launch' || chr(9))"
    )
    build_staging(raw_con, "USD")
    row = raw_con.execute(
        "select channel, campaign_id from staging.touchpoints where touchpoint_id = 't8'"
    ).fetchone()
    assert row == ("paid_search", "C1")
