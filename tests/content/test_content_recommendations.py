"""Content gaps and recommendations on hand-made frames with hand-computed answers."""

from __future__ import annotations

from datetime import date

import numpy as np
import pandas as pd
import pytest

from gtm_assets.analytics.content import (
    NO_PAGE_TOPIC,
    ContentConfig,
    content_gaps,
    content_recommendations,
    site_rates,
)

MONTH = date(2025, 3, 1)


def perf(rows: list[tuple]) -> pd.DataFrame:
    return pd.DataFrame(
        rows,
        columns=[
            "content_id",
            "title",
            "topic",
            "pageviews",
            "unique_visitors",
            "form_fills",
            "leads_linear",
        ],
    )


def seo_keywords(rows: list[tuple]) -> pd.DataFrame:
    df = pd.DataFrame(
        rows, columns=["keyword", "content_id", "position", "search_volume", "clicks"]
    )
    df["level"] = "keyword"
    df["movement"] = "flat"
    return df


# Site: 8 pages in topic "crm", 2 in "pricing"; "pricing" gets most of the leads and most of
# the search demand, ranking badly.
PERF = perf(
    [(f"c{i}", f"CRM {i}", "crm", 1000, 1000, 10, 0.1) for i in range(8)]
    + [
        ("p1", "Pricing 1", "pricing", 1000, 1000, 10, 3.0),
        ("p2", "Pricing 2", "pricing", 1000, 1000, 10, 3.2),
    ]
)
SEO = seo_keywords(
    [
        ("crm software", "c0", 3.0, 1000, 100),  # top 10: captures 10% of searches
        ("crm tool", "c1", 12.0, 1000, 5),
        ("pricing plans", "p1", 25.0, 6000, 6),
        ("pricing plans", "p2", 30.0, 6000, 4),  # same keyword, worse page: counted once
        ("cheap pricing", "p2", 4.0, 2000, 200),
    ]
)


def test_site_rates_by_hand():
    rates = site_rates(PERF, SEO, ContentConfig())
    assert rates["site_form_fill_rate"] == pytest.approx(100 / 10000)
    # top-10 keywords: crm software (1000 searches, 100 clicks), cheap pricing (2000, 200)
    assert rates["top10_capture_rate"] == pytest.approx(300 / 3000)


def test_capture_rate_falls_back_to_earlier_months_when_nothing_ranks_top_10():
    """No keyword in the top 10 this month: the site's capture rate comes from the earlier
    months' keyword rows, so a gap still gets its expected form fills."""
    month = seo_keywords(
        [("crm software", "c0", 14.0, 1000, 8), ("pricing plans", "p1", 25.0, 200000, 1)]
    )
    history = seo_keywords(
        [("crm software", "c0", 4.0, 1000, 80), ("crm tool", "c1", 9.0, 1000, 20)]
    )
    assert np.isnan(site_rates(PERF, month, ContentConfig())["top10_capture_rate"])
    rates = site_rates(PERF, month, ContentConfig(), seo_history=history)
    assert rates["top10_capture_rate"] == pytest.approx(100 / 2000)
    gaps = content_gaps(PERF, month, MONTH, seo_history=history).set_index("topic")
    # pricing: 200000 uncaptured searches x 5% capture x 1% form-fill rate = 100
    assert gaps.loc["pricing", "expected_form_fills"] == pytest.approx(100.0)
    # without the history only the conversion gap's fills per piece are left (10)
    alone = content_gaps(PERF, month, MONTH).set_index("topic")
    assert alone.loc["pricing", "expected_form_fills"] == pytest.approx(10.0)


