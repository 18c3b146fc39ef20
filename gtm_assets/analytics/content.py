"""Content performance: gaps and recommendations from the month's content marts.

Pure core (pandas in, DataFrame out). The SQL in ``sql/marts/content_*.sql`` builds the
per-content performance, assisted-conversion credit and SEO changes; this module turns them
into topic coverage gaps and recommendations stated with their numbers.

Every recommendation's ``expected_impact`` is in form fills per month and is computed from
this site's own observed rates, never from assumed industry constants:

- ``site_form_fill_rate`` = all content form fills / all content unique visitors;
- ``typical_form_fill_rate`` = the median page's form-fill rate (pages with at least
  ``min_visitors`` and no more form fills than visitors): what a new, fixed or recovered page
  can expect; the site-wide rate is pulled up by a few demo-request pages. A page is held to
  its content type's median (three or more pages of the type), else to the typical rate;
- ``top10_capture_rate`` = organic clicks / search volume over the keywords where a page
  ranks in the top ``top_position`` (the share of a keyword's searches a good ranking
  captures on this site); in a month where no keyword ranks there, the same rate over the
  previous months' keyword rows (``seo_history``), else undefined.

Kinds of recommendation (at most one per piece of content, best first):

- ``refresh``: a page lost organic clicks and rank month over month; impact = clicks lost
  x the page's form-fill rate (site rate when it had no visitors).
- ``create``: a topic gap (see ``content_gaps``); impact = its expected form fills.
- ``convert``: a high-traffic page (visitors at or above the ``traffic_quantile``) converting
  below ``low_rate_factor`` x its type's median; impact = visitors x (median - its rate).
- ``amplify``: a page whose viewers became leads at least 1.5x as often as the month's other
  content visitors, with the 95% interval of its extra leads above zero
  (``content_performance.incremental_leads``); impact = those extra leads (in leads, not
  form fills): what doubling its viewers would add if the effect holds.
- ``promote``: a page converting at ``high_rate_factor`` x the typical rate or more but with
  traffic below the ``traffic_quantile`` level; impact = (that level - its visitors) x its
  rate (an upper bound: wider audiences convert worse). Pages with more form fills than
  visitors are neither.

Topic gaps (``content_gaps``): per topic, its share of the content catalogue vs its share of
tracked search demand and of linear-credited assisted leads, and how much of its demand
ranks in the top ``top_position``:

- demand gap: demand_share - content_share >= ``min_gap_share``;
- conversion gap: leads_share - content_share >= ``min_gap_share``;
- ranking gap: demand_share >= ``min_gap_share`` and top-10 share of its demand below
  ``weak_top10_share``.

Expected form fills of a gap: uncaptured demand (search volume of its keywords ranking below
the top ``top_position``) x top10_capture_rate x typical_form_fill_rate, or for a conversion
gap alone one more piece at the topic's form fills per piece, whichever is larger. Keywords
whose page ranked in the top positions last month and fell are refresh cases, not gaps: they
count as covered. A gap names its biggest uncaptured keywords.
Keywords are assigned to the topic of their best-ranked page; keywords whose page is missing
or not in the content catalogue are reported under the topic ``(no catalogued page)``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import date

import numpy as np
import pandas as pd

NO_PAGE_TOPIC = "(no catalogued page)"


@dataclass(frozen=True)
class ContentConfig:
    """Thresholds of the content analysis (mirrored by the asset's Dagster Config)."""

    top_position: int = 10  # a ranking at or above this position counts as captured
    min_gap_share: float = 0.05  # share difference that makes a coverage gap
    weak_top10_share: float = 0.5  # below this share of demand in the top 10 = ranking gap
    traffic_quantile: float = 0.75  # "high traffic" = at or above this visitors quantile
    low_rate_factor: float = 0.5  # converting below this x site rate = under-converting
    high_rate_factor: float = 2.0  # converting at this x site rate or more = strong converter
    min_visitors: int = 100  # fewer visitors: rates too noisy for convert/promote advice
    min_clicks_lost: int = 10  # smaller click losses are noise, not a refresh case
    max_recommendations: int = 10


GAP_SCHEMA: dict[str, str] = {
    "month": "date",
    "topic": "varchar",
    "content_items": "bigint",
    "content_share": "double",
    "keywords": "bigint",
    "search_demand": "double",
    "demand_share": "double",
    "demand_top10": "double",
    "demand_top10_share": "double",
    "uncaptured_demand": "double",
    "organic_clicks": "double",
    "unique_visitors": "double",
    "form_fills": "double",
    "leads_linear": "double",
    "leads_share": "double",
    "form_fills_per_item": "double",
    "demand_gap": "double",
    "conversion_gap": "double",
    "gap_types": "varchar",
    "is_gap": "boolean",
    "expected_form_fills": "double",
    "gap_reason": "varchar",
}

RECOMMENDATION_SCHEMA: dict[str, str] = {
    "month": "date",
    "rank": "bigint",
    "kind": "varchar",
    "recommendation": "varchar",
    "content_id": "varchar",
    "title": "varchar",
    "topic": "varchar",
    "keyword": "varchar",
    "expected_impact": "double",
    "impact_metric": "varchar",
    "evidence_metric": "varchar",
    "evidence_value": "double",
    "source": "varchar",
}


def empty_frame(schema: dict[str, str]) -> pd.DataFrame:
    """A zero-row frame with the schema's columns."""
    return pd.DataFrame({c: pd.Series([], dtype="object") for c in schema})


def _num(frame: pd.DataFrame, col: str) -> pd.Series:
    return pd.to_numeric(frame[col], errors="coerce").astype(float)


def _top_capture(seo: pd.DataFrame | None, cfg: ContentConfig) -> float:
    """Organic clicks / search volume over keyword rows ranking in the top positions."""
    if seo is None or not len(seo):
        return math.nan
    kw = seo[(seo["level"] == "keyword") & seo["position"].notna()]
    top = kw[_num(kw, "position") <= cfg.top_position]
    volume = _num(top, "search_volume").sum()
    return _num(top, "clicks").sum() / volume if volume > 0 else math.nan


def _item_rates(performance: pd.DataFrame, cfg: ContentConfig) -> pd.DataFrame:
    """Items with at least ``min_visitors`` and a plausible rate (form fills <= visitors:
    more form fills than visitors means fills recorded without a page view, a tracking
    gap, not a rate)."""
    if not len(performance):
        return performance.iloc[0:0]
    visitors = _num(performance, "unique_visitors").fillna(0.0)
    fills = _num(performance, "form_fills").fillna(0.0)
    ok = (visitors >= cfg.min_visitors) & (fills <= visitors)
    out = performance[ok].copy()
    out["_rate"] = fills[ok] / visitors[ok]
    return out


def site_rates(
    performance: pd.DataFrame,
    seo: pd.DataFrame | None,
    cfg: ContentConfig,
    seo_history: pd.DataFrame | None = None,
) -> dict[str, float]:
    """The site's own rates (NaN when undefined): ``site_form_fill_rate`` (all content form
    fills / visitors), ``typical_form_fill_rate`` (the median item's rate over items with
    at least ``min_visitors`` and no more form fills than visitors: what a new or fixed
    page can expect, not pulled up by a few demo-request pages) and the top-10 capture rate
    (falls back to ``seo_history``, earlier months' SEO rows, when no keyword ranks in the
    top positions this month)."""
    visitors = _num(performance, "unique_visitors").sum() if len(performance) else 0.0
    fills = _num(performance, "form_fills").sum() if len(performance) else 0.0
    rate = fills / visitors if visitors > 0 else math.nan
    items = _item_rates(performance, cfg)
    typical = float(items["_rate"].median()) if len(items) else math.nan
    capture = _top_capture(seo, cfg)
    if not _finite(capture):
        capture = _top_capture(seo_history, cfg)
    return {
        "site_form_fill_rate": rate,
        "typical_form_fill_rate": typical,
        "top10_capture_rate": capture,
    }


def peer_rates(performance: pd.DataFrame, cfg: ContentConfig) -> dict[str, float]:
    """Median form-fill rate per content type over its plausible items (at least three),
    the benchmark a page of that type is held to."""
    items = _item_rates(performance, cfg)
    if not len(items) or "content_type" not in items:
        return {}
    grouped = items.groupby("content_type")["_rate"]
    return {t: float(r.median()) for t, r in grouped if len(r) >= 3}


def _keywords_by_topic(
    seo: pd.DataFrame | None, performance: pd.DataFrame, cfg: ContentConfig
) -> pd.DataFrame:
    """This month's keywords, each assigned to the topic of its best-ranked page."""
    cols = ["keyword", "topic", "content_id", "position", "search_volume", "clicks"]
    if seo is None or seo.empty:
        return pd.DataFrame(columns=cols + ["recently_lost"])
    kw = seo[(seo["level"] == "keyword") & seo["position"].notna()].copy()
    if kw.empty:
        return pd.DataFrame(columns=cols + ["recently_lost"])
    topics = performance.set_index("content_id")["topic"]
    kw["topic"] = kw["content_id"].map(topics)
    kw.loc[kw["content_id"].isna() | kw["topic"].isna(), "topic"] = NO_PAGE_TOPIC
    kw["position"] = _num(kw, "position")
    kw["search_volume"] = _num(kw, "search_volume").fillna(0.0)
    kw["clicks"] = _num(kw, "clicks").fillna(0.0)
    prior = _num(kw, "prior_position") if "prior_position" in kw else pd.Series(np.nan, kw.index)
    # a page that ranked in the top positions last month and fell is a refresh case (its
    # page exists), not uncovered demand
    kw["recently_lost"] = (prior <= cfg.top_position) & (kw["position"] > cfg.top_position)
    kw = kw.sort_values(["keyword", "position", "content_id"], na_position="last")
    best = kw.groupby("keyword", as_index=False).first()
    # a keyword's clicks come from all the pages that rank for it
    best["clicks"] = best["keyword"].map(kw.groupby("keyword")["clicks"].sum())
    best["search_volume"] = best["keyword"].map(kw.groupby("keyword")["search_volume"].max())
    best["recently_lost"] = best["keyword"].map(kw.groupby("keyword")["recently_lost"].any())
    return best[cols + ["recently_lost"]]


def content_gaps(
    performance: pd.DataFrame,
    seo: pd.DataFrame | None,
    month: date,
    cfg: ContentConfig | None = None,
    seo_history: pd.DataFrame | None = None,
) -> pd.DataFrame:
    """One row per topic with coverage vs demand and conversions (columns ``GAP_SCHEMA``)."""
    cfg = cfg or ContentConfig()
    if performance.empty:
        return empty_frame(GAP_SCHEMA)
    perf = performance.copy()
    for col in ("unique_visitors", "form_fills", "leads_linear"):
        perf[col] = _num(perf, col).fillna(0.0)
    by_topic = perf.groupby("topic").agg(
        content_items=("content_id", "count"),
        unique_visitors=("unique_visitors", "sum"),
        form_fills=("form_fills", "sum"),
        leads_linear=("leads_linear", "sum"),
    )
    kw = _keywords_by_topic(seo, perf, cfg)
    has_seo = seo is not None and not seo.empty
    if len(kw):
        kw["top10"] = (kw["position"] <= cfg.top_position) | kw["recently_lost"].astype(bool)
        demand = kw.groupby("topic").agg(
            keywords=("keyword", "count"),
            search_demand=("search_volume", "sum"),
            organic_clicks=("clicks", "sum"),
        )
        demand["demand_top10"] = kw[kw["top10"]].groupby("topic")["search_volume"].sum()
        by_topic = by_topic.join(demand, how="outer")
    else:
        for col in ("keywords", "search_demand", "organic_clicks", "demand_top10"):
            by_topic[col] = 0.0 if has_seo else np.nan
    df = by_topic.reset_index().rename(columns={"index": "topic"})
    for col in ("content_items", "unique_visitors", "form_fills", "leads_linear"):
        df[col] = df[col].fillna(0.0)
    if has_seo:
        for col in ("keywords", "search_demand", "organic_clicks", "demand_top10"):
            df[col] = df[col].fillna(0.0)

    def share(col: str) -> pd.Series:
        total = df[col].sum()
        return df[col] / total if total > 0 else pd.Series(np.nan, index=df.index)

    rates = site_rates(perf, seo, cfg, seo_history)
    df["content_share"] = share("content_items")
    df["demand_share"] = share("search_demand") if has_seo else np.nan
    df["demand_top10_share"] = np.where(
        df["search_demand"] > 0,
        df["demand_top10"] / df["search_demand"].where(lambda s: s > 0),
        np.nan,
    )
    df["uncaptured_demand"] = df["search_demand"] - df["demand_top10"]
    df["leads_share"] = share("leads_linear")
    df["form_fills_per_item"] = df["form_fills"] / df["content_items"].where(lambda s: s > 0)
    df["demand_gap"] = df["demand_share"] - df["content_share"]
    df["conversion_gap"] = df["leads_share"] - df["content_share"]

    types, reasons, impacts = [], [], []
    for _, r in df.iterrows():
        kinds, why = [], []
        if _ge(r["demand_gap"], cfg.min_gap_share):
            kinds.append("demand")
            why.append(
                f"{r['demand_share']:.1%} of tracked search demand "
                f"({r['search_demand']:,.0f} searches/month) but {r['content_share']:.1%} of "
                f"the content ({int(r['content_items'])} items)"
            )
        if _ge(r["conversion_gap"], cfg.min_gap_share):
            kinds.append("conversion")
            why.append(
                f"{r['leads_share']:.1%} of content-assisted leads "
                f"({r['leads_linear']:.1f}, linear credit) from {r['content_share']:.1%} of "
                f"the content"
            )
        if _ge(r["demand_share"], cfg.min_gap_share) and _lt(
            r["demand_top10_share"], cfg.weak_top10_share
        ):
            kinds.append("ranking")
            why.append(
                f"only {r['demand_top10_share']:.0%} of its {r['search_demand']:,.0f} monthly "
                f"searches rank in the top {cfg.top_position}"
            )
        impact = math.nan
        missing = _top_keywords(kw, r["topic"]) if kinds else ""
        if missing:
            why.append(f"top uncaptured keywords: {missing}")
        if kinds:
            search_fills = (
                r["uncaptured_demand"]
                * rates["top10_capture_rate"]
                * rates["typical_form_fill_rate"]
            )
            per_item = r["form_fills_per_item"] if "conversion" in kinds else math.nan
            candidates = [v for v in (search_fills, per_item) if _finite(v)]
            impact = max(candidates) if candidates else math.nan
        types.append(",".join(kinds) or None)
        reasons.append("; ".join(why) or None)
        impacts.append(impact)
    df["gap_types"] = types
    df["is_gap"] = df["gap_types"].notna()
    df["gap_reason"] = reasons
    df["expected_form_fills"] = impacts
    df["month"] = month
    df = df.sort_values(
        ["is_gap", "expected_form_fills", "topic"],
        ascending=[False, False, True],
        na_position="last",
    )
    return df[list(GAP_SCHEMA)].reset_index(drop=True)


def _top_keywords(kw: pd.DataFrame, topic: str, n: int = 3) -> str:
    """ "'data clean room' (20,000/month), ..." for a topic's biggest keywords outside the
    top positions, so a gap names what to write about."""
    if not len(kw) or "top10" not in kw:
        return ""
    rows = kw[(kw["topic"] == topic) & ~kw["top10"]].nlargest(n, "search_volume")

    def one(r) -> str:
        page = (
            f"; page {r.content_id} ranks {r.position:.0f}"
            if isinstance(r.content_id, str) and r.content_id and _finite(r.position)
            else ""
        )
        return f"'{r.keyword}' ({r.search_volume:,.0f}/month{page})"

    return ", ".join(one(r) for r in rows.itertuples())


def _gain_text(impact: float) -> str:
    """The expected form fills of a content gap, said plainly when they round to zero."""
    if not _finite(impact):
        return ""
    if impact < 0.05:
        return " Expected gain: under 0.1 form fills a month at today's search volume."
    return f" Expected gain about {impact:,.1f} form fills a month."


def _finite(value) -> bool:
    return value is not None and not pd.isna(value) and math.isfinite(float(value))


def _ge(value, threshold: float) -> bool:
    return _finite(value) and float(value) >= threshold - 1e-12


def _lt(value, threshold: float) -> bool:
    return _finite(value) and float(value) < threshold


def _name(row: pd.Series) -> str:
    title = row.get("title")
    cid = row.get("content_id")
    return f"'{title}' ({cid})" if isinstance(title, str) and title else f"content {cid}"


def _rate_recommendation(kind: str, page: pd.Series, impact: float, text: str) -> dict:
    """A ``convert`` or ``promote`` recommendation: evidence is the page's form-fill rate."""
    return {
        "kind": kind,
        "content_id": page["content_id"],
        "title": page.get("title"),
        "topic": page.get("topic"),
        "keyword": None,
        "expected_impact": impact,
        "evidence_metric": "form_fill_rate",
        "evidence_value": page["form_fill_rate"],
        "source": "content_performance",
        "recommendation": text,
    }


#: A page is worth amplifying when its viewers convert at least this many times as often as
#: the month's other content visitors, with the 95% interval of its extra leads above zero.
AMPLIFY_MIN_LIFT = 1.5


def _amplify_recommendations(perf: pd.DataFrame) -> list[dict]:
    """``amplify``: pages whose viewers became leads clearly more often than other content
    visitors (``lead_rate_lift`` at least ``AMPLIFY_MIN_LIFT``, ``incremental_leads_low`` >
    0); impact = the extra leads a doubling of its viewers would bring if the effect holds."""
    if "incremental_leads_low" not in perf:
        return []
    low = _num(perf, "incremental_leads_low")
    lift = _num(perf, "lead_rate_lift")
    rows = perf[(low > 0) & (lift >= AMPLIFY_MIN_LIFT)]
    out = []
    for _, c in rows.iterrows():
        extra = float(c["incremental_leads"])
        out.append(
            {
                "kind": "amplify",
                "content_id": c["content_id"],
                "title": c.get("title"),
                "topic": c.get("topic"),
                "keyword": None,
                "expected_impact": extra,
                "impact_metric": "leads_per_month",
                "evidence_metric": "lead_rate_lift",
                "evidence_value": float(c["lead_rate_lift"]),
                "source": "content_performance",
                "recommendation": (
                    f"Put {_name(c)} in front of more people: {c['viewer_lead_rate']:.1%} of "
                    f"its {c['viewers']:,.0f} viewers became leads within 30 days against "
                    f"{c['other_visitor_lead_rate']:.1%} of other content visitors "
                    f"({c['lead_rate_lift']:.1f}x; about {extra:,.1f} extra leads this month, "
                    f"95% interval {c['incremental_leads_low']:,.1f} to "
                    f"{c['incremental_leads_high']:,.1f}). Doubling its viewers would add "
                    "about as many again if the effect holds; viewers choose what they read, "
                    "so confirm with a test."
                ),
            }
        )
    return out


def content_recommendations(
    performance: pd.DataFrame,
    seo: pd.DataFrame | None,
    gaps: pd.DataFrame,
    month: date,
    cfg: ContentConfig | None = None,
) -> pd.DataFrame:
    """Ranked recommendations with their numbers (columns ``RECOMMENDATION_SCHEMA``)."""
    cfg = cfg or ContentConfig()
    if performance.empty:
        return empty_frame(RECOMMENDATION_SCHEMA)
    perf = performance.copy()
    for col in ("unique_visitors", "form_fills", "pageviews"):
        perf[col] = _num(perf, col).fillna(0.0)
    perf["form_fill_rate"] = perf["form_fills"] / perf["unique_visitors"].where(lambda s: s > 0)
    rates = site_rates(perf, seo, cfg)
    site_rate = rates["typical_form_fill_rate"]
    peers = peer_rates(perf, cfg)
    by_id = perf.set_index("content_id")
    recs: list[dict] = []

    # refresh: pages that lost organic clicks and rank
    if seo is not None and len(seo):
        pages = seo[(seo["level"] == "page") & seo["movement"].isin(["loss", "lost"])].copy()
        pages["clicks_change"] = _num(pages, "clicks_change")
        pages = pages[pages["clicks_change"] <= -cfg.min_clicks_lost]
        keywords = seo[(seo["level"] == "keyword")].copy()
        keywords["clicks_change"] = _num(keywords, "clicks_change")
        for _, p in pages.iterrows():
            cid = p["content_id"]
            page_rate = (
                by_id["form_fill_rate"].get(cid, math.nan) if cid in by_id.index else math.nan
            )
            rate = page_rate if _finite(page_rate) else site_rate
            lost = -p["clicks_change"]
            impact = lost * rate if _finite(rate) else math.nan
            worst = keywords[keywords["content_id"] == cid].sort_values("clicks_change").head(1)
            kw_text, kw = "", None
            if len(worst) and worst.iloc[0]["clicks_change"] < 0:
                w = worst.iloc[0]
                kw = w["keyword"]
                kw_text = (
                    f"; biggest drop: '{kw}' "
                    + (
                        f"from position {w['prior_position']:.1f} to {w['position']:.1f}"
                        if _finite(w["position"]) and _finite(w["prior_position"])
                        else "no longer ranking"
                    )
                    + f", {w['clicks_change']:+,.0f} clicks"
                )
            position_text = (
                f"average position fell from {p['prior_position']:.1f} to {p['position']:.1f}"
                if _finite(p["position"])
                else f"it no longer ranks (was {p['prior_position']:.1f})"
            )
            pct = (
                f" ({p['clicks_change_pct']:+.0f}%)" if _finite(p.get("clicks_change_pct")) else ""
            )
            recs.append(
                {
                    "kind": "refresh",
                    "content_id": cid,
                    "title": p.get("title"),
                    "topic": p.get("topic"),
                    "keyword": kw,
                    "expected_impact": impact,
                    "evidence_metric": "organic_clicks_lost",
                    "evidence_value": lost,
                    "source": "content_seo_changes",
                    "recommendation": (
                        f"Refresh {_name(p)}: {position_text} and organic clicks went from "
                        f"{p['prior_clicks']:,.0f} to {p['clicks']:,.0f}{pct} month over month"
                        f"{kw_text}. Winning them back is worth about {impact:,.1f} form fills "
                        f"a month at a {rate:.1%} form-fill rate."
                    ),
                }
            )

    # create: topic gaps
    for _, g in gaps[gaps["is_gap"].fillna(False).astype(bool)].iterrows():
        impact = g["expected_form_fills"]
        what = (
            f"Create or expand content on '{g['topic']}'"
            if g["topic"] != NO_PAGE_TOPIC
            else "Create (or add to the content catalogue) pages for tracked keywords without one"
        )
        recs.append(
            {
                "kind": "create",
                "content_id": None,
                "title": None,
                "topic": g["topic"],
                "keyword": None,
                "expected_impact": impact,
                "evidence_metric": "uncaptured_search_demand"
                if _finite(g["uncaptured_demand"])
                else "leads_share",
                "evidence_value": g["uncaptured_demand"]
                if _finite(g["uncaptured_demand"])
                else g["leads_share"],
                "source": "content_gaps",
                "recommendation": f"{what}: {g['gap_reason']}." + _gain_text(impact),
            }
        )

    # convert and promote: rate vs traffic, against the page's peers (same content type) or
    # the typical page; pages with more form fills than visitors have no usable rate
    eligible = _item_rates(perf, cfg)
    if _finite(site_rate) and site_rate > 0 and len(eligible):
        level = float(perf["unique_visitors"].quantile(cfg.traffic_quantile))
        for _, c in eligible.iterrows():
            rate = c["form_fill_rate"]
            ctype = c.get("content_type")
            peer = peers.get(ctype, site_rate) if isinstance(ctype, str) else site_rate
            peer_text = (
                f"the {peer:.2%} median of its type ({ctype})"
                if isinstance(ctype, str) and ctype in peers
                else f"the {peer:.2%} median across content"
            )
            if c["unique_visitors"] >= level and peer > 0 and rate < cfg.low_rate_factor * peer:
                impact = c["unique_visitors"] * (peer - rate)
                recs.append(
                    _rate_recommendation(
                        "convert",
                        c,
                        impact,
                        f"Add or fix the call to action on {_name(c)}: "
                        f"{c['unique_visitors']:,.0f} visitors but a {rate:.2%} form-fill "
                        f"rate against {peer_text}. At that median it would bring about "
                        f"{impact:,.1f} more form fills a month.",
                    )
                )
            elif c["unique_visitors"] < level and rate >= cfg.high_rate_factor * site_rate:
                impact = (level - c["unique_visitors"]) * rate
                recs.append(
                    _rate_recommendation(
                        "promote",
                        c,
                        impact,
                        f"Promote {_name(c)}: it converts {rate:.2%} of its visitors "
                        f"({rate / site_rate:.1f}x the {site_rate:.2%} median page) but "
                        f"had only {c['unique_visitors']:,.0f} visitors. Bringing it to "
                        f"{level:,.0f} visitors (the top-quartile level) at the same rate "
                        f"would add about {impact:,.1f} form fills a month; expect less, as "
                        "wider audiences convert worse.",
                    )
                )

    recs += _amplify_recommendations(perf)
    if not recs:
        return empty_frame(RECOMMENDATION_SCHEMA)
    df = pd.DataFrame(recs)
    df["_impact"] = pd.to_numeric(df["expected_impact"], errors="coerce").fillna(-1.0)
    df = df.sort_values(["_impact", "kind", "topic"], ascending=[False, True, True])
    with_content = df["content_id"].notna()
    df = pd.concat(
        [df[with_content].drop_duplicates("content_id", keep="first"), df[~with_content]]
    ).sort_values(["_impact", "kind", "topic"], ascending=[False, True, True])
    df = df.head(cfg.max_recommendations).reset_index(drop=True)
    df["rank"] = np.arange(1, len(df) + 1)
    metric = df["impact_metric"] if "impact_metric" in df else pd.Series(None, index=df.index)
    df["impact_metric"] = [
        m if isinstance(m, str) else "form_fills_per_month" for m in metric.astype(object)
    ]
    df["month"] = month
    return df[list(RECOMMENDATION_SCHEMA)]
