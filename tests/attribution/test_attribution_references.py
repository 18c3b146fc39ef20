"""Markov and Shapley against independent references: the published toy example,
ChannelAttribution (test-only, GPL) on its Data.csv and on random paths, brute force."""

from __future__ import annotations

import contextlib
import io
import itertools
from math import factorial
from pathlib import Path

import duckdb
import numpy as np
import pandas as pd
import pytest

from gtm_assets.analytics import attribution as at
from gtm_assets.analytics.attribution_markov import markov_removal_effects
from gtm_assets.analytics.attribution_shapley import coalition_values, shapley_path_shares

ca = pytest.importorskip("ChannelAttribution")


def _data_csv() -> pd.DataFrame:
    """ChannelAttribution's sample data, shipped inside the installed package."""
    import importlib.util

    spec = importlib.util.find_spec("cypack")
    assert spec is not None and spec.submodule_search_locations
    path = Path(next(iter(spec.submodule_search_locations))) / "data" / "Data.csv"
    return pd.read_csv(path, sep=";")


def _ours(paths: pd.DataFrame, models: tuple[str, ...], order: int = 1):
    con = duckdb.connect()
    summary = at.path_touches_from_strings(
        con,
        paths.rename(
            columns={
                "total_conversions": "conversions",
                "total_null": "nulls",
                "total_conversion_value": "value",
            }
        ),
    )
    params = at.AttributionParams(models=models, markov_order=order)
    return con, summary, at.to_channel_credit(at.attribute_paths(con, summary, params))


def _quiet(fn, *args, **kwargs):
    with contextlib.redirect_stdout(io.StringIO()):
        return fn(*args, **kwargs)


def _random_paths(seed: int, n_paths: int = 300, channels: str = "abcdef") -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    rows = []
    for _ in range(n_paths):
        length = int(rng.integers(1, 7))
        path = " > ".join(rng.choice(list(channels), size=length))
        rows.append((path, int(rng.integers(0, 4)), int(rng.integers(0, 6))))
    df = pd.DataFrame(rows, columns=["path", "total_conversions", "total_null"])
    df = df.groupby("path", as_index=False).sum()
    df = df[(df["total_conversions"] + df["total_null"]) > 0]
    df["total_conversion_value"] = df["total_conversions"] * rng.uniform(1, 100, len(df))
    return df.reset_index(drop=True)


# --- the published toy example -------------------------------------------------------


def test_markov_toy_example_exact():
    toy = pd.DataFrame(
        {
            "path": ["C1 > C2 > C3", "C1", "C2 > C3"],
            "total_conversions": [1, 0, 0],
            "total_null": [0, 1, 1],
            "total_conversion_value": [1.0, 0, 0],
        }
    )
    con, _summary, credit = _ours(toy, ("markov",))
    effects = markov_removal_effects(at.path_transitions(con, 1)).set_index("channel")
    assert effects.attrs["p_conversion"] == pytest.approx(1 / 3, abs=1e-15)
    assert effects["removal_effect"].to_dict() == pytest.approx(
        {"C1": 0.5, "C2": 1.0, "C3": 1.0}, abs=1e-12
    )
    assert credit.set_index("channel")["share"].to_dict() == pytest.approx(
        {"C1": 0.2, "C2": 0.4, "C3": 0.4}, abs=1e-12
    )


# --- heuristics: exact match with ChannelAttribution ----------------------------------


@pytest.mark.parametrize("source", ["data_csv", "random"])
def test_heuristics_match_channelattribution_exactly(source):
    paths = _data_csv() if source == "data_csv" else _random_paths(1)
    ref = _quiet(
        ca.heuristic_models,
        paths,
        "path",
        "total_conversions",
        var_value="total_conversion_value",
        flg_pro=False,
    ).set_index("channel_name")
    _con, _summary, credit = _ours(paths, ("first_touch", "last_touch", "linear"))
    for model, prefix in [
        ("first_touch", "first_touch"),
        ("last_touch", "last_touch"),
        ("linear", "linear_touch"),
    ]:
        got = credit[credit["model"] == model].set_index("channel")
        for channel in ref.index:
            conv = got["attributed_conversions"].get(channel, 0.0)
            value = got["attributed_revenue"].get(channel, 0.0)
            assert conv == pytest.approx(ref.loc[channel, f"{prefix}_conversions"], abs=1e-9)
            assert value == pytest.approx(ref.loc[channel, f"{prefix}_value"], rel=1e-9, abs=1e-9)


# --- markov: exact chain vs brute force, vs ChannelAttribution's simulation ------------


