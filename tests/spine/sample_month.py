"""A hand-checkable month (February 2024) used by the spine tests.

Money: C2 is priced in EUR; 1 EUR = 1.10 USD from 2024-01-01 and 1.20 USD from 2024-02-01.
"""

from datetime import date, datetime

from tests.conftest import insert_rows

FEB, JAN, MAR = date(2024, 2, 1), date(2024, 1, 1), date(2024, 3, 1)

CAMPAIGNS = [
    dict(
        campaign_id="C1",
        campaign_name='Spring "Launch", 2024 =SUM(A1)',
        channel="paid_search",
        campaign_type="launch",
        start_date=date(2024, 1, 1),
        end_date=date(2024, 3, 31),
        planned_budget=3000.0,
        currency="USD",
        utm_campaign="spring_launch",
        target_cpa=50.0,
        target_roas=2.0,
    ),
    dict(
        campaign_id="C2",
        campaign_name="Événement Paris'); drop table raw.campaigns; --",
        channel="events",
        campaign_type="event",
        start_date=date(2024, 1, 15),
        end_date=date(2024, 2, 15),
        planned_budget=1000.0,
        currency="EUR",
        utm_campaign="paris_event",
    ),
    dict(
        campaign_id="C3",
        campaign_name="Always-on display",
        channel="display",
        campaign_type="always_on",
        start_date=date(2023, 12, 1),
        end_date=None,
        planned_budget=500.0,
        currency=None,
        utm_campaign="display_ao",
    ),
]
FX = [
    dict(date=date(2024, 1, 1), currency="EUR", rate_to_reporting=1.10),
    dict(date=date(2024, 2, 1), currency="EUR", rate_to_reporting=1.20),
]
AD_SPEND = [
    dict(
        date=date(2024, 1, 10),
        campaign_id="C1",
        impressions=1000,
        clicks=100,
        spend=200.0,
        currency="USD",
    ),
    dict(
        date=date(2024, 2, 5),
        campaign_id="C1",
        impressions=2000,
        clicks=150,
        spend=300.0,
        currency="USD",
    ),
    dict(
        date=date(2024, 2, 6),
        campaign_id="C1",
        impressions=1000,
        clicks=50,
        spend=100.0,
        currency="USD",
    ),
    dict(
        date=date(2024, 1, 20),
        campaign_id="C2",
        impressions=100,
        clicks=0,
        spend=50.0,
        currency="EUR",
    ),
    dict(
        date=date(2024, 2, 3),
        campaign_id="C2",
        impressions=500,
        clicks=20,
        spend=100.0,
        currency="EUR",
    ),
    dict(
        date=date(2024, 2, 10), campaign_id="C3", impressions=0, clicks=0, spend=0.0, currency=None
    ),
]
TOUCHPOINTS = [
    dict(
        touchpoint_id="t1",
        person_id="p1",
        ts=datetime(2024, 2, 1, 9),
        touch_type="impression",
        channel=" Paid_Social ",
    ),
    dict(
        touchpoint_id="t2",
        person_id="p1",
        ts=datetime(2024, 2, 2, 9),
        touch_type="click",
        utm_source=" Google",
        utm_medium="CPC",
        utm_campaign="Spring_Launch ",
    ),
    dict(touchpoint_id="t3", person_id="p1", ts=datetime(2024, 2, 3, 9), touch_type="visit"),
    dict(
        touchpoint_id="t4",
        person_id="p2",
        ts=datetime(2024, 2, 4, 9),
        touch_type="click",
        utm_source="weird",
        utm_medium="thing",
        utm_campaign="SPRING_LAUNCH",
    ),
    dict(
        touchpoint_id="t5",
        person_id="p2",
        ts=datetime(2024, 2, 5, 9),
        touch_type="click",
        utm_source="weird",
        utm_medium="thing",
    ),
]
LEADS = [
    dict(
        lead_id="L1",
        person_id="p1",
        created_at=datetime(2024, 2, 10, 12),
        lead_source="Google Ads",
        company="Acme",
        industry="software",
        company_size=49,
        country="de",
        seniority="VP",
    ),
    dict(
        lead_id="L2",
        person_id="p2",
        created_at=datetime(2024, 1, 25, 12),
        lead_source="event",
        company="Beta",
        industry="retail",
        company_size=50,
        country="FR",
        seniority="ic",
    ),
    dict(
        lead_id="L3",
        person_id="p3",
        created_at=datetime(2024, 2, 12, 12),
        lead_source="",
        company="Gamma",
        industry="retail",
        company_size=None,
        country="US",
        seniority="cxo",
    ),
]
STAGES = [
    dict(lead_id="L1", stage="lead", entered_at=datetime(2024, 2, 10, 12)),
    dict(lead_id="L1", stage="mql", entered_at=datetime(2024, 2, 11, 12)),
    dict(lead_id="L1", stage="sql", entered_at=datetime(2024, 2, 14, 12)),
    dict(lead_id="L2", stage="mql", entered_at=datetime(2024, 1, 26, 12)),
    dict(lead_id="L3", stage="mql", entered_at=datetime(2024, 2, 13, 12)),
]
OPPORTUNITIES = [
    dict(
        opportunity_id="O1",
        lead_id="L1",
        created_at=datetime(2024, 2, 20, 12),
        amount=1000.0,
        currency="EUR",
        stage="closed_won",
        close_date=date(2024, 2, 28),
        closed_at=datetime(2024, 2, 28, 12),
    ),
    dict(
        opportunity_id="O2",
        lead_id="L2",
        created_at=datetime(2024, 2, 21, 12),
        amount=500.0,
        currency="USD",
        stage="demo",
        close_date=date(2024, 4, 30),
        closed_at=None,
    ),
]
TARGETS = [
    dict(month=FEB, scope="campaign", scope_id="C2", metric="cpa", target_value=200.0),
    dict(month=FEB, scope="total", scope_id=None, metric="revenue", target_value=1000.0),
    dict(month=FEB, scope="total", scope_id=None, metric="cac", target_value=600.0),
    dict(month=FEB, scope="total", scope_id=None, metric="spend", target_value=600.0),
    dict(month=FEB, scope="channel", scope_id="Paid_Search", metric="spend", target_value=350.0),
]