def test_gaps_by_hand():
    gaps = content_gaps(PERF, SEO, MONTH).set_index("topic")
    pricing, crm = gaps.loc["pricing"], gaps.loc["crm"]
    # demand: crm 1000 + 1000 = 2000; pricing 6000 (once) + 2000 = 8000
    assert pricing["search_demand"] == 8000 and crm["search_demand"] == 2000
    assert pricing["demand_share"] == pytest.approx(0.8)
    assert pricing["content_share"] == pytest.approx(0.2)
    assert pricing["demand_gap"] == pytest.approx(0.6)
    assert pricing["demand_top10_share"] == pytest.approx(2000 / 8000)
    assert pricing["uncaptured_demand"] == 6000
    assert pricing["leads_share"] == pytest.approx(6.2 / 7.0)
    assert pricing["organic_clicks"] == 210  # both pages' clicks on "pricing plans"
    assert pricing["gap_types"] == "demand,conversion,ranking"
    # 6000 uncaptured searches x 10% capture x 1% form-fill rate = 6 vs 10 fills per piece
    assert pricing["expected_form_fills"] == pytest.approx(10.0)
    assert not crm["is_gap"]
    assert crm["demand_top10_share"] == pytest.approx(0.5)
    assert list(gaps.index)[0] == "pricing"


def test_gap_expected_fills_from_search_demand_when_larger():
    seo = seo_keywords(
        [("crm software", "c0", 3.0, 1000, 100), ("pricing plans", "p1", 25.0, 200000, 1)]
    )
    gaps = content_gaps(PERF, seo, MONTH).set_index("topic")
    # capture 100 / 1000 = 10%; 200000 x 0.1 x 0.01 = 200 > 10 per piece
    assert gaps.loc["pricing", "expected_form_fills"] == pytest.approx(200.0)


def test_keywords_without_a_page_are_their_own_gap():
    seo = seo_keywords([("crm software", "c0", 3.0, 1000, 100), ("erp", None, 50.0, 9000, 0)])
    gaps = content_gaps(PERF, seo, MONTH).set_index("topic")
    row = gaps.loc[NO_PAGE_TOPIC]
    assert row["content_items"] == 0 and row["is_gap"]
    assert row["demand_share"] == pytest.approx(0.9)
    assert row["expected_form_fills"] == pytest.approx(9000 * 0.1 * 0.01)
    # the gap names what to write about (and a page that ranks low for it)
    assert "top uncaptured keywords: 'erp' (9,000/month)" in row["gap_reason"]
    seo = seo_keywords(
        [("crm software", "c0", 3.0, 1000, 100), ("crm pricing", "c0", 18.0, 800, 1)]
    )
    gaps = content_gaps(PERF, seo, MONTH).set_index("topic")
    assert gaps.loc["crm", "gap_reason"].endswith(
        "top uncaptured keywords: 'crm pricing' (800/month; page c0 ranks 18)"
    )


def test_gaps_without_seo_assess_conversions_only():
    gaps = content_gaps(PERF, None, MONTH).set_index("topic")
    assert gaps["demand_share"].isna().all()
    assert gaps.loc["pricing", "gap_types"] == "conversion"
    assert gaps.loc["pricing", "expected_form_fills"] == pytest.approx(10.0)


def test_convert_and_promote_recommendations_by_hand():
    # site rate 1%; traffic level = 75th percentile of visitors
    p = perf(
        [
            ("big", "Big page", "a", 6000, 5000, 5, 0.0),  # 0.1% < 0.5% -> convert
            ("mid1", "Mid 1", "a", 1000, 1000, 10, 0.0),
            ("mid2", "Mid 2", "a", 1000, 1000, 10, 0.0),
            ("gem", "Gem", "b", 200, 200, 10, 0.0),  # 5% >= 2% -> promote
            ("tiny", "Tiny", "b", 50, 50, 5, 0.0),  # below min_visitors: no advice
        ]
    )
    gaps = content_gaps(p, None, MONTH)
    recs = content_recommendations(p, None, gaps, MONTH).set_index("content_id")
    # the benchmark is the median page (0.1%, 1%, 1%, 5% over pages with 100+ visitors),
    # not the site-wide 40 / 7,250 that a few strong pages pull up
    typical = 0.01
    level = pd.Series([5000, 1000, 1000, 200, 50]).quantile(0.75)
    assert recs.loc["big", "kind"] == "convert"
    assert recs.loc["big", "expected_impact"] == pytest.approx(5000 * (typical - 0.001))
    assert recs.loc["gem", "kind"] == "promote"
    assert recs.loc["gem", "expected_impact"] == pytest.approx((level - 200) * 0.05)
    assert "tiny" not in recs.index
    assert f"{5000 * (typical - 0.001):,.1f} more form fills" in recs.loc["big", "recommendation"]
    assert recs["rank"].tolist() == sorted(recs["rank"].tolist())


