"""Path building and the rule-based models on a hand-computed warehouse."""

from __future__ import annotations

from datetime import date

import numpy as np
import pandas as pd
import pytest
from attribution_fixtures import make_warehouse, small_warehouse  # noqa: F401 (fixture)

from gtm_assets.analytics import attribution as at

MARCH = (date(2024, 3, 1), date(2024, 4, 1))


def _paths(con, touches: str = "_attr_path_touches") -> pd.DataFrame:
    return con.execute(
        "select case when t.converted then 'c:' else 'n:' end || p.path_key as path_id, "
        "t.converted, string_agg(t.channel, '>' order by t.touch_index) as path "
        f"from {touches} as t join _attr_paths as p using (path_id) "
        "group by all order by path_id"
    ).df()


def test_won_paths_respect_lookback_conversion_time_and_risk_set(small_warehouse):  # noqa: F811
    summary = at.build_paths(small_warehouse, "won", *MARCH, at.AttributionParams())
    assert summary.conversions == 2  # w1 and w5 (w5 has no touch)
    assert summary.conversions_with_touch == 1
    assert summary.coverage == pytest.approx(0.5)
    assert summary.revenue == pytest.approx(1300.0)
    assert summary.revenue_with_touch == pytest.approx(1000.0)
    paths = _paths(small_warehouse)
    # t0 is 116 days before the win, t3 is at the conversion instant, t4 after it;
    # p4 won in February (not at risk); p1 converted; p2 and p3 are the null paths.
    assert paths.to_dict("records") == [
        {"path_id": "c:w1", "converted": True, "path": "email>paid_search"},
        {"path_id": "n:p2", "converted": False, "path": "display"},
        {"path_id": "n:p3", "converted": False, "path": "paid_search>email"},
    ]
    assert summary.null_paths == 2


def test_lead_null_paths_use_the_window_ending_at_month_end(small_warehouse):  # noqa: F811
    at.build_paths(small_warehouse, "lead", *MARCH, at.AttributionParams())
    paths = _paths(small_warehouse).set_index("path_id")["path"].to_dict()
    assert paths == {
        "c:l2": "display",
        "n:p1": "email>paid_search>paid_social>paid_search",
        "n:p3": "paid_search>email",
        "n:p4": "display",
    }


def test_touch_type_filter_and_shorter_lookback(small_warehouse):  # noqa: F811
    params = at.AttributionParams(touch_types=("click",))
    summary = at.build_paths(small_warehouse, "lead", *MARCH, params)
    assert summary.conversions == 1 and summary.conversions_with_touch == 0  # impression only
    summary = at.build_paths(small_warehouse, "won", *MARCH, at.AttributionParams(lookback_days=7))
    assert _paths(small_warehouse).iloc[0]["path"] == "paid_search"  # exactly 7 days back
    assert summary.conversions_with_touch == 1


def test_heuristic_models_hand_computed(small_warehouse):  # noqa: F811
    params = at.AttributionParams()
    summary = at.build_paths(small_warehouse, "won", *MARCH, params)
    credit = at.attribute_paths(small_warehouse, summary, params)
    got = credit.set_index(["model", "channel"])
    expected = {
        # path email (Mar 1) > paid_search (Mar 8), conversion Mar 15, value 1000
        ("first_touch", "email"): 1.0,
        ("first_touch", "paid_search"): 0.0,
        ("last_touch", "paid_search"): 1.0,
        ("linear", "email"): 0.5,
        ("linear", "paid_search"): 0.5,
        ("position_based", "email"): 0.5,  # two touches: 0.4 / (0.4 + 0.4)
        ("time_decay", "email"): 1 / 3,  # 7 days older = half the weight of paid_search
        ("time_decay", "paid_search"): 2 / 3,
        # markov: P(conv) = 1/3; without email 1/6 (RE 1/2); without paid_search 0 (RE 1)
        ("markov", "email"): 1 / 3,
        ("markov", "paid_search"): 2 / 3,
        ("markov", "display"): 0.0,
        # shapley: v({email, paid_search}) = 1/2 (1 conversion, 1 null), singletons 0
        ("shapley", "email"): 0.5,
        ("shapley", "paid_search"): 0.5,
    }
    for key, value in expected.items():
        assert got.loc[key, "attributed_conversions"] == pytest.approx(value, abs=1e-12), key
        assert got.loc[key, "attributed_revenue"] == pytest.approx(1000 * value, abs=1e-9), key
    campaigns = credit[credit["model"] == "linear"].set_index("channel")["campaign_id"]
    assert campaigns.to_dict() == {"email": "cmp_e", "paid_search": "cmp_s"}
    channel = at.to_channel_credit(credit)
    assert at.credit_problems(channel, 1, 1000.0) == []


