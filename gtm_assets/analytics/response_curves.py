"""Saturating (Hill) response curves of a channel's outcome on its spend.

Model, per channel and metric, at a fixed time grain (a week by default):

    x_t = (1 - decay) * s_t + decay * x_{t-1}        (normalised geometric adstock, x_0 = s_0)
    E[y_t] = top * x_t^n / (x_t^n + K^n)             (Hill curve)

The adstock is normalised so that a constant spend ``s`` gives ``x = s``: the Hill curve
is then directly the *steady-state* response to a constant spend, which is what budget
planning needs, and ``decay`` only changes how quickly the response follows a change.

When the spend of each period is known at a finer grain (the days of a week), the design
may be a matrix with one row per period and one column per sub-period, holding the spend
*at the period's rate* (a day's spend times the days in the period): the period's expected
outcome is then the mean of the Hill curve over its sub-periods. The curve saturates on the
daily rate, so a week whose spend came in one pulse earns less than the same spend spread
evenly, and the fitted curve is the response to an even spread (what a plan deploys).

Fitting: a grid over (K, n) with ``top`` solved in closed form (least squares through the
origin), then ``scipy.optimize.least_squares`` from the best grid point; the adstock decay
(when enabled) is chosen on a grid by the same residual sum of squares. Uncertainty comes
from a case bootstrap (refits on resampled weeks). Pure: numpy/scipy in, dataclasses out.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
from scipy.optimize import least_squares

N_GRID = (0.5, 0.75, 1.0, 1.25, 1.5, 2.0, 2.5, 3.0)
N_BOUNDS = (0.3, 4.0)
DECAY_GRID = (0.0, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7)


def hill(spend: np.ndarray | float, top: float, k: float, n: float) -> np.ndarray:
    """Hill curve ``top * s^n / (s^n + K^n)``; 0 at zero spend."""
    s = np.maximum(np.asarray(spend, dtype=float), 0.0)
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        ratio = np.power(s / k, n)
        out = top * ratio / (1.0 + ratio)
    return np.where(np.isfinite(out), out, top)


def hill_marginal(spend: np.ndarray | float, top: float, k: float, n: float) -> np.ndarray:
    """Derivative of the Hill curve in spend: ``top * n * K^n * s^(n-1) / (s^n + K^n)^2``.

    Written in terms of ``r = (s/K)^n`` for numerical stability:
    ``top * n * r / (s * (1 + r)^2)``. At ``s = 0`` the limit is used (``inf`` for n < 1,
    ``top / K`` for n = 1, 0 for n > 1). Parameters may be arrays that broadcast against
    ``spend`` (many curves at once).
    """
    s = np.maximum(np.asarray(spend, dtype=float), 0.0)
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        r = np.power(s / k, n)
        out = top * n * r / (s * (1.0 + r) ** 2)
        at_zero = np.where(np.less(n, 1), np.inf, np.where(np.equal(n, 1), np.divide(top, k), 0.0))
    out = np.where(s > 0, out, at_zero)
    return np.where(np.isfinite(out) | (s == 0), out, 0.0)


def period_response(x: np.ndarray, top: float, k: float, n: float) -> np.ndarray:
    """Expected outcome per period of a design ``x``: the Hill curve of a 1-D design, or the
    mean over sub-periods (columns) of a 2-D one (see module docstring)."""
    h = hill(x, top, k, n)
    return h.mean(axis=1) if h.ndim == 2 else h


def period_level(x: np.ndarray) -> np.ndarray:
    """The spend of each period at the period's rate: ``x`` itself, or its row means."""
    return x.mean(axis=1) if x.ndim == 2 else x


def sub_period_decay(decay: float, sub_periods: int) -> float:
    """The carryover per sub-period (a day) that compounds to ``decay`` over a period."""
    return decay ** (1.0 / sub_periods) if decay > 0 else 0.0