def test_pages_are_held_to_their_type_and_impossible_rates_are_not_promoted():
    """A blog converting 0.15% next to blogs at 0.1% is no "fix the CTA" case because demo
    pages convert 20%; a page with more form fills than visitors (fills recorded without a
    page view) has no rate to promote."""
    p = perf(
        [("memes", "Memes", "a", 15000, 15000, 22, 0.0)]
        + [(f"blog{i}", f"Blog {i}", "a", 2000, 2000, 2, 0.0) for i in range(4)]
        + [(f"demo{i}", f"Demo {i}", "b", 300, 300, 60, 0.0) for i in range(3)]
        + [("lp", "Landing", "b", 101, 101, 283, 0.0)]
    )
    p["content_type"] = ["blog"] * 5 + ["landing_page"] * 4
    recs = content_recommendations(p, None, content_gaps(p, None, MONTH), MONTH)
    assert "memes" not in set(recs["content_id"])
    assert "lp" not in set(recs["content_id"])


def test_refresh_from_seo_losses_ranked_by_impact_and_one_per_page():
    p = perf([("a", "Page A", "t", 1000, 1000, 20, 1.0), ("b", "Page B", "t", 1000, 1000, 10, 1.0)])
    seo = pd.DataFrame(
        [
            ("page", None, "a", 9.0, 4.0, 100, 300, -200, -200 / 3, "loss"),
            ("page", None, "b", 15.0, 5.0, 100, 600, -500, -500 / 6, "loss"),
            ("keyword", "k1", "b", 15.0, 5.0, 100, 600, -500, -500 / 6, "loss"),
            ("page", None, "c", 30.0, 29.5, 0, 5, -5, -100.0, "flat"),
        ],
        columns=[
            "level",
            "keyword",
            "content_id",
            "position",
            "prior_position",
            "clicks",
            "prior_clicks",
            "clicks_change",
            "clicks_change_pct",
            "movement",
        ],
    )
    seo["title"] = seo["content_id"].map({"a": "Page A", "b": "Page B"})
    seo["topic"] = "t"
    seo["search_volume"] = 1000.0
    gaps = content_gaps(p, seo, MONTH)
    recs = content_recommendations(p, seo, gaps, MONTH)
    refresh = recs[recs["kind"] == "refresh"].set_index("content_id")
    # a: 200 clicks x 2% = 4.0; b: 500 x 1% = 5.0 -> b ranks above a
    assert refresh.loc["a", "expected_impact"] == pytest.approx(4.0)
    assert refresh.loc["b", "expected_impact"] == pytest.approx(5.0)
    assert refresh.loc["b", "rank"] < refresh.loc["a", "rank"]
    assert "'k1' from position 5.0 to 15.0, -500 clicks" in refresh.loc["b", "recommendation"]
    assert "went from 600 to 100 (-83%) month over month" in refresh.loc["b", "recommendation"]
    assert "c" not in refresh.index  # a 5-click wobble is not a refresh case
    assert recs["content_id"].dropna().is_unique
    # k1 ranked 5th last month and fell to 15th: a refresh case for page b, not a topic gap
    assert recs[recs["kind"] == "create"].empty


