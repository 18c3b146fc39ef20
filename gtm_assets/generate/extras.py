"""Optional tables: content, content_daily, seo_rankings, targets, budget_plan, experiments, fx."""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy.stats import chisquare

from gtm_assets.generate.params import PAID_CHANNELS

CONTENT_TYPES = ("blog", "ebook", "webinar", "case_study", "landing_page", "video", "email")
TOPICS = (
    "attribution",
    "pipeline",
    "data-quality",
    "ai-forecasting",
    "pricing",
    "security",
    "integrations",
    "customer-stories",
)
TITLE_EXTRAS = (
    "",
    "",
    "",
    ": a how-to, part 2",
    ' — "the definitive guide"',
    " (Español: guía)",
    ' =HYPERLINK("x")',
)


def content_table(
    rng: np.random.Generator, days: pd.DatetimeIndex, campaign_ids: np.ndarray, n_items: int = 80
) -> tuple[pd.DataFrame, np.ndarray]:
    """Content items; returns the table and each item's publish day index (may be negative)."""
    T = len(days)
    before = rng.random(n_items) < 0.7
    pub_day = np.where(before, -rng.integers(1, 730, n_items), rng.integers(0, T, n_items))
    pub_secs = rng.integers(7 * 3600, 18 * 3600, n_items)
    pub = days[0] + pd.to_timedelta(pub_day, unit="D") + pd.to_timedelta(pub_secs, unit="s")
    ctype = np.array(CONTENT_TYPES)[
        rng.choice(len(CONTENT_TYPES), n_items, p=[0.38, 0.1, 0.1, 0.1, 0.14, 0.1, 0.08])
    ]
    ctype[: len(CONTENT_TYPES)] = CONTENT_TYPES  # every type at least once
    topic = np.array(TOPICS)[rng.integers(0, len(TOPICS), n_items)]
    ids = np.array([f"CT{i + 1:04d}" for i in range(n_items)])
    titles = [
        f"{t.replace('-', ' ').title()} {c.replace('_', ' ')} #{i + 1}{TITLE_EXTRAS[rng.integers(0, len(TITLE_EXTRAS))]}"
        for i, (t, c) in enumerate(zip(topic, ctype, strict=True))
    ]
    has_c = rng.random(n_items) < 0.3
    df = pd.DataFrame(
        {
            "content_id": ids,
            "title": titles,
            "content_type": ctype,
            "topic": topic,
            "url": [
                f"https://www.example.com/{c}/{t}-{i + 1}"
                for i, (c, t) in enumerate(zip(ctype, topic, strict=True))
            ],
            "published_at": pub,
            "campaign_id": np.where(
                has_c, campaign_ids[rng.integers(0, len(campaign_ids), n_items)], None
            ),
        }
    )
    return df, pub_day.astype(np.int64)


def content_daily_table(
    rng: np.random.Generator,
    content: pd.DataFrame,
    pub_day: np.ndarray,
    days: pd.DatetimeIndex,
    scale: float,
) -> pd.DataFrame:
    """Daily traffic per content item from its publish day (decaying, weekday pattern)."""
    T = len(days)
    n = len(content)
    base = np.exp(rng.normal(np.log(25), 0.8, n))
    t = np.arange(T)
    age = t[None, :] - pub_day[:, None]
    alive = age >= 0
    decay = 0.35 + 0.65 * np.exp(-np.maximum(age, 0) / 60.0)
    wk = np.where(days.day_of_week.to_numpy() >= 5, 0.55, 1.0)
    lam = scale * base[:, None] * decay * wk[None, :] * alive
    pv = rng.poisson(lam)
    ii, tt = np.nonzero(alive)
    pv = pv[ii, tt]
    uv = rng.binomial(pv, 0.82)
    org_share = np.where(content["content_type"].to_numpy() == "blog", 0.6, 0.25)[ii]
    organic = rng.binomial(uv, org_share)
    cvr = np.where(
        np.isin(content["content_type"].to_numpy(), ["ebook", "webinar", "landing_page"]),
        0.04,
        0.004,
    )[ii]
    ff = rng.binomial(uv, cvr)
    eng = np.round(np.exp(rng.normal(np.log(70), 0.4, len(ii))) * (pv > 0), 1)
    return pd.DataFrame(
        {
            "date": days[tt].date,
            "content_id": content["content_id"].to_numpy()[ii],
            "pageviews": pv,
            "unique_visitors": uv,
            "avg_engaged_seconds": eng,
            "organic_sessions": organic,
            "form_fills": ff,
        }
    )


