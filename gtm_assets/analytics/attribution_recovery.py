"""How close each model's channel shares come to a known truth (total-variation distance).

Used with the sample generator, which records the true causal split of every conversion
(``truth/channel_shares.csv``: exact Shapley values of the generator's noisy-OR conversion
process, see its README), and in tests on hand-made truths.

TV(p, q) = 1/2 sum_c |p_c - q_c| over the union of channels (a channel missing on one side
counts as 0 there): the share of credit that must move to turn one split into the other;
0 = identical, 1 = disjoint. Channels only a model knows (``unclassified``: touches whose
utm no rule can place; the generator knows their true channel) count against every model
alike.
"""

from __future__ import annotations

from datetime import date

import pandas as pd

KEYS = ["month", "conversion_type"]


def tv_distance(a: pd.Series, b: pd.Series) -> float:
    """Total-variation distance between two share vectors indexed by channel."""
    index = a.index.union(b.index)
    left = a.reindex(index).fillna(0.0).astype(float)
    right = b.reindex(index).fillna(0.0).astype(float)
    return float((left - right).abs().sum() / 2)


def read_truth(path: str) -> pd.DataFrame:
    """``truth/channel_shares.csv`` with ``month`` as a DATE (first day of the month)."""
    truth = pd.read_csv(path)
    truth["month"] = [date.fromisoformat(f"{m}-01") for m in truth["month"].astype(str)]
    return truth


def recovery_table(shares: pd.DataFrame, truth: pd.DataFrame) -> pd.DataFrame:
    """TV distance of every model's shares from the truth, per month and conversion type.

    ``shares``: month, conversion_type, model, channel, share (e.g. marts.channel_attribution
    or any other model's output in that shape). ``truth``: month, conversion_type, channel,
    true_share. Months/types missing from the truth are skipped.
    """
    rows = []
    truth_groups = {k: g.set_index("channel")["true_share"] for k, g in truth.groupby(KEYS)}
    for (month, conversion_type, model), group in shares.groupby([*KEYS, "model"]):
        true_shares = truth_groups.get((month, conversion_type))
        if true_shares is None:
            continue
        rows.append(
            {
                "month": month,
                "conversion_type": conversion_type,
                "model": model,
                "tv_distance": tv_distance(group.set_index("channel")["share"], true_shares),
            }
        )
    return pd.DataFrame(rows, columns=[*KEYS, "model", "tv_distance"])


def recovery_summary(table: pd.DataFrame) -> pd.DataFrame:
    """Models as columns, one row per month and conversion type, plus a mean row per type."""
    wide = table.pivot_table(index=KEYS, columns="model", values="tv_distance").reset_index()
    means = wide.groupby("conversion_type", as_index=False).mean(numeric_only=True)
    means.insert(0, "month", "mean")
    return pd.concat([wide.astype({"month": str}), means], ignore_index=True)
