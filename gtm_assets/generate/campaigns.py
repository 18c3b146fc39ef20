"""Campaigns, their daily spend (with flights and mid-month budget changes), ad_spend and fx."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from gtm_assets.generate.params import PAID_CHANNELS, SPECS

HOSTILE_NAMES = (
    'Spring "Mega" Sale, 2-for-1',
    "Sommer-Aktion für Ärzte — Ünïcödé ✓",
    "=SUM(A1)",
    "'); drop table campaigns; --",
    "Launch: multi\nline name",
    'Q4 push, "final" round',
    "@cmd|' /C calc'!A0",
)


@dataclass
class CampaignPlan:
    """Campaign table plus the daily spend matrices (campaign x day)."""

    campaigns: pd.DataFrame  # one row per campaign, contract columns + internal `_ch`
    spend_usd: np.ndarray  # (J, T) daily spend in USD (reporting currency)
    spend_local: np.ndarray  # (J, T) daily spend in the campaign's currency
    fx_eur: np.ndarray  # (T,) USD per EUR for each day of the window
    channel_spend: np.ndarray  # (len(PAID_CHANNELS), T) USD per channel per day


def _fx_series(rng: np.random.Generator, n: int) -> np.ndarray:
    """USD per EUR for each day: a geometric random walk around 1.08 (0.3% daily moves)."""
    steps = rng.normal(0.0, 0.003, n)
    return np.round(1.08 * np.exp(np.cumsum(steps)), 6)


def _budget_levels(rng: np.random.Generator, days: pd.DatetimeIndex) -> np.ndarray:
    """Piecewise-constant budget multiplier: changes at a random day in most months."""
    level = np.empty(len(days))
    cur = float(np.exp(rng.normal(0, 0.3)))
    month = days.month.to_numpy() + 12 * days.year.to_numpy()
    dom = days.day.to_numpy()
    change_day = {}
    for m in np.unique(month):
        change_day[m] = int(rng.integers(5, 26)) if rng.random() < 0.7 else -1
    for i in range(len(days)):
        if dom[i] == change_day[month[i]]:
            cur = float(np.clip(np.exp(rng.normal(0, 0.38)), 0.45, 2.2))
        level[i] = cur
    return level


def build_campaigns(rng: np.random.Generator, days: pd.DatetimeIndex, scale: float) -> CampaignPlan:
    """Create campaigns of all six types across the paid channels and their daily spend."""
    T = len(days)
    t0 = days[0]
    months = sorted({(d.year, d.month) for d in days})
    rows: list[dict] = []
    shapes: list[np.ndarray] = []

    def add(
        ch: str,
        ctype: str,
        start: int,
        end: int | None,
        daily: float,
        name: str,
        shape: np.ndarray | None = None,
    ) -> None:
        active = np.zeros(T)
        lo = max(start, 0)
        hi = T - 1 if end is None else min(end, T - 1)
        if hi >= lo:
            active[lo : hi + 1] = 1.0
        if shape is not None:
            active = active * shape
        # weekday pattern: B2B search/social dip at weekends
        wd = days.day_of_week.to_numpy()
        wk = np.where(wd >= 5, 0.55 if ch in ("paid_search", "affiliate") else 0.8, 1.0)
        levels = _budget_levels(rng, days) if ctype in ("always_on", "brand", "launch") else 1.0
        noise = np.exp(rng.normal(0, 0.12, T))
        spend = daily * scale * active * wk * levels * noise
        shapes.append(spend)
        start_date = (t0 + pd.Timedelta(days=int(start))).date()
        end_date = None if end is None else (t0 + pd.Timedelta(days=int(end))).date()
        rows.append(
            dict(
                _ch=ch,
                campaign_type=ctype,
                start_date=start_date,
                end_date=end_date,
                campaign_name=name,
                _daily=daily,
            )
        )

    # always-on programmes (some channels have two)
    ao = {
        "paid_search": [("Search - Brand", 0.35), ("Search - Generic", 0.45)],
        "paid_social": [("LinkedIn ABM always-on", 0.35), ("Social DACH – Ganzjährig", 0.2)],
        "display": [("Retargeting display", 0.6)],
        "video": [("YouTube evergreen", 0.45)],
        "affiliate": [("Partner programme", 0.9)],
        "email": [("Newsletter", 0.6), ("Lead nurture", 0.4)],
    }
    for ch, progs in ao.items():
        for name, share in progs:
            start = -int(rng.integers(30, 400))
            add(ch, "always_on", start, None, SPECS[ch].typical_spend * share, name)

    hostile = list(HOSTILE_NAMES)
    rng.shuffle(hostile)

    def name_for(base: str) -> str:
        if hostile and rng.random() < 0.35:
            return f"{base} {hostile.pop()}"
        return base

    types_seen: set[str] = {"always_on"}
    for mi, (y, m) in enumerate(months):
        m0 = int(np.searchsorted(days, pd.Timestamp(year=y, month=m, day=1)))
        mlen = pd.Timestamp(year=y, month=m, day=1).days_in_month
        tag = f"{y}-{m:02d}"
        force = mi == len(months) - 1  # guarantee every type at least once
        if rng.random() < 0.4 or (force and "launch" not in types_seen):
            dur = int(rng.integers(28, 57))
            s = m0 + int(rng.integers(0, mlen - 3))
            ramp = np.ones(T)
            ramp[s : s + 14] = 1.6
            for ch in ("paid_search", "paid_social", "video"):
                add(
                    ch,
                    "launch",
                    s,
                    s + dur - 1,
                    SPECS[ch].typical_spend * 0.35,
                    name_for(f"Launch {tag} {ch.replace('_', ' ')}"),
                    ramp,
                )
            types_seen.add("launch")
        if rng.random() < 0.3 or (force and "seasonal" not in types_seen):
            dur = int(rng.integers(14, 29))
            s = m0 + int(rng.integers(0, mlen - 3))
            for ch in ("display", "paid_social", "email"):
                add(
                    ch,
                    "seasonal",
                    s,
                    s + dur - 1,
                    SPECS[ch].typical_spend * 0.4,
                    name_for(f"Seasonal {tag} {ch}"),
                )
            types_seen.add("seasonal")
        if rng.random() < 0.45 or (force and "flash" not in types_seen):
            dur = int(rng.integers(1, 8))
            s = m0 + int(rng.integers(0, mlen - 1))
            ch = ("paid_search", "paid_social", "email")[int(rng.integers(0, 3))]
            add(
                ch,
                "flash",
                s,
                s + dur - 1,
                SPECS[ch].typical_spend * 1.2,
                name_for(f"Flash sale {tag}"),
            )
            types_seen.add("flash")
        # 1-2 events a month: 3 weeks of promotion, then 1-3 event days with heavy spend
        for _ in range(1 + int(rng.random() < 0.5)):
            ev = m0 + int(rng.integers(0, mlen))
            ev_len = int(rng.integers(1, 4))
            shape = np.full(T, 0.06)
            shape[ev : ev + ev_len] = 1.0
            add(
                "events",
                "event",
                ev - 21,
                ev + ev_len - 1,
                24000.0 / ev_len,
                name_for(f"Event {tag} #{int(rng.integers(100, 999))}"),
                shape,
            )
            types_seen.add("event")
        if rng.random() < 0.18 or (force and "brand" not in types_seen):
            dur = int(rng.integers(56, 85))
            s = m0 + int(rng.integers(0, mlen - 3))
            ch = ("video", "display")[int(rng.integers(0, 2))]
            add(
                ch,
                "brand",
                s,
                s + dur - 1,
                SPECS[ch].typical_spend * 0.5,
                name_for(f"Brand {tag} {ch}"),
            )
            types_seen.add("brand")
    # leftover hostile names go on existing campaigns so every one appears
    for i, h in enumerate(hostile):
        rows[(3 + 5 * i) % len(rows)]["campaign_name"] += f" {h}"

    camp = pd.DataFrame(rows)
    J = len(camp)
    spend_usd = np.vstack(shapes)
    spend_usd = np.round(spend_usd, 2)
    fx = _fx_series(rng, T)
    eur = np.array(["DACH" in n for n in camp["campaign_name"]])
    currency = np.where(eur, "EUR", "USD")
    spend_local = spend_usd.copy()
    spend_local[eur] = np.round(spend_usd[eur] / fx[None, :], 2)
    spend_usd[eur] = spend_local[eur] * fx[None, :]

    camp.insert(0, "campaign_id", [f"C{j + 1:04d}" for j in range(J)])
    camp["channel"] = camp["_ch"]
    camp["currency"] = currency
    camp["utm_campaign"] = [
        f"{ct}_{j + 1:04d}_{ch}".lower()
        for j, (ct, ch) in enumerate(zip(camp.campaign_type, camp._ch, strict=True))
    ]
    # planned budget over the campaign's life (always_on: 12 months), in campaign currency
    life = np.array(
        [
            365 if e is None else (e - s).days + 1
            for s, e in zip(camp.start_date, camp.end_date, strict=True)
        ]
    )
    active_days = np.maximum((spend_usd > 0).sum(axis=1), 1)
    mean_daily = spend_local.sum(axis=1) / active_days
    camp["planned_budget"] = np.round(mean_daily * life * rng.uniform(0.85, 1.2, J), 2)
    # targets: some empty
    cpa = np.where(rng.random(J) < 0.7, np.round(rng.uniform(150, 900, J), 2), np.nan)
    roas = np.where(rng.random(J) < 0.6, np.round(rng.uniform(0.8, 4.0, J), 2), np.nan)
    ctr = np.where(rng.random(J) < 0.5, np.round(rng.uniform(0.002, 0.05, J), 4), np.nan)
    cvr = np.where(rng.random(J) < 0.4, np.round(rng.uniform(0.005, 0.08, J), 4), np.nan)
    camp["target_cpa"], camp["target_roas"], camp["target_ctr"], camp["target_cvr"] = (
        cpa,
        roas,
        ctr,
        cvr,
    )
    ch_idx = np.array([PAID_CHANNELS.index(c) for c in camp._ch])
    channel_spend = np.zeros((len(PAID_CHANNELS), T))
    np.add.at(channel_spend, ch_idx, spend_usd)
    camp["_chi"] = ch_idx
    return CampaignPlan(camp, spend_usd, spend_local, fx, channel_spend)


def ad_spend_table(
    rng: np.random.Generator, plan: CampaignPlan, days: pd.DatetimeIndex, tickets: np.ndarray
) -> pd.DataFrame:
    """One row per campaign per active day; impressions/clicks from CPM and CTR with noise.

    ``tickets`` (J, T) are the true conversion tickets of each campaign-day; platforms report an
    inflated, noisy version of them (view-through windows, double counting).
    """
    camp = plan.campaigns
    jj, tt = np.nonzero(plan.spend_local > 0)
    ch = camp["_ch"].to_numpy()[jj]
    cpm = np.array([SPECS[c].cpm for c in ch]) * np.exp(rng.normal(0, 0.15, len(jj)))
    ctr = np.array([SPECS[c].ctr for c in ch]) * np.exp(rng.normal(0, 0.2, len(jj)))
    spend_usd = plan.spend_usd[jj, tt]
    impressions = np.maximum(np.round(spend_usd / cpm * 1000.0), 1).astype(np.int64)
    clicks = rng.binomial(impressions, np.clip(ctr, 0, 1))
    infl = np.array([SPECS[c].platform_inflation for c in ch])
    pc = rng.poisson(tickets[jj, tt] * infl * np.exp(rng.normal(0, 0.3, len(jj))))
    reported = np.isin(ch, ["paid_search", "paid_social", "display", "video", "affiliate"])
    df = pd.DataFrame(
        {
            "date": days[tt].date,
            "campaign_id": camp["campaign_id"].to_numpy()[jj],
            "impressions": impressions,
            "clicks": clicks.astype(np.int64),
            "spend": plan.spend_local[jj, tt],
            "currency": camp["currency"].to_numpy()[jj],
            "platform_conversions": pd.array(np.where(reported, pc, 0), dtype="Int64"),
        }
    )
    df.loc[~reported, "platform_conversions"] = pd.NA
    return df.sort_values(["date", "campaign_id"], kind="stable").reset_index(drop=True)