KEYWORDS = (
    "marketing attribution",
    "multi touch attribution",
    "b2b lead scoring",
    "pipeline analytics",
    "marketing roi calculator",
    "budget pacing tool",
    "markov attribution",
    "shapley attribution",
    "mql vs sql",
    "funnel conversion rates",
    "campaign performance dashboard",
    "marketing mix model",
    "response curve marketing",
    "ab test calculator",
    "sample ratio mismatch",
    "lead to opportunity rate",
    "customer acquisition cost",
    "roas vs roi",
    "utm best practices",
    "channel grouping",
    "dagster marketing",
    "duckdb analytics",
    "marketing data warehouse",
    "cohort conversion analysis",
    "sales velocity",
    "lead scoring model",
    "crm hygiene",
    "content roi",
    "seo content strategy",
    "incrementality testing",
)


def seo_table(
    rng: np.random.Generator, content: pd.DataFrame, days: pd.DatetimeIndex
) -> pd.DataFrame:
    """Weekly keyword rankings; positions drift and jump month to month."""
    mondays = days[days.day_of_week == 0]
    k = len(KEYWORDS)
    cand = content.loc[
        content["content_type"].isin(["blog", "landing_page", "ebook"]), "content_id"
    ].to_numpy()
    cid = cand[rng.integers(0, len(cand), k)]
    vol = np.round(np.exp(rng.normal(np.log(1200), 0.9, k))).astype(np.int64)
    pos = rng.uniform(2, 40, k)
    rows = []
    for _w, d in enumerate(mondays):
        jump = (rng.random(k) < 0.05) * rng.normal(0, 8, k)
        pos = np.clip(pos + rng.normal(-0.1, 1.6, k) + jump, 1, 90)
        p = np.round(pos).astype(np.int64)
        season = 1 + 0.1 * np.sin(2 * np.pi * d.day_of_year / 365.25)
        sv = np.round(vol * season).astype(np.int64)
        vis = np.clip(1.2 / p, 0.01, 1.0)
        impressions = rng.binomial(np.round(sv / 4.345).astype(np.int64), vis)
        ctr = np.clip(0.3 / p**0.9, 0.002, 0.35)
        clicks = rng.binomial(impressions, ctr)
        rows.append(
            pd.DataFrame(
                {
                    "date": d.date(),
                    "keyword": KEYWORDS,
                    "content_id": cid,
                    "position": p,
                    "search_volume": sv,
                    "impressions": impressions,
                    "clicks": clicks,
                }
            )
        )
    return pd.concat(rows, ignore_index=True)


def targets_table(rng: np.random.Generator, actuals: pd.DataFrame) -> pd.DataFrame:
    """Targets near (not equal to) actuals: month x scope x metric."""
    t = actuals.copy()
    t["target_value"] = np.round(t["value"] * np.exp(rng.normal(0.05, 0.12, len(t))), 4)
    return t[["month", "scope", "scope_id", "metric", "target_value"]]


PACING_BIAS = {
    "paid_search": 1.0,
    "paid_social": 1.25,
    "display": 0.8,
    "video": 1.0,
    "affiliate": 1.05,
    "events": 0.95,
    "email": 1.0,
}


def budget_plan_table(rng: np.random.Generator, channel_month_spend: pd.DataFrame) -> pd.DataFrame:
    """Plan per month and paid channel: actual x a deliberate per-channel pacing bias x noise."""
    bias = channel_month_spend["channel"].map(PACING_BIAS).to_numpy()
    plan = channel_month_spend["spend"].to_numpy() * bias * np.exp(rng.normal(0, 0.05, len(bias)))
    return pd.DataFrame(
        {
            "month": channel_month_spend["month"],
            "channel": channel_month_spend["channel"],
            "planned_spend": np.round(plan / 100.0) * 100.0,
        }
    )


