"""Constrained budget allocation over channels' response curves, and its optimality check.

Problem: maximise ``sum_c F_c(S_c)`` subject to ``sum_c S_c = B`` and ``lo_c <= S_c <= hi_c``,
where ``F_c`` is a channel's expected outcome for a period's spend (a fitted Hill curve
scaled from its grain to the period). Solved with ``scipy.optimize.minimize`` (SLSQP) from
several starting points (the reference mix, a greedy marginal-return fill, the middle of
the box), keeping the best feasible result: Hill curves with n > 1 are S-shaped, so the
problem need not be concave and one start could stop at a local optimum.

Optimality (KKT): at the optimum every channel strictly inside its bounds has the same
marginal return (the Lagrange multiplier), channels at their upper bound have a marginal
return at least that high and channels at their lower bound at most that high.
``check_kkt`` verifies exactly that, with a relative tolerance.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

import numpy as np
from scipy.optimize import minimize

from gtm_assets.analytics.response_curves import hill, hill_marginal


class Curve(Protocol):
    """Expected outcome of a period's spend and its derivative (vectorised)."""

    def value(self, spend: np.ndarray | float) -> np.ndarray: ...

    def marginal(self, spend: np.ndarray | float) -> np.ndarray: ...


@dataclass(frozen=True)
class PeriodHill:
    """A Hill curve fitted at a grain, evaluated for a period of ``periods`` grain units.

    Spending ``S`` evenly over the period means ``S / periods`` per grain unit, so the
    period's outcome is ``periods * f(S / periods)`` and its marginal return is
    ``f'(S / periods)`` (the grain's marginal return, unchanged).
    """

    top: float
    k: float
    n: float
    periods: float = 1.0

    def value(self, spend: np.ndarray | float) -> np.ndarray:
        return self.periods * hill(
            np.asarray(spend, dtype=float) / self.periods, self.top, self.k, self.n
        )

    def marginal(self, spend: np.ndarray | float) -> np.ndarray:
        return hill_marginal(
            np.asarray(spend, dtype=float) / self.periods, self.top, self.k, self.n
        )


@dataclass(frozen=True)
class MeanHill:
    """The expected outcome over a set of Hill curves (e.g. a fit's bootstrap draws, rows
    ``(top, k, n)``), for a period of ``periods`` grain units:
    ``value(S) = periods * mean_j f_j(S / periods)`` and ``marginal(S) = mean_j f_j'(S / periods)``.

    Maximising this instead of the point fit's curve is the Bayes action under the
    bootstrap's spread of curves (bagging): a channel whose curve is uncertain contributes
    the average of its plausible curves, not one of them. A sum of Hill curves is smooth,
    so SLSQP and :func:`check_kkt` apply unchanged.
    """

    draws: np.ndarray
    periods: float = 1.0

    def _draws(self, spend: np.ndarray | float) -> tuple[np.ndarray, ...]:
        """Per-period spend with a leading axis for the draws, and the draws' (top, k, n)
        shaped to broadcast against it."""
        x = np.asarray(spend, dtype=float) / self.periods
        d = np.asarray(self.draws, dtype=float).reshape(-1, 3)
        shape = (-1,) + (1,) * x.ndim
        return (x[None, ...], *(d[:, j].reshape(shape) for j in range(3)))

    def value(self, spend: np.ndarray | float) -> np.ndarray:
        return self.periods * hill(*self._draws(spend)).mean(axis=0)

    def marginal(self, spend: np.ndarray | float) -> np.ndarray:
        return hill_marginal(*self._draws(spend)).mean(axis=0)


@dataclass(frozen=True)
class Linear:
    """Constant return per unit of spend (e.g. a channel's historical average ROAS)."""

    rate: float

    def value(self, spend: np.ndarray | float) -> np.ndarray:
        return self.rate * np.asarray(spend, dtype=float)

    def marginal(self, spend: np.ndarray | float) -> np.ndarray:
        return np.full(np.shape(spend), self.rate, dtype=float)


@dataclass
class AllocationResult:
    spend: np.ndarray
    objective: float
    success: bool
    message: str


def _values(curves: Sequence[Curve], s: np.ndarray) -> np.ndarray:
    return np.array([float(np.asarray(c.value(x))) for c, x in zip(curves, s, strict=True)])


def _marginals(curves: Sequence[Curve], s: np.ndarray) -> np.ndarray:
    return np.array([float(np.asarray(c.marginal(x))) for c, x in zip(curves, s, strict=True)])


