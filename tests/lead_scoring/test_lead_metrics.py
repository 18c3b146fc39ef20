"""Lead-scoring metrics and model against hand computations and independent references."""

from __future__ import annotations

import itertools

import numpy as np
import pandas as pd
import pytest
import statsmodels.api as sm
from statsmodels.stats.proportion import proportion_confint

from gtm_assets.analytics import lead_scoring as ls


def test_auc_brute_force_with_ties() -> None:
    rng = np.random.default_rng(1)
    y = rng.random(60) < 0.4
    p = np.round(rng.random(60), 1)  # many ties
    pairs = [1.0 if a > b else 0.5 if a == b else 0.0 for a, b in itertools.product(p[y], p[~y])]
    assert ls.auc(y, p) == pytest.approx(np.mean(pairs))
    assert ls.auc(np.ones(3), np.ones(3)) is None


def test_brier_ece_reliability_hand() -> None:
    y = np.array([1, 0, 0, 1, 1])
    p = np.array([0.05, 0.15, 0.12, 0.95, 0.85])
    assert ls.brier(y, p) == pytest.approx(np.mean((p - y) ** 2))
    # bins: [0,.1): {0.05 -> y 1}; [.1,.2): {0.15, 0.12 -> 0, 0}; [.8,.9): {0.85 -> 1}; [.9,1]: {0.95 -> 1}
    expected = (1 * 0.95 + 2 * 0.135 + 1 * 0.15 + 1 * 0.05) / 5
    assert ls.ece(y, p) == pytest.approx(expected)
    table = ls.reliability_table(y, p)
    assert table["n"].tolist() == [1, 2, 0, 0, 0, 0, 0, 0, 1, 1]
    assert table.loc[1, "mean_predicted"] == pytest.approx(0.135)
    assert ls.ece(y, np.array([1.0, 0, 0, 1, 1])) == pytest.approx(0.0)


def test_wilson_matches_statsmodels() -> None:
    for k, n in [(0, 10), (7, 20), (50, 50), (183, 400)]:
        lo, hi = ls.wilson_interval(k, n)
        ref = proportion_confint(k, n, alpha=0.05, method="wilson")
        assert (lo, hi) == pytest.approx(ref)


def test_lift_by_decile_hand() -> None:
    # 20 leads, scores descending; the top 4 (deciles 1-2) all convert, then 2 of the rest
    p = np.linspace(1, 0.05, 20)
    y = np.array([1, 1, 1, 1] + [0, 0, 0, 1] + [0] * 11 + [1])
    table = ls.lift_by_decile(y, p)
    assert table["n"].tolist() == [2] * 10
    base = 6 / 20
    assert table.loc[0, "lift"] == pytest.approx(1.0 / base)
    assert table.loc[0, "cumulative_capture"] == pytest.approx(2 / 6)
    assert table.loc[9, "observed_rate"] == pytest.approx(0.5)
    assert table["cumulative_capture"].iloc[-1] == pytest.approx(1.0)


def test_psi_hand() -> None:
    ref = np.arange(100) / 100.0  # quartile edges at 0.2475, 0.495, 0.7425 with bins=4
    assert ls.psi(ref, ref, bins=4) == pytest.approx(0.0)
    cur = np.r_[np.full(50, 0.1), np.full(50, 0.9)]  # shares 0.5, 0, 0, 0.5
    r = np.array([0.25, 0.25, 0.25, 0.25])
    c = np.array([0.5, 1e-4, 1e-4, 0.5])
    assert ls.psi(ref, cur, bins=4) == pytest.approx(np.sum((c - r) * np.log(c / r)))


def test_threshold_rules_hand() -> None:
    p = np.array([0.9, 0.8, 0.7, 0.6, 0.5, 0.4, 0.3, 0.2])
    y = np.array([1, 1, 0, 1, 0, 0, 1, 0])
    s = ls.ScoringSettings(target_precision=0.75, min_mqls_for_threshold=2)
    # cumulative precision: 1, 1, .67, .75, .6, .5, .57, .5 -> lowest cut with >= .75 is 0.6
    t, _ = ls.choose_threshold(y, p, months=2, settings=s)
    assert t == pytest.approx(0.6)
    s_cap = ls.ScoringSettings(mql_rule="sales_capacity", monthly_sales_capacity=3)
    t, _ = ls.choose_threshold(y, p, months=2, settings=s_cap)  # 6 best over 2 months
    assert t == pytest.approx(0.4)
    unreachable = ls.ScoringSettings(target_precision=0.99, min_mqls_for_threshold=3)
    t, note = ls.choose_threshold(y, p, months=2, settings=unreachable)
    assert t == pytest.approx(0.6) and "not reachable" in note  # best rate among >= 3 MQLs
    table = ls.threshold_table(y, p, 2, [0.6], crm_mql=np.array([1, 0, 1, 0, 1, 0, 1, 0]))
    assert table.loc[0, "mqls_per_month"] == pytest.approx(2.0)
    assert table.loc[0, "sqls_per_month"] == pytest.approx(1.5)
    assert table.loc[0, "recall"] == pytest.approx(3 / 4)
    assert table.loc[1, "precision"] == pytest.approx(2 / 4)
    assert ls.grade(np.array([75, 60, 59, 40, 20, 3]), (60, 40, 20)).tolist() == [
        "A",
        "A",
        "B",
        "B",
        "C",
        "D",
    ]


