"""Content marts (SQL + asset) on a small hand-made warehouse with hand-computed answers.

World, month under test March 2025 (prior month February):
- content A (blog, topic "ai"), B (ebook, topic "ai"), C (webinar, topic "data").
- person p1: touches A (Mar 1), a non-content ad click (Mar 2), B (Mar 3), then a lead on
  Mar 4 and a won deal of 900 on Mar 10 (path A, ad, B again, since a touch after the
  lead on Mar 5 on C joins the won path). A touch 200 days earlier is outside the lookback.
- person p2: a touch on A (Mar 6), lead on Mar 7; a later touch on C (Mar 8) must not count.
"""

from __future__ import annotations

from datetime import date, datetime

import dagster as dg
import duckdb
import pandas as pd
import pytest

from gtm_assets.analytics.content import NO_PAGE_TOPIC
from gtm_assets.assets.content import content_analysis
from gtm_assets.resources import GtmSettings, WarehouseResource

MONTH = "2025-03-01"


def _create(con: duckdb.DuckDBPyConnection, table: str, rows: list[tuple], columns: str) -> None:
    con.execute(f"create table {table} ({columns})")
    for row in rows:
        marks = ", ".join("?" for _ in row)
        con.execute(f"insert into {table} values ({marks})", list(row))


def build_world(tmp_path, present: dict[str, bool] | None = None) -> WarehouseResource:
    present = {"content": True, "content_daily": True, "seo_rankings": True} | (present or {})
    path = tmp_path / "wh.duckdb"
    con = duckdb.connect(str(path))
    for schema in ("raw", "staging", "intermediate", "marts"):
        con.execute(f"create schema {schema}")
    _create(con, "raw.load_manifest", list(present.items()), "table_name varchar, present boolean")
    _create(
        con,
        "staging.content",
        [
            ("A", "Intro to AI", "blog", "ai", "/a", datetime(2024, 1, 1), None),
            ("B", "AI ebook", "ebook", "ai", "/b", datetime(2024, 6, 1), None),
            ("C", "Data webinar", "webinar", "data", "/c", datetime(2025, 2, 1), None),
            ("D", "Future post", "blog", "data", "/d", datetime(2025, 4, 15), None),
        ],
        "content_id varchar, title varchar, content_type varchar, topic varchar, url varchar, "
        "published_at timestamp, campaign_id varchar",
    )
    daily = [
        # date, content, pageviews, uniques, avg_engaged_seconds, organic, form_fills
        (date(2025, 3, 1), "A", 100, 80, 60.0, 50, 2),
        (date(2025, 3, 2), "A", 300, 200, 20.0, 150, 4),
        (date(2025, 3, 1), "B", 50, 40, 300.0, 10, 5),
        (date(2025, 3, 1), "C", 10, 10, 30.0, 0, 0),
        (date(2025, 3, 20), "D", 5, 5, 10.0, 0, 0),  # traffic before its publication date
        (date(2025, 2, 10), "A", 200, 150, 30.0, 100, 3),
        (date(2025, 1, 10), "A", 999, 999, 30.0, 999, 9),  # two months back: ignored
    ]
    _create(
        con,
        "staging.content_daily",
        [(d, date(d.year, d.month, 1), *rest) for d, *rest in daily],
        "date date, month date, content_id varchar, pageviews bigint, unique_visitors bigint, "
        "avg_engaged_seconds double, organic_sessions bigint, form_fills bigint",
    )
    seo = [
        # kw1 on A: Feb positions 3 (100 impr) and 5 (300 impr) -> 4.5; Mar 8 -> loss of 3.5
        (date(2025, 2, 1), "kw1", "A", 3.0, 1000, 100, 30),
        (date(2025, 2, 2), "kw1", "A", 5.0, 1000, 300, 10),
        (date(2025, 3, 1), "kw1", "A", 8.0, 1000, 200, 10),
        # kw2 on A: Feb 12 -> Mar 6 (gain of 6), clicks 5 -> 25
        (date(2025, 2, 1), "kw2", "A", 12.0, 500, 50, 5),
        (date(2025, 3, 1), "kw2", "A", 6.0, 500, 100, 25),
        # kw3 on B: new in March
        (date(2025, 3, 1), "kw3", "B", 2.0, 300, 80, 20),
        # kw4 on C: lost in March
        (date(2025, 2, 1), "kw4", "C", 9.0, 200, 40, 4),
        # kw5: no page; kw1 on B too, flat (position 20 both months)
        (date(2025, 3, 1), "kw5", None, 40.0, 5000, 0, 0),
        (date(2025, 2, 1), "kw1", "B", 20.0, 1000, 10, 0),
        (date(2025, 3, 1), "kw1", "B", 20.5, 1000, 10, 0),
    ]
    _create(
        con,
        "staging.seo_rankings",
        [(d, date(d.year, d.month, 1), *rest) for d, *rest in seo],
        "date date, month date, keyword varchar, content_id varchar, position double, "
        "search_volume double, impressions bigint, clicks bigint",
    )
    touches = [
        ("t0", "p1", datetime(2024, 8, 1), "A"),  # > 90 days before: outside the lookback
        ("t1", "p1", datetime(2025, 3, 1), "A"),
        ("t2", "p1", datetime(2025, 3, 2), None),
        ("t3", "p1", datetime(2025, 3, 3), "B"),
        ("t4", "p1", datetime(2025, 3, 5), "C"),
        ("t5", "p2", datetime(2025, 3, 6), "A"),
        ("t6", "p2", datetime(2025, 3, 8), "C"),
    ]
    _create(
        con,
        "staging.touchpoints",
        [(tid, pid, ts, date(ts.year, ts.month, 1), cid) for tid, pid, ts, cid in touches],
        "touchpoint_id varchar, person_id varchar, ts timestamp, month date, content_id varchar",
    )
    conversions = [
        ("lead:1", "lead", "p1", "1", datetime(2025, 3, 4), 0.0),
        ("won:1", "won", "p1", "1", datetime(2025, 3, 10), 900.0),
        ("lead:2", "lead", "p2", "2", datetime(2025, 3, 7), 0.0),
        ("lead:3", "lead", "p3", "3", datetime(2025, 3, 7), 0.0),  # no touches at all
    ]
    _create(
        con,
        "intermediate.conversions",
        [(*row, date(2025, 3, 1)) for row in conversions],
        "conversion_id varchar, conversion_type varchar, person_id varchar, lead_id varchar, "
        "converted_at timestamp, value double, month date",
    )
    con.close()
    return WarehouseResource(path=str(path), read_copy_path=str(tmp_path / "r.duckdb"))


