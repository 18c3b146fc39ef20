"""A small synthetic warehouse with known response curves, for the budget tests.

Three paid channels spend daily (weekly flights between 0.4x and 1.6x a base level). Each
week a channel buys ``Poisson(hill(weekly spend))`` leads; a lead's person has one touch
in the channel on a day of that week and, half the time, a `direct` touch just before
converting 0-6 days later. 30% of leads become won deals 20-60 days later worth
lognormal(mean 1000). ``marts.campaign_attribution`` is the linear model computed here.
So the *attributed* weekly revenue of a channel is, in expectation,
``hill(s) * 0.3 * 1000 * 0.75`` (the paid touch gets 1/1 or 1/2 of the credit).
"""

from __future__ import annotations

from datetime import date, timedelta

import duckdb
import numpy as np
import pandas as pd

from gtm_assets.analytics.response_curves import hill

TRUE = {  # channel: (top leads/week, K weekly spend, n, base weekly spend)
    "paid_search": (120.0, 30_000.0, 1.0, 12_000.0),
    "paid_social": (60.0, 4_000.0, 1.2, 9_000.0),
    "display": (50.0, 10_000.0, 2.0, 8_000.0),
}
WON_RATE, MEAN_VALUE, PAID_SHARE = 0.3, 1000.0, 0.75
START = date(2024, 1, 1)  # a Monday
WEEKS = 60


