"""A hand-made warehouse for the launch workflow (March 2024 launches, as of 2024-03-31).

Peers (months before March; paid_search launch campaigns): spend, impressions and clicks
from marts.campaign_performance; leads and revenue under linear credit, the launch's own
rule, from marts.campaign_attribution_roi (campaign_performance's Shapley leads and revenue,
three times as many, must not count):
  P1 spend 1000, impressions 100000, clicks 2000, leads 20, revenue 3000
  P2 spend 3000, impressions 200000, clicks 3000, leads 30, revenue 6000
  P3 spend 1000, impressions 100000, clicks 1000, leads 10, revenue 1000
  pooled: CTR 6000/400000 = 0.015, CVR 60/6000 = 0.01, CPA 5000/60 = 83.33,
  ROAS 10000/5000 = 2.0, revenue per lead 10000/60 = 166.67.
  (P1's March row and the display campaign D1 must not count.)

Launches, all paid_search / launch type, 2024-03-04 .. 2024-04-28 (56 days, budget 5600):
  GOOD   target CPA 50 (brief), others from benchmarks. 100 spend, 10000 impressions,
         150 clicks a day; 2 leads a day, each from a person whose only touch is one
         GOOD click: credit 1, all MQL the next day. CPA 50, CTR 0.015, CVR 0.0133,
         projected ROAS 2 * 166.67 / 100 = 3.33. -> every check passes, decision scale.
  UNDER  brief target CTR 0.02; CTR 0.014 = 30% under target, else like GOOD.
         -> performance check fails; decision optimize (CTR).
  BROKEN tracked in week 1 only: spend continues, touches stop from 2024-03-11.
         -> readiness passes (seen), tracking_verified fails, decision pause.
  NOUTM  no utm_campaign, no end date, starts 2024-04-15: readiness fails.
  DARK   spend, utm set but never on a touchpoint: readiness fails (not configured).

Channel MQL benchmark: 10 leads in January 2024 with one paid_search touch each; 4 of
them reach MQL within 14 days -> rate 0.4.
"""

from __future__ import annotations

from datetime import date, datetime, timedelta
from pathlib import Path

import duckdb

from gtm_assets.assets.raw import build_staging
from tests.conftest import create_empty_raw, insert_rows

START = date(2024, 3, 4)
AS_OF = date(2024, 3, 31)
END = date(2024, 4, 28)


def _campaign(cid: str, **kw) -> dict:
    base = dict(
        campaign_id=cid,
        campaign_name=f"{cid} <b>launch</b>",
        channel="paid_search",
        campaign_type="launch",
        start_date=START,
        end_date=END,
        planned_budget=5600.0,
        currency="USD",
        utm_campaign=f"{cid.lower()}_utm",
    )
    base.update(kw)
    return base


CAMPAIGNS = [
    _campaign("GOOD", target_cpa=50.0),
    _campaign("UNDER", target_ctr=0.02),
    _campaign("BROKEN"),
    _campaign("NOUTM", utm_campaign=None, end_date=None, start_date=date(2024, 4, 15)),
    _campaign("DARK"),
    _campaign("P1", start_date=date(2023, 11, 1)),
    _campaign("P2", start_date=date(2023, 11, 1)),
    _campaign("P3", start_date=date(2023, 11, 1)),
    _campaign("D1", channel="display", campaign_type="brand", start_date=date(2023, 11, 1)),
]

PEER_ROWS = [
    # month, campaign, channel, type, spend, impressions, clicks, leads, revenue
    (date(2024, 1, 1), "P1", "paid_search", "launch", 600.0, 60000, 1200, 12.0, 1800.0),
    (date(2024, 2, 1), "P1", "paid_search", "launch", 400.0, 40000, 800, 8.0, 1200.0),
    (date(2024, 2, 1), "P2", "paid_search", "launch", 3000.0, 200000, 3000, 30.0, 6000.0),
    (date(2024, 2, 1), "P3", "paid_search", "launch", 1000.0, 100000, 1000, 10.0, 1000.0),
    (date(2024, 3, 1), "P1", "paid_search", "launch", 99999.0, 1, 1, 1.0, 0.0),  # launch month
    (date(2024, 2, 1), "D1", "display", "brand", 5000.0, 900000, 100, 1.0, 99999.0),
]


def _days(first: date, last: date) -> list[date]:
    return [first + timedelta(days=i) for i in range((last - first).days + 1)]