def test_position_based_middle_touches_and_weights():
    con = at.duckdb.connect()
    paths = pd.DataFrame(
        {"path": ["a>b>c>d", "a>b"], "conversions": [1, 1], "nulls": [0, 0], "value": [10, 0]}
    )
    summary = at.path_touches_from_strings(con, paths)
    params = at.AttributionParams(first_weight=0.3, last_weight=0.5, models=("position_based",))
    credit = at.to_channel_credit(at.attribute_paths(con, summary, params))
    got = credit.set_index("channel")["attributed_conversions"].to_dict()
    # a>b>c>d: 0.3, 0.1, 0.1, 0.5; a>b: 0.3/0.8, 0.5/0.8
    assert got == pytest.approx({"a": 0.3 + 0.375, "b": 0.1 + 0.625, "c": 0.1, "d": 0.5})
    revenue = credit.set_index("channel")["attributed_revenue"].to_dict()
    assert revenue == pytest.approx({"a": 3.0, "b": 1.0, "c": 1.0, "d": 5.0})


def test_credit_problems_catch_wrong_credit():
    good = pd.DataFrame(
        {
            "model": ["linear", "linear"],
            "channel": ["a", "b"],
            "attributed_conversions": [1.5, 0.5],
            "attributed_revenue": [30.0, 10.0],
            "share": [0.75, 0.25],
        }
    )
    assert at.credit_problems(good, 2, 40.0) == []
    assert any("sums to" in p for p in at.credit_problems(good, 3, 40.0))
    assert any("revenue" in p for p in at.credit_problems(good, 2, 50.0))
    negative = good.assign(attributed_conversions=[2.5, -0.5], share=[1.25, -0.25])
    assert any("negative" in p for p in at.credit_problems(negative, 2, 40.0))
    bad_share = good.assign(share=[0.7, 0.25])
    assert any("shares" in p for p in at.credit_problems(bad_share, 2, 40.0))


def test_params_are_validated():
    with pytest.raises(ValueError):
        at.AttributionParams(first_weight=0.7, last_weight=0.5)
    with pytest.raises(ValueError):
        at.AttributionParams(models=("u_shaped",))
    with pytest.raises(ValueError):
        at.AttributionParams(half_life_days=0)


def test_credit_problems_flag_a_missing_model():
    rows = pd.DataFrame(
        {
            "model": ["linear"],
            "channel": ["a"],
            "attributed_conversions": [1.0],
            "attributed_revenue": [0.0],
            "share": [1.0],
        }
    )
    assert at.credit_problems(rows, 1, 0.0, models=("linear",)) == []
    assert at.credit_problems(rows, 1, 0.0, models=("linear", "markov")) == [
        "markov: no credit rows although there are conversions"
    ]


def _session_warehouse():
    from attribution_fixtures import make_warehouse

    touches = [
        ("a1", "pA", "2024-03-05 10:00", "click", "paid_search", "cmp_s"),
        ("a2", "pA", "2024-03-10 09:50", "visit", "direct", None),
        ("a3", "pA", "2024-03-15 10:00", "email_open", "email", "cmp_e"),
        ("b1", "pB", "2024-03-02 09:00", "visit", "organic_search", None),
        ("b2", "pB", "2024-03-02 09:20", "visit", "direct", None),
    ]
    conversions = [
        ("lead:LA", "lead", "pA", "2024-03-10 10:00", 0.0, "LA"),
        ("lead:LB", "lead", "pB", "2024-03-02 09:40", 0.0, "LB"),
        ("opp:OA", "opportunity", "pA", "2024-03-20 10:00", 500.0, "LA"),
    ]
    return make_warehouse(touches, conversions)