def _design(n: int, seed: int) -> tuple[pd.DataFrame, np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    df = pd.DataFrame(
        {
            "industry": rng.choice(["a", "b", "c"], n, p=[0.45, 0.35, 0.2]),
            "company_size_band": "50-199",
            "seniority": rng.choice(["ic", "vp"], n, p=[0.6, 0.4]),
            "country": "US",
            "channel": "email",
            "company_size": rng.integers(1, 5000, n),
        }
    )
    for ph in ls.PHASES:
        for t in ls.TOUCH_TYPES:
            df[f"{ph}_{t}"] = 0.0
    df["pre_visit"] = rng.poisson(2, n).astype(float)
    df["post_email_click"] = rng.poisson(1, n).astype(float)
    eta = (
        -1.0
        + 0.9 * np.log1p(df["pre_visit"])
        + 0.7 * np.log1p(df["post_email_click"])
        + np.where(df["seniority"] == "vp", 0.8, 0.0)
        - np.where(df["industry"] == "c", 0.6, 0.0)
    )
    p = 1 / (1 + np.exp(-eta))
    y = (rng.random(n) < p).astype(int)
    return df, y, p.to_numpy()


def test_ridge_matches_direct_minimisation() -> None:
    from scipy.optimize import minimize

    df, y, _ = _design(1000, 8)
    alpha = 0.05
    model = ls.fit_lead_model(df, y, ls.ScoringSettings(alpha=alpha, min_level_count=1))
    x = sm.add_constant(model.spec.matrix(df), has_constant="add")

    def objective(b: np.ndarray) -> float:
        eta = x @ b
        loglik = np.sum(y * eta - np.logaddexp(0, eta)) / len(y)
        return -loglik + alpha / 2 * np.sum(b[1:] ** 2)  # intercept not penalised

    ref = minimize(objective, np.zeros(x.shape[1]), method="L-BFGS-B", options={"gtol": 1e-10})
    np.testing.assert_allclose(model.params, ref.x, atol=2e-3)
    # duplicated columns (the total equals the visits here) were dropped before fitting
    assert "log_pre_total" not in model.spec.columns and "log_pre_visit" in model.spec.columns


def test_model_recovers_known_logistic_out_of_sample() -> None:
    df, y, _ = _design(6000, 5)
    new, y_new, p_true = _design(4000, 6)
    model = ls.fit_lead_model(df, y, ls.ScoringSettings())
    p = model.predict(new)
    # on fresh leads the fitted score ranks nearly as well as the true probability and is
    # calibrated; it cannot beat the truth by more than sampling noise
    assert ls.auc(y_new, p) >= 0.98 * ls.auc(y_new, p_true)
    assert ls.auc(y_new, p) <= ls.auc(y_new, p_true) + 0.01
    assert ls.ece(y_new, p) < 0.03
    # with a negligible penalty the estimator recovers the true effects (the default ridge
    # penalty shrinks them on purpose, which helps out of time but biases coefficients)
    loose = ls.fit_lead_model(df, y, ls.ScoringSettings(alpha=1e-5))
    factors = loose.factors().set_index("feature")
    vp = factors.loc["seniority=vp", "coefficient_per_unit"]
    # (the size x seniority interaction columns absorb a little of the vp effect: abs=0.25)
    assert vp == pytest.approx(0.8, abs=0.25)
    assert factors.loc["industry=c", "coefficient_per_unit"] == pytest.approx(-0.6, abs=0.25)


def test_ridge_penalty_shrinks() -> None:
    df, y, _ = _design(800, 4)
    loose = ls.fit_lead_model(df, y, ls.ScoringSettings(alpha=0.0))
    tight = ls.fit_lead_model(df, y, ls.ScoringSettings(alpha=0.5))
    assert np.abs(tight.params[1:]).sum() < 0.5 * np.abs(loose.params[1:]).sum()


def test_touch_feature_frame_pivots_and_zero_fills() -> None:
    counts = pd.DataFrame(
        {
            "lead_id": ["A", "A", "B", "B"],
            "phase": ["pre", "post", "pre", "later"],
            "touch_type": ["visit", "visit", "click", "visit"],
            "n": [3, 1, 2, 9],
        }
    )
    wide = ls.touch_feature_frame(pd.Series(["A", "B", "C"]), counts).set_index("lead_id")
    assert wide.loc["A", "pre_visit"] == 3 and wide.loc["A", "post_visit"] == 1
    assert wide.loc["B", "pre_click"] == 2 and wide.loc["B", "post_visit"] == 0
    assert wide.loc["C"].sum() == 0


def test_feedback_and_source_comparison() -> None:
    fb = pd.DataFrame(
        {
            "lead_id": ["a", "b", "c", "d"],
            "verdict": ["accepted", "Rejected ", "rejected", "rejected"],
            "reason": ["fit", "No budget", " no budget", None],
        }
    )
    out = ls.feedback_summary(fb, pd.DataFrame({"lead_id": ["a", "b"], "score": [80, 20]}))
    # one reason, shown as written (a tie of spellings: the first in sort order)
    assert set(out.reason) == {"(all)", "fit", "No budget", "(no reason)"}
    rej = out[(out.verdict == "rejected") & (out.reason == "No budget")].iloc[0]
    assert rej.n == 2 and rej.share_of_verdict == pytest.approx(2 / 3)
    assert rej.mean_score == pytest.approx(20)
    total = out[(out.verdict == "rejected") & (out.reason == "(all)")].iloc[0]
    assert total.share_of_verdict == pytest.approx(0.75)
    leads = pd.DataFrame(
        {
            "lead_source": ["Google", "Google", "Google", "Webinar"],
            "first_channel": ["paid_search", "paid_search", "email", None],
        }
    )
    cmp_ = ls.source_comparison(leads).set_index(["lead_source", "first_channel"])
    assert cmp_.loc[("Google", "paid_search"), "share_of_source"] == pytest.approx(2 / 3)
    assert bool(cmp_.loc[("Google", "paid_search"), "is_dominant"])
    assert cmp_.loc[("Webinar", "none"), "leads"] == 1


def test_platt_recovers_known_miscalibration() -> None:
    rng = np.random.default_rng(11)
    logit_true = rng.normal(-0.5, 1.5, 20000)
    y = (rng.random(len(logit_true)) < 1 / (1 + np.exp(-logit_true))).astype(int)
    # an over-confident, shifted score: logit_model = 1 + 2 x logit_true
    p_model = 1 / (1 + np.exp(-(1 + 2 * logit_true)))
    a, b = ls.fit_platt(y, p_model)
    # logit_true = (logit_model - 1) / 2 -> a = -0.5, b = 0.5
    assert a == pytest.approx(-0.5, abs=0.05) and b == pytest.approx(0.5, abs=0.03)
    fixed = ls.apply_platt(p_model, (a, b))
    assert ls.ece(y, fixed) < 0.02 < ls.ece(y, p_model)


def test_crm_rule_keeps_the_recommendation_when_it_dominates_the_score():
    # validation leads: the CRM rule marks exactly the 4 SQLs; the score is noise
    y = np.array([1, 1, 1, 1, 0, 0, 0, 0, 0, 0], dtype=float)
    crm = y.astype(bool)
    p = np.array([0.9, 0.1, 0.2, 0.1, 0.8, 0.7, 0.9, 0.6, 0.1, 0.2])
    table = ls.threshold_table(y, p, 1, [0.5], crm_mql=crm, recommended=0.5)
    chosen = table[table.is_recommended]
    assert list(chosen.rule) == ["crm mql stage"]
    # a score more precise than a looser CRM rule keeps the recommendation
    loose_crm = crm | (np.arange(10) >= 8)
    table = ls.threshold_table(y, y * 0.9, 1, [0.5], crm_mql=loose_crm, recommended=0.5)
    assert list(table[table.is_recommended].rule) == ["recommended: score >= 50"]


def test_score_without_signal_is_not_recommended_over_the_crm_rule():
    """6 SQLs among 40 validation leads and a score that ranks them below the rest (AUC
    about 0.37): "score >= 0" would find more SQLs than the CRM rule only by sending every
    lead; the CRM rule stays. The same score with its ranking reversed has signal."""
    rng = np.random.default_rng(5)
    y = np.zeros(40)
    y[:6] = 1
    p = np.where(y == 1, rng.uniform(0.0, 0.5, 40), rng.uniform(0.1, 0.6, 40))
    crm = np.zeros(40, bool)
    crm[[0, 1, 10, 11, 12, 13, 14, 15, 16, 17, 18, 19, 20]] = True
    assert ls.auc(y, p) < 0.5 and not ls.has_signal(y, p)
    table = ls.threshold_table(y, p, 2, [0.05], crm_mql=crm, recommended=0.0)
    assert list(table[table.is_recommended].rule) == ["crm mql stage"]
    assert ls.has_signal(y, 1 - p)
    # by hand: U = AUC x pairs; scipy's one-sided p-value decides
    from scipy import stats

    u = stats.mannwhitneyu(p[y == 1], p[y == 0], alternative="greater")
    assert u.statistic == pytest.approx(ls.auc(y, p) * 6 * 34)


def test_feedback_reason_keeps_its_most_frequent_spelling() -> None:
    fb = pd.DataFrame(
        {
            "lead_id": list("abcd"),
            "verdict": ["rejected"] * 4,
            "reason": ["No Budget", "no budget ", " No Budget", "=cmd|' /C calc'!A0"],
        }
    )
    out = ls.feedback_summary(fb).set_index("reason")
    assert out.loc["No Budget", "n"] == 3
    assert out.loc["=cmd|' /C calc'!A0", "n"] == 1  # free text as written (case kept)


def test_rule_in_force_follows_the_recommendation() -> None:
    as_of = pd.Timestamp("2025-09-01")
    scores = pd.DataFrame({"lead_id": ["a", "b", "c"], "is_mql": [True, False, False]})
    scored = pd.DataFrame(
        {"mql_at": pd.to_datetime(["2025-08-03", "2025-08-20", "2025-09-05"])}  # c: too late
    )
    score_wins = pd.DataFrame(
        {"rule": ["score >= 30", ls.CRM_RULE], "is_recommended": [True, False]}
    )
    out = ls.with_rule_in_force(scores, scored, score_wins, as_of)
    assert list(out["mql_rule"]) == ["score"] * 3
    assert list(out["is_mql_by_rule"]) == [True, False, False]
    crm_wins = score_wins.assign(is_recommended=[False, True])
    out = ls.with_rule_in_force(scores, scored, crm_wins, as_of)
    assert list(out["mql_rule"]) == [ls.CRM_RULE] * 3
    assert list(out["is_mql_by_rule"]) == [True, True, False]
    assert list(out["is_mql"]) == [True, False, False]  # the score's own flag is kept


def test_crm_rule_benchmark_uses_the_crm_mql_stage_not_the_funnel_backfill():
    """A lead that went straight to SQL reached MQL in the funnel's sense but was never an
    MQL under the CRM's rule: the benchmark must not count it, or the CRM rule shows a
    recall of 1 by construction."""
    from gtm_assets.analytics.lead_scoring import label_leads

    t = pd.Timestamp
    leads = pd.DataFrame(
        {
            "lead_id": ["A", "B", "C"],
            "lead_at": [t("2025-01-05")] * 3,
            "mql_at": [t("2025-01-08"), t("2025-01-10"), pd.NaT],  # B: backfilled from SQL
            "crm_mql_at": [t("2025-01-08"), pd.NaT, pd.NaT],
            "sql_at": [t("2025-01-12"), t("2025-01-10"), pd.NaT],
        }
    )
    labelled = label_leads(leads, t("2025-06-01"), 90).set_index("lead_id")
    assert labelled["y"].to_dict() == {"A": 1, "B": 1, "C": 0}
    assert labelled["crm_mql"].to_dict() == {"A": 1, "B": 0, "C": 0}


def _touch_test_frames(after_per_lead: int) -> tuple[pd.DataFrame, pd.DataFrame]:
    """40 leads that reached SQL 4 days into a 10-day post window (4 days watched before SQL,
    6 after), each with 4 touches before SQL and ``after_per_lead`` after it."""
    lead_at = pd.Timestamp("2024-03-01")
    leads = pd.DataFrame(
        {
            "lead_id": [f"L{i}" for i in range(40)],
            "lead_at": lead_at,
            "sql_at": lead_at + pd.Timedelta(days=4),
        }
    )
    counts = pd.DataFrame(
        {
            "lead_id": list(leads["lead_id"]) * 2,
            "phase": "post",
            "touch_type": "visit",
            "after_sql": [False] * 40 + [True] * 40,
            "n": [4] * 40 + [after_per_lead] * 40,
        }
    )
    return counts, leads


def test_post_sql_touch_test_by_hand() -> None:
    from scipy import stats

    as_of = pd.Timestamp("2024-04-01")
    # same rate after SQL (1 a day before, 6 in 6 days after): kept
    counts, leads = _touch_test_frames(after_per_lead=6)
    kept = ls.post_sql_touch_test(counts, leads, post_days=10, as_of=as_of)
    assert (kept.leads, kept.touches_before, kept.touches_after) == (40, 160, 240)
    assert kept.days_before == pytest.approx(160) and kept.days_after == pytest.approx(240)
    assert kept.rate_ratio == pytest.approx(1.0) and not kept.cut
    # twice the rate after SQL: 480 of 640 touches where equal rates would put 60%
    counts, leads = _touch_test_frames(after_per_lead=12)
    cut = ls.post_sql_touch_test(counts, leads, post_days=10, as_of=as_of)
    assert cut.rate_ratio == pytest.approx(2.0) and cut.cut
    assert cut.p_value == pytest.approx(stats.binomtest(480, 640, 0.6, "greater").pvalue)
    assert "2.00x as fast after SQL" in cut.describe()
    # windows still open at the as-of moment, or too few leads: no verdict, cut (cannot leak)
    early = ls.post_sql_touch_test(counts, leads, post_days=10, as_of=pd.Timestamp("2024-03-05"))
    assert early.leads == 0 and early.rate_ratio is None and early.cut
    few = ls.post_sql_touch_test(counts, leads.head(10), post_days=10, as_of=as_of)
    assert few.rate_ratio is None and few.cut


def test_validation_volumes_are_per_month_of_leads_actually_held_out():
    """Data to 31 August, a 60-day label window: leads to 2 July are mature, so "June and
    July" hold 32 days of leads, not two months."""
    from datetime import date

    import pandas as pd

    from gtm_assets.analytics.lead_scoring import validation_span_months

    span = validation_span_months(date(2025, 6, 1), pd.Timestamp("2025-09-01"), 60)
    assert span == pytest.approx(32 / (365.25 / 12))
    # 100 validation MQLs over that span are about 95 a month, not 50
    y = np.array([1] * 40 + [0] * 60, dtype=float)
    p = np.linspace(0.99, 0.01, 100)
    table = ls.threshold_table(y, p, span, [0.005])
    assert table.loc[0, "mqls_per_month"] == pytest.approx(100 / span)


def test_a_touch_type_sales_drive_is_found_under_uniform_nurture_email() -> None:
    """Weekly nurture email at the same pace before and after SQL (40 leads x 20 before, 30
    after) hides visits that come 3x as fast after SQL (1 before, 4.5 after): the pooled
    ratio is about 1.1, the visit test finds them and the touches after SQL are left out."""
    from scipy import stats

    counts, leads = _touch_test_frames(after_per_lead=0)
    counts["n"] = [1] * 40 + [4] * 20 + [5] * 20  # visits: 40 before SQL, 180 after
    email = counts.assign(touch_type="email_open", n=[20] * 40 + [30] * 40)
    both = pd.concat([counts, email], ignore_index=True)
    test = ls.post_sql_touch_test(both, leads, post_days=10, as_of=pd.Timestamp("2024-04-01"))
    assert test.cut and test.driver_type == "visit"
    assert test.rate_ratio == pytest.approx((1200 + 180) / 240 / ((800 + 40) / 160))
    expected_p = stats.binomtest(180, 220, 0.6, "greater").pvalue * 2
    assert test.driver_p_value == pytest.approx(expected_p)
    assert test.driver_ratio == pytest.approx((180 / 240) / (40 / 160))
    assert "visit touches came 3.00x as fast after SQL" in test.describe()
    # visits that come only after SQL
    only_after = both.assign(
        n=both["n"].where(~((both.touch_type == "visit") & ~both.after_sql), 0)
    )
    none_before = ls.post_sql_touch_test(
        only_after, leads, post_days=10, as_of=pd.Timestamp("2024-04-01")
    )
    assert "visit touches came only after SQL" in none_before.describe()
    # email alone at an even pace: kept
    alone = ls.post_sql_touch_test(email, leads, post_days=10, as_of=pd.Timestamp("2024-04-01"))
    assert not alone.cut and alone.driver_type is None