def _brute_force_removal_effects(paths: pd.DataFrame) -> dict[str, float]:
    """RE_c = P(visit c and convert) / P(convert), by value iteration on the product chain
    (state, visited c?) built in plain Python from the path strings (order 1, consecutive
    repeats collapsed) -- no linear solve, no shared code with the production path."""
    counts: dict[tuple[str, str], float] = {}
    for row in paths.itertuples(index=False):
        chans = [c.strip() for c in row.path.split(">") if c.strip()]
        seq = ["(start)"] + [c for i, c in enumerate(chans) if i == 0 or c != chans[i - 1]]
        weight = row.total_conversions + row.total_null
        for a, b in itertools.pairwise(seq):
            counts[(a, b)] = counts.get((a, b), 0) + weight
        for end, n in (("(conversion)", row.total_conversions), ("(null)", row.total_null)):
            if n:
                counts[(seq[-1], end)] = counts.get((seq[-1], end), 0) + n
    out_tot: dict[str, float] = {}
    for (a, _b), n in counts.items():
        out_tot[a] = out_tot.get(a, 0) + n
    prob = {(a, b): n / out_tot[a] for (a, b), n in counts.items()}
    channels = sorted({a for a, _ in prob} - {"(start)"})
    states = ["(start)", *channels]

    def absorb(target_visited: str | None) -> float:
        # x[(s, seen)] = P(convert having seen target | at s with flag seen)
        x = {(s, f): 0.0 for s in states for f in (False, True)}
        for _ in range(20000):
            delta = 0.0
            for s in states:
                for f in (False, True):
                    total = 0.0
                    for (a, b), p in prob.items():
                        if a != s:
                            continue
                        if b == "(conversion)":
                            total += p * (1.0 if (f or target_visited is None) else 0.0)
                        elif b != "(null)":
                            total += p * x[(b, f or b == target_visited)]
                    delta = max(delta, abs(total - x[(s, f)]))
                    x[(s, f)] = total
            if delta < 1e-15:
                break
        return x[("(start)", False)]

    p_conv = absorb(None)
    return {c: absorb(c) / p_conv for c in channels}


def test_exact_chain_matches_brute_force_product_chain():
    paths = _random_paths(7, n_paths=60, channels="abcd")
    con, _s, _credit = _ours(paths, ("markov",))
    effects = markov_removal_effects(at.path_transitions(con, 1)).set_index("channel")
    brute = _brute_force_removal_effects(paths)
    for channel, value in brute.items():
        assert effects.loc[channel, "removal_effect"] == pytest.approx(value, abs=1e-9)


def _ca_markov(paths: pd.DataFrame, order: int = 1, nsim: float = 1e6):
    return _quiet(
        ca.markov_model,
        paths,
        "path",
        "total_conversions",
        var_value="total_conversion_value",
        var_null="total_null",
        order=order,
        nsim_start=nsim,
        # CA's default max_step (the longest observed path) stops simulated paths early and
        # counts them as not converted, which biases removal effects down on chains with
        # loops (e.g. 0.414 instead of 0.446 on _random_paths(3)); the exact chain has no cap.
        max_step=1000,
        out_more=True,
        verbose=False,
        flg_pro=False,
    )


@pytest.mark.parametrize(("source", "order"), [("data_csv", 1), ("random", 1), ("random", 2)])
def test_markov_matches_channelattribution_within_simulation_noise(source, order):
    paths = _data_csv() if source == "data_csv" else _random_paths(3)
    ref = _ca_markov(paths, order=order)
    ref_re = ref["removal_effects"].set_index("channel_name")["removal_effects_conversion"]
    con, summary, credit = _ours(paths, ("markov",), order=order)
    effects = markov_removal_effects(at.path_transitions(con, order)).set_index("channel")
    # CA's removal effect is a proportion over its simulated conversions (one of nfold=10
    # runs of nsim/10 paths): standard error sqrt(p (1 - p) / n_conv); allow 5 of them.
    n_conv = effects.attrs["p_conversion"] * 1e6 / 10
    for channel, re_ref in ref_re.items():
        ours = effects.loc[channel, "removal_effect"]
        se = np.sqrt(max(ours * (1 - ours), 1e-4) / n_conv)
        assert abs(ours - re_ref) < 5 * se + 1e-3, (channel, ours, re_ref)
    # revenue: CA draws each simulated conversion's value from the values observed leaving
    # its last state; ours is the exact expectation of the same thing
    ref_rv = ref["removal_effects"].set_index("channel_name")["removal_effects_conversion_value"]
    gap = (effects["removal_effect_value"] - ref_rv.reindex(effects.index)).abs()
    assert gap.max() < 0.012, gap
    shares = credit.set_index("channel")["share"]
    ref_credit = ref["result"].set_index("channel_name")["total_conversions"]
    ref_share = ref_credit / ref_credit.sum()
    assert float((shares - ref_share).abs().sum()) / 2 < 0.01  # TV distance of shares


def test_value_removal_effects_differ_from_conversion_ones_on_data_csv():
    """So the revenue comparison above can tell the two definitions apart."""
    con, _summary, _credit = _ours(_data_csv(), ("markov",))
    effects = markov_removal_effects(at.path_transitions(con, 1))
    assert (effects["removal_effect"] - effects["removal_effect_value"]).abs().max() > 0.03