def test_conversion_session_is_left_out_of_data_driven_paths_only():
    con = _session_warehouse()
    params = at.AttributionParams(models=("linear", "markov", "shapley"))
    summary = at.build_paths(con, "lead", *MARCH, params)
    model_paths = con.execute(
        "select 'c:' || p.path_key, string_agg(t.channel, '>' order by t.touch_index) "
        "from _attr_model_touches as t join _attr_paths as p using (path_id) "
        "where t.converted group by all order by 1"
    ).fetchall()
    # pA: the direct visit 10 minutes before the lead is its conversion session; pB: the
    # whole path is one session (gaps of 20 minutes), so it is kept.
    assert model_paths == [("c:lead:LA", "paid_search"), ("c:lead:LB", "organic_search>direct")]
    credit = at.to_channel_credit(at.attribute_paths(con, summary, params))
    got = credit.set_index(["model", "channel"])["attributed_conversions"]
    assert got[("linear", "direct")] == pytest.approx(0.5 + 0.5)  # rule-based: full paths
    assert got[("shapley", "paid_search")] == pytest.approx(1.0)
    assert got[("shapley", "direct")] + got[("shapley", "organic_search")] == pytest.approx(1.0)
    assert got.groupby("model").sum().to_numpy() == pytest.approx(2.0)
    no_session = at.AttributionParams(models=("shapley",), session_minutes=0)
    at.build_paths(con, "lead", *MARCH, no_session)
    assert con.execute(
        "select count(*) from _attr_model_touches where channel = 'direct' and converted"
    ).fetchall() == [(2,)]


def test_anchor_on_lead_uses_the_sourcing_lead_path():
    con = _session_warehouse()
    at.build_paths(con, "opportunity", *MARCH, at.AttributionParams())
    assert _paths(con).set_index("path_id")["path"].to_dict()["c:opp:OA"] == (
        "paid_search>direct>email"
    )
    anchored = at.AttributionParams(anchor_on_lead=True)
    summary = at.build_paths(con, "opportunity", *MARCH, anchored)
    paths = _paths(con).set_index("path_id")["path"].to_dict()
    # the path ends at LA's creation; null paths come from the lead risk set (nobody here:
    # pA and pB are leads), so the email after the lead is gone
    assert paths == {"c:opp:OA": "paid_search>direct"}
    assert summary.revenue_with_touch == pytest.approx(500.0)
    result = at.attribute_month(con, *MARCH, anchored, insights=False)
    opp = result.channel[result.channel["conversion_type"] == "opportunity"]
    shapley = opp[opp["model"] == "shapley"].set_index("channel")["attributed_revenue"]
    # lead game: v({paid_search}) = 1 (LA's path without its session), so the deal's
    # Shapley split gives paid_search everything (direct, credited by the rule-based
    # models, is listed with 0)
    assert shapley.to_dict() == pytest.approx({"direct": 0.0, "paid_search": 500.0})


def test_round_floats_keeps_twelve_significant_digits():
    frame = pd.DataFrame({"x": [1 / 3, 2 / 3 * 1e6, 0.0, float("nan")], "k": ["a"] * 4})
    out = at.round_floats(frame)
    assert out["x"].iloc[0] == 0.333333333333
    assert out["x"].iloc[1] == 666666.666667
    assert out["x"].iloc[2] == 0.0 and pd.isna(out["x"].iloc[3])
    assert list(out["k"]) == ["a"] * 4
    # two sums that differ in the last bits (parallel summation) round to the same value
    assert at.round_floats(pd.DataFrame({"x": [0.1 + 0.2]}))["x"].iloc[0] == 0.3