def experiments_tables(
    rng: np.random.Generator, days: pd.DatetimeIndex, campaign_ids: np.ndarray, scale: float, to_dt
) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """Several tests per month: one clear winner, one sample-ratio mismatch, nulls, a 3-arm test."""
    months = sorted({(d.year, d.month) for d in days})
    exps, units, truth = [], [], []
    T = len(days)
    eid = 0
    for mi, (y, m) in enumerate(months):
        m0 = int(np.searchsorted(days, pd.Timestamp(year=y, month=m, day=1)))
        n_exp = 4 if mi == 0 else (3 if mi % 2 == 0 else 2)
        for j in range(n_exp):
            eid += 1
            kind = "no_effect"
            if eid == 1:
                kind = "winner"
            elif eid == 2:
                kind = "srm"
            elif eid == 3 or eid % 5 == 0:
                kind = "three_arm"
            metric = "revenue" if eid % 3 == 0 else "conversion"
            start = min(m0 + int(rng.integers(0, 8)), T - 2)
            end = min(start + int(rng.integers(12, 22)), T - 1)
            if kind == "three_arm":
                variants, shares = ["control", "variant_b", "variant_c"], [0.34, 0.33, 0.33]
                split = "34/33/33"
            else:
                variants, shares = ["control", "treatment"], [0.5, 0.5]
                split = "50/50"
            base = float(rng.uniform(0.03, 0.08))
            lift = {"winner": 0.5, "srm": 0.0, "no_effect": 0.0, "three_arm": 0.0}[kind]
            rates = [base] + [base * (1 + lift)] * (len(variants) - 1)
            rev_mult = [1.0] * len(variants)
            n = int(4000 * min(max(scale, 1.0), 10.0))  # tests grow with the world from 1 to 10
            # A healthy assignment: redraw the (rare) draws whose split alone would look like a
            # sample-ratio mismatch (chi-square p < 0.01), so only the injected one is an SRM.
            for _ in range(50):
                v = rng.choice(len(variants), n, p=shares)
                obs = np.bincount(v, minlength=len(variants))
                if chisquare(obs, np.array(shares) * n).pvalue >= 0.01:
                    break
            if kind == "srm":  # a tracking bug loses 15% of treatment units
                keep = ~((v == 1) & (rng.random(n) < 0.15))
                v = v[keep]
            nn = len(v)
            latent = rng.normal(0, 1, nn)
            p = 1 / (
                1 + np.exp(-(np.log(np.array(rates)[v] / (1 - np.array(rates)[v])) + 0.8 * latent))
            )
            # renormalise so the variant's mean rate stays as designed
            for k in range(len(variants)):
                sel = v == k
                if sel.any():
                    p[sel] = np.clip(p[sel] * rates[k] / p[sel].mean(), 0, 1)
            conv = (rng.random(nn) < p).astype(np.int64)
            revenue = np.round(
                conv * np.exp(rng.normal(np.log(110), 0.6, nn)) * np.array(rev_mult)[v], 2
            )
            has_pre = eid % 2 == 1
            pre = (
                rng.poisson(np.exp(0.3 + 0.7 * latent)).astype(float)
                if metric == "conversion"
                else np.round(np.exp(np.log(60) + 0.5 * latent + rng.normal(0, 0.3, nn)), 2)
            )
            secs = rng.integers(start * 86400, (end + 1) * 86400, nn)
            exp_id = f"EXP{eid:03d}"
            exps.append(
                {
                    "experiment_id": exp_id,
                    "name": f"{'Pricing page' if j == 0 else 'Landing page'} test {y}-{m:02d} #{j + 1}",
                    "hypothesis": f"Variant copy lifts {metric} by at least 10%, without hurting lead quality",
                    "primary_metric": metric,
                    "start_date": days[start].date(),
                    "end_date": days[end].date(),
                    "campaign_id": campaign_ids[int(rng.integers(0, len(campaign_ids)))]
                    if j == 0
                    else None,
                    "planned_split": split,
                }
            )
            units.append(
                pd.DataFrame(
                    {
                        "experiment_id": exp_id,
                        "unit_id": [f"U{eid:03d}-{i:06d}" for i in range(nn)],
                        "variant": np.array(variants)[v],
                        "assigned_at": to_dt(np.sort(secs)),
                        "converted": conv,
                        "revenue": revenue,
                        "pre_metric": pre if has_pre else np.full(nn, np.nan),
                    }
                )
            )
            for k, name in enumerate(variants):
                truth.append(
                    {
                        "experiment_id": exp_id,
                        "variant": name,
                        "kind": kind,
                        "true_conversion_rate": rates[k],
                        "true_revenue_per_unit": round(
                            rates[k] * 110 * np.exp(0.18) * rev_mult[k], 4
                        ),
                        "planned_share": shares[k],
                        "srm_injected": kind == "srm" and k == 1,
                    }
                )
    return pd.DataFrame(exps), pd.concat(units, ignore_index=True), pd.DataFrame(truth)


def fx_table(
    days: pd.DatetimeIndex,
    fx_window: np.ndarray,
    first_needed: pd.Timestamp,
    rng: np.random.Generator,
) -> pd.DataFrame:
    """Daily EUR->USD rates covering every date from ``first_needed`` to the window end."""
    pre_n = max((days[0] - first_needed).days, 0)
    back = fx_window[0] * np.exp(-np.cumsum(rng.normal(0, 0.003, pre_n)))[::-1]
    rates = np.concatenate([back, fx_window])
    dates = pd.date_range(days[0] - pd.Timedelta(days=pre_n), days[-1], freq="D")
    return pd.DataFrame(
        {"date": dates.date, "currency": "EUR", "rate_to_reporting": np.round(rates, 6)}
    )


__all__ = ["PAID_CHANNELS"]