def build(path: Path) -> None:
    """Write the world to a DuckDB file at ``path`` (raw -> staging, plus the peer marts)."""
    con = duckdb.connect(str(path))
    try:
        create_empty_raw(con)
        insert_rows(con, "raw.campaigns", CAMPAIGNS)
        spend, touches, leads, stages = [], [], [], []
        for cid in ("GOOD", "UNDER", "BROKEN", "DARK"):
            for i, d in enumerate(_days(START, AS_OF)):
                clicks = 140 if cid == "UNDER" else 150
                spend.append(
                    dict(date=d, campaign_id=cid, impressions=10000, clicks=clicks, spend=100.0)
                )
                for j in range(2):
                    person = f"{cid}-{i}-{j}"
                    ts = datetime(d.year, d.month, d.day, 9 + j)
                    tracked = cid in ("GOOD", "UNDER") or (
                        cid == "BROKEN" and d < date(2024, 3, 11)
                    )
                    touches.append(
                        dict(
                            touchpoint_id=f"t-{person}",
                            person_id=person,
                            ts=ts,
                            touch_type="click",
                            utm_source="google",
                            utm_medium="cpc",
                            utm_campaign=f"{cid.lower()}_utm" if tracked else None,
                        )
                    )
                    lead_id = f"L-{person}"
                    leads.append(
                        dict(
                            lead_id=lead_id,
                            person_id=person,
                            created_at=ts + timedelta(hours=1),
                            company="Acme",
                            industry="software",
                            company_size=100,
                            country="US",
                            seniority="vp",
                        )
                    )
                    stages.append(
                        dict(lead_id=lead_id, stage="lead", entered_at=ts + timedelta(hours=1))
                    )
                    stages.append(
                        dict(lead_id=lead_id, stage="mql", entered_at=ts + timedelta(days=1))
                    )
        # January leads for the channel's MQL-rate benchmark (4 of 10 qualify within 14 days)
        for k in range(10):
            ts = datetime(2024, 1, 10 + k, 10)
            person = f"hist-{k}"
            touches.append(
                dict(
                    touchpoint_id=f"t-{person}",
                    person_id=person,
                    ts=ts - timedelta(hours=2),
                    touch_type="click",
                    utm_source="google",
                    utm_medium="cpc",
                    utm_campaign="p1_utm",
                )
            )
            leads.append(
                dict(
                    lead_id=f"L-{person}",
                    person_id=person,
                    created_at=ts,
                    company="Old",
                    industry="retail",
                    company_size=20,
                    country="US",
                    seniority="ic",
                )
            )
            stages.append(dict(lead_id=f"L-{person}", stage="lead", entered_at=ts))
            if k < 4:
                stages.append(
                    dict(lead_id=f"L-{person}", stage="mql", entered_at=ts + timedelta(days=3))
                )
            elif k < 6:  # qualifies too late to count
                stages.append(
                    dict(lead_id=f"L-{person}", stage="mql", entered_at=ts + timedelta(days=30))
                )
        insert_rows(con, "raw.ad_spend", spend)
        insert_rows(con, "raw.touchpoints", touches)
        insert_rows(con, "raw.leads", leads)
        insert_rows(con, "raw.lead_stage_history", stages)
        build_staging(con, "USD")
        con.execute(
            "create table marts.campaign_performance (month date, campaign_id varchar, "
            "channel varchar, campaign_type varchar, spend double, impressions bigint, "
            "clicks bigint, leads double, attributed_revenue double)"
        )
        shapley = [(*r[:7], 3 * r[7], 3 * r[8]) for r in PEER_ROWS]
        con.executemany(
            "insert into marts.campaign_performance values (?, ?, ?, ?, ?, ?, ?, ?, ?)",
            [list(r) for r in shapley],
        )
        con.execute(
            "create table marts.campaign_attribution_roi (month date, conversion_type varchar, "
            "model varchar, channel varchar, campaign_id varchar, attributed_conversions double, "
            "attributed_revenue double, roi_basis varchar)"
        )
        con.executemany(
            "insert into marts.campaign_attribution_roi values (?, ?, ?, ?, ?, ?, ?, 'lead')",
            [
                [month, kind, model, channel, cid, n if kind == "lead" else 1.0, revenue]
                for rows, model in ((PEER_ROWS, "linear"), (shapley, "shapley"))
                for month, cid, channel, _, _, _, _, leads, rev in rows
                for kind, n, revenue in (("lead", leads, 0.0), ("won", None, rev))
            ],
        )
        # first-touch share 0.6, last-touch share 0.3 for paid_search: an awareness channel
        con.execute(
            "create table marts.channel_attribution (month date, conversion_type varchar, "
            "model varchar, channel varchar, attributed_conversions double)"
        )
        con.executemany(
            "insert into marts.channel_attribution values (?, 'lead', ?, ?, ?)",
            [
                [date(2024, 2, 1), "first_touch", "paid_search", 6.0],
                [date(2024, 2, 1), "first_touch", "email", 4.0],
                [date(2024, 2, 1), "last_touch", "paid_search", 3.0],
                [date(2024, 2, 1), "last_touch", "email", 7.0],
                [date(2024, 3, 1), "last_touch", "paid_search", 100.0],  # launch month: ignored
            ],
        )
    finally:
        con.close()