def _random_warehouse(seed: int):
    """400 people, 3,000 touches over January-March 2024 on a 6-hour clock (many ties in
    ts, some across channels), 100 leads from late February to March."""
    rng = np.random.default_rng(seed)
    channels = ["display", "email", "paid_search", "paid_social", "organic_search", "direct"]
    start = pd.Timestamp("2024-01-05")
    touches = [
        (
            f"t{i}",
            f"person-{rng.integers(400)}",
            start + pd.Timedelta(hours=6 * int(rng.integers(0, 86 * 4))),
            "click",
            channels[rng.integers(len(channels))],
            f"cmp{rng.integers(3)}",
        )
        for i in range(3000)
    ]
    conversions = [
        (
            f"lead:{p}",
            "lead",
            f"person-{p}",
            pd.Timestamp("2024-02-20") + pd.Timedelta(hours=int(rng.integers(0, 40 * 24))),
            float(rng.integers(0, 500)),
        )
        for p in rng.choice(400, size=100, replace=False)
    ]
    return make_warehouse(touches, conversions)


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_markov_only_route_equals_the_full_path_route(seed):
    """markov_month counts the null paths' transitions straight from the touches; the
    credit, removal effects and summary equal building every path first."""
    con = _random_warehouse(seed)
    params = at.AttributionParams(models=("markov",))
    campaign, channel, summary = at.markov_month(con, "lead", *MARCH, params)
    # the shortcut ran: no null-path touch was materialised
    assert con.execute("select count(*) from _attr_null_touches").fetchall() == [(0,)]
    at.drop_paths(con)
    full_summary = at.build_paths(con, "lead", *MARCH, params)
    full_campaign, full_channel = at.markov_credit(con, full_summary, params)
    assert summary == full_summary
    assert summary.null_paths > 100
    pd.testing.assert_frame_equal(channel, full_channel, rtol=1e-12)

    def ordered(frame):
        return frame.sort_values(["channel", "campaign_id"]).reset_index(drop=True)

    pd.testing.assert_frame_equal(ordered(campaign), ordered(full_campaign), rtol=1e-12)


def test_markov_only_route_falls_back_where_it_cannot_shortcut(small_warehouse):  # noqa: F811
    """Order 2 takes the full route (same result as building every path)."""
    params = at.AttributionParams(models=("markov",), markov_order=2)
    _, channel, summary = at.markov_month(small_warehouse, "lead", *MARCH, params)
    assert small_warehouse.execute("select count(*) from _attr_null_touches").fetchall()[0][0] > 0
    full_summary = at.build_paths(small_warehouse, "lead", *MARCH, params)
    pd.testing.assert_frame_equal(
        channel, at.markov_credit(small_warehouse, full_summary, params)[1]
    )
    assert summary == full_summary


def test_every_model_lists_every_credited_channel():
    """Shapley leaves out the converting session's direct visit; its rows still list
    direct with 0 so the models compare row by row (shares unchanged)."""
    credit = pd.DataFrame(
        {
            "model": ["last_touch", "last_touch", "shapley"],
            "channel": ["direct", "paid_search", "paid_search"],
            "campaign_id": [None, "C1", "C1"],
            "attributed_conversions": [1.0, 1.0, 2.0],
            "attributed_revenue": [0.0, 100.0, 100.0],
        }
    )
    out = at.to_channel_credit(credit).set_index(["model", "channel"])
    assert len(out) == 4
    assert out.loc[("shapley", "direct"), "attributed_conversions"] == 0.0
    assert out.loc[("shapley", "direct"), "share"] == 0.0
    assert out.loc[("shapley", "paid_search"), "share"] == 1.0
    assert out.loc[("last_touch", "direct"), "share"] == 0.5


def test_touches_at_one_instant_are_ordered_by_channel_in_every_path():
    """Two touches at the same second (ids in the opposite order of their channels): the
    converting path and the null path order them the same way, by channel name, so first
    and last touch and the transitions agree between the two."""
    con = make_warehouse(
        [
            ("t1", "p1", "2024-03-05 10:00", "click", "paid_search", None),
            ("t2", "p1", "2024-03-05 10:00", "email_click", "email", None),
            ("t3", "p2", "2024-03-05 10:00", "click", "paid_search", None),
            ("t4", "p2", "2024-03-05 10:00", "email_click", "email", None),
        ],
        [("l1", "lead", "p1", "2024-03-09 10:00", 0.0)],
    )
    at.build_paths(con, "lead", *MARCH, at.AttributionParams())
    assert _paths(con)["path"].tolist() == ["email>paid_search", "email>paid_search"]
    first = at.heuristic_credit(con, at.AttributionParams())
    first = first[(first.model == "first_touch") & (first.attributed_conversions > 0)]
    assert first["channel"].tolist() == ["email"]


