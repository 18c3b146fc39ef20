"""People, exposure events, conversion tickets and the touchpoints they leave (vectorised).

Process (documented in ``truth/README.md``):
1. Each day ``t`` and channel ``c`` produce ``Poisson(mu_c(t))`` exposure events: paid channels
   ``mu = scale * R * hill(spend_c(t) / scale)``, unpaid ones a base rate with weekly pattern.
2. An exposure event reaches a person who arrived in-market ``~Geometric`` days earlier (email
   instead reaches people with a recent non-email exposure: email goes to engaged people).
3. Each exposure fires a conversion ticket with probability ``q_e`` (click-throughs more than
   views; direct visits never). A fired ticket converts the person ``k ~ Geometric`` days later,
   in a later session. The person's lead is created at the earliest such time.
4. Touches: every exposure leaves 1-3 touches (impression/click/visit/content_view/...);
   converters get a converting session (often a direct visit or branded search that causes
   nothing), a form_fill at the conversion, and post-conversion nurture touches.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from gtm_assets.generate.params import (
    ARRIVAL_LAG_MEAN_DAYS,
    CH,
    CHANNELS,
    EMAIL_LOOKBACK_DAYS,
    PAID_CHANNELS,
    PEOPLE_PER_DAY,
    SPECS,
    TT,
    UNCLASSIFIABLE_SHARE,
    UNCLASSIFIABLE_UTM,
    UTM_VARIANTS,
)

DAY = 86400


def hill(s: np.ndarray | float, K: float, n: float) -> np.ndarray:
    """Hill saturation s^n / (s^n + K^n) (0 at s = 0)."""
    s = np.maximum(np.asarray(s, dtype=float), 0.0)
    return s**n / (s**n + K**n)


def exposure_means(channel_spend: np.ndarray, days: pd.DatetimeIndex, scale: float) -> np.ndarray:
    """Expected exposure events per channel (CHANNELS order) and day."""
    T = len(days)
    mu = np.zeros((len(CHANNELS), T))
    for i, c in enumerate(PAID_CHANNELS):
        sp = SPECS[c]
        mu[CH[c]] = scale * sp.R * hill(channel_spend[i] / scale, sp.K, sp.n)
    wd = days.day_of_week.to_numpy()
    doy = days.day_of_year.to_numpy()
    for c in ("organic_search", "organic_social", "referral", "direct"):
        wk = np.where(wd >= 5, 0.6, 1.0)
        season = 1.0 + 0.15 * np.sin(2 * np.pi * (doy - 30) / 365.25)
        mu[CH[c]] = scale * SPECS[c].rate * wk * season
    return mu


@dataclass
class Exposures:
    """Exposure events (one row each), sorted by time."""

    ts: np.ndarray  # int64 seconds since window start
    day: np.ndarray  # int32
    ch: np.ndarray  # int8 index into CHANNELS
    campaign: np.ndarray  # int32 campaign row, -1 for unpaid
    person: np.ndarray  # int64
    click: np.ndarray  # bool: click-through (vs pure view)
    q: np.ndarray  # float64 ticket probability
    fired: np.ndarray  # bool
    conv_ts: np.ndarray  # int64 conversion time if fired (else max)
    utm: np.ndarray  # int16 index into the global UTM list


def utm_catalogue() -> tuple[list[tuple[str, str]], dict[str, tuple[np.ndarray, np.ndarray]]]:
    """Global list of (source, medium) pairs and, per channel, (indices, probabilities)."""
    pairs: list[tuple[str, str]] = []
    per: dict[str, tuple[np.ndarray, np.ndarray]] = {}
    for c in CHANNELS:
        idx, w = [], []
        for s, m, wt in UTM_VARIANTS[c]:
            idx.append(len(pairs))
            pairs.append((s, m))
            w.append(wt)
        p = np.array(w, float)
        per[c] = (np.array(idx), p / p.sum())
    base = len(pairs)
    pairs.extend(UNCLASSIFIABLE_UTM)
    per["_unclassifiable"] = (
        np.arange(base, len(pairs)),
        np.full(len(UNCLASSIFIABLE_UTM), 1.0 / len(UNCLASSIFIABLE_UTM)),
    )
    return pairs, per


def _pick(rng: np.random.Generator, idx_p: tuple[np.ndarray, np.ndarray], n: int) -> np.ndarray:
    idx, p = idx_p
    return idx[rng.choice(len(idx), size=n, p=p)]


def _time_of_day(rng: np.random.Generator, n: int) -> np.ndarray:
    """Seconds into the day, business-hours heavy."""
    h = np.clip(rng.normal(13.5, 3.5, n), 0.0, 23.99)
    return (h * 3600).astype(np.int64)


def person_of(
    rng: np.random.Generator, day: np.ndarray, gamma: float, n_per_day: int
) -> np.ndarray:
    """People reached on ``day``: arrived ``Geometric`` days earlier, activity-skewed by gamma."""
    lag = rng.geometric(1.0 / ARRIVAL_LAG_MEAN_DAYS, len(day)) - 1
    arr = day - lag
    neg = arr < 0
    arr[neg] = (rng.random(neg.sum()) * (day[neg] + 1)).astype(np.int64)
    within = np.floor(n_per_day * rng.random(len(day)) ** gamma).astype(np.int64)
    return arr.astype(np.int64) * n_per_day + within


def simulate_exposures(
    rng: np.random.Generator,
    mu: np.ndarray,
    campaign_share: dict[int, np.ndarray],
    campaign_rows: dict[int, np.ndarray],
    scale: float,
) -> Exposures:
    """Draw every exposure event, its person, ticket and conversion-candidate time."""
    n_ch, T = mu.shape
    n_per_day = max(int(round(PEOPLE_PER_DAY * scale)), 1)
    counts = rng.poisson(mu)  # (ch, T)
    pairs, per = utm_catalogue()
    parts: dict[str, list[np.ndarray]] = {
        k: [] for k in ("ts", "day", "ch", "camp", "person", "click", "q", "utm")
    }
    email_i = CH["email"]
    order = [i for i in range(n_ch) if i != email_i] + [email_i]
    done_days: list[np.ndarray] = []
    done_persons: list[np.ndarray] = []
    for ci in order:
        c = CHANNELS[ci]
        sp = SPECS[c]
        day = np.repeat(np.arange(T, dtype=np.int64), counts[ci])
        n = len(day)
        ts = day * DAY + _time_of_day(rng, n)
        if c == "email":
            # email reaches people with a non-email exposure in the last EMAIL_LOOKBACK_DAYS
            pd_days = np.concatenate(done_days)
            pd_pers = np.concatenate(done_persons)
            o = np.argsort(pd_days, kind="stable")
            pd_days, pd_pers = pd_days[o], pd_pers[o]
            starts = np.searchsorted(pd_days, np.arange(T + 1))
            lo = starts[np.maximum(day - EMAIL_LOOKBACK_DAYS, 0)]
            hi = starts[day]
            ok = hi > lo
            pick = lo + np.floor(rng.random(n) * np.maximum(hi - lo, 1)).astype(np.int64)
            person = np.where(ok, pd_pers[np.minimum(pick, len(pd_pers) - 1)], 0)
            fallback = person_of(rng, day, sp.gamma, n_per_day)
            person = np.where(ok, person, fallback)
        else:
            person = person_of(rng, day, sp.gamma, n_per_day)
            done_days.append(day)
            done_persons.append(person)
        click = rng.random(n) < sp.click_prob
        q_view = sp.q / (sp.click_prob * sp.click_q_mult + (1 - sp.click_prob))
        q = np.where(click, q_view * sp.click_q_mult, q_view)
        camp = np.full(n, -1, dtype=np.int32)
        if ci in campaign_share:
            cum = campaign_share[ci]  # (T, J_c) cumulative spend share
            u = rng.random(n)
            k = (u[:, None] > cum[day]).sum(axis=1)
            camp = campaign_rows[ci][np.minimum(k, cum.shape[1] - 1)].astype(np.int32)
        utm = _pick(rng, per[c], n)
        if c != "direct":
            bad = rng.random(n) < UNCLASSIFIABLE_SHARE
            utm[bad] = _pick(rng, per["_unclassifiable"], int(bad.sum()))
        for k_, v in (
            ("ts", ts),
            ("day", day),
            ("ch", np.full(n, ci, np.int8)),
            ("camp", camp),
            ("person", person),
            ("click", click),
            ("q", q),
            ("utm", utm.astype(np.int16)),
        ):
            parts[k_].append(v)
    cat = {k: np.concatenate(v) for k, v in parts.items()}
    o = np.lexsort((cat["person"], cat["ts"]))
    cat = {k: v[o] for k, v in cat.items()}
    n = len(cat["ts"])
    fired = rng.random(n) < cat["q"]
    decay = np.array([SPECS[c].delay_decay for c in CHANNELS])[cat["ch"]]
    delay = rng.geometric(1.0 - np.minimum(decay, 0.999)) - 1
    gap = rng.integers(1800, 6 * 3600, n)  # the conversion happens in a later session
    conv = np.where(fired, cat["ts"] + delay * DAY + gap, np.iinfo(np.int64).max)
    return Exposures(
        cat["ts"],
        cat["day"].astype(np.int32),
        cat["ch"],
        cat["camp"],
        cat["person"],
        cat["click"],
        cat["q"],
        fired,
        conv,
        cat["utm"],
    )


@dataclass
class Touches:
    """Touchpoint rows as arrays (true channel kept for the truth)."""

    ts: np.ndarray
    person: np.ndarray
    ttype: np.ndarray  # int8 index into TOUCH_TYPES
    ch: np.ndarray  # int8 true channel
    utm: np.ndarray  # int16 utm pair index
    campaign: np.ndarray  # int32, -1 none
    content: np.ndarray  # int32, -1 none


def _content_pick(rng: np.random.Generator, pub_day: np.ndarray, day: np.ndarray) -> np.ndarray:
    """A content item published on or before ``day`` (-1 if none yet)."""
    order = np.sort(pub_day)
    avail = np.searchsorted(order, day, side="right")
    idx_sorted = np.argsort(pub_day, kind="stable")
    pick = np.floor(rng.random(len(day)) * np.maximum(avail, 1)).astype(np.int64)
    out = idx_sorted[np.minimum(pick, len(pub_day) - 1)].astype(np.int32)
    return np.where(avail > 0, out, -1).astype(np.int32)


def exposure_touches(rng: np.random.Generator, ex: Exposures, pub_day: np.ndarray) -> Touches:
    """The touches each exposure event leaves in web/ad logs."""
    ch = ex.ch
    names = np.array(CHANNELS)[ch]
    n = len(ch)
    first_type = np.full(n, TT["visit"], np.int8)
    is_imp = np.isin(names, ["paid_social", "display", "video"]) & ~ex.click
    first_type[is_imp] = TT["impression"]
    first_type[
        np.isin(names, ["paid_social", "display", "video", "paid_search", "affiliate"]) & ex.click
    ] = TT["click"]
    first_type[names == "events"] = TT["event_attend"]
    first_type[names == "email"] = TT["email_open"]
    out = [(ex.ts, ex.person, first_type, ch, ex.utm, ex.campaign, np.full(n, -1, np.int32))]
    # email click-throughs
    em = (names == "email") & ex.click
    out.append(
        (
            ex.ts[em] + rng.integers(20, 300, em.sum()),
            ex.person[em],
            np.full(em.sum(), TT["email_click"], np.int8),
            ch[em],
            ex.utm[em],
            ex.campaign[em],
            np.full(em.sum(), -1, np.int32),
        )
    )
    # landing visit after a click (search, affiliate, social/display/video click, email click)
    clicked = (first_type == TT["click"]) | em
    v = clicked & (rng.random(n) < 0.85)
    vts = ex.ts[v] + rng.integers(320, 900, v.sum())
    landing = _content_pick(rng, pub_day, ex.day[v])
    landing = np.where(rng.random(v.sum()) < 0.6, landing, -1)
    out.append(
        (
            vts,
            ex.person[v],
            np.full(v.sum(), TT["visit"], np.int8),
            ch[v],
            ex.utm[v],
            ex.campaign[v],
            landing,
        )
    )
    # content views inside the session of a visit (organic/referral/direct visits, landing visits)
    base_visit = first_type == TT["visit"]
    cv = (base_visit & (rng.random(n) < 0.45)) | (v & (rng.random(n) < 0.3))
    cv |= (names == "events") & (rng.random(n) < 0.2)
    out.append(
        (
            ex.ts[cv] + rng.integers(1000, 1900, cv.sum()),
            ex.person[cv],
            np.full(cv.sum(), TT["content_view"], np.int8),
            ch[cv],
            ex.utm[cv],
            ex.campaign[cv],
            _content_pick(rng, pub_day, ex.day[cv]),
        )
    )
    # organic visits often land on a content page
    ov = base_visit & np.isin(names, ["organic_search", "organic_social", "referral"])
    cont0 = out[0][6].copy()
    cont0[ov] = np.where(rng.random(ov.sum()) < 0.7, _content_pick(rng, pub_day, ex.day[ov]), -1)
    out[0] = out[0][:6] + (cont0,)
    return _cat(out)


def _cat(parts: list[tuple]) -> Touches:
    cols = list(zip(*parts, strict=True))
    return Touches(*(np.concatenate(c) for c in cols))


def conversions(ex: Exposures, end_ts: int) -> pd.DataFrame:
    """Per converting person: conversion time and the exposure row whose ticket caused it."""
    f = np.nonzero(ex.fired & (ex.conv_ts < end_ts))[0]
    df = pd.DataFrame({"person": ex.person[f], "conv_ts": ex.conv_ts[f], "ex_row": f})
    df = df.sort_values(["person", "conv_ts", "ex_row"], kind="stable")
    df = df.drop_duplicates("person", keep="first").reset_index(drop=True)
    return df


def conversion_touches(
    rng: np.random.Generator,
    ex: Exposures,
    conv: pd.DataFrame,
    pub_day: np.ndarray,
    nurture_campaign: int,
    intent: np.ndarray,
) -> Touches:
    """The converting session, the form fill, and post-conversion touches of converters."""
    _, per = utm_catalogue()
    m = len(conv)
    person = conv["person"].to_numpy()
    cts = conv["conv_ts"].to_numpy()
    cause = conv["ex_row"].to_numpy()
    cause_ch = ex.ch[cause]
    # was the person emailed before converting?
    em_rows = np.nonzero(ex.ch == CH["email"])[0]
    em_df = pd.DataFrame({"person": ex.person[em_rows], "ts": ex.ts[em_rows]})
    first_email = em_df.groupby("person", sort=True)["ts"].min()
    fe = first_email.reindex(person).to_numpy()
    emailed = ~np.isnan(fe) & (fe < cts)

    u = rng.random(m)
    # converting session: direct 45%, branded organic search 20%, the causing paid channel 20%, email 15%
    src = np.where(u < 0.45, CH["direct"], np.where(u < 0.65, CH["organic_search"], -1))
    paid_cause = np.isin(
        cause_ch, [CH[c] for c in ("paid_search", "paid_social", "display", "video", "affiliate")]
    )
    src = np.where((src == -1) & (u < 0.85) & paid_cause, cause_ch, src)
    src = np.where((src == -1) & emailed, CH["email"], src)
    src = np.where(src == -1, CH["direct"], src).astype(np.int8)
    s_utm = np.empty(m, np.int16)
    for c in np.unique(src):
        sel = src == c
        s_utm[sel] = _pick(rng, per[CHANNELS[c]], int(sel.sum()))
    same = src == cause_ch
    s_utm[same] = ex.utm[cause[same]]
    s_camp = np.where(same, ex.campaign[cause], -1).astype(np.int32)
    s_camp[src == CH["email"]] = nurture_campaign
    lead_gap = rng.integers(60, 900, m)
    vts = cts - lead_gap
    parts = []
    is_paid_click = np.isin(
        src, [CH[c] for c in ("paid_search", "paid_social", "display", "video", "affiliate")]
    )
    pre_type = np.where(
        is_paid_click, TT["click"], np.where(src == CH["email"], TT["email_click"], TT["visit"])
    ).astype(np.int8)
    parts.append((vts - 30, person, pre_type, src, s_utm, s_camp, np.full(m, -1, np.int32)))
    nv = pre_type != TT["visit"]
    parts.append(
        (
            vts[nv],
            person[nv],
            np.full(nv.sum(), TT["visit"], np.int8),
            src[nv],
            s_utm[nv],
            s_camp[nv],
            np.full(nv.sum(), -1, np.int32),
        )
    )
    day = (cts // DAY).astype(np.int64)
    parts.append(
        (
            cts,
            person,
            np.full(m, TT["form_fill"], np.int8),
            src,
            s_utm,
            s_camp,
            _content_pick(rng, pub_day, day),
        )
    )
    # post-conversion touches within POST window: count driven by intent
    lam = np.exp(0.55 + 0.75 * intent)
    k = rng.poisson(lam)
    rep = np.repeat(np.arange(m), k)
    r = len(rep)
    pts = cts[rep] + rng.integers(600, 14 * DAY, r)
    kind = rng.choice(5, size=r, p=[0.32, 0.14, 0.2, 0.24, 0.10])
    ttype = np.array(
        [TT["email_open"], TT["email_click"], TT["visit"], TT["content_view"], TT["event_attend"]],
        np.int8,
    )[kind]
    pch = np.array(
        [CH["email"], CH["email"], CH["direct"], CH["organic_search"], CH["events"]], np.int8
    )[kind]
    putm = np.empty(r, np.int16)
    for c in np.unique(pch):
        sel = pch == c
        putm[sel] = _pick(rng, per[CHANNELS[c]], int(sel.sum()))
    pcamp = np.where(pch == CH["email"], nurture_campaign, -1).astype(np.int32)
    pcont = np.where(
        np.isin(ttype, [TT["content_view"]]), _content_pick(rng, pub_day, pts // DAY), -1
    ).astype(np.int32)
    parts.append((pts, person[rep], ttype, pch, putm, pcamp, pcont))
    # later nurture emails (days 14-90): no effect on SQL probability
    k2 = rng.poisson(1.5, m)
    rep2 = np.repeat(np.arange(m), k2)
    r2 = len(rep2)
    parts.append(
        (
            cts[rep2] + rng.integers(14 * DAY, 90 * DAY, r2),
            person[rep2],
            np.full(r2, TT["email_open"], np.int8),
            np.full(r2, CH["email"], np.int8),
            _pick(rng, per["email"], r2),
            np.full(r2, nurture_campaign, np.int32),
            np.full(r2, -1, np.int32),
        )
    )
    return _cat(parts)


def concat_touches(a: Touches, b: Touches) -> Touches:
    return Touches(
        *(
            np.concatenate([x, y])
            for x, y in zip(a.__dict__.values(), b.__dict__.values(), strict=True)
        )
    )
