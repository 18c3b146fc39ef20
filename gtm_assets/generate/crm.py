"""CRM side: leads with firmographics, true lead quality, stage history, deals, sales feedback."""

from __future__ import annotations

import numpy as np
import pandas as pd

from gtm_assets.generate.journeys import DAY, Exposures, Touches
from gtm_assets.generate.params import (
    AMOUNT_MEDIAN_AT_100,
    AMOUNT_SIGMA,
    AMOUNT_SIZE_ELASTICITY,
    CH,
    CHANNELS,
    COUNTRIES,
    COUNTRY_EFFECT,
    COUNTRY_WEIGHTS,
    EUR_COUNTRIES,
    INDUSTRIES,
    INDUSTRY_EFFECT,
    INDUSTRY_WEIGHTS,
    P_OPP_GIVEN_SQL,
    POST_WINDOW_DAYS,
    PRE_WINDOW_DAYS,
    SENIORITIES,
    SENIORITY_EFFECT,
    SENIORITY_WEIGHTS,
    SIZE_EFFECT_SCALE,
    SQL_INTERCEPT,
    TT,
    WIN_INTERCEPT,
)

CRM_SOURCE = {
    "paid_search": "Paid Search",
    "paid_social": "Social Media",
    "display": "Display",
    "video": "Video",
    "affiliate": "Partner",
    "events": "Trade Show",
    "email": "Email",
    "organic_search": "Web",
    "organic_social": "Social Media",
    "referral": "Referral",
    "direct": "Web",
}
CRM_NOISE = ("Web", "Other", "Sales Outbound", "List Import", "web ", "Webinar", "Website")
COMPANY_STEMS = (
    "Acme",
    "Globex",
    "Initech",
    "Umbrella",
    "Hooli",
    "Vandelay",
    "Stark",
    "Wayne",
    "Soylent",
    "Tyrell",
    "Müller",
    "Nordström",
    "O'Brien & Sons",
    "Zhōng",
    "Dupont",
)
COMPANY_SUFFIX = (
    "Inc",
    "GmbH",
    "Ltd",
    "LLC",
    "SA",
    "BV",
    "AB",
    "Pty Ltd",
    "Corp",
    'Holdings, "Group"',
)
ACCEPT_REASONS = (
    "good fit",
    "budget confirmed",
    "active project, timeline next quarter",
    "referred by existing customer",
)
REJECT_REASONS = (
    "no budget",
    "student / not a buyer",
    "competitor",
    'wrong persona, "just browsing"',
    "duplicate",
    "too small, <10 employees",
    "no project this year",
)


def sigmoid(x: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-x))


def size_term(size: np.ndarray) -> np.ndarray:
    """Saturating company-size effect used in fit, win probability and the interaction."""
    return np.tanh((np.log10(np.maximum(size, 1)) - 2.0) / 0.9)


def firmographics(rng: np.random.Generator, person: np.ndarray, n_per_day: int) -> pd.DataFrame:
    """Company size tied to the person's activity rank (active people: larger companies)."""
    m = len(person)
    r = (person % n_per_day) / n_per_day
    log_size = 0.8 + 3.6 * (1.0 - r) ** 3 + rng.normal(0, 0.45, m)
    size = np.clip(np.round(10**log_size), 1, 300000).astype(np.int64)
    ind = rng.choice(len(INDUSTRIES), m, p=INDUSTRY_WEIGHTS)
    ctry = rng.choice(len(COUNTRIES), m, p=COUNTRY_WEIGHTS)
    sen = rng.choice(len(SENIORITIES), m, p=SENIORITY_WEIGHTS)
    stem = rng.integers(0, len(COMPANY_STEMS), m)
    suf = rng.integers(0, len(COMPANY_SUFFIX), m)
    num = rng.integers(1, 999, m)
    company = [
        f"{COMPANY_STEMS[a]} {c} {COMPANY_SUFFIX[b]}"
        for a, b, c in zip(stem, suf, num, strict=True)
    ]
    fit = (
        SIZE_EFFECT_SCALE * size_term(size)
        + np.array(SENIORITY_EFFECT)[sen]
        + np.array(INDUSTRY_EFFECT)[ind]
        + np.array(COUNTRY_EFFECT)[ctry]
    )
    return pd.DataFrame(
        {
            "company": company,
            "industry_i": ind,
            "country_i": ctry,
            "seniority_i": sen,
            "company_size": size,
            "fit": fit,
        }
    )