def build_world(con: duckdb.DuckDBPyConnection, seed: int = 7, with_plan: bool = True) -> None:
    rng = np.random.default_rng(seed)
    spend_rows, touches, convs = [], [], []
    person = 0
    for ch, (top, k, n, base) in TRUE.items():
        for w in range(WEEKS):
            level = base * rng.uniform(0.4, 1.6)
            week_start = START + timedelta(days=7 * w)
            daily = level / 7 * rng.uniform(0.8, 1.2, 7)
            daily *= level / daily.sum()
            for d in range(7):
                day = week_start + timedelta(days=d)
                spend_rows.append(
                    (day, f"cmp_{ch}", ch, float(daily[d]), int(daily[d] / 2), int(daily[d] * 20))
                )
            leads = rng.poisson(hill(level, top, k, n))
            for _ in range(leads):
                person += 1
                pid = f"p{person}"
                t_touch = pd.Timestamp(week_start) + pd.Timedelta(
                    hours=float(rng.uniform(0, 7 * 24))
                )
                t_lead = t_touch + pd.Timedelta(hours=float(rng.uniform(1, 6 * 24)))
                touches.append((pid, t_touch, ch))
                if rng.random() < 0.5:
                    touches.append((pid, t_lead - pd.Timedelta(minutes=5), "direct"))
                convs.append((f"l{person}", "lead", pid, t_lead, 0.0))
                if rng.random() < WON_RATE:
                    t_won = t_lead + pd.Timedelta(days=float(rng.uniform(20, 60)))
                    value = float(rng.lognormal(np.log(MEAN_VALUE) - 0.125, 0.5))
                    convs.append((f"w{person}", "won", pid, t_won, value))
    end = START + timedelta(days=7 * WEEKS)
    sp = pd.DataFrame(
        spend_rows, columns=["date", "campaign_id", "channel", "spend", "clicks", "impressions"]
    )
    sp["month"] = pd.to_datetime(sp["date"]).dt.to_period("M").dt.to_timestamp().dt.date
    tp = pd.DataFrame(touches, columns=["person_id", "ts", "channel"])
    cv = pd.DataFrame(
        convs, columns=["conversion_id", "conversion_type", "person_id", "converted_at", "value"]
    )
    # each won deal's opportunity opens a quarter of the way from the lead to the close;
    # one still open at the end of the data is open pipeline
    lead_at = cv[cv["conversion_type"] == "lead"].set_index("person_id")["converted_at"]
    won = cv[cv["conversion_type"] == "won"]
    opened = (
        won["person_id"].map(lead_at) + (won["converted_at"] - won["person_id"].map(lead_at)) / 4
    )
    closed = won["converted_at"] < pd.Timestamp(end)
    opportunities = pd.DataFrame(
        {
            "opportunity_id": "o" + won["person_id"],
            "lead_id": won["person_id"],
            "person_id": won["person_id"],
            "created_at": opened,
            "amount": won["value"],
            "stage": np.where(closed, "closed_won", "negotiation"),
            "close_date": won["converted_at"].dt.date,
            "closed_at": won["converted_at"].where(closed),
            "is_closed": closed,
            "is_won": closed,
        }
    )
    opportunities = opportunities[opportunities["created_at"] < pd.Timestamp(end)]
    leads = pd.DataFrame(
        {"lead_id": lead_at.index, "person_id": lead_at.index, "created_at": lead_at}
    )
    cv = cv[cv["converted_at"] < pd.Timestamp(end)]
    cv["month"] = cv["converted_at"].dt.to_period("M").dt.to_timestamp().dt.date
    cv["lead_id"] = cv["person_id"]
    # linear attribution over touches up to the conversion (90-day lookback)
    j = cv.merge(tp, on="person_id")
    j = j[(j["ts"] <= j["converted_at"]) & (j["ts"] >= j["converted_at"] - pd.Timedelta(days=90))]
    j["w"] = 1.0 / j.groupby("conversion_id")["ts"].transform("count")
    j["rev"] = j["w"] * j["value"]
    attr = (
        j.groupby(["month", "conversion_type", "channel"])
        .agg(attributed_conversions=("w", "sum"), attributed_revenue=("rev", "sum"))
        .reset_index()
    )
    attr["model"] = "linear"
    attr["campaign_id"] = np.where(attr["channel"] == "direct", None, "cmp_" + attr["channel"])
    campaigns = pd.DataFrame(
        {
            "campaign_id": [f"cmp_{c}" for c in TRUE],
            "campaign_name": [f"{c} always on" for c in TRUE],
            "channel": list(TRUE),
            "start_date": [START] * 3,
            "end_date": [end - timedelta(days=1)] * 3,
            "planned_budget": [TRUE[c][3] * WEEKS for c in TRUE],
            "target_cpa": [150.0, 200.0, None],
            "target_roas": [2.0, None, 1.5],
        }
    )
    months = sorted(sp["month"].unique())
    monthly = sp.groupby(["month", "channel"])["spend"].sum().reset_index()
    plan = monthly.rename(columns={"spend": "planned_spend"})
    plan["planned_spend"] *= 1.05
    # next month beyond data: plan at the last month's level
    last = plan[plan["month"] == months[-1]].copy()
    nxt = (pd.Timestamp(months[-1]) + pd.offsets.MonthBegin(1)).date()
    last["month"] = nxt
    plan = pd.concat([plan, last], ignore_index=True)
    leads_m = cv[cv["conversion_type"] == "lead"].merge(
        tp.drop_duplicates("person_id"), on="person_id"
    )
    perf = (
        sp.groupby(["month", "campaign_id", "channel"])
        .agg(spend=("spend", "sum"), clicks=("clicks", "sum"))
        .reset_index()
    )
    lead_credit = attr[attr["conversion_type"] == "lead"][
        ["month", "campaign_id", "attributed_conversions"]
    ]
    rev_credit = attr[attr["conversion_type"] == "won"][
        ["month", "campaign_id", "attributed_revenue"]
    ]
    perf = perf.merge(lead_credit, on=["month", "campaign_id"], how="left").merge(
        rev_credit, on=["month", "campaign_id"], how="left"
    )
    perf = perf.rename(columns={"attributed_conversions": "leads"}).fillna(
        {"leads": 0.0, "attributed_revenue": 0.0}
    )
    perf["campaign_name"] = perf["channel"] + " always on"
    perf["cpa"] = perf["spend"] / perf["leads"].replace(0, np.nan)
    perf["roas"] = perf["attributed_revenue"] / perf["spend"].replace(0, np.nan)
    perf["attribution_model"] = "linear"
    perf["platform_conversions"] = pd.array([pd.NA] * len(perf), dtype="Int64")
    perf["opportunities"] = 0.0
    perf["customers"] = 0.0
    perf = perf.merge(campaigns[["campaign_id", "target_cpa", "target_roas"]], how="left")
    del leads_m

    for schema in ("raw", "staging", "intermediate", "marts"):
        con.execute(f"create schema if not exists {schema}")
    frames = {
        "staging.ad_spend": sp,
        "staging.touchpoints": tp,
        "intermediate.conversions": cv,
        "staging.leads": leads.reset_index(drop=True),
        "staging.opportunities": opportunities.reset_index(drop=True),
        "marts.campaign_attribution": attr,
        "staging.campaigns": campaigns,
        "staging.budget_plan": plan if with_plan else plan.iloc[0:0],
        "marts.campaign_performance": perf,
        "raw.load_manifest": pd.DataFrame({"table_name": ["budget_plan"], "present": [with_plan]}),
    }
    for name, df in frames.items():
        con.register("_df", df)
        con.execute(f"create or replace table {name} as select * from _df")
        con.unregister("_df")
    con.execute("alter table staging.ad_spend alter column date type date")
    for t in (
        "staging.budget_plan",
        "marts.campaign_attribution",
        "intermediate.conversions",
        "staging.ad_spend",
    ):
        con.execute(f"alter table {t} alter column month type date")
