"""Ground truth of the sample world: exact Shapley channel shares and true response curves.

Pure functions (numpy/pandas only). ``true_response`` is what tests and the budget optimizer's
evaluation call to get E[outcome | spend] of a paid channel.
"""

from __future__ import annotations

from math import factorial

import numpy as np
import pandas as pd

SHAPLEY_CHANNELS_NOTE = "direct has q = 0 (a dummy player): its Shapley value is always 0"


def _hill(s: np.ndarray | float, K: float, n: float) -> np.ndarray:
    s = np.maximum(np.asarray(s, dtype=float), 0.0)
    return s**n / (s**n + K**n)


def true_response(
    channel: str, spend: float | np.ndarray, metric: str, curves_df: pd.DataFrame
) -> np.ndarray:
    """Expected causal outcome of ``channel`` per grain unit (a day) at steady ``spend`` per day.

    ``top * spend**n / (spend**n + K**n)`` with the row of ``truth/response_curves.csv`` for
    (channel, metric); spend in the reporting currency per day. With constant spend the
    geometric carry-over (adstock_decay) does not change the level, only the timing.
    """
    row = curves_df[(curves_df["channel"] == channel) & (curves_df["metric"] == metric)]
    if len(row) != 1:
        raise KeyError(f"no single response curve for channel={channel!r}, metric={metric!r}")
    r = row.iloc[0]
    return float(r["top"]) * _hill(spend, float(r["K"]), float(r["n"]))


def true_period_response(
    channel: str, period_spend: float | np.ndarray, days: int, metric: str, curves_df: pd.DataFrame
) -> np.ndarray:
    """Expected outcome over a period of ``days`` days when ``period_spend`` is spread evenly."""
    return days * true_response(
        channel, np.asarray(period_spend, dtype=float) / days, metric, curves_df
    )


def adstocked_response(
    channel: str, daily_spend: np.ndarray, metric: str, curves_df: pd.DataFrame
) -> np.ndarray:
    """Expected outcome per day for a daily spend series, with the outcome carry-over:
    ``E[y_t] = sum_k (1 - d) d^k f(s_{t-k})`` (saturation first, then geometric delay)."""
    row = curves_df[(curves_df["channel"] == channel) & (curves_df["metric"] == metric)].iloc[0]
    f = true_response(channel, daily_spend, metric, curves_df)
    d = float(row["adstock_decay"])
    out = np.empty_like(f)
    acc = 0.0
    for t, v in enumerate(f):
        acc = d * acc + (1 - d) * v
        out[t] = acc
    return out


def shapley_enumerated(L: np.ndarray, chunk: int = 4096) -> np.ndarray:
    """Exact Shapley values of each channel, divided by v(N), for every row (person).

    ``L[i, c] = sum over the person's pre-conversion exposures in channel c of log(1 - q_e)``.
    The value function is ``v(S) = 1 - exp(sum_{c in S} L[i, c])`` (noisy-OR of conversion
    tickets, v(empty) = 0); all 2^K coalitions are enumerated, vectorised over rows.
    Rows with v(N) = 0 return zeros.
    """
    n, K = L.shape
    masks = np.arange(2**K)
    bits = ((masks[:, None] >> np.arange(K)) & 1).astype(float)  # (2^K, K)
    size = bits.sum(axis=1).astype(int)
    w = np.array(
        [factorial(s) * factorial(K - s - 1) / factorial(K) if s < K else 0.0 for s in size]
    )
    out = np.zeros((n, K))
    for lo in range(0, n, chunk):
        Lc = L[lo : lo + chunk]
        V = 1.0 - np.exp(Lc @ bits.T)  # (nc, 2^K)
        for c in range(K):
            without = masks[bits[:, c] == 0]
            diff = V[:, without | (1 << c)] - V[:, without]
            out[lo : lo + chunk, c] = diff @ w[without]
        full = V[:, -1]
        with np.errstate(invalid="ignore", divide="ignore"):
            out[lo : lo + chunk] = np.where(
                full[:, None] > 0, out[lo : lo + chunk] / full[:, None], 0.0
            )
    return out