def materialize(resource: WarehouseResource) -> dg.ExecuteInProcessResult:
    return dg.materialize(
        [content_analysis],
        resources={
            "warehouse": resource,
            "settings": GtmSettings(raw_dir="unused", reports_dir="unused"),
        },
        partition_key=MONTH,
    )


def read(resource: WarehouseResource, table: str) -> pd.DataFrame:
    with duckdb.connect(resource.path, read_only=True) as con:
        return con.execute(f"select * from marts.{table}").df()


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    resource = build_world(tmp_path_factory.mktemp("content"))
    result = materialize(resource)
    assert result.success
    return resource, result


def test_assisted_conversions_credit_by_hand(world):
    resource, _ = world
    attr = read(resource, "content_attribution").set_index(["content_id", "conversion_type"])
    # lead:1 path t1(A) t2 t3(B): linear 1/3 each, position 0.4 / 0.2 / 0.4
    # lead:2 path t5(A): 1
    a_lead = attr.loc[("A", "lead")]
    assert a_lead["assisted_conversions"] == 2
    assert a_lead["linear_conversions"] == pytest.approx(1 / 3 + 1)
    assert a_lead["position_based_conversions"] == pytest.approx(0.4 + 1)
    assert attr.loc[("B", "lead"), "linear_conversions"] == pytest.approx(1 / 3)
    assert ("C", "lead") not in attr.index  # C was touched only after both leads
    # won:1 (900) path t1(A) t2 t3(B) t4(C): linear 1/4, position 0.4 / 0.1 / 0.1 / 0.4
    assert attr.loc[("A", "won"), "linear_value"] == pytest.approx(900 / 4)
    assert attr.loc[("C", "won"), "position_based_conversions"] == pytest.approx(0.4)
    assert attr.loc[("B", "won"), "position_based_value"] == pytest.approx(90)


