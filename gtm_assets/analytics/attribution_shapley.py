"""Exact, data-driven Shapley attribution on the channel-set game.

Paths (converting AND non-converting) are grouped by the set of channels they touch. The
value of a coalition S of channels is an estimate of the conversion probability of a
person exposed to exactly the channels in S:

    v(S) = conversions / paths, over the paths whose channel set is exactly S;
           if no path has exactly S: the same rate over the paths whose channel set is a
           subset of S (the coalition's members on their own); 0 if there is none;
    v({}) = 0 (people without any touch are not observed, so the baseline is not
           identifiable from touch data and all credit goes to channels).

Each converting path with channel set T is a game among the channels of T: channel i
gets its Shapley value phi_i(T) = sum over S in T without i of
|S|! (|T|-|S|-1)! / |T|! x (v(S + i) - v(S)); these sum to v(T) > 0. The path's
conversion (and its value) is split in proportion to max(phi_i, 0) (a channel whose
presence lowers the estimated conversion rate earns nothing rather than negative
credit). This is exact: every subset is enumerated (2^|T| per distinct channel set, which
is fine for the ~12 channel groups), vectorised with numpy.

Unlike the "simplified" Shapley (an equal split over the path's unique channels, which is
just linear over unique channels), v(S) uses the non-converting paths through the rates.

The paths are those of ``_attr_model_touches``: without the conversion session (touches
chained to the conversion by gaps of at most 30 minutes), which would otherwise look like
a perfect predictor (only converters have it) although it records how the person came
back to convert. With ``anchor_on_lead``, deals take v(S) from the month's lead paths
(``shapley_path_shares(lead_counts, ..., masks=deal_masks)``).
On the sample generator (whose truth is an exact Shapley split of a noisy-OR conversion
process) this estimator lands within 0.05-0.10 total-variation distance of the true
monthly lead shares (benchmarks/attribution_recovery.py).
"""

from __future__ import annotations

from math import factorial

import numpy as np
import pandas as pd

MAX_CHANNELS = 20


def subset_sums(values: np.ndarray, n_players: int) -> np.ndarray:
    """Zeta transform: out[S] = sum of values[T] over T subset of S (bitmasks)."""
    out = np.array(values, dtype=float, copy=True)
    for i in range(n_players):
        view = out.reshape(-1, 2, 1 << i)
        view[:, 1, :] += view[:, 0, :]
    return out


def coalition_values(counts: pd.DataFrame, n_players: int) -> np.ndarray:
    """v(S) for every bitmask S, from conversions and nulls per exact channel set."""
    if n_players > MAX_CHANNELS:
        raise ValueError(f"exact Shapley supports at most {MAX_CHANNELS} channels")
    size = 1 << n_players
    conv = np.zeros(size)
    paths = np.zeros(size)
    masks = counts["channel_mask"].to_numpy(dtype=np.int64)
    np.add.at(conv, masks, counts["conversions"].to_numpy(dtype=float))
    np.add.at(paths, masks, (counts["conversions"] + counts["nulls"]).to_numpy(dtype=float))
    conv_sub = subset_sums(conv, n_players)
    paths_sub = subset_sums(paths, n_players)
    with np.errstate(invalid="ignore", divide="ignore"):
        exact = np.where(paths > 0, conv / np.where(paths > 0, paths, 1), np.nan)
        pooled = np.where(paths_sub > 0, conv_sub / np.where(paths_sub > 0, paths_sub, 1), 0.0)
    values = np.where(np.isnan(exact), pooled, exact)
    values[0] = 0.0
    return values


def _popcount(values: np.ndarray) -> np.ndarray:
    counts = np.zeros(values.shape, dtype=np.int64)
    work = values.copy()
    while work.any():
        counts += work & 1
        work >>= 1
    return counts


def shapley_in_set(values: np.ndarray, mask: int) -> tuple[list[int], np.ndarray]:
    """Exact Shapley values of the players in ``mask`` for the game ``values`` restricted
    to subsets of ``mask``. Returns (player indices, phi)."""
    players = [j for j in range(mask.bit_length()) if mask >> j & 1]
    t = len(players)
    local = np.arange(1 << t, dtype=np.int64)
    subsets = np.zeros(1 << t, dtype=np.int64)
    for j, player in enumerate(players):
        subsets |= ((local >> j) & 1) << player
    sizes = _popcount(local)
    weights = np.array(
        [factorial(s) * factorial(t - s - 1) / factorial(t) if s < t else 0.0 for s in range(t + 1)]
    )[sizes]
    phi = np.empty(t)
    for j, player in enumerate(players):
        without = ((local >> j) & 1) == 0
        s = subsets[without]
        phi[j] = float(np.sum(weights[without] * (values[s | (1 << player)] - values[s])))
    return players, phi


def shapley_path_shares(
    counts: pd.DataFrame, n_players: int, masks: np.ndarray | None = None
) -> pd.DataFrame:
    """Per converting channel set: each member channel's Shapley value and credit share.

    ``counts``: channel_mask, conversions, nulls (per exact channel set), from which v(S)
    is estimated. ``masks``: the channel sets to split (default: the converting sets of
    ``counts``). Returns channel_mask, channel_index, phi, share (a set's shares sum to 1).
    """
    values = coalition_values(counts, n_players)
    rows: list[tuple[int, int, float, float]] = []
    if masks is None:
        masks = counts.loc[counts["conversions"] > 0, "channel_mask"].to_numpy(dtype=np.int64)
    for mask in np.unique(np.asarray(masks, dtype=np.int64)):
        players, phi = shapley_in_set(values, int(mask))
        positive = np.clip(phi, 0.0, None)
        total = positive.sum()
        shares = positive / total if total > 0 else np.full(len(players), 1.0 / len(players))
        rows.extend(
            (int(mask), p, float(f), float(s)) for p, f, s in zip(players, phi, shares, strict=True)
        )
    return pd.DataFrame(rows, columns=["channel_mask", "channel_index", "phi", "share"])