def test_one_recommendation_per_page_keeps_the_larger_impact():
    # page b under-converts (0.5% vs 1.25%: convert, 7.5 fills) and lost 500 clicks
    # (refresh, 2.5 fills): only the convert advice is kept
    p = perf([("a", "Page A", "t", 1000, 1000, 20, 1.0), ("b", "Page B", "t", 1000, 1000, 5, 1.0)])
    seo = pd.DataFrame(
        [("page", None, "b", 15.0, 5.0, 100, 600, -500, -500 / 6, "loss", "Page B", "t", 1.0)],
        columns=[
            "level",
            "keyword",
            "content_id",
            "position",
            "prior_position",
            "clicks",
            "prior_clicks",
            "clicks_change",
            "clicks_change_pct",
            "movement",
            "title",
            "topic",
            "search_volume",
        ],
    )
    recs = content_recommendations(p, seo, content_gaps(p, seo, MONTH), MONTH)
    b = recs[recs["content_id"] == "b"]
    assert len(b) == 1 and b.iloc[0]["kind"] == "convert"
    assert b.iloc[0]["expected_impact"] == pytest.approx(1000 * (25 / 2000 - 0.005))


def test_cap_on_recommendations():
    p = perf(
        [(f"x{i}", f"X{i}", "t", 10000, 10000, 0, 0.0) for i in range(20)]
        + [(f"y{i}", f"Y{i}", "t", 10000, 10000, 1000, 0.0) for i in range(21)]
    )
    recs = content_recommendations(
        p,
        None,
        content_gaps(p, None, MONTH),
        MONTH,
        ContentConfig(max_recommendations=3, traffic_quantile=0.0),
    )
    assert len(recs) == 3 and recs["rank"].tolist() == [1, 2, 3]


def test_gap_gain_that_rounds_to_zero_is_said_plainly():
    from gtm_assets.analytics.content import _gain_text

    assert (
        _gain_text(0.02) == " Expected gain: under 0.1 form fills a month at today's search volume."
    )
    assert _gain_text(2.345) == " Expected gain about 2.3 form fills a month."
    assert _gain_text(float("nan")) == ""


def test_pages_whose_viewers_convert_more_are_amplified():
    """The whitepaper's viewers became leads at 49% against 17% of other visitors (interval
    above zero): amplify it. The popular blog's viewers convert like everyone else: nothing."""
    p = perf(
        [
            ("wp", "Whitepaper", "a", 500, 400, 10, 0.0),
            ("memes", "Memes", "a", 20000, 15000, 20, 0.0),
        ]
    )
    p["viewers"] = [400, 15000]
    p["viewer_lead_rate"] = [0.493, 0.183]
    p["other_visitor_lead_rate"] = [0.174, 0.184]
    p["lead_rate_lift"] = p["viewer_lead_rate"] / p["other_visitor_lead_rate"]
    p["incremental_leads"] = p["viewers"] * (p["viewer_lead_rate"] - p["other_visitor_lead_rate"])
    p["incremental_leads_low"] = p["incremental_leads"] - [40.0, 95.0]
    p["incremental_leads_high"] = p["incremental_leads"] + [40.0, 95.0]
    recs = content_recommendations(p, None, content_gaps(p, None, MONTH), MONTH)
    amp = recs[recs["kind"] == "amplify"].set_index("content_id")
    assert list(amp.index) == ["wp"]
    assert amp.loc["wp", "expected_impact"] == pytest.approx(400 * (0.493 - 0.174))
    assert amp.loc["wp", "impact_metric"] == "leads_per_month"
    assert amp.loc["wp", "recommendation"].startswith(
        "Put 'Whitepaper' (wp) in front of more people: 49.3% of its 400 viewers became leads "
        "within 30 days against 17.4% of other content visitors (2.8x; about 127.6 extra leads"
    )
    assert set(recs.loc[recs["kind"] != "amplify", "impact_metric"]) <= {"form_fills_per_month"}