def test_performance_engagement_and_ranks_by_hand(world):
    resource, result = world
    perf = read(resource, "content_performance").set_index("content_id")
    assert set(perf.index) == {"A", "B", "C", "D"}
    assert perf["published_by_month_end"].to_dict() == {"A": True, "B": True, "C": True, "D": False}
    assert perf.loc["D", "topic"] == "data" and perf["in_content_catalog"].all()
    a = perf.loc["A"]
    assert a["pageviews"] == 400 and a["unique_visitors"] == 280 and a["form_fills"] == 6
    # engaged seconds 100*60 + 300*20 = 12000 -> 3.333 h; pageview-weighted avg 30 s
    assert a["engaged_hours"] == pytest.approx(12000 / 3600)
    assert a["avg_engaged_seconds"] == pytest.approx(30.0)
    assert a["form_fill_rate"] == pytest.approx(6 / 280)
    assert a["prior_pageviews"] == 200 and a["pageviews_change_pct"] == pytest.approx(100.0)
    assert perf.loc["B", "engaged_hours"] == pytest.approx(50 * 300 / 3600)
    assert perf.loc["B", "engagement_rank"] == 1 and a["engagement_rank"] == 2
    assert perf.loc["C", "engagement_rank"] == 3 and perf.loc["D", "engagement_rank"] == 4
    assert a["assisted_leads_rank"] == 1 and a["assisted_leads"] == 2
    assert a["revenue_linear"] == pytest.approx(225.0)
    assert perf.loc["C", "pageviews_change_pct"] is None or pd.isna(
        perf.loc["C", "pageviews_change_pct"]
    )
    checks = {c.check_name: c for c in result.get_asset_check_evaluations()}
    assert checks["one_row_per_content"].passed
    assert checks["content_credit_bounded"].passed


def test_seo_changes_by_keyword_and_page_by_hand(world):
    resource, _ = world
    seo = read(resource, "content_seo_changes")
    kw = seo[seo["level"] == "keyword"].set_index(["keyword", "content_id"])
    k1 = kw.loc[("kw1", "A")]
    assert k1["prior_position"] == pytest.approx(4.5)  # (3*100 + 5*300) / 400
    assert k1["position"] == pytest.approx(8.0)
    assert k1["position_change"] == pytest.approx(-3.5)
    assert k1["movement"] == "loss" and k1["clicks_change"] == -30
    assert k1["clicks_change_pct"] == pytest.approx(-75.0)
    k2 = kw.loc[("kw2", "A")]
    assert k2["movement"] == "gain" and k2["position_change"] == pytest.approx(6.0)
    assert kw.loc[("kw3", "B"), "movement"] == "new"
    assert kw.loc[("kw4", "C"), "movement"] == "lost"
    assert kw.loc[("kw4", "C"), "clicks_change"] == -4
    assert kw.loc[("kw1", "B"), "movement"] == "flat"  # 0.5 positions < 1
    no_page = seo[(seo["level"] == "keyword") & (seo["keyword"] == "kw5")]
    assert len(no_page) == 1 and no_page["content_id"].isna().all()
    page = seo[seo["level"] == "page"].set_index("content_id")
    # page A: March (8*200 + 6*100) / 300 = 7.333; Feb (3*100 + 5*300 + 12*50) / 450 = 5.333
    assert page.loc["A", "position"] == pytest.approx(2200 / 300)
    assert page.loc["A", "prior_position"] == pytest.approx(2400 / 450)
    assert page.loc["A", "clicks"] == 35 and page.loc["A", "prior_clicks"] == 45
    assert page.loc["A", "movement"] == "loss"
    assert page.loc["A", "search_volume"] == pytest.approx(1500)
    assert (
        page.loc["A", "organic_sessions"] == 200 and page.loc["A", "prior_organic_sessions"] == 100
    )
    assert page.loc["C", "movement"] == "lost"