def adstock(spend: Sequence[float] | np.ndarray, decay: float) -> np.ndarray:
    """Normalised geometric carryover: ``x_t = (1-d) s_t + d x_{t-1}``, ``x_0 = s_0``.

    A 2-D design (periods x sub-periods) carries over sub-period by sub-period, at the
    per-sub-period decay that compounds to ``decay`` over a period."""
    s = np.asarray(spend, dtype=float)
    if s.ndim == 2:
        return adstock(s.ravel(), sub_period_decay(decay, s.shape[1])).reshape(s.shape)
    if decay <= 0 or s.size == 0:
        return s.copy()
    out = np.empty_like(s)
    out[0] = s[0]
    for t in range(1, s.size):
        out[t] = (1.0 - decay) * s[t] + decay * out[t - 1]
    return out


@dataclass
class CurveFit:
    """A fitted Hill curve with its goodness of fit and bootstrap parameter draws."""

    top: float
    k: float
    n: float
    adstock_decay: float
    r2: float
    rmse: float
    n_points: int
    spend_min: float
    spend_max: float
    boot: np.ndarray = field(default_factory=lambda: np.empty((0, 3)))
    usable: bool = True
    reason: str = ""
    # the grain the curve saturates at when the fit chose it (budget: "week" or "day")
    saturation_grain: str = ""

    def response(self, spend: np.ndarray | float) -> np.ndarray:
        return hill(spend, self.top, self.k, self.n)

    def marginal(self, spend: np.ndarray | float) -> np.ndarray:
        return hill_marginal(spend, self.top, self.k, self.n)

    def response_interval(
        self, spend: np.ndarray | float, level: float = 0.9
    ) -> tuple[np.ndarray, np.ndarray]:
        """Pointwise bootstrap percentile interval of the response (NaN without draws)."""
        return self._boot_interval(hill, spend, level)

    def marginal_interval(
        self, spend: np.ndarray | float, level: float = 0.9
    ) -> tuple[np.ndarray, np.ndarray]:
        """Pointwise bootstrap percentile interval of the marginal response."""
        return self._boot_interval(hill_marginal, spend, level)

    def marginal_draws(self, spend: np.ndarray | float) -> np.ndarray:
        """The marginal response of each bootstrap draw (rows) at ``spend`` (columns)."""
        return self._draws(hill_marginal, spend)

    def _draws(self, curve, spend: np.ndarray | float) -> np.ndarray:
        s = np.atleast_1d(np.asarray(spend, dtype=float))
        if self.boot.shape[0] == 0:
            return np.empty((0, s.size))
        return np.stack([curve(s, t, k, n) for t, k, n in self.boot])

    def _boot_interval(
        self, curve, spend: np.ndarray | float, level: float
    ) -> tuple[np.ndarray, np.ndarray]:
        draws = self._draws(curve, spend)
        if draws.shape[0] < 2:
            nan = np.full(draws.shape[1], np.nan)
            return nan, nan
        alpha = (1.0 - level) / 2.0
        return np.quantile(draws, alpha, axis=0), np.quantile(draws, 1.0 - alpha, axis=0)


def _top_closed_form(h: np.ndarray, y: np.ndarray) -> float:
    denom = float(h @ h)
    return max(float(h @ y) / denom, 0.0) if denom > 0 else 0.0


def _k_grid(x: np.ndarray) -> np.ndarray:
    positive = x[x > 0]
    lo = float(np.min(positive)) * 0.1
    hi = float(np.max(positive)) * 20.0
    return np.geomspace(lo, hi, 40)