def test_first_order_shortcut_equals_the_general_transition_query():
    from gtm_assets.sql_files import load_sql

    paths = _random_paths(9)
    con, _summary, _credit = _ours(paths, ("linear",))
    fast = at.path_transitions(con, 1)
    general = con.execute(load_sql("intermediate/int_path_transitions"), {"markov_order": 1}).df()
    key = ["from_state", "to_state"]
    fast = fast.sort_values(key, ignore_index=True)
    general = general.sort_values(key, ignore_index=True)
    assert len(fast) > 30
    pd.testing.assert_frame_equal(fast, general)


def test_markov_higher_order_is_deterministic_and_sums():
    paths = _random_paths(5)
    _con, summary, credit_a = _ours(paths, ("markov",), order=3)
    _con, _summary, credit_b = _ours(paths, ("markov",), order=3)
    pd.testing.assert_frame_equal(credit_a, credit_b)
    assert credit_a["attributed_conversions"].sum() == pytest.approx(summary.conversions_with_touch)
    assert credit_a["attributed_revenue"].sum() == pytest.approx(summary.revenue_with_touch)


# --- shapley: brute-force permutations -------------------------------------------------


def _brute_v(paths: pd.DataFrame, coalition: frozenset) -> float:
    """v(S) straight from the definition, with Python sets."""
    sets = [
        (frozenset(c.strip() for c in p.split(">")), conv, null)
        for p, conv, null in zip(
            paths["path"], paths["total_conversions"], paths["total_null"], strict=True
        )
    ]
    if not coalition:
        return 0.0
    exact = [(c, n) for s, c, n in sets if s == coalition]
    if exact and sum(c + n for c, n in exact) > 0:
        return sum(c for c, _ in exact) / sum(c + n for c, n in exact)
    inside = [(c, n) for s, c, n in sets if s <= coalition]
    total = sum(c + n for c, n in inside)
    return sum(c for c, _ in inside) / total if total else 0.0


def _brute_shapley(paths: pd.DataFrame, players: list[str]) -> dict[str, float]:
    """Average marginal contribution over all orderings of the players."""
    phi = dict.fromkeys(players, 0.0)
    for order in itertools.permutations(players):
        seen: frozenset = frozenset()
        for p in order:
            phi[p] += _brute_v(paths, seen | {p}) - _brute_v(paths, seen)
            seen = seen | {p}
    return {p: v / factorial(len(players)) for p, v in phi.items()}


def test_shapley_matches_brute_force_permutations():
    paths = _random_paths(11, n_paths=80, channels="abcde")
    con, summary, credit = _ours(paths, ("shapley",))
    channels = summary.channels
    counts = at.channel_set_counts(con, channels)
    shares = shapley_path_shares(counts, len(channels))
    checked = 0
    for _mask, group in shares.groupby("channel_mask"):
        players = [channels[i] for i in group["channel_index"]]
        brute = _brute_shapley(paths, players)
        got = dict(zip(players, group["phi"], strict=True))
        assert got == pytest.approx(brute, abs=1e-12)
        assert sum(got.values()) == pytest.approx(_brute_v(paths, frozenset(players)), abs=1e-12)
        checked += 1
    assert checked >= 5
    assert credit["attributed_conversions"].sum() == pytest.approx(summary.conversions_with_touch)
    assert credit["attributed_revenue"].sum() == pytest.approx(summary.revenue_with_touch)
    assert (credit["attributed_conversions"] >= 0).all()


def test_shapley_uses_non_converting_paths():
    """Same converting paths, different nulls -> different credit (unlike the 'simplified'
    equal split). a alone converts 1 in 2, b alone 1 in 10: in the path a > b, a earns more."""
    base = {"path": ["a > b", "a", "b"], "total_conversions": [1, 1, 1]}
    paths = pd.DataFrame({**base, "total_null": [0, 1, 9], "total_conversion_value": [1, 1, 1]})
    _con, _summary, credit = _ours(paths, ("shapley",))
    got = credit.set_index("channel")["attributed_conversions"]
    # path a>b: v(ab)=1, v(a)=1/2, v(b)=1/10 -> phi_a = (1/2 + 0.9)/2 = 0.7, phi_b = 0.3
    assert got.to_dict() == pytest.approx({"a": 1 + 0.7, "b": 1 + 0.3}, abs=1e-12)


def test_coalition_values_fall_back_to_pooled_subsets():
    counts = pd.DataFrame(
        {"channel_mask": [1, 2], "conversions": [1, 3], "nulls": [3, 1], "revenue": [0.0, 0.0]}
    )
    v = coalition_values(counts, 2)
    assert v.tolist() == pytest.approx([0.0, 0.25, 0.75, 0.5])  # {a,b}: pooled 4 / 8