def test_segments_shares_by_hand(world):
    resource, _ = world
    seg = read(resource, "content_segments").set_index(["segment_type", "segment"])
    ai = seg.loc[("topic", "ai")]
    assert ai["content_items"] == 2 and ai["pageviews"] == 450
    assert ai["pageviews_share"] == pytest.approx(450 / 465)
    assert ai["content_share"] == pytest.approx(2 / 4)
    assert seg.loc[("topic", "data"), "content_items"] == 2
    assert ai["leads_share"] == pytest.approx(1.0)  # C assisted no lead
    assert seg.loc[("content_type", "ebook"), "form_fill_rate"] == pytest.approx(5 / 40)


def test_gaps_and_recommendations_are_written_with_numbers(world):
    resource, result = world
    gaps = read(resource, "content_gaps").set_index("topic")
    # kw5 (5000 searches, no page) dominates tracked demand: a demand and ranking gap
    assert gaps.loc[NO_PAGE_TOPIC, "is_gap"]
    assert "demand" in gaps.loc[NO_PAGE_TOPIC, "gap_types"]
    recs = read(resource, "content_recommendations")
    assert list(recs["rank"]) == list(range(1, len(recs) + 1))
    assert recs["expected_impact"].notna().all()
    refresh = recs[recs["kind"] == "refresh"]
    # page A lost 10 clicks (45 -> 35) at its 6/280 form-fill rate
    assert refresh.set_index("content_id").loc["A", "expected_impact"] == pytest.approx(
        10 * 6 / 280
    )
    checks = {c.check_name: c for c in result.get_asset_check_evaluations()}
    assert checks["recommendations_quantified"].passed


def test_skipped_when_optional_tables_are_absent(tmp_path):
    resource = build_world(
        tmp_path, {"content": False, "content_daily": False, "seo_rankings": False}
    )
    result = materialize(resource)
    assert result.success
    meta = {
        m.asset_key.to_user_string(): m.metadata
        for m in result.get_asset_materialization_events()
        for m in [m.event_specific_data.materialization]
    }
    for table in (
        "content_performance",
        "content_segments",
        "content_gaps",
        "content_recommendations",
    ):
        assert meta[table]["skipped"].value == "skipped: content, content_daily not supplied"
        assert read(resource, table).empty
    assert meta["content_seo_changes"]["skipped"].value == "skipped: seo_rankings not supplied"
    assert read(resource, "content_seo_changes").empty
    # assisted conversions need only the required touchpoints
    assert len(read(resource, "content_attribution")) > 0
    with duckdb.connect(resource.path, read_only=True) as con:
        cols = [r[0] for r in con.execute("describe marts.content_performance").fetchall()]
    assert "engagement_rank" in cols and "month" in cols


def test_seo_history_rows_come_from_the_export_by_hand():
    """content_seo_history.sql: one keyword row per month before the analysed one, with the
    month's impressions-weighted position, mean volume and summed clicks."""
    from gtm_assets.sql_files import load_sql

    con = duckdb.connect()
    con.execute("create schema staging")
    _create(
        con,
        "staging.seo_rankings",
        [
            (date(2025, 1, 5), "kw", "A", 4.0, 1000.0, 300, 30),
            (date(2025, 1, 20), "kw", "A", 8.0, 1200.0, 100, 10),
            (date(2025, 2, 5), "kw", "A", 12.0, 900.0, 0, 0),
            (date(2025, 3, 5), "kw", "A", 2.0, 900.0, 500, 90),  # the analysed month: left out
            (date(2024, 1, 5), "kw", "A", 1.0, 900.0, 500, 90),  # older than 12 months
        ],
        "date date, keyword varchar, content_id varchar, position double, "
        "search_volume double, impressions bigint, clicks bigint",
    )
    rows = con.execute(
        load_sql("marts/content_seo_history") + " order by month",
        {"history_start": date(2024, 3, 1), "month_start": date(2025, 3, 1)},
    ).fetchall()
    assert [(r[3].date() if hasattr(r[3], "date") else r[3]) for r in rows] == [
        date(2025, 1, 1),
        date(2025, 2, 1),
    ]
    january, february = rows
    assert january[4] == pytest.approx((4 * 300 + 8 * 100) / 400)  # weighted by impressions
    assert january[5] == pytest.approx(1100.0) and january[6] == 40
    assert february[4] == pytest.approx(12.0)  # no impressions: plain mean