def _fit_fixed_decay(
    x: np.ndarray,
    y: np.ndarray,
    start: tuple[float, float, float] | None = None,
    n_bounds: tuple[float, float] = N_BOUNDS,
) -> tuple[float, float, float, float]:
    """Least-squares Hill fit on already-adstocked spend (a 1-D or 2-D design, see
    ``period_response``). Returns (top, K, n, sse).

    ``n_bounds`` with equal ends fixes the exponent (a two-parameter fit)."""
    k_grid = _k_grid(x)
    n_lo, n_hi = n_bounds
    fixed_n = n_hi - n_lo < 1e-9
    if start is None:
        n_grid = (n_lo,) if fixed_n else tuple(n for n in N_GRID if n_lo <= n <= n_hi) or (n_lo,)
        best = (np.inf, 0.0, float(k_grid[0]), n_grid[0])
        for n in n_grid:
            for k in k_grid:
                h = period_response(x, 1.0, k, n)
                top = _top_closed_form(h, y)
                sse = float(np.sum((y - top * h) ** 2))
                if sse < best[0]:
                    best = (sse, top, float(k), n)
        _, top0, k0, n0 = best
    else:
        top0, k0, n0 = start
    k_lo, k_hi = float(k_grid[0]), float(k_grid[-1])
    y_scale = max(float(np.max(np.abs(y))), 1e-12)
    top_hi = y_scale * 1e4
    top0 = min(max(top0, y_scale * 1e-6), top_hi * 0.99)
    k0 = min(max(k0, k_lo * 1.0001), k_hi * 0.9999)
    if fixed_n:
        n0 = n_lo

        def resid(p: np.ndarray) -> np.ndarray:
            return (period_response(x, np.exp(p[0]), np.exp(p[1]), n_lo) - y) / y_scale

        x0 = [np.log(top0), np.log(k0)]
        bounds = ([np.log(y_scale * 1e-6), np.log(k_lo)], [np.log(top_hi), np.log(k_hi)])
        x_scale = [1.0, 1.0]
    else:
        n0 = min(max(n0, n_lo + 1e-6), n_hi - 1e-6)

        def resid(p: np.ndarray) -> np.ndarray:
            return (period_response(x, np.exp(p[0]), np.exp(p[1]), p[2]) - y) / y_scale

        x0 = [np.log(top0), np.log(k0), n0]
        bounds = (
            [np.log(y_scale * 1e-6), np.log(k_lo), n_lo],
            [np.log(top_hi), np.log(k_hi), n_hi],
        )
        x_scale = [1.0, 1.0, 0.5]
    result = least_squares(resid, x0=x0, bounds=bounds, method="trf", x_scale=x_scale, max_nfev=400)
    top, k = float(np.exp(result.x[0])), float(np.exp(result.x[1]))
    n = n_lo if fixed_n else float(result.x[2])
    sse = float(np.sum((period_response(x, top, k, n) - y) ** 2))
    if start is None:
        # keep the grid optimum if the local search somehow made things worse
        sse0 = float(np.sum((period_response(x, top0, k0, n0) - y) ** 2))
        if sse0 < sse:
            return top0, k0, n0, sse0
    return top, k, n, sse


#: A fit whose half-saturation spend lies below this share of the smallest (adstocked) spend
#: of any period with spend has seen only its plateau: its marginal return is a guess.
SATURATION_FLOOR = 0.5