def _repair(s: np.ndarray, lo: np.ndarray, hi: np.ndarray, budget: float) -> np.ndarray:
    """Project onto {lo <= s <= hi, sum s = budget} by shifting all free coordinates equally
    (bisection on the shift): the Euclidean projection onto the box-and-budget set."""
    lo_t, hi_t = float(np.min(lo - s)), float(np.max(hi - s))
    for _ in range(200):
        mid = (lo_t + hi_t) / 2.0
        total = float(np.sum(np.clip(s + mid, lo, hi)))
        if total > budget:
            hi_t = mid
        else:
            lo_t = mid
    return np.clip(s + (lo_t + hi_t) / 2.0, lo, hi)


def greedy_fill(
    curves: Sequence[Curve], lo: np.ndarray, hi: np.ndarray, budget: float, steps: int = 400
) -> np.ndarray:
    """Start from the lower bounds and hand out the rest in equal increments, each to the
    channel whose next increment returns most (exact for concave curves up to a step)."""
    s = lo.astype(float).copy()
    remaining = budget - float(s.sum())
    if remaining <= 0:
        return s
    step = remaining / steps
    current = _values(curves, s)
    for _ in range(steps):
        room = hi - s
        trial = np.minimum(s + step, hi)
        gains = _values(curves, trial) - current
        gains[room <= 1e-12] = -np.inf
        i = int(np.argmax(gains))
        if not np.isfinite(gains[i]):
            break
        s[i] = trial[i]
        current[i] = float(np.asarray(curves[i].value(s[i])))
    return _repair(s, lo, hi, budget)


def optimize_allocation(
    curves: Sequence[Curve],
    lower: Sequence[float],
    upper: Sequence[float],
    budget: float,
    reference: Sequence[float] | None = None,
) -> AllocationResult:
    """Maximise the summed outcome subject to the budget and per-channel bounds.

    Channels with ``lower == upper`` are pinned. Raises ValueError when the bounds cannot
    hold the budget (``sum(lower) > budget`` or ``sum(upper) < budget``).
    """
    lo = np.asarray(lower, dtype=float)
    hi = np.asarray(upper, dtype=float)
    if lo.shape != hi.shape or len(curves) != lo.size:
        raise ValueError("curves, lower and upper must have the same length")
    if np.any(lo < 0) or np.any(hi < lo):
        raise ValueError("bounds must satisfy 0 <= lower <= upper")
    slack = 1e-9 * max(budget, 1.0)
    if lo.sum() > budget + slack or hi.sum() < budget - slack:
        raise ValueError(
            f"infeasible: the budget {budget:,.2f} is outside [sum of lower bounds "
            f"{lo.sum():,.2f}, sum of upper bounds {hi.sum():,.2f}]"
        )
    if lo.size == 0:
        return AllocationResult(np.empty(0), 0.0, True, "no channels")
    free = hi - lo > 1e-12 * max(budget, 1.0)
    if not free.any():
        s = lo.copy()
        return AllocationResult(s, float(_values(curves, s).sum()), True, "all channels pinned")

    # work in units of the budget and of the reference outcome for good conditioning
    scale_s = max(budget, 1e-12)
    starts = []
    if reference is not None:
        starts.append(_repair(np.asarray(reference, dtype=float), lo, hi, budget))
    starts.append(greedy_fill(curves, lo, hi, budget))
    starts.append(_repair((lo + hi) / 2.0, lo, hi, budget))
    base = float(_values(curves, starts[0]).sum())
    scale_y = max(abs(base), 1e-12)

    def fun(z: np.ndarray) -> float:
        return -float(_values(curves, z * scale_s).sum()) / scale_y

    def jac(z: np.ndarray) -> np.ndarray:
        m = _marginals(curves, np.maximum(z * scale_s, 1e-12 * scale_s))
        m = np.where(np.isfinite(m), m, 1e12)
        return -m * scale_s / scale_y

    bounds = list(zip(lo / scale_s, hi / scale_s, strict=True))
    cons = [
        {
            "type": "eq",
            "fun": lambda z: float(z.sum() - budget / scale_s),
            "jac": lambda z: np.ones_like(z),
        }
    ]
    best: AllocationResult | None = None
    for x0 in starts:
        res = minimize(
            fun,
            x0 / scale_s,
            jac=jac,
            bounds=bounds,
            constraints=cons,
            method="SLSQP",
            options={"maxiter": 500, "ftol": 1e-12},
        )
        s = _repair(np.asarray(res.x) * scale_s, lo, hi, budget)
        obj = float(_values(curves, s).sum())
        # SLSQP may stop early from a poor start; a start point itself is always feasible
        start_obj = float(_values(curves, x0).sum())
        if start_obj > obj:
            s, obj = x0, start_obj
        cand = AllocationResult(s, obj, bool(res.success), str(res.message))
        if best is None or cand.objective > best.objective:
            best = cand
    assert best is not None
    return best


