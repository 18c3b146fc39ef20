"""Insight tables beside the credit: assists, path statistics, top paths, transitions and
how far the seven models disagree.

The SQL parts read the temp table ``_attr_path_touches`` built by
:func:`gtm_assets.analytics.attribution.build_paths`; the comparison works on the channel
credit frame of :func:`gtm_assets.analytics.attribution.attribute_month`.
"""

from __future__ import annotations

import itertools

import duckdb
import pandas as pd

from gtm_assets.analytics.attribution import MODELS, path_transitions
from gtm_assets.sql_files import load_sql


def assisted_conversions(con: duckdb.DuckDBPyConnection) -> pd.DataFrame:
    """Per channel: conversions touched, as last touch, assisted (touched, not last), first."""
    return con.execute(load_sql("marts/attribution_assisted")).df()


def path_stats(con: duckdb.DuckDBPyConnection) -> pd.DataFrame:
    """Path length and days to conversion: paths, mean, median, p75, p90."""
    return con.execute(load_sql("marts/attribution_path_stats")).df()


def with_prior(current: pd.DataFrame, prior: pd.DataFrame) -> pd.DataFrame:
    """Add the prior month's mean/median/p75/p90 and the change (absolute and relative)."""
    stats = ["mean", "median", "p75", "p90"]
    prior = prior.set_index("metric")[stats].add_prefix("prior_")
    out = current.join(prior, on="metric")
    for stat in stats:
        out[f"{stat}_change"] = out[stat] - out[f"prior_{stat}"]
        base = out[f"prior_{stat}"]
        out[f"{stat}_change_pct"] = 100 * out[f"{stat}_change"] / base.where(base != 0)
    return out


def top_paths(con: duckdb.DuckDBPyConnection, top_n: int = 20) -> pd.DataFrame:
    """The ``top_n`` most frequent converting channel paths (repeats collapsed)."""
    return con.execute(load_sql("marts/attribution_top_paths"), {"top_n": int(top_n)}).df()


def transition_matrix(con: duckdb.DuckDBPyConnection) -> pd.DataFrame:
    """Order-1 channel transitions over all paths: counts and probability per from-state."""
    frame = path_transitions(con, 1)
    frame = frame.rename(columns={"from_state": "from_channel", "to_state": "to_channel"})
    frame["probability"] = frame["transitions"] / frame.groupby("from_channel")[
        "transitions"
    ].transform("sum")
    return frame.sort_values(["from_channel", "to_channel"], ignore_index=True)[
        ["from_channel", "to_channel", "transitions", "probability", "conversion_value"]
    ]


def model_comparison(channel_credit: pd.DataFrame) -> pd.DataFrame:
    """One row per conversion type x channel with every model's share side by side, the
    spread (max - min share) and which models give the most and the least."""
    if channel_credit.empty:
        return pd.DataFrame(
            columns=["conversion_type", "channel", *[f"share_{m}" for m in MODELS]]
            + ["min_share", "max_share", "spread", "most_generous_model", "least_generous_model"]
        )
    wide = channel_credit.pivot_table(
        index=["conversion_type", "channel"], columns="model", values="share", aggfunc="sum"
    )
    models = [m for m in MODELS if m in wide.columns]
    wide = wide[models].fillna(0.0)
    out = wide.add_prefix("share_").reset_index()
    out["min_share"] = wide.min(axis=1).to_numpy()
    out["max_share"] = wide.max(axis=1).to_numpy()
    out["spread"] = out["max_share"] - out["min_share"]
    agree = out["spread"].to_numpy() <= 1e-12
    out["most_generous_model"] = wide.idxmax(axis=1).where(~agree, None).to_numpy()
    out["least_generous_model"] = wide.idxmin(axis=1).where(~agree, None).to_numpy()
    return out.sort_values(
        ["conversion_type", "spread", "channel"], ascending=[True, False, True], ignore_index=True
    )


def model_disagreement(channel_credit: pd.DataFrame) -> pd.DataFrame:
    """Total-variation distance between every pair of models' channel shares, per
    conversion type (0 = same split, 1 = no overlap)."""
    rows = []
    for conversion_type, group in channel_credit.groupby("conversion_type"):
        wide = group.pivot_table(index="channel", columns="model", values="share", aggfunc="sum")
        wide = wide.fillna(0.0)
        models = [m for m in MODELS if m in wide.columns]
        for a, b in itertools.combinations(models, 2):
            rows.append(
                {
                    "conversion_type": conversion_type,
                    "model_a": a,
                    "model_b": b,
                    "tv_distance": float((wide[a] - wide[b]).abs().sum() / 2),
                }
            )
    return pd.DataFrame(rows, columns=["conversion_type", "model_a", "model_b", "tv_distance"])


def disagreement_headlines(comparison: pd.DataFrame, disagreement: pd.DataFrame) -> list[str]:
    """Sentences for the report: where the models disagree most, per conversion type."""
    lines = []
    for conversion_type, group in comparison.groupby("conversion_type"):
        top = group.sort_values(["spread", "channel"], ascending=[False, True]).iloc[0]
        if top["spread"] <= 1e-12:
            lines.append(f"{conversion_type}: all models give the same split.")
            continue
        pairs = disagreement[disagreement["conversion_type"] == conversion_type]
        worst = pairs.sort_values("tv_distance", ascending=False).head(1)
        text = (
            f"{conversion_type}: models disagree most on {top['channel']} "
            f"({top['least_generous_model']} gives it {top['min_share']:.0%}, "
            f"{top['most_generous_model']} {top['max_share']:.0%})"
        )
        if len(worst):
            w = worst.iloc[0]
            text += (
                f"; the most different pair is {w['model_a']} vs {w['model_b']} "
                f"(they split {w['tv_distance']:.0%} of the credit differently)"
            )
        if {"share_shapley", "share_last_touch"} <= set(group.columns):
            shift = (
                group.set_index("channel")["share_shapley"]
                - group.set_index("channel")["share_last_touch"]
            )
            moved = float(shift.clip(lower=0).sum())
            if moved > 0:
                text += (
                    f". Against last touch, Shapley moves {moved:.0%} of the credit, most "
                    f"from {shift.idxmin()} ({shift.min():+.0%}) to {shift.idxmax()} "
                    f"({shift.max():+.0%})"
                )
        lines.append(text + ".")
    return lines