def _lead_session_warehouse():
    """pC: a lead created on 5 March at 10:00 inside a web session (direct visits at 09:40
    and 09:55, the form fill at the instant, a download at 10:20) that an email at 11:00 does
    not belong to (40 minutes later); then an opportunity. pN: a lead without a deal, after
    paid social. pQ: a lead whose only touch is its form fill. pV: an anonymous visitor. pS: a
    lead that clicked a paid social ad and filled the form five minutes later."""
    from attribution_fixtures import make_warehouse

    touches = [
        ("c1", "pC", "2024-03-01 10:00", "click", "paid_search", "cmp_s"),
        ("c2", "pC", "2024-03-05 09:40", "visit", "direct", None),
        ("c3", "pC", "2024-03-05 09:55", "visit", "direct", None),
        ("c4", "pC", "2024-03-05 10:00", "form_fill", "direct", None),
        ("c5", "pC", "2024-03-05 10:20", "content_view", "organic_search", None),
        ("c6", "pC", "2024-03-05 11:00", "email_click", "email", "cmp_e"),
        ("n1", "pN", "2024-03-01 08:00", "click", "paid_social", None),
        ("n2", "pN", "2024-03-06 12:00", "form_fill", "direct", None),
        ("q1", "pQ", "2024-03-07 12:00", "form_fill", "direct", None),
        ("v1", "pV", "2024-03-08 12:00", "click", "paid_search", "cmp_s"),
        ("s1", "pS", "2024-03-09 09:55", "click", "paid_social", "cmp_so"),
        ("s2", "pS", "2024-03-09 10:00", "form_fill", "direct", None),
    ]
    conversions = [
        ("lead:LC", "lead", "pC", "2024-03-05 10:00", 0.0, "LC"),
        ("lead:LN", "lead", "pN", "2024-03-06 12:00", 0.0, "LN"),
        ("lead:LQ", "lead", "pQ", "2024-03-07 12:00", 0.0, "LQ"),
        ("lead:LS", "lead", "pS", "2024-03-09 10:00", 0.0, "LS"),
        ("opp:OC", "opportunity", "pC", "2024-03-20 10:00", 800.0, "LC"),
    ]
    return make_warehouse(touches, conversions)


def test_lead_conversion_sessions_span_the_visit_the_lead_was_created_in():
    con = _lead_session_warehouse()
    at.build_paths(con, "opportunity", *MARCH, at.AttributionParams())
    sessions = con.execute(
        "select person_id, strftime(ts, '%d %H:%M'), channel from _attr_lead_sessions order by all"
    ).fetchall()
    # pS's ad click is the ad that sourced the lead: it stays out of the session
    assert sessions == [
        ("pC", "05 09:40", "direct"),
        ("pC", "05 09:55", "direct"),
        ("pC", "05 10:00", "direct"),
        ("pC", "05 10:20", "organic_search"),
        ("pN", "06 12:00", "direct"),
        ("pQ", "07 12:00", "direct"),
        ("pS", "09 10:00", "direct"),
    ]
    at.build_paths(con, "lead", *MARCH, at.AttributionParams())
    assert con.execute("select count(*) from _attr_lead_sessions").fetchall() == [(0,)]
    at.build_paths(con, "opportunity", *MARCH, at.AttributionParams(session_minutes=0))
    assert con.execute("select count(*) from _attr_lead_sessions").fetchall() == [(0,)]


def _model_paths(con) -> dict[str, str]:
    return _paths(con, "_attr_model_touches").set_index("path_id")["path"].to_dict()


