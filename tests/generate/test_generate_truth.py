"""The recorded truth is internally consistent and matches the process that generated the data."""

from __future__ import annotations

from itertools import combinations
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from scipy.stats import chisquare

from gtm_assets.generate import generate
from gtm_assets.generate import journeys as jr
from gtm_assets.generate.params import CH, CHANNELS, PAID_CHANNELS, SPECS, UTM_VARIANTS
from gtm_assets.generate.truth import (
    adstocked_response,
    shapley_bruteforce,
    shapley_enumerated,
    shapley_normalised,
    true_period_response,
    true_response,
)

END = "2025-06"


@pytest.fixture(scope="module")
def world(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("truth") / "raw"
    generate(out, months=3, end_month=END, scale=0.3, seed=11)
    return out


@pytest.fixture(scope="module")
def curves(world: Path) -> pd.DataFrame:
    return pd.read_csv(world / "truth" / "response_curves.csv")


# ---------------------------------------------------------------- Shapley


def test_shapley_two_channels_by_hand() -> None:
    # q1 = 0.5, q2 = 0.2: v1 = .5, v2 = .2, v12 = 1 - .5 * .8 = .6
    # phi1 = (v1 + v12 - v2) / 2 = .45, phi2 = (v2 + v12 - v1) / 2 = .15 -> split .75 / .25
    L = np.log(np.array([[0.5, 0.8]]))
    np.testing.assert_allclose(shapley_normalised(L), [[0.75, 0.25]], atol=1e-12)
    np.testing.assert_allclose(shapley_enumerated(L), [[0.75, 0.25]], atol=1e-12)


def test_shapley_fast_equals_enumeration_and_textbook() -> None:
    rng = np.random.default_rng(0)
    L = np.log1p(-rng.uniform(0, 0.4, (300, 6)))
    L[rng.random(L.shape) < 0.4] = 0.0  # channels absent for the person (null players)
    fast, enum = shapley_normalised(L), shapley_enumerated(L)
    np.testing.assert_allclose(fast, enum, atol=1e-12)
    players = list(range(6))
    for i in range(5):
        x = np.exp(L[i])
        values = {
            frozenset(S): 1 - np.prod(x[list(S)])
            for r in range(7)
            for S in combinations(players, r)
        }
        ref = shapley_bruteforce(values, players)
        vN = values[frozenset(players)]
        np.testing.assert_allclose(fast[i], [ref[p] / vN for p in players], atol=1e-12)
    assert np.allclose(fast.sum(axis=1)[(L != 0).any(axis=1)], 1.0)
    assert (fast[L == 0] == 0).all()


# ---------------------------------------------------------------- channel shares


def test_channel_shares_sum_to_one_and_count_conversions(world: Path) -> None:
    cs = pd.read_csv(world / "truth" / "channel_shares.csv")
    g = cs.groupby(["month", "conversion_type"])
    np.testing.assert_allclose(g["true_share"].sum(), 1.0, atol=1e-6)
    np.testing.assert_allclose(g["true_conversions"].sum(), g["conversions"].first(), rtol=1e-6)
    assert (cs["true_share"] >= 0).all()
    assert (cs.loc[cs["channel"] == "direct", "true_share"] == 0).all()
    leads = pd.read_csv(world / "leads.csv")
    lm = (
        pd.to_datetime(leads["created_at"], utc=True, format="ISO8601")
        .dt.strftime("%Y-%m")
        .value_counts()
    )
    lead_rows = cs[cs["conversion_type"] == "lead"].groupby("month")["conversions"].first()
    assert lead_rows.to_dict() == lm.sort_index().to_dict()
    opps = pd.read_csv(world / "opportunities.csv")
    om = pd.to_datetime(opps["created_at"]).dt.strftime("%Y-%m").value_counts().sort_index()
    assert (
        cs[cs["conversion_type"] == "opportunity"].groupby("month")["conversions"].first().to_dict()
        == om.to_dict()
    )
    won = opps[opps["stage"] == "closed_won"]
    wm = pd.to_datetime(won["closed_at"]).dt.strftime("%Y-%m").value_counts().sort_index()
    assert (
        cs[cs["conversion_type"] == "won"].groupby("month")["conversions"].first().to_dict()
        == wm.to_dict()
    )


def _channel_of_pair(source: str, medium: str) -> str | None:
    for c, variants in UTM_VARIANTS.items():
        for s, m, _w in variants:
            if s == source and m == medium:
                return c
    return None


def test_last_touch_overcredits_direct_and_email(world: Path) -> None:
    """The world is built so that naive last touch is wrong in the known directions."""
    tp = pd.read_csv(world / "touchpoints.csv", keep_default_na=False, dtype=str)
    leads = pd.read_csv(world / "leads.csv")
    leads["created"] = pd.to_datetime(
        leads["created_at"], utc=True, format="ISO8601"
    ).dt.tz_localize(None)
    tp["ts"] = pd.to_datetime(tp["ts"])
    pairs = tp[["utm_source", "utm_medium"]].drop_duplicates()
    pairs["true_ch"] = [
        _channel_of_pair(s, m) for s, m in zip(pairs.utm_source, pairs.utm_medium, strict=True)
    ]
    tp = tp.merge(pairs, on=["utm_source", "utm_medium"], how="left")
    tp = tp.merge(leads[["person_id", "created"]], on="person_id")
    before = tp[tp["ts"] < tp["created"]].sort_values(["person_id", "ts"])
    last = before.groupby("person_id").tail(1)["true_ch"].value_counts(normalize=True)
    after = (tp["ts"] > tp["created"]).sum()
    assert after > 0.3 * len(leads)  # post-conversion touches exist and must be excluded
    cs = pd.read_csv(world / "truth" / "channel_shares.csv")
    true = cs[cs.conversion_type == "lead"].groupby("channel")["true_conversions"].sum()
    true = true / true.sum()
    assert last.get("direct", 0) > 0.25 and true["direct"] == 0
    assert last.get("email", 0) > 1.5 * true["email"]
    # paths are multi-touch, with long tails
    n = before.groupby("person_id").size()
    assert n.median() >= 3 and n.quantile(0.95) >= 15 and n.min() >= 1


# ---------------------------------------------------------------- response curves


def test_response_curve_file_and_helpers(curves: pd.DataFrame) -> None:
    assert set(curves["channel"]) == set(PAID_CHANNELS)
    assert set(curves["metric"]) == {"conversions", "revenue"}
    assert (curves["grain"] == "day").all()
    r = curves[(curves.channel == "display") & (curves.metric == "conversions")].iloc[0]
    # at s = K the Hill curve is exactly half of top
    assert true_response("display", r["K"], "conversions", curves) == pytest.approx(r["top"] / 2)
    assert true_response("display", 0.0, "conversions", curves) == 0.0
    np.testing.assert_allclose(
        true_period_response("video", 30 * 800.0, 30, "revenue", curves),
        30 * true_response("video", 800.0, "revenue", curves),
    )
    steady = adstocked_response("video", np.full(400, 900.0), "conversions", curves)
    assert steady[-1] == pytest.approx(
        true_response("video", 900.0, "conversions", curves), rel=1e-9
    )
    with pytest.raises(KeyError):
        true_response("organic_search", 10.0, "conversions", curves)
    # some channels near saturation at their mean spend, others far from it
    conv = curves[curves.metric == "conversions"].set_index("channel")
    sat = conv["spend_mean"] ** conv["n"] / (
        conv["spend_mean"] ** conv["n"] + conv["K"] ** conv["n"]
    )
    assert sat.max() > 0.7 and sat.min() < 0.3
    # spend varies enough to identify the curves
    assert (conv["spend_p95"] / conv["spend_p05"]).min() > 1.5


@pytest.mark.parametrize("channel", ["paid_search", "display", "video"])
def test_true_response_matches_monte_carlo_of_the_process(
    curves: pd.DataFrame, channel: str
) -> None:
    """Re-simulate the generator's own exposure/ticket process at two constant spend levels."""
    scale = 0.3  # the fixture's scale: K and top in the file are scaled with it
    row = curves[(curves.channel == channel) & (curves.metric == "conversions")].iloc[0]
    days = pd.date_range("2025-01-01", periods=300, freq="D")
    for spend in (0.5 * row["K"], 2.0 * row["K"]):
        ch_spend = np.zeros((len(PAID_CHANNELS), len(days)))
        ch_spend[PAID_CHANNELS.index(channel)] = spend
        mu = jr.exposure_means(ch_spend, days, scale)
        mu[[CH[c] for c in CHANNELS if c != channel]] = 0.0
        mu[CH["organic_search"]] = 5.0  # email needs someone to reach; irrelevant here
        rng = np.random.default_rng(123)
        ex = jr.simulate_exposures(rng, mu, {}, {}, scale)
        m = ex.ch == CH[channel]
        per_day = ex.fired[m].sum() / len(days)
        expected = (
            row["top_structural_tickets"]
            * spend ** row["n"]
            / (spend ** row["n"] + row["K"] ** row["n"])
        )
        se = np.sqrt(expected / len(days))  # Poisson-thinned counts
        assert abs(per_day - expected) < 4 * se, (channel, spend, per_day, expected)
        # and the file's conversions curve is the structural one times the realisation
        assert true_response(channel, spend, "conversions", curves) == pytest.approx(
            expected * row["realisation"], rel=1e-5
        )


def test_realised_causal_conversions_follow_the_curves(world: Path, curves: pd.DataFrame) -> None:
    """Over the window, each channel's Shapley credit ~ the adstocked curve summed over days."""
    sd = pd.read_csv(world / "truth" / "spend_daily.csv")
    cs = pd.read_csv(world / "truth" / "channel_shares.csv")
    credit = cs[cs.conversion_type == "lead"].groupby("channel")["true_conversions"].sum()
    for c in ("paid_search", "paid_social", "events"):
        s = sd[sd.channel == c].sort_values("date")["spend"].to_numpy()
        expected = adstocked_response(c, s, "conversions", curves).sum()
        assert credit[c] == pytest.approx(expected, rel=0.15), c
    # realised tickets are consistent with expected tickets day by day (aggregate)
    tot = sd.groupby("channel")[["expected_tickets", "realised_tickets"]].sum()
    for c in PAID_CHANNELS:
        e, r = tot.loc[c, "expected_tickets"], tot.loc[c, "realised_tickets"]
        assert abs(r - e) < 4 * np.sqrt(e) + 1, c


# ---------------------------------------------------------------- lead quality


def test_lead_quality_probabilities_and_outcomes(world: Path) -> None:
    lq = pd.read_csv(world / "truth" / "lead_quality.csv")
    p = lq["true_sql_probability"]
    assert ((p > 0) & (p < 1)).all()
    assert 0.1 < p.mean() < 0.45 and p.std() > 0.1
    n = len(lq)
    assert abs(lq["reached_sql"].mean() - p.mean()) < 4 * np.sqrt((p * (1 - p)).sum()) / n
    # calibration by quintile of p
    lq["bin"] = pd.qcut(p, 5, labels=False)
    for _b, g in lq.groupby("bin"):
        se = np.sqrt((g.true_sql_probability * (1 - g.true_sql_probability)).sum()) / len(g)
        assert abs(g.reached_sql.mean() - g.true_sql_probability.mean()) < 4.5 * se + 1e-9
    # the CRM's MQL rule is imperfect in both directions
    rule = lq["crm_rule_mql"] == 1
    assert 0.1 < lq.loc[rule, "reached_sql"].mean() < 0.8
    assert lq.loc[~rule, "reached_sql"].sum() > 0
    # observed SQLs are a subset of eventual SQLs (right censoring)
    assert (lq["sql_observed_by_end"] <= lq["reached_sql"]).all()


def test_lead_quality_formula_reproduces_from_the_files(world: Path) -> None:
    """Recompute the documented logit from leads.csv + touchpoints.csv (independent code)."""
    lq = pd.read_csv(world / "truth" / "lead_quality.csv")
    leads = pd.read_csv(world / "leads.csv")
    tp = pd.read_csv(world / "touchpoints.csv", usecols=["person_id", "ts", "touch_type"])
    leads["created"] = pd.to_datetime(
        leads["created_at"], utc=True, format="ISO8601"
    ).dt.tz_localize(None)
    end = pd.Timestamp("2025-07-01")
    full = leads[leads["created"] + pd.Timedelta(days=14) < end]  # post window inside the data
    tp["ts"] = pd.to_datetime(tp["ts"])
    j = tp.merge(full[["lead_id", "person_id", "created"]], on="person_id")
    dt = (j["ts"] - j["created"]).dt.total_seconds()
    pre = (dt < 0) & (dt >= -90 * 86400)
    post = (dt > 0) & (dt <= 14 * 86400)

    def cnt(mask, types):
        return (
            j[mask & j.touch_type.isin(types)]
            .groupby("lead_id")
            .size()
            .reindex(full.lead_id, fill_value=0)
            .to_numpy()
        )

    size = full["company_size"].to_numpy()
    st = np.tanh((np.log10(size) - 2) / 0.9)
    sen = {"ic": -0.7, "manager": 0, "director": 0.55, "vp": 0.75, "cxo": 0.35}
    ind = {
        "software": 0.45,
        "financial_services": 0.35,
        "healthcare": 0.1,
        "manufacturing": 0,
        "retail": -0.15,
        "education": -0.45,
        "public_sector": -0.6,
        "media": -0.2,
    }
    ctry = {
        "US": 0.1,
        "GB": 0.05,
        "DE": 0.05,
        "FR": -0.05,
        "CA": 0.05,
        "NL": 0,
        "AU": 0,
        "ES": -0.15,
        "SE": 0,
        "IN": -0.35,
    }
    fit = 1.1 * st + full.seniority.map(sen) + full.industry.map(ind) + full.country.map(ctry)
    logit = (
        -2.35
        + fit.to_numpy()
        + 0.75 * np.log1p(cnt(post, ["visit", "content_view"]))
        + 0.9 * (cnt(post, ["event_attend"]) > 0)
        + 0.45 * np.log1p(cnt(post, ["email_click"]))
        + 0.3 * np.log1p(cnt(pre, ["visit", "content_view"]))
        + 0.35 * (cnt(pre, ["event_attend"]) > 0)
        + 0.6 * st * (cnt(post, ["content_view"]) >= 2)
        - 0.8 * (full.seniority.isin(["vp", "cxo"]).to_numpy() & (size < 50))
    )
    truth = lq.set_index("lead_id").loc[full.lead_id, "true_logit"].to_numpy()
    assert len(full) > 100
    np.testing.assert_allclose(logit, truth, atol=2e-6)


def test_experiments_truth(world: Path) -> None:
    et = pd.read_csv(world / "truth" / "experiments.csv")
    units = pd.read_csv(world / "experiment_units.csv")
    exps = pd.read_csv(world / "experiments.csv")
    assert {"winner", "srm", "no_effect", "three_arm"} <= set(et["kind"])
    assert "34/33/33" in set(exps["planned_split"]) and "50/50" in set(exps["planned_split"])
    srm = et.loc[et.kind == "srm", "experiment_id"].iloc[0]
    share = (units[units.experiment_id == srm].variant == "treatment").mean()
    assert share < 0.48  # 15% of treatment units lost against a planned 50/50
    # every other experiment's split passes a chi-square SRM test; the injected one fails it
    for eid, g in units.groupby("experiment_id"):
        split = exps.set_index("experiment_id").loc[eid, "planned_split"]
        shares = np.array([float(x) for x in split.split("/")]) / 100
        names = et[et.experiment_id == eid]["variant"].tolist()
        obs = g["variant"].value_counts().reindex(names).to_numpy()
        p = chisquare(obs, shares / shares.sum() * obs.sum()).pvalue
        assert (p < 1e-4) if eid == srm else (p >= 0.01), (eid, p)
    win = et.loc[et.kind == "winner", "experiment_id"].iloc[0]
    rates = units[units.experiment_id == win].groupby("variant")["converted"].mean()
    assert rates["treatment"] > rates["control"]
    assert units.groupby("experiment_id")["pre_metric"].apply(lambda s: s.notna().all()).any()
    assert units.groupby("experiment_id")["pre_metric"].apply(lambda s: s.isna().all()).any()


def test_channel_specs_are_consistent() -> None:
    for c in CHANNELS:
        sp = SPECS[c]
        assert 0 <= sp.q < 1 and 0 <= sp.delay_decay < 1
        assert (sp.R > 0) == (c in PAID_CHANNELS)
    assert SPECS["direct"].q == 0