def test_viewers_are_compared_with_other_content_visitors(tmp_path):
    """March visitors: p1 (A, B, C; lead 4 Mar), p2 (A, C; lead 7 Mar), p4 (A, no lead), p5
    (B, lead 20 Mar), p6 (A; lead 30 Apr, 46 days after: outside 30 days), p7 (C, no lead),
    p8 (B, but a lead since February: left out). Six people, three new leads.
    A: 4 viewers, 2 leads (50%) vs the 2 other visitors' 1 (50%): lift 1, nothing gained.
    B: 2 viewers, 2 leads (100%) vs 1 of 4 others (25%): lift 4, 1.5 incremental leads.
    C: p1 and p2 viewed it after becoming leads; p7 alone: 0% vs 1 of 3 others."""
    from gtm_assets.assets.content import ContentAnalysisConfig, _params_for
    from gtm_assets.sql_files import load_sql

    resource = build_world(tmp_path)
    assert materialize(resource).success
    con = duckdb.connect(resource.path)
    extra = [
        ("t7", "p4", datetime(2025, 3, 10), "A"),
        ("t8", "p5", datetime(2025, 3, 12), "B"),
        ("t9", "p6", datetime(2025, 3, 15), "A"),
        ("t10", "p7", datetime(2025, 3, 2), "C"),
        ("t11", "p8", datetime(2025, 3, 20), "B"),
    ]
    for tid, pid, ts, cid in extra:
        con.execute(
            "insert into staging.touchpoints values (?, ?, ?, ?, ?)",
            [tid, pid, ts, date(2025, 3, 1), cid],
        )
    for cid, pid, ts in [
        ("lead:5", "p5", datetime(2025, 3, 20)),
        ("lead:6", "p6", datetime(2025, 4, 30)),
        ("lead:8", "p8", datetime(2025, 2, 1)),
    ]:
        con.execute(
            "insert into intermediate.conversions values (?, 'lead', ?, ?, ?, 0.0, ?)",
            [cid, pid, cid, ts, date(ts.year, ts.month, 1)],
        )
    params = _params_for(
        "content_performance", date(2025, 3, 1), ContentAnalysisConfig(), lookback=90
    )
    perf = con.execute(load_sql("marts/content_performance"), params).df().set_index("content_id")
    con.close()
    a, b, c = perf.loc["A"], perf.loc["B"], perf.loc["C"]
    assert (a["viewers"], a["viewer_lead_rate"], a["other_visitor_lead_rate"]) == (4, 0.5, 0.5)
    assert a["lead_rate_lift"] == pytest.approx(1.0) and a["incremental_leads"] == pytest.approx(0)
    assert (b["viewers"], b["viewer_lead_rate"]) == (2, 1.0)
    assert b["other_visitor_lead_rate"] == pytest.approx(0.25)
    assert b["lead_rate_lift"] == pytest.approx(4.0)
    assert b["incremental_leads"] == pytest.approx(1.5)
    margin = 2 * 1.959963984540054 * (0.25 * 0.75 / 4) ** 0.5
    assert b["incremental_leads_low"] == pytest.approx(1.5 - margin)
    assert (c["viewers"], c["viewer_lead_rate"]) == (1, 0.0)
    assert c["other_visitor_lead_rate"] == pytest.approx(1 / 3)
    assert c["incremental_leads"] == pytest.approx(-1 / 3)