def attribution_rows(model: str = "linear") -> list[dict]:
    def row(month, ctype, channel, campaign, conv, rev=0.0, m=model):
        return dict(
            month=month,
            conversion_type=ctype,
            model=m,
            channel=channel,
            campaign_id=campaign,
            attributed_conversions=conv,
            attributed_revenue=rev,
        )

    return [
        row(FEB, "lead", "paid_search", "C1", 4.0),
        row(FEB, "opportunity", "paid_search", "C1", 1.0, 2000.0),
        row(FEB, "won", "paid_search", "C1", 1.0, 1200.0),
        row(FEB, "lead", "events", "C2", 0.5),
        row(FEB, "lead", "organic_search", None, 2.5),
        row(FEB, "won", "organic_search", None, 1.0, 800.0),
        row(JAN, "lead", "paid_search", "C1", 2.0),
        row(JAN, "lead", "events", "C2", 1.0),
        row(FEB, "lead", "paid_search", "C1", 10.0, m="last_touch"),
    ]


def load_sample(con) -> None:
    insert_rows(con, "raw.campaigns", CAMPAIGNS)
    insert_rows(con, "raw.fx_rates", FX)
    insert_rows(con, "raw.ad_spend", AD_SPEND)
    insert_rows(con, "raw.touchpoints", TOUCHPOINTS)
    insert_rows(con, "raw.leads", LEADS)
    insert_rows(con, "raw.lead_stage_history", STAGES)
    insert_rows(con, "raw.opportunities", OPPORTUNITIES)
    insert_rows(con, "raw.targets", TARGETS)