def fit_hill(
    spend: Sequence[float] | np.ndarray,
    outcome: Sequence[float] | np.ndarray,
    *,
    fit_adstock: bool = True,
    decay_grid: Sequence[float] = DECAY_GRID,
    n_boot: int = 100,
    seed: int = 0,
    min_points: int = 8,
    min_r2: float = 0.1,
    n_bounds: tuple[float, float] = N_BOUNDS,
) -> CurveFit:
    """Fit a Hill curve (with optional adstock) to a spend/outcome series in time order.

    ``spend`` is one value per period, or a periods x sub-periods design at the period's
    rate (see the module docstring); the observed spend range is of the period totals.

    ``usable`` is False (with a ``reason``) when there are fewer than ``min_points`` points,
    no spend variation, an R^2 below ``min_r2``, or a half-saturation spend far below every
    period with spend (``SATURATION_FLOOR``; e.g. a new channel whose pre-launch zero weeks
    and one flat spend level fit any small k): such a curve must not drive budget.
    """
    s = np.asarray(spend, dtype=float)
    y = np.asarray(outcome, dtype=float)
    if s.ndim not in (1, 2) or s.shape[0] != y.shape[0] or y.ndim != 1:
        raise ValueError("spend and outcome must have the same length")
    keep = np.isfinite(period_level(s)) & np.isfinite(y)
    s, y = s[keep], y[keep]
    level = period_level(s)
    n_points = int(level.size)
    positive = level[level > 0]
    if n_points < min_points or positive.size < min_points:
        return CurveFit(
            top=np.nan,
            k=np.nan,
            n=np.nan,
            adstock_decay=np.nan,
            r2=np.nan,
            rmse=np.nan,
            n_points=n_points,
            spend_min=float(positive.min()) if positive.size else np.nan,
            spend_max=float(positive.max()) if positive.size else np.nan,
            usable=False,
            reason=(
                f"only {positive.size} periods with spend and a measured outcome "
                f"(need {min_points})"
            ),
        )
    if not np.any(y > 0):
        # every period with spend measured no outcome at all: the measured return is zero
        # (a flat curve the optimizer can move money away from), not an unknown curve
        k0 = float(np.median(positive))
        return CurveFit(
            top=0.0,
            k=k0,
            n=1.0,
            adstock_decay=0.0,
            r2=np.nan,
            rmse=0.0,
            n_points=n_points,
            spend_min=float(positive.min()),
            spend_max=float(positive.max()),
            boot=np.tile([0.0, k0, 1.0], (max(n_boot, 1), 1)),
            usable=True,
            reason=(
                f"no attributed outcome in any of {positive.size} periods with spend: zero return"
            ),
        )
    decays = tuple(decay_grid) if fit_adstock else (0.0,)
    best: tuple[float, float, float, float, float] | None = None
    for decay in decays:
        x = adstock(s, decay)
        top, k, n, sse = _fit_fixed_decay(x, y, n_bounds=n_bounds)
        if best is None or sse < best[4] - 1e-12 * max(best[4], 1.0):
            best = (decay, top, k, n, sse)
    assert best is not None
    decay, top, k, n, sse = best
    x = adstock(s, decay)
    x_level = period_level(x)
    sst = float(np.sum((y - y.mean()) ** 2))
    r2 = 1.0 - sse / sst if sst > 0 else np.nan
    rmse = float(np.sqrt(sse / n_points))

    boot = np.empty((0, 3))
    if n_boot > 0:
        rng = np.random.default_rng(seed)
        draws = []
        for _ in range(n_boot):
            idx = rng.integers(0, n_points, n_points)
            if np.unique(x_level[idx]).size < 3:
                continue
            bt, bk, bn, _ = _fit_fixed_decay(x[idx], y[idx], start=(top, k, n), n_bounds=n_bounds)
            draws.append((bt, bk, bn))
        if draws:
            boot = np.asarray(draws, dtype=float)

    usable, reason = True, ""
    spread = float(positive.max() / positive.min()) if positive.min() > 0 else np.inf
    lowest = float(x_level[level > 0].min())
    if not np.isfinite(r2) or r2 < min_r2:
        usable, reason = False, f"poor fit (R^2 {r2:.3g} < {min_r2:g})"
    elif spread < 1.1:
        usable, reason = False, "spend barely varied (max/min < 1.1): curve not identifiable"
    elif k < SATURATION_FLOOR * lowest:
        # every period with spend sits on the plateau: any smaller k fits as well, and the
        # marginal return (proportional to k there) is not measured
        usable, reason = (
            False,
            (
                f"saturation not identified: the fitted half-saturation spend ({k:,.0f} a period) "
                f"lies far below every period with spend (from {lowest:,.0f}); "
                "only spending at new levels can show the marginal return"
            ),
        )
    return CurveFit(
        top=top,
        k=k,
        n=n,
        adstock_decay=decay,
        r2=float(r2),
        rmse=rmse,
        n_points=n_points,
        spend_min=float(positive.min()),
        spend_max=float(positive.max()),
        boot=boot,
        usable=usable,
        reason=reason,
    )
