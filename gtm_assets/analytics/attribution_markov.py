"""Exact removal-effect attribution on the absorbing Markov chain of customer paths.

The chain has the transient states ``(start)`` and the channel states (order k: the last
k channels, ``a>b``) and the absorbing states ``(conversion)`` and ``(null)``; transition
probabilities are the observed transition counts divided by the state's outgoing count.

Definitions follow ChannelAttribution (``markov_model``):

- P(conv) = probability of absorption in ``(conversion)`` starting from ``(start)``.
- Removing channel c turns every state containing c into a route to ``(null)``;
  removal effect RE_c = 1 - P_-c(conv) / P(conv) (= P(visit c | conversion)).
- credit_c = RE_c / sum(RE) x conversions.
- Revenue: a conversion leaving state s carries the mean value of the conversions observed
  leaving s; RE^value_c = 1 - E_-c[value] / E[value], revenue credit = RE^value_c /
  sum(RE^value) x revenue. (ChannelAttribution estimates both by simulation; here they are
  solved exactly: absorption probabilities x = (I - Q)^-1 r on the transient block.)
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import scipy.sparse as sp
import scipy.sparse.linalg as spla

START, CONVERSION, NULL = "(start)", "(conversion)", "(null)"
_DENSE_LIMIT = 400


def _solve(matrix: np.ndarray | sp.csc_matrix, rhs: np.ndarray) -> np.ndarray:
    if isinstance(matrix, np.ndarray):
        return np.linalg.solve(matrix, rhs)
    return spla.splu(matrix).solve(rhs)


def absorbing_chain(transitions: pd.DataFrame) -> dict:
    """Transient-block matrices of the chain from transition counts.

    Returns states (``(start)`` first), ``Q`` (transient -> transient probabilities, dense
    or sparse), ``r`` (-> conversion), ``rv`` (-> conversion x mean conversion value).
    """
    frame = transitions[["from_state", "to_state", "transitions", "conversion_value"]]
    transient = sorted(
        (set(frame["from_state"]) | set(frame["to_state"])) - {START, CONVERSION, NULL}
    )
    states = [START, *transient]
    index = {s: i for i, s in enumerate(states)}
    n = len(states)
    out_counts = frame.groupby("from_state")["transitions"].sum()
    totals = np.array([float(out_counts.get(s, 0.0)) for s in states])
    if (totals[1:] <= 0).any():
        raise ValueError("every channel state needs at least one outgoing transition")
    safe = np.where(totals > 0, totals, 1.0)
    inner = frame[frame["to_state"].isin(index)]
    rows = inner["from_state"].map(index).to_numpy()
    cols = inner["to_state"].map(index).to_numpy()
    probs = inner["transitions"].to_numpy(dtype=float) / safe[rows]
    conv = frame[frame["to_state"] == CONVERSION]
    r = np.zeros(n)
    rv = np.zeros(n)
    conv_rows = conv["from_state"].map(index).to_numpy()
    np.add.at(r, conv_rows, conv["transitions"].to_numpy(dtype=float) / safe[conv_rows])
    np.add.at(rv, conv_rows, conv["conversion_value"].to_numpy(dtype=float) / safe[conv_rows])
    if n <= _DENSE_LIMIT:
        q: np.ndarray | sp.csc_matrix = np.zeros((n, n))
        np.add.at(q, (rows, cols), probs)
    else:
        q = sp.csc_matrix((probs, (rows, cols)), shape=(n, n))
    return {"states": states, "Q": q, "r": r, "rv": rv}


def _absorb(q: np.ndarray | sp.csc_matrix, r: np.ndarray, rv: np.ndarray, keep: np.ndarray):
    """P(conversion) and E[value] from (start) with only the ``keep`` states alive."""
    if isinstance(q, np.ndarray):
        a = np.eye(int(keep.sum())) - q[np.ix_(keep, keep)]
    else:
        idx = np.flatnonzero(keep)
        sub = q[idx][:, idx]
        a = (sp.identity(len(idx), format="csc") - sub).tocsc()
    x = _solve(a, np.column_stack([r[keep], rv[keep]]))
    return float(x[0, 0]), float(x[0, 1])


def markov_removal_effects(transitions: pd.DataFrame) -> pd.DataFrame:
    """Per channel: removal effect on conversions and on value, exactly.

    Also stores P(conv) and E[value] of the full chain in ``.attrs``.
    """
    if transitions.empty:
        return pd.DataFrame(columns=["channel", "removal_effect", "removal_effect_value"])
    chain = absorbing_chain(transitions)
    states = chain["states"]
    members = [set(s.split(">")) if s != START else set() for s in states]
    channels = sorted(set().union(*members))
    everything = np.ones(len(states), dtype=bool)
    p_conv, e_value = _absorb(chain["Q"], chain["r"], chain["rv"], everything)
    rows = []
    for channel in channels:
        keep = np.array([channel not in m for m in members])
        p_removed, v_removed = _absorb(chain["Q"], chain["r"], chain["rv"], keep)
        rows.append(
            {
                "channel": channel,
                "removal_effect": 1.0 - p_removed / p_conv if p_conv > 0 else 0.0,
                "removal_effect_value": 1.0 - v_removed / e_value if e_value > 0 else 0.0,
            }
        )
    out = pd.DataFrame(rows)
    # rounding can leave -1e-16 where a channel has no effect
    out[["removal_effect", "removal_effect_value"]] = out[
        ["removal_effect", "removal_effect_value"]
    ].clip(lower=0.0)
    out.attrs.update({"p_conversion": p_conv, "expected_value": e_value})
    return out


def markov_attribution(
    transitions: pd.DataFrame, total_conversions: float, total_revenue: float
) -> pd.DataFrame:
    """Channel credit: RE / sum(RE) x conversions and RE_value / sum(RE_value) x revenue."""
    effects = markov_removal_effects(transitions)
    if effects.empty:
        return pd.DataFrame(
            columns=[
                "channel",
                "removal_effect",
                "removal_effect_value",
                "attributed_conversions",
                "attributed_revenue",
            ]
        )
    re_sum = effects["removal_effect"].sum()
    rv_sum = effects["removal_effect_value"].sum()
    effects["attributed_conversions"] = (
        effects["removal_effect"] / re_sum * total_conversions if re_sum > 0 else 0.0
    )
    effects["attributed_revenue"] = (
        effects["removal_effect_value"] / rv_sum * total_revenue if rv_sum > 0 else 0.0
    )
    return effects