def test_deal_paths_leave_the_sourcing_leads_session_out_of_data_driven_models():
    """Only leads have a form-fill session, so in deal paths it would predict the deal;
    markov and shapley drop it from converting and null deal paths alike (a path that is
    nothing else keeps it), rule-based models keep the full path."""
    con = _lead_session_warehouse()
    params = at.AttributionParams(models=("linear", "markov", "shapley"))
    summary = at.build_paths(con, "opportunity", *MARCH, params)
    assert _model_paths(con) == {
        "c:opp:OC": "paid_search>email",
        "n:pN": "paid_social",
        "n:pQ": "direct",
        "n:pS": "paid_social",
        "n:pV": "paid_search",
    }
    assert _paths(con).set_index("path_id")["path"].to_dict()["c:opp:OC"] == (
        "paid_search>direct>direct>direct>organic_search>email"
    )
    credit = at.to_channel_credit(at.attribute_paths(con, summary, params))
    got = credit.set_index(["model", "channel"])["attributed_conversions"]
    assert got[("linear", "direct")] == pytest.approx(3 / 6)
    # v({paid_search}) = 0 (pV), v({email}) = 0 (no such path: subsets give nothing),
    # v({paid_search, email}) = 1: an even split
    assert got[("shapley", "paid_search")] == pytest.approx(0.5)
    assert got[("shapley", "email")] == pytest.approx(0.5)
    assert got.get(("shapley", "direct"), 0.0) == pytest.approx(0.0)
    # the Markov-only route takes the full route for deal paths and agrees with it
    at.drop_paths(con)
    _, channel, fast_summary = at.markov_month(con, "opportunity", *MARCH, params)
    assert fast_summary == summary
    markov = channel.set_index("channel")["attributed_conversions"]
    assert markov.get("direct", 0.0) == pytest.approx(0.0)
    assert markov["paid_search"] + markov["email"] == pytest.approx(1.0)


def test_two_leads_in_one_visit_share_one_session_range():
    """A person who fills two forms in one visit: the session's touches are listed once, so
    no touch is counted twice in the paths."""
    from attribution_fixtures import make_warehouse

    touches = [
        ("d1", "pD", "2024-03-01 09:00", "click", "paid_search", "cmp_s"),
        ("d2", "pD", "2024-03-05 10:00", "visit", "direct", None),
        ("d3", "pD", "2024-03-05 10:10", "visit", "direct", None),
        ("d4", "pD", "2024-03-05 10:25", "visit", "organic_search", None),
    ]
    conversions = [
        ("lead:L1", "lead", "pD", "2024-03-05 10:05", 0.0, "L1"),
        ("lead:L2", "lead", "pD", "2024-03-05 10:20", 0.0, "L2"),
        ("opp:O1", "opportunity", "pD", "2024-03-25 10:00", 100.0, "L1"),
    ]
    con = make_warehouse(touches, conversions)
    at.build_paths(con, "opportunity", *MARCH, at.AttributionParams())
    assert con.execute("select count(*) from _attr_lead_sessions").fetchall() == [(3,)]
    assert con.execute("select count(*) from _attr_converting_touches").fetchall() == [(4,)]
    assert _model_paths(con) == {"c:opp:O1": "paid_search"}


def test_an_ad_click_that_starts_the_converting_session_stays():
    """pI saw an unrelated display ad, later clicked a search ad and filled the form five
    minutes after: the click is the response, not a way back, and stays (so the impression
    does not take the whole credit). pB clicked the same channel days before: its return
    click in the session is left out, like pD's direct visit."""
    from attribution_fixtures import make_warehouse

    touches = [
        ("i1", "pI", "2024-03-02 09:00", "impression", "display", "cmp_d"),
        ("i2", "pI", "2024-03-10 09:55", "click", "paid_search", "cmp_s"),
        ("b1", "pB", "2024-03-02 09:00", "click", "paid_search", "cmp_s"),
        ("b2", "pB", "2024-03-10 09:55", "click", "paid_search", "cmp_brand"),
        ("d1", "pD", "2024-03-02 09:00", "click", "paid_social", "cmp_so"),
        ("d2", "pD", "2024-03-10 09:55", "visit", "direct", None),
    ]
    conversions = [
        ("lead:LI", "lead", "pI", "2024-03-10 10:00", 0.0, "LI"),
        ("lead:LB", "lead", "pB", "2024-03-10 10:00", 0.0, "LB"),
        ("lead:LD", "lead", "pD", "2024-03-10 10:00", 0.0, "LD"),
    ]
    con = make_warehouse(touches, conversions)
    at.build_paths(con, "lead", *MARCH, at.AttributionParams())
    assert _model_paths(con) == {
        "c:lead:LI": "display>paid_search",
        "c:lead:LB": "paid_search",
        "c:lead:LD": "paid_social",
    }