def intent(rng: np.random.Generator, fit: np.ndarray) -> np.ndarray:
    """Latent buying intent (drives post-lead engagement), correlated with fit."""
    f = (fit - fit.mean()) / (fit.std() + 1e-9) if len(fit) > 1 else fit * 0
    return 0.35 * f + np.sqrt(1 - 0.35**2) * rng.normal(0, 1, len(fit))


def engagement_features(touches: Touches, person: np.ndarray, conv_ts: np.ndarray) -> pd.DataFrame:
    """Counts by touch type in the pre window [c-90d, c) and post window (c, c+14d].

    Computed on ALL generated touches (including any after the data end)."""
    order = np.argsort(person)
    ps = person[order]
    pos = np.searchsorted(ps, touches.person)
    pos_c = np.minimum(pos, len(ps) - 1)
    hit = ps[pos_c] == touches.person
    t_idx = np.nonzero(hit)[0]
    lead_row = order[pos_c[t_idx]]
    dt = touches.ts[t_idx] - conv_ts[lead_row]
    tt = touches.ttype[t_idx]
    pre = (dt < 0) & (dt >= -PRE_WINDOW_DAYS * DAY)
    post = (dt > 0) & (dt <= POST_WINDOW_DAYS * DAY)
    m = len(person)

    def count(mask: np.ndarray, types: tuple[str, ...]) -> np.ndarray:
        sel = mask & np.isin(tt, [TT[t] for t in types])
        return np.bincount(lead_row[sel], minlength=m)

    return pd.DataFrame(
        {
            "pre_visits": count(pre, ("visit", "content_view")),
            "pre_events": count(pre, ("event_attend",)),
            "pre_email_clicks": count(pre, ("email_click",)),
            "post_visits": count(post, ("visit", "content_view")),
            "post_content_views": count(post, ("content_view",)),
            "post_email_clicks": count(post, ("email_click",)),
            "post_events": count(post, ("event_attend",)),
        }
    )


def true_sql_logit(firm: pd.DataFrame, eng: pd.DataFrame) -> np.ndarray:
    """The documented logistic model of lead quality (see truth/README.md)."""
    st = size_term(firm["company_size"].to_numpy())
    sen = firm["seniority_i"].to_numpy()
    exec_tiny = np.isin(sen, [SENIORITIES.index("vp"), SENIORITIES.index("cxo")]) & (
        firm["company_size"].to_numpy() < 50
    )
    return (
        SQL_INTERCEPT
        + firm["fit"].to_numpy()
        + 0.75 * np.log1p(eng["post_visits"].to_numpy())
        + 0.9 * (eng["post_events"].to_numpy() > 0)
        + 0.45 * np.log1p(eng["post_email_clicks"].to_numpy())
        + 0.3 * np.log1p(eng["pre_visits"].to_numpy())
        + 0.35 * (eng["pre_events"].to_numpy() > 0)
        + 0.6 * st * (eng["post_content_views"].to_numpy() >= 2)
        - 0.8 * exec_tiny
    )


def _lognormal_days(rng: np.random.Generator, median: float, sigma: float, n: int) -> np.ndarray:
    return (median * np.exp(rng.normal(0, sigma, n)) * DAY).astype(np.int64)