def shapley_normalised(L: np.ndarray, chunk: int = 200_000) -> np.ndarray:
    """Exact Shapley values / v(N) for the noisy-OR value function, in O(K^2) per row.

    Same result as :func:`shapley_enumerated` (which enumerates all 2^K coalitions), using
    ``v(S + c) - v(S) = (1 - x_c) prod_{j in S} x_j`` with ``x_j = exp(L_j)``, so
    ``phi_c = (1 - x_c) sum_s w(s) e_s(x without c)`` with elementary symmetric
    polynomials ``e_s`` and Shapley weights ``w(s) = s! (K-1-s)! / K!``. Exact (no sampling).
    """
    n, K = L.shape
    w = np.array([factorial(s) * factorial(K - s - 1) / factorial(K) for s in range(K)])
    out = np.zeros((n, K))
    for lo in range(0, n, chunk):
        x = np.exp(L[lo : lo + chunk])  # (m, K), in (0, 1]
        m = len(x)
        e = np.zeros((m, K + 1))
        e[:, 0] = 1.0
        for j in range(K):  # e_s of all K variables
            e[:, 1 : j + 2] = e[:, 1 : j + 2] + x[:, j : j + 1] * e[:, 0 : j + 1]
        vN = 1.0 - e[:, 0] * np.prod(x, axis=1) if K else np.zeros(m)
        for c in range(K):
            xc = x[:, c]
            em = np.zeros((m, K))  # e_s(x without c), s = 0..K-1; stable since 0 < x <= 1
            em[:, 0] = 1.0
            for s_ in range(1, K):
                em[:, s_] = e[:, s_] - xc * em[:, s_ - 1]
            out[lo : lo + m, c] = (1.0 - xc) * (em @ w)
        with np.errstate(invalid="ignore", divide="ignore"):
            out[lo : lo + m] = np.where(vN[:, None] > 0, out[lo : lo + m] / vN[:, None], 0.0)
    return out


def shapley_bruteforce(values: dict[frozenset, float], players: list) -> dict:
    """Textbook Shapley by permutation-weight enumeration (reference for tests)."""
    K = len(players)
    res = {}
    for p in players:
        others = [x for x in players if x != p]
        tot = 0.0
        for m in range(2 ** len(others)):
            S = frozenset(o for i, o in enumerate(others) if m >> i & 1)
            tot += (
                factorial(len(S))
                * factorial(K - len(S) - 1)
                / factorial(K)
                * (values[S | {p}] - values[S])
            )
        res[p] = tot
    return res


def channel_shares_table(
    months: np.ndarray,
    conv_type: str,
    phi: np.ndarray,
    channels: list[str],
    value: np.ndarray | None = None,
) -> pd.DataFrame:
    """Sum normalised Shapley credit per month and channel; true_share per month sums to 1."""
    frames = []
    for mth in sorted(np.unique(months)):
        sel = months == mth
        tot = phi[sel].sum(axis=0)
        rev = (
            (phi[sel] * value[sel, None]).sum(axis=0)
            if value is not None
            else np.zeros(len(channels))
        )
        s = tot.sum()
        frames.append(
            pd.DataFrame(
                {
                    "month": mth,
                    "conversion_type": conv_type,
                    "channel": channels,
                    "true_conversions": np.round(tot, 6),
                    "true_share": np.round(tot / s, 9) if s > 0 else 0.0,
                    "true_revenue": np.round(rev, 2),
                    "conversions": int(sel.sum()),
                }
            )
        )
    if not frames:
        return pd.DataFrame(
            columns=[
                "month",
                "conversion_type",
                "channel",
                "true_conversions",
                "true_share",
                "true_revenue",
                "conversions",
            ]
        )
    return pd.concat(frames, ignore_index=True)
