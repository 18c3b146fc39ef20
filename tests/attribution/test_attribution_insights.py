"""Insight tables on a hand-computed month (March 2024, prior month February)."""

from __future__ import annotations

from datetime import date

import pandas as pd
import pytest
from attribution_fixtures import make_warehouse

from gtm_assets.analytics import attribution as at
from gtm_assets.analytics import attribution_insights as ins


@pytest.fixture(scope="module")
def month():
    touches = [
        ("t1", "p1", "2024-03-01 10:00", "email_click", "email", "cmp_e"),
        ("t2", "p1", "2024-03-08 10:00", "click", "paid_search", "cmp_s"),
        ("t2b", "p1", "2024-03-09 10:00", "click", "paid_search", "cmp_s"),
        ("t3", "p2", "2024-03-02 09:00", "impression", "display", "cmp_d"),
        ("t4", "p3", "2024-03-03 09:00", "click", "paid_search", None),
        ("t5", "p6", "2024-02-03 09:00", "click", "paid_search", None),
        ("t6", "p7", "2024-03-01 09:00", "click", "paid_search", None),
        ("t7", "p7", "2024-03-02 09:00", "visit", "email", None),
    ]
    conversions = [
        ("w1", "won", "p1", "2024-03-15 10:00", 1000.0),
        ("l2", "lead", "p2", "2024-03-10 09:00", 0.0),
        ("l6", "lead", "p6", "2024-02-05 09:00", 0.0),
        ("l7", "lead", "p7", "2024-03-05 09:00", 0.0),
    ]
    con = make_warehouse(touches, conversions)
    return at.attribute_month(con, date(2024, 3, 1), date(2024, 4, 1), at.AttributionParams())


def test_path_stats_with_prior_month(month):
    stats = month.insights["path_stats"].set_index(["conversion_type", "metric"])
    lead_days = stats.loc[("lead", "days_to_conversion")]
    # March leads: l2 8 days after its touch, l7 4 days after its first touch
    assert lead_days["paths"] == 2
    assert lead_days["median"] == pytest.approx(6.0)
    assert lead_days["p90"] == pytest.approx(4 + 0.9 * 4)
    assert lead_days["prior_median"] == pytest.approx(2.0)  # February: l6, 2 days
    assert lead_days["median_change"] == pytest.approx(4.0)
    assert lead_days["median_change_pct"] == pytest.approx(200.0)  # percent
    lengths = stats.loc[("lead", "path_length")]
    assert lengths["mean"] == pytest.approx(1.5) and lengths["prior_mean"] == pytest.approx(1.0)
    won = stats.loc[("won", "path_length")]
    assert won["median"] == 3 and pd.isna(won["prior_median"])  # no won deal in February


def test_top_paths_collapse_repeats_and_count_nulls(month):
    top = month.insights["top_paths"]
    won = top[top["conversion_type"] == "won"].iloc[0]
    assert (won["path"], won["steps"], won["conversions"]) == ("email > paid_search", 2, 1)
    lead = top[top["conversion_type"] == "lead"].set_index("path")
    # lead null paths in March: p1 (email > paid_search, repeats collapsed), p3 (paid_search)
    assert lead.loc["display", "conversion_rate"] == 1.0
    assert lead.loc["paid_search > email", "share_of_conversions"] == 0.5
    assert list(lead["rank"]) == [1, 2]


def test_transition_matrix(month):
    tr = month.insights["transitions"]
    lead = tr[tr["conversion_type"] == "lead"].set_index(["from_channel", "to_channel"])
    # lead paths: display(conv), paid_search>email(conv), email>paid_search(null), paid_search(null)
    assert lead.loc[("(start)", "paid_search"), "probability"] == pytest.approx(0.5)
    assert lead.loc[("paid_search", "email"), "probability"] == pytest.approx(1 / 3)
    assert lead.loc[("paid_search", "(null)"), "transitions"] == 2
    assert lead.loc[("email", "(conversion)"), "probability"] == pytest.approx(0.5)
    sums = tr.groupby(["conversion_type", "from_channel"])["probability"].sum()
    assert sums.to_numpy() == pytest.approx(1.0)


def test_model_comparison_and_disagreement(month):
    cmp = month.insights["model_comparison"]
    won = cmp[cmp["conversion_type"] == "won"].set_index("channel")
    assert won.loc["email", "share_first_touch"] == 1.0
    assert won.loc["email", "share_last_touch"] == 0.0
    assert won.loc["email", "spread"] == 1.0
    assert won.loc["email", "most_generous_model"] == "first_touch"
    dis = month.insights["model_disagreement"].set_index(["conversion_type", "model_a", "model_b"])
    assert dis.loc[("won", "first_touch", "last_touch"), "tv_distance"] == pytest.approx(1.0)
    # won path email > paid_search > paid_search: linear gives email 1/3. Markov over the
    # won paths (w1 converts; nulls display, paid_search, paid_search > email): P(conv) =
    # 1/4, without email 1/6 (RE 1/3), without paid_search 0 (RE 1) -> email 1/4.
    assert won.loc["email", "share_markov"] == pytest.approx(0.25)
    assert dis.loc[("won", "linear", "markov"), "tv_distance"] == pytest.approx(1 / 12)
    headlines = ins.disagreement_headlines(cmp, month.insights["model_disagreement"])
    won_line = next(h for h in headlines if h.startswith("won: models disagree most on"))
    # shapley splits w1 50/50 (v({email, paid_search}) = 1/2, singletons 0); last touch
    # gives paid_search everything
    assert won_line.endswith(
        "Against last touch, Shapley moves 50% of the credit, most from paid_search (-50%) "
        "to email (+50%)."
    )