def build_crm(
    rng: np.random.Generator,
    ex: Exposures,
    conv: pd.DataFrame,
    firm: pd.DataFrame,
    touches: Touches,
    campaign_ids: np.ndarray,
    end_ts: int,
    fx_eur: np.ndarray,
    to_datetime,
    lead_offset: int = 0,
    opp_offset: int = 0,
    person_offset: int = 0,
) -> dict[str, pd.DataFrame]:
    """Leads, lead_stage_history, opportunities, sales_feedback and the lead-quality truth."""
    m = len(conv)
    person = conv["person"].to_numpy()
    cts = conv["conv_ts"].to_numpy()
    cause = conv["ex_row"].to_numpy()
    cause_ch = ex.ch[cause]
    lead_id = np.array([f"L{lead_offset + i + 1:07d}" for i in range(m)], dtype=object)
    eng = engagement_features(touches, person, cts)
    logit = true_sql_logit(firm, eng)
    p_sql = sigmoid(logit)
    sql = rng.random(m) < p_sql
    size = firm["company_size"].to_numpy()
    sen = firm["seniority_i"].to_numpy()
    # CRM's own MQL rule: a simple points score with a threshold (deliberately imperfect)
    points = (
        15 * (sen >= 2)
        + 10 * (size >= 200)
        + 5 * np.minimum(eng["pre_visits"], 4)
        + 10 * (eng["pre_events"] > 0)
        + 6 * np.minimum(eng["post_email_clicks"], 2)
    )
    rule_mql = points.to_numpy() >= 25
    mql_ts = cts + _lognormal_days(rng, 1.5, 0.6, m)
    sql_ts = cts + 3 * DAY + _lognormal_days(rng, 7.0, 0.6, m)
    manual_mql = sql & ~rule_mql
    mql_ts = np.where(
        manual_mql, np.maximum(sql_ts - rng.integers(7200, 2 * DAY, m), cts + 600), mql_ts
    )
    is_mql = rule_mql | sql
    dq = (~sql & is_mql & (rng.random(m) < 0.65)) | (~sql & ~is_mql & (rng.random(m) < 0.12))
    dq_ts = np.where(is_mql, mql_ts, cts) + _lognormal_days(rng, 12.0, 0.7, m)
    recycled = dq & (rng.random(m) < 0.25)
    rec_ts = dq_ts + _lognormal_days(rng, 40.0, 0.5, m)
    opp = sql & (rng.random(m) < P_OPP_GIVEN_SQL)
    opp_ts = sql_ts + _lognormal_days(rng, 6.0, 0.6, m)
    st = size_term(size)
    p_won = sigmoid(WIN_INTERCEPT + 0.45 * st + 0.3 * (sen >= 2))
    won = opp & (rng.random(m) < p_won)
    cycle = np.clip(_lognormal_days(rng, 55.0, 0.45, m), 20 * DAY, 200 * DAY)
    close_ts = opp_ts + cycle
    amount_usd = np.maximum(
        AMOUNT_MEDIAN_AT_100
        * (size / 100.0) ** AMOUNT_SIZE_ELASTICITY
        * np.exp(rng.normal(0, AMOUNT_SIGMA, m)),
        500.0,
    )
    exp_amount = (
        AMOUNT_MEDIAN_AT_100
        * (size / 100.0) ** AMOUNT_SIZE_ELASTICITY
        * np.exp(AMOUNT_SIGMA**2 / 2)
    )
    ev = p_sql * P_OPP_GIVEN_SQL * p_won * exp_amount

    # ---- leads
    src = np.array([CRM_SOURCE[CHANNELS[c]] for c in cause_ch], dtype=object)
    noisy = rng.random(m) < 0.3
    src[noisy] = np.array(CRM_NOISE, dtype=object)[rng.integers(0, len(CRM_NOISE), noisy.sum())]
    camp = ex.campaign[cause]
    has_camp = (camp >= 0) & (rng.random(m) < 0.5)
    created = to_datetime(cts)
    created_str = _crm_timestamps(rng, created)
    country = np.array(COUNTRIES)[firm["country_i"].to_numpy()]
    leads = pd.DataFrame(
        {
            "lead_id": lead_id,
            "person_id": [f"P{p + person_offset:09d}" for p in person],
            "created_at": created_str,
            "lead_source": src,
            "campaign_id": np.where(has_camp, campaign_ids[np.maximum(camp, 0)], None),
            "company": firm["company"].to_numpy(),
            "industry": np.array(INDUSTRIES)[firm["industry_i"].to_numpy()],
            "company_size": size,
            "country": country,
            "seniority": np.array(SENIORITIES)[sen],
        }
    )

    # ---- stage history (only what happened before the data end)
    ev_rows = [
        ("lead", np.ones(m, bool), cts),
        ("mql", is_mql, mql_ts),
        ("sql", sql, sql_ts),
        ("opportunity", opp, opp_ts),
        ("customer", won, close_ts),
        ("disqualified", dq, dq_ts),
        ("recycled", recycled, rec_ts),
    ]
    sh = []
    for stage, mask, ts in ev_rows:
        keep = mask & (ts < end_ts)
        sh.append(pd.DataFrame({"lead_id": lead_id[keep], "stage": stage, "_ts": ts[keep]}))
    stages = pd.concat(sh, ignore_index=True).sort_values(
        ["_ts", "lead_id", "stage"], kind="stable"
    )
    stages["entered_at"] = to_datetime(stages["_ts"].to_numpy())
    stages = stages[["lead_id", "stage", "entered_at"]].reset_index(drop=True)

    # ---- opportunities
    oi = np.nonzero(opp & (opp_ts < end_ts))[0]
    closed = close_ts[oi] < end_ts
    frac = (end_ts - opp_ts[oi]) / cycle[oi]
    open_stage = np.select(
        [frac < 0.25, frac < 0.5, frac < 0.75], ["discovery", "demo", "proposal"], "negotiation"
    )
    stage = np.where(closed, np.where(won[oi], "closed_won", "closed_lost"), open_stage)
    eur = np.isin(country[oi], EUR_COUNTRIES) & (rng.random(len(oi)) < 0.7)
    fx_day = np.minimum(opp_ts[oi] // DAY, len(fx_eur) - 1)
    amount = np.where(eur, amount_usd[oi] / fx_eur[fx_day], amount_usd[oi])
    opps = pd.DataFrame(
        {
            "opportunity_id": [f"O{opp_offset + i + 1:07d}" for i in range(len(oi))],
            "lead_id": lead_id[oi],
            "created_at": to_datetime(opp_ts[oi]),
            "amount": np.round(amount, 2),
            "currency": np.where(eur, "EUR", "USD"),
            "stage": stage,
            "close_date": pd.DatetimeIndex(to_datetime(close_ts[oi])).date,
            "closed_at": pd.Series(to_datetime(close_ts[oi])).where(closed, pd.NaT).to_numpy(),
        }
    )

    # ---- sales feedback on a share of MQLs
    fb = is_mql & (rng.random(m) < 0.45)
    fb_ts = mql_ts + _lognormal_days(rng, 3.0, 0.6, m)
    fb &= fb_ts < end_ts
    acc = np.where(sql, rng.random(m) < 0.8, rng.random(m) < 0.2)
    fi = np.nonzero(fb)[0]
    reasons = np.where(
        acc[fi],
        np.array(ACCEPT_REASONS, dtype=object)[rng.integers(0, len(ACCEPT_REASONS), len(fi))],
        np.array(REJECT_REASONS, dtype=object)[rng.integers(0, len(REJECT_REASONS), len(fi))],
    )
    feedback = pd.DataFrame(
        {
            "lead_id": lead_id[fi],
            "ts": _crm_timestamps(rng, to_datetime(fb_ts[fi])),
            "verdict": np.where(acc[fi], "accepted", "rejected"),
            "reason": reasons,
        }
    )

    truth = pd.DataFrame(
        {
            "lead_id": lead_id,
            "person_id": leads["person_id"],
            "created_at": created,
            "true_sql_probability": np.round(p_sql, 6),
            "reached_sql": sql.astype(int),
            "sql_observed_by_end": (sql & (sql_ts < end_ts)).astype(int),
            "crm_rule_mql": rule_mql.astype(int),
            "true_logit": np.round(logit, 6),
            "fit_logit": np.round(firm["fit"].to_numpy(), 6),
            "p_won_given_opportunity": np.round(p_won, 6),
            "expected_revenue": np.round(ev, 2),
            "causing_channel": np.array(CHANNELS)[cause_ch],
        }
    )
    truth = pd.concat([truth, eng], axis=1)
    return {
        "leads": leads,
        "lead_stage_history": stages,
        "opportunities": opps,
        "sales_feedback": feedback,
        "_lead_truth": truth,
        "_opp_meta": pd.DataFrame(
            {
                "lead_row": oi,
                "won": won[oi] & closed,
                "amount_usd": np.round(amount_usd[oi], 2),
                "created_ts": opp_ts[oi],
                "close_ts": close_ts[oi],
            }
        ),
    }


def _crm_timestamps(rng: np.random.Generator, ts: pd.DatetimeIndex | np.ndarray) -> np.ndarray:
    """ISO-8601 strings as a CRM exports them: mostly naive UTC, some 'Z', some +01:00 offsets."""
    ts = pd.DatetimeIndex(ts)
    n = len(ts)
    u = rng.random(n)
    plain = ts.strftime("%Y-%m-%dT%H:%M:%S").to_numpy(dtype=object)
    z = (ts.strftime("%Y-%m-%dT%H:%M:%S") + "Z").to_numpy(dtype=object)
    off = ((ts + pd.Timedelta(hours=1)).strftime("%Y-%m-%dT%H:%M:%S") + "+01:00").to_numpy(
        dtype=object
    )
    return np.where(u < 0.85, plain, np.where(u < 0.93, z, off))


__all__ = ["build_crm", "firmographics", "intent", "CH"]