@dataclass
class KKTReport:
    passed: bool
    multiplier: float
    max_rel_gap: float
    status: list[str]
    detail: str


def check_kkt(
    curves: Sequence[Curve],
    spend: Sequence[float],
    lower: Sequence[float],
    upper: Sequence[float],
    rel_tol: float = 0.02,
    bound_tol: float = 1e-6,
) -> KKTReport:
    """Check first-order optimality of an allocation.

    ``status`` per channel: ``pinned`` (lower == upper, ignored), ``at_lower``,
    ``at_upper`` or ``interior``. Interior channels must share one marginal return
    (within ``rel_tol`` of their median); upper-bound channels must not return less and
    lower-bound channels must not return more (same tolerance). Without interior
    channels the multiplier is unidentified and the condition reduces to
    ``min(upper-bound marginals) >= max(lower-bound marginals)``.
    """
    s = np.asarray(spend, dtype=float)
    lo = np.asarray(lower, dtype=float)
    hi = np.asarray(upper, dtype=float)
    m = _marginals(curves, s)
    scale = max(float(np.max(np.abs(hi))), 1.0)
    status = []
    for i in range(s.size):
        if hi[i] - lo[i] <= bound_tol * scale:
            status.append("pinned")
        elif s[i] <= lo[i] + bound_tol * scale:
            status.append("at_lower")
        elif s[i] >= hi[i] - bound_tol * scale:
            status.append("at_upper")
        else:
            status.append("interior")
    st = np.array(status)
    interior, at_up, at_lo = m[st == "interior"], m[st == "at_upper"], m[st == "at_lower"]
    problems = []
    if interior.size:
        lam = float(np.median(interior))
        denom = max(abs(lam), 1e-12)
        gap = float(np.max(np.abs(interior - lam))) / denom
        if gap > rel_tol:
            problems.append(f"interior marginal returns differ by up to {gap:.1%}")
        if at_up.size and float(np.min(at_up)) < lam * (1 - rel_tol):
            gap = max(gap, (lam - float(np.min(at_up))) / denom)
            problems.append("a channel at its upper bound returns less than the multiplier")
        if at_lo.size and float(np.max(at_lo)) > lam * (1 + rel_tol):
            gap = max(gap, (float(np.max(at_lo)) - lam) / denom)
            problems.append("a channel at its lower bound returns more than the multiplier")
    else:
        lam = float("nan")
        gap = 0.0
        if at_up.size and at_lo.size:
            lo_max, up_min = float(np.max(at_lo)), float(np.min(at_up))
            if up_min < lo_max * (1 - rel_tol):
                gap = (lo_max - up_min) / max(abs(lo_max), 1e-12)
                problems.append("a lower-bound channel returns more than an upper-bound one")
    detail = "; ".join(problems) if problems else "marginal returns consistent with optimality"
    return KKTReport(not problems, lam, gap, status, detail)


def historical_roi_allocation(
    avg_roas: Sequence[float], lower: Sequence[float], upper: Sequence[float], budget: float
) -> np.ndarray:
    """The rule of thumb "move money to the best average ROAS": maximise
    ``sum avg_roas_c * S_c`` within the same bounds and budget. The linear programme's
    solution fills channels to their upper bound in decreasing order of average ROAS."""
    r = np.nan_to_num(np.asarray(avg_roas, dtype=float), nan=-np.inf)
    lo = np.asarray(lower, dtype=float)
    hi = np.asarray(upper, dtype=float)
    if lo.sum() > budget + 1e-9 * max(budget, 1) or hi.sum() < budget - 1e-9 * max(budget, 1):
        raise ValueError("infeasible bounds for the budget")
    s = lo.copy()
    remaining = budget - s.sum()
    for i in np.argsort(-r, kind="stable"):
        add = min(hi[i] - s[i], remaining)
        s[i] += add
        remaining -= add
        if remaining <= 0:
            break
    return s
