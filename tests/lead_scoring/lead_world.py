"""A small synthetic CRM with a known logistic lead quality, for the lead-scoring tests.

Independent of gtm_assets.generate on purpose: the truth here is a plain logistic in the very
features the model sees, so a correct fit must recover it (coefficients and AUC)."""

from __future__ import annotations

from pathlib import Path

import duckdb
import numpy as np
import pandas as pd

INDUSTRIES = ["saas", "retail", "finance", "health"]
SENIORITY = ["ic", "manager", "director", "vp", "cxo"]
COUNTRIES = ["US", "DE", "GB"]
CHANNELS = ["paid_search", "email", "organic_search"]


def synthetic_world(
    n_leads: int = 3000, months: int = 10, seed: int = 7
) -> dict[str, pd.DataFrame]:
    rng = np.random.default_rng(seed)
    start = pd.Timestamp("2024-01-01")
    span = (start + pd.DateOffset(months=months) - start).total_seconds()
    created = start + pd.to_timedelta(np.sort(rng.uniform(0, span, n_leads)), unit="s")
    created = created.floor("min")
    industry = rng.choice(INDUSTRIES, n_leads)
    seniority = rng.choice(SENIORITY, n_leads, p=[0.35, 0.3, 0.15, 0.12, 0.08])
    country = rng.choice(COUNTRIES, n_leads)
    size = np.round(np.exp(rng.normal(5, 1.5, n_leads))).astype(int) + 1
    band = pd.cut(
        size,
        [0, 49, 199, 999, 4999, np.inf],
        labels=["1-49", "50-199", "200-999", "1000-4999", "5000+"],
    ).astype(str)
    engaged = rng.gamma(2.0, 1.0, n_leads)
    pre_visits = rng.poisson(1.0 + engaged)
    post_email_clicks = rng.poisson(0.5 * engaged)
    post_content = rng.poisson(0.8 * engaged)
    logit = (
        -3.0
        + 0.8 * np.log1p(pre_visits)
        + 0.9 * np.log1p(post_email_clicks)
        + 0.6 * np.log1p(post_content)
        + 0.35 * np.log1p(size) / 2
        + np.select(
            [seniority == "vp", seniority == "cxo", seniority == "director"], [0.8, 1.0, 0.5], 0.0
        )
        + np.where(industry == "saas", 0.6, 0.0)
    )
    p = 1 / (1 + np.exp(-logit))
    y = rng.random(n_leads) < p
    ids = [f"L{i:05d}" for i in range(n_leads)]
    persons = [f"P{i:05d}" for i in range(n_leads)]
    first_channel = rng.choice(CHANNELS, n_leads)
    touches = []
    k = 0
    for i in range(n_leads):
        c = created[i]
        # the touch that created the lead
        touches.append((f"T{k}", persons[i], c, "form_fill", first_channel[i]))
        k += 1
        for _ in range(pre_visits[i]):
            touches.append(
                (
                    f"T{k}",
                    persons[i],
                    c - pd.Timedelta(days=float(rng.uniform(1, 80))),
                    "visit",
                    first_channel[i],
                )
            )
            k += 1
        for _ in range(post_email_clicks[i]):
            touches.append(
                (
                    f"T{k}",
                    persons[i],
                    c + pd.Timedelta(days=float(rng.uniform(0.1, 13))),
                    "email_click",
                    "email",
                )
            )
            k += 1
        for _ in range(post_content[i]):
            touches.append(
                (
                    f"T{k}",
                    persons[i],
                    c + pd.Timedelta(days=float(rng.uniform(0.1, 13))),
                    "content_view",
                    "organic_search",
                )
            )
            k += 1
    tp = pd.DataFrame(
        touches, columns=["touchpoint_id", "person_id", "ts", "touch_type", "channel"]
    )
    tp["ts"] = tp["ts"].astype("datetime64[us]")
    # first channel = channel of the earliest touch: make the earliest pre visit carry it
    leads = pd.DataFrame(
        {
            "lead_id": ids,
            "person_id": persons,
            "created_at": created.astype("datetime64[us]"),
            "lead_source": np.where(rng.random(n_leads) < 0.7, first_channel, "other"),
            "campaign_id": rng.choice(["C1", "C2"], n_leads),
            "company": "acme",
            "industry": industry,
            "company_size": size,
            "company_size_band": band,
            "country": country,
            "seniority": seniority,
        }
    )
    leads["month"] = leads["created_at"].dt.to_period("M").dt.start_time
    # stages: crm mql by a crude rule; sql for the sampled successes after a lognormal lag
    sql_lag = np.exp(rng.normal(np.log(12), 0.6, n_leads))
    mql_lag = sql_lag * rng.uniform(0.2, 0.8, n_leads)
    crm_mql = y | (rng.random(n_leads) < 0.25)
    hist = [(ids[i], "lead", created[i]) for i in range(n_leads)]
    hist += [
        (ids[i], "mql", created[i] + pd.Timedelta(days=float(mql_lag[i])))
        for i in range(n_leads)
        if crm_mql[i]
    ]
    hist += [
        (ids[i], "sql", created[i] + pd.Timedelta(days=float(sql_lag[i])))
        for i in range(n_leads)
        if y[i]
    ]
    history = pd.DataFrame(hist, columns=["lead_id", "stage", "entered_at"])
    history["entered_at"] = history["entered_at"].astype("datetime64[us]")
    opps = pd.DataFrame(
        {
            "opportunity_id": pd.Series([], dtype=str),
            "lead_id": pd.Series([], dtype=str),
            "person_id": pd.Series([], dtype=str),
            "created_at": pd.Series([], dtype="datetime64[us]"),
            "closed_at": pd.Series([], dtype="datetime64[us]"),
            "is_won": pd.Series([], dtype=bool),
        }
    )
    fb_idx = rng.choice(np.nonzero(crm_mql)[0], size=int(crm_mql.sum() * 0.3), replace=False)
    feedback = pd.DataFrame(
        {
            "lead_id": [ids[i] for i in fb_idx],
            "ts": [created[i] + pd.Timedelta(days=20) for i in fb_idx],
            "verdict": np.where(y[fb_idx], "accepted", "rejected"),
            "reason": np.where(
                y[fb_idx],
                "good fit",
                np.where(rng.random(len(fb_idx)) < 0.5, "No budget ", "student"),
            ),
        }
    )
    feedback["ts"] = feedback["ts"].astype("datetime64[us]")
    truth = pd.DataFrame({"lead_id": ids, "true_sql_probability": p, "reached_sql": y.astype(int)})
    return {
        "leads": leads,
        "lead_stage_history": history,
        "opportunities": opps,
        "touchpoints": tp,
        "sales_feedback": feedback,
        "truth": truth,
    }


def write_staging(path: Path, world: dict[str, pd.DataFrame]) -> None:
    con = duckdb.connect(str(path))
    con.execute("create schema if not exists staging")
    for name, df in world.items():
        if name == "truth":
            continue
        con.register("df", df)
        con.execute(f"create or replace table staging.{name} as select * from df")  # noqa: S608
        con.unregister("df")
    con.close()
