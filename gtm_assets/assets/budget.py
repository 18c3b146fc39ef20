"""Budget optimizer: stage 6 of the monthly review, stage 4 of a launch, stage 6 of
quarterly planning. Thin Dagster layer over ``gtm_assets.analytics.{budget, pacing,
allocation, response_curves}``; every table it writes is ``marts.budget_*``.
"""

from datetime import date, timedelta

import dagster as dg
import numpy as np
import pandas as pd
from pydantic import Field

from gtm_assets import warehouse as wh
from gtm_assets.analytics import budget as core
from gtm_assets.analytics import pacing as pace
from gtm_assets.assets.common import (
    WAREHOUSE_POOL,
    markdown_table,
    optional_table_present,
    table_schema,
)
from gtm_assets.partitions import add_months, month_bounds, monthly_partitions
from gtm_assets.resources import ATTRIBUTION_MODELS, GtmSettings, WarehouseResource
from gtm_assets.sql_files import load_sql

GROUP = "budget"


def _stable_query(con, sql: str, params: dict | None = None) -> pd.DataFrame:
    """``query_df`` made reproducible: DuckDB's parallel aggregation sums floats in a
    varying order, and the curve fits and bootstrap amplify those last-bit differences.
    Floats are rounded to 12 significant digits and rows put in a fixed order, so re-running a month
    gives identical tables."""
    df = wh.round_floats(wh.query_df(con, sql, params))
    if len(df) > 1:
        df = df.sort_values(list(df.columns), kind="mergesort").reset_index(drop=True)
    return df


class CurveConfig(dg.Config):
    """How the channels' response curves are fitted."""

    trailing_months: int = Field(
        default=12,
        description="Months of weekly points (ending with the month) the curves are fitted on.",
    )
    adstock: bool = Field(
        default=True,
        description="Fit a geometric carryover (decay chosen on a grid 0-0.7, 0 allowed).",
    )
    min_points: int = Field(default=8, description="Fewest fitted weeks for a usable curve.")
    min_r2: float = Field(default=0.1, description="Lowest R^2 for a curve to drive budget.")
    min_completeness: float = Field(
        default=0.5,
        description=(
            "Recent weeks whose attributed credit is still arriving are scaled up by their "
            "estimated completeness; weeks below this completeness are not fitted."
        ),
    )
    revenue_method: str = Field(
        default="lead_value",
        description=(
            "lead_value: revenue curve = lead curve x the channel's eventual won revenue per "
            "lead (leads' own deals, young leads corrected for deals still to close); "
            "attributed_revenue: fit the model's won-revenue credit by touch week directly "
            "(noisy: deals close weeks to months after the touches that caused them)."
        ),
    )
    value_basis: str = Field(
        default="pipeline",
        description=(
            "What a lead is worth so far. pipeline: its won revenue plus its open "
            "opportunities' amounts at the account's amount-weighted win rate over the "
            "trailing window, young leads scaled up by the share of opportunity value the "
            "account's leads have created by their age (open pipeline shows a channel's deal "
            "sizes months before they close); won: closed-won revenue only, young leads "
            "scaled up by the share that has closed by their age."
        ),
    )
    value_horizon_days: int = Field(
        default=270,
        description="Leads this old are taken to have created (or closed) all their deals.",
    )
    min_value_completeness: float = Field(
        default=0.3,
        description="Leads whose expected share of closed revenue is below this are not used.",
    )
    attribution_model: str | None = Field(
        default=None,
        description=(
            "Attribution model whose credit the curves are fitted on; empty = the shared "
            "setting (GTM_ATTRIBUTION_MODEL). On generated data shapley recovers the true "
            "channel responses far better than linear (see README)."
        ),
    )
    grain: str = Field(
        default="week",
        description="Time grain of the fitted points: day or week (Monday-start weeks).",
    )
    within_period_saturation: bool = Field(
        default=True,
        description=(
            "At week grain, let a channel's curve saturate on its daily spend rate inside "
            "the week when that fits its weekly outcomes better (same parameters, lower "
            "AIC): a week spent in one or two pulses then earns less than the same spend "
            "spread evenly, and the curve and the recommendation are for an even spread. "
            "The chosen grain is the saturation_grain column. False: weekly totals only."
        ),
    )
    value_method: str = Field(
        default="regression",
        description=(
            "How a channel's revenue per lead is estimated from the leads' own deals. "
            "regression: least squares of each lead's revenue on its channel mix (un-mixes "
            "leads touched by several channels), shrunk towards the mean under a "
            "hierarchical prior whose spread is averaged over its posterior; "
            "average: the credit-weighted mean revenue of the channel's leads (pulls every "
            "channel towards the overall mean)."
        ),
    )
    shrink_value_per_lead: bool = Field(
        default=True,
        description=(
            "Shrink each channel's revenue per lead towards the paid channels' mean by its "
            "sampling noise (hierarchical prior for regression, empirical Bayes for "
            "average): deals are rare and skewed."
        ),
    )
    hill_n_min: float = Field(
        default=1.0,
        description=(
            "Smallest Hill exponent allowed. Default 1 = hill_n_max: the exponent is fixed "
            "(a concave Michaelis-Menten curve), because a year of weekly points rarely "
            "identifies it and a free exponent made worse budget decisions on generated "
            "data (README). Set e.g. 0.5-3 to fit it."
        ),
    )
    hill_n_max: float = Field(
        default=1.0,
        description="Largest Hill exponent allowed (equal to hill_n_min fixes the exponent).",
    )
    n_boot: int = Field(default=100, description="Bootstrap refits for the uncertainty bands.")
    seed: int = Field(default=0, description="Seed of the bootstrap.")


class ReallocationConfig(dg.Config):
    """The constrained reallocation (also used for the quarterly plan)."""

    objective: str = Field(
        default="revenue",
        description="What to maximise: revenue (won deals) or conversions (leads).",
    )
    bound_pct: float = Field(
        default=0.30, description="Each channel may move at most this share up or down."
    )
    pinned_channels: list[str] = Field(
        default_factory=list, description="Channels whose spend must not change."
    )
    test_reserve: float = Field(
        default=0.10,
        description="Share of the budget held back for experiments (the gate requires 10-15%).",
    )
    extrapolation_limit: float = Field(
        default=0.25,
        description=(
            "A channel's weekly spend may exceed the largest weekly spend its curve was "
            "fitted on by at most this share (no far extrapolation)."
        ),
    )
    kkt_tolerance: float = Field(
        default=0.02,
        description="Relative tolerance of the equal-marginal-ROAS check at the optimum.",
    )
    interval_level: float = Field(default=0.9, description="Level of the bootstrap intervals.")
    objective_curve: str = Field(
        default="bootstrap_mean",
        description=(
            "The curve maximised per channel: point (the fitted curve) or bootstrap_mean "
            "(the mean of the fit's bootstrap curves, each with its paired revenue-per-lead "
            "draw: the expected revenue under the fits' uncertainty)."
        ),
    )
    cut_without_curve: bool = Field(
        default=True,
        description=(
            "A channel without a usable curve may be cut (down to its lower bound) when even "
            "its average return is below the others' marginal return, but is never raised: "
            "for a saturating response the marginal return is at most the average. False "
            "holds such a channel at the current mix."
        ),
    )


class PacingConfig(dg.Config):
    run_rate_days: int = Field(default=7, description="Days of recent spend in the run rate.")
    tolerance: float = Field(
        default=0.10, description="Projected spend this far from plan is over/under pacing."
    )


class WasteConfig(dg.Config):
    cpa_tolerance: float = Field(
        default=0.0, description="CPA above target * (1 + this) counts as waste."
    )
    cpa_p_value: float = Field(
        default=0.05,
        description=(
            "...and only when the leads credited are fewer than the target implies for the "
            "spend at this one-sided Poisson p-value (a CPA a little over target on a few "
            "leads is noise), Benjamini-Hochberg adjusted over the month's CPA and no-lead "
            "tests; the no-lead rule asks the same of zero leads at the going CPA."
        ),
    )
    saturation_min_probability: float = Field(
        default=0.95,
        ge=0.0,
        le=1.0,
        description=(
            "A channel is past saturation only when its marginal ROAS is below 1 on the "
            "point fit and on at least this share of the curve's bootstrap draws (0.95: "
            "the same evidence as cpa_p_value 0.05)."
        ),
    )


class TriggerConfig(dg.Config):
    cpa_over: float = Field(default=0.20, description="Fire when CPA exceeds target by this share.")
    roas_under: float = Field(
        default=0.20, description="Fire when ROAS falls short of target by this share."
    )
    pacing_tolerance: float = Field(
        default=0.10, description="Fire when projected spend is this far from plan."
    )
    min_marginal_roas: float = Field(
        default=1.0, description="Channel saturated below this marginal ROAS."
    )
    headroom_marginal_roas: float = Field(
        default=2.0, description="Channel has headroom above this marginal ROAS."
    )


def _window(partition_key: str, months: int) -> tuple[date, date, date]:
    start, end = month_bounds(partition_key)
    return start, end, add_months(start, -(months - 1))


def _options(
    curve: CurveConfig | None = None, realloc: ReallocationConfig | None = None
) -> core.BudgetOptions:
    kw: dict = {}
    if curve is not None:
        kw.update(
            trailing_months=curve.trailing_months,
            adstock=curve.adstock,
            min_points=curve.min_points,
            min_r2=curve.min_r2,
            min_completeness=curve.min_completeness,
            n_boot=curve.n_boot,
            seed=curve.seed,
            grain=curve.grain,
            within_period=curve.within_period_saturation,
            n_bounds=(curve.hill_n_min, curve.hill_n_max),
        )
    if realloc is not None:
        kw.update(
            objective=realloc.objective,
            bound_pct=realloc.bound_pct,
            pinned_channels=tuple(realloc.pinned_channels),
            test_reserve=realloc.test_reserve,
            extrapolation_limit=realloc.extrapolation_limit,
            kkt_tolerance=realloc.kkt_tolerance,
            interval_level=realloc.interval_level,
            objective_curve=realloc.objective_curve,
            cut_without_curve=realloc.cut_without_curve,
        )
    return core.BudgetOptions(**kw)


def _month_spend(con, start: date, end: date) -> tuple[dict[str, float], str | None]:
    """Spend per channel in the month (projected to its end when the export ends inside it)."""
    df = _stable_query(
        con, load_sql("marts/budget_daily_spend"), {"window_start": start, "month_end": end}
    )
    return pace.month_spend_to_end(df, start, end)


def _plan(con, start: date, end: date) -> pd.DataFrame:
    if not optional_table_present(con, "budget_plan"):
        return pd.DataFrame(columns=["month", "channel", "planned_spend"])
    df = _stable_query(
        con, load_sql("marts/budget_plan_months"), {"from_month": start, "to_month": end}
    )
    df["month"] = pd.to_datetime(df["month"]).dt.date
    return df


def _average_return(
    con, window_start: date, month_end: date, metric: str, curves: pd.DataFrame, model: str
) -> dict[str, float]:
    """Each channel's historical average return over the window (outcome per unit of
    spend), measured the way its curve is: attributed leads per spend, and for revenue
    either leads x the curve's revenue per lead (``lead_value``) or the model's won-revenue
    credit (``attributed_revenue``). Used for the historical-ROI rule and for channels
    without a usable curve."""
    credit = _stable_query(
        con,
        load_sql("marts/budget_model_credit"),
        {"window_start": window_start, "month_end": month_end, "model": model},
    )
    spend = (
        _stable_query(
            con,
            load_sql("marts/budget_daily_spend"),
            {"window_start": window_start, "month_end": month_end},
        )
        .groupby("channel")["spend"]
        .sum()
    )
    leads = (
        credit[credit["conversion_type"] == "lead"].groupby("channel")["model_conversions"].sum()
    )
    won = credit[credit["conversion_type"] == "won"].groupby("channel")["model_revenue"].sum()
    value = {}
    if not curves.empty and "value_per_lead" in curves.columns:
        rev = curves[curves["metric"] == "revenue"]
        value = {
            str(c): float(v)
            for c, v in zip(rev["channel"], rev["value_per_lead"], strict=True)
            if pd.notna(v)
        }
    out = {}
    for c, s in spend.items():
        if s <= 0:
            continue
        if metric == "conversions":
            out[str(c)] = float(leads.get(c, 0.0)) / float(s)
        elif value:
            if str(c) in value:
                out[str(c)] = float(leads.get(c, 0.0)) * value[str(c)] / float(s)
        else:
            out[str(c)] = float(won.get(c, 0.0)) / float(s)
    return out


def _with_due_in_window(con, perf: pd.DataFrame, month: date) -> pd.DataFrame:
    """``perf`` with ``effective_leads_3m`` (each campaign's leads weighted by the share of
    their opportunities the account's lead-to-opportunity lag puts in the three months
    ending with ``month``) and ``won_due_spend_3m`` (its spend weighted the same way by the
    lead-to-won-deal lag): what its leads and its spend owe the window at their ages."""
    params = {"month_start": month, "history_months": pace.LAG_HISTORY_MONTHS}
    history = _stable_query(con, load_sql("marts/budget_campaign_history"), params)
    out = perf.copy()
    for column, conversion_type, volume in (
        ("effective_leads_3m", "opportunity", "leads"),
        ("won_due_spend_3m", "won", "spend"),
    ):
        development = con.execute(
            load_sql("marts/budget_lead_cohort_development"),
            params | {"conversion_type": conversion_type},
        ).df()
        completeness = pace.lead_cohort_completeness(development, month)
        due = pace.due_in_window(history, month, completeness, volume)
        out[column] = out["campaign_id"].map(due).astype(float).fillna(0.0)
    return out


#: Days of touches before the lookback the waste rules measure each channel's lead lag on.
LEAD_LAG_HISTORY_DAYS = 180


def _lead_due_spend(con, month: date, month_end: date, lookback_days: int) -> pd.DataFrame:
    """Per campaign, ``lead_due_spend``: the spend whose leads each channel's lag puts in
    the month (:func:`pacing.lead_due_spend`), and ``lead_due_spend_3m``: the same summed
    over the months of the three ending with this one that campaign performance holds for
    the campaign (its ``leads_3m`` cover those months): what the CPA and no-lead rules
    judge."""
    lags = _stable_query(
        con,
        load_sql("marts/budget_lead_lags"),
        {
            "month_end": month_end,
            "lookback_days": lookback_days,
            "history_days": LEAD_LAG_HISTORY_DAYS,
        },
    )
    first = add_months(month, 1 - pace.WINDOW_MONTHS)
    daily = _stable_query(
        con,
        load_sql("marts/budget_daily_spend"),
        {"window_start": first - timedelta(days=lookback_days), "month_end": month_end},
    )
    curves = pace.lead_lag_curves(lags)
    by_month = {
        start: pace.lead_due_spend(daily, curves, start, add_months(start, 1))
        for start in (add_months(first, k) for k in range(pace.WINDOW_MONTHS))
    }
    out = pd.DataFrame({"lead_due_spend": by_month[month]})
    if wh.table_exists(con, "marts.campaign_performance"):
        history = _stable_query(
            con,
            load_sql("marts/budget_campaign_history"),
            {"month_start": month, "history_months": pace.WINDOW_MONTHS - 1},
        )
        due_3m = [
            float(by_month[pd.Timestamp(m).date()].get(c, 0.0))
            for c, m in zip(history["campaign_id"], history["month"], strict=True)
        ]
        out = out.join(
            pd.Series(due_3m, index=history["campaign_id"].to_numpy(), dtype=float)
            .groupby(level=0)
            .sum()
            .rename("lead_due_spend_3m"),
            how="outer",
        )
    return out


def _campaign_month(con, month: date, month_end: date, lookback_days: int) -> pd.DataFrame:
    """The month's campaigns as the waste and trigger rules judge them: performance, what
    their leads and spend owe the three-month window (:func:`_with_due_in_window`) and the
    spend whose leads are due (:func:`_lead_due_spend`)."""
    perf = _with_due_in_window(
        con,
        _stable_query(con, load_sql("marts/budget_campaign_month"), {"month_start": month}),
        month,
    )
    due = _lead_due_spend(con, month, month_end, lookback_days)
    return perf.merge(due, how="left", left_on="campaign_id", right_index=True)


VALUE_BASES = ("pipeline", "won")


def _value_lags(con, basis: str, params: dict) -> tuple[pd.DataFrame, float | None]:
    """The lags that say how complete a young lead's revenue is, and the win rate its open
    pipeline counts at (None: won revenue only). Without a closed opportunity in the window
    there is no win rate to value pipeline at, and the won basis is used."""
    if basis == "pipeline":
        lags = _stable_query(con, load_sql("marts/budget_opportunity_lags"), params)
        rate = core.win_rate(lags)
        if np.isfinite(rate):
            return lags, rate
    won = _stable_query(con, load_sql("marts/budget_won_lags"), {"month_end": params["month_end"]})
    return won, None


def _load_fits(con, month: date) -> tuple[dict, pd.DataFrame, pd.DataFrame]:
    if not wh.table_exists(con, "marts.budget_response_curves"):
        return {}, pd.DataFrame(), pd.DataFrame()
    curves = _stable_query(
        con, "select * from marts.budget_response_curves where month = $m", {"m": month}
    )
    boot = _stable_query(
        con, "select * from marts.budget_curve_bootstrap where month = $m", {"m": month}
    )
    return core.fits_from_tables(curves, boot), curves, boot


# Columns that may be all NULL in a month (or hold dates) get an explicit type, so the first
# month written fixes the right column type and later months append cleanly.
TYPES: dict[str, dict[str, str]] = {
    "marts.budget_response_curves": {
        "channel": "VARCHAR",
        "metric": "VARCHAR",
        "reason": "VARCHAR",
        "window_start": "DATE",
        "value_basis": "VARCHAR",
        "pipeline_win_rate": "DOUBLE",
        "saturation_grain": "VARCHAR",
        "flighting_shortfall": "DOUBLE",
    },
    "marts.budget_curve_points": {
        "channel": "VARCHAR",
        "metric": "VARCHAR",
        "period_start": "DATE",
        "grain": "VARCHAR",
        "outcome": "DOUBLE",
    },
    "marts.budget_curve_bootstrap": {
        "channel": "VARCHAR",
        "metric": "VARCHAR",
        "draw": "INTEGER",
        "top": "DOUBLE",
        "k": "DOUBLE",
        "n": "DOUBLE",
    },
    "marts.budget_reallocation": {
        "channel": "VARCHAR",
        "at_bound": "VARCHAR",
        "pinned_reason": "VARCHAR",
        "marginal_roas_current": "DOUBLE",
        "marginal_roas_recommended": "DOUBLE",
        "average_roas_current": "DOUBLE",
        "change_pct": "DOUBLE",
        "total_gain_ci_low": "DOUBLE",
        "total_gain_ci_high": "DOUBLE",
    },
    "marts.budget_pacing_schedule": {
        "schedule_month": "DATE",
        "grain": "VARCHAR",
        "period_start": "DATE",
        "channel": "VARCHAR",
    },
    "marts.budget_pacing": {
        "level": "VARCHAR",
        "channel": "VARCHAR",
        "campaign_id": "VARCHAR",
        "as_of_date": "DATE",
        "planned_spend": "DOUBLE",
        "plan_source": "VARCHAR",
        "plan_to_date": "DOUBLE",
        "pacing_ratio": "DOUBLE",
        "status": "VARCHAR",
        "run_out_date": "DATE",
        "lifetime_spend": "DOUBLE",
        "lifetime_budget": "DOUBLE",
        "lifetime_budget_run_out_date": "DATE",
    },
    "marts.budget_waste": {
        "kind": "VARCHAR",
        "scope": "VARCHAR",
        "scope_id": "VARCHAR",
        "name": "VARCHAR",
        "channel": "VARCHAR",
        "spend": "DOUBLE",
        "metric": "VARCHAR",
        "value": "DOUBLE",
        "threshold": "DOUBLE",
        "wasted_spend": "DOUBLE",
        "detail": "VARCHAR",
        "attribution_model": "VARCHAR",
        "last_touch_leads": "DOUBLE",
        "platform_conversions": "DOUBLE",
        "campaign_end_date": "DATE",
        "trailing_3m_roas": "DOUBLE",
        "target_cpa": "DOUBLE",
        "cpa": "DOUBLE",
        "leads_3m": "DOUBLE",
        "opportunities_3m": "DOUBLE",
        "lead_due_spend": "DOUBLE",
        "p_value": "DOUBLE",
        "p_value_adjusted": "DOUBLE",
    },
    "marts.budget_triggers": {
        "rule": "VARCHAR",
        "scope": "VARCHAR",
        "scope_id": "VARCHAR",
        "channel": "VARCHAR",
        "metric": "VARCHAR",
        "value": "DOUBLE",
        "threshold": "DOUBLE",
        "fired": "BOOLEAN",
        "action": "VARCHAR",
        "overridden_by": "VARCHAR",
    },
    "marts.budget_quarterly_allocation": {
        "quarter_start": "DATE",
        "channel": "VARCHAR",
        "pinned_reason": "VARCHAR",
        "average_roas_history": "DOUBLE",
        "marginal_roas_current": "DOUBLE",
        "marginal_roas_marginal_roi": "DOUBLE",
    },
}


def _model_of(curves: pd.DataFrame, settings: GtmSettings) -> str:
    """The attribution model the month's curves were fitted on (settings when none)."""
    if curves.empty or "attribution_model" not in curves.columns:
        return settings.attribution_model
    return str(curves["attribution_model"].iloc[0])


def _grain_of(curves: pd.DataFrame) -> str:
    """The grain the month's curves were fitted at (week when there are none)."""
    if curves.empty or "grain" not in curves.columns:
        return "week"
    return str(curves["grain"].iloc[0])


def _write(con, table: str, df: pd.DataFrame, month: date) -> int:
    """Write a month's slice with explicit types for nullable columns; an empty result
    still replaces the slice (the table is created with its typed columns if new)."""
    types = TYPES[table]
    if df.empty:
        if not wh.table_exists(con, table):
            cols = ", ".join(f"{wh.ident(c)} {t}" for c, t in {"month": "DATE", **types}.items())
            con.execute(f"create table {wh.ident(table)} ({cols})")
        con.execute(f"delete from {wh.ident(table)} where month = $m", {"m": month})
        return 0
    out = df.copy()
    out.insert(0, "month", month)
    casts = [
        f"cast({wh.ident(c)} as {t}) as {wh.ident(c)}" for c, t in types.items() if c in out.columns
    ]
    con.register("_budget_out", out)
    try:
        select = (
            "select * " + (f"replace ({', '.join(casts)}) " if casts else "") + "from _budget_out"
        )
        return wh.replace_month(con, table, select, month)
    finally:
        con.unregister("_budget_out")


# ---------------------------------------------------------------------------- curves


@dg.asset(
    partitions_def=monthly_partitions,
    group_name=GROUP,
    pool=WAREHOUSE_POOL,
    kinds={"duckdb", "python"},
    deps=["staging_tables", "campaign_attribution"],
    description=(
        "How each paid channel's attributed revenue and leads respond to its spend: a "
        "saturating (Hill) curve fitted on the last 12 months of weeks (or days), with carryover, "
        "saturating on the week's or the day's spend (whichever fits better; bursts of spend "
        "then earn less than an even spread), goodness of fit, bootstrap uncertainty, "
        "average and marginal ROAS at current spend "
        "and the spend range it was observed on (tables budget_response_curves, "
        "budget_curve_points, budget_curve_bootstrap)."
    ),
    check_specs=[
        dg.AssetCheckSpec(
            "curves_usable",
            asset="budget_response_curves",
            blocking=False,
            description="Warns when a channel with spend has no usable revenue curve.",
        ),
    ],
)
def budget_response_curves(
    context: dg.AssetExecutionContext,
    config: CurveConfig,
    warehouse: WarehouseResource,
    settings: GtmSettings,
) -> dg.MaterializeResult:
    options = _options(curve=config)
    model_name = config.attribution_model or settings.attribution_model
    if model_name not in ATTRIBUTION_MODELS:
        raise ValueError(
            f"attribution_model must be one of {ATTRIBUTION_MODELS}, got {model_name!r}"
        )
    month, month_end, window_start = _window(context.partition_key, config.trailing_months)
    params = {"window_start": window_start, "month_end": month_end}
    with warehouse.connect() as con:
        spend = _stable_query(con, load_sql("marts/budget_daily_spend"), params)
        credit = _stable_query(
            con,
            load_sql("marts/budget_touch_credit"),
            {**params, "lookback_days": settings.lookback_days, "grain": config.grain},
        )
        model = _stable_query(
            con,
            load_sql("marts/budget_model_credit"),
            {**params, "model": model_name},
        )
        points = core.period_points(
            spend,
            credit,
            model,
            window_start,
            month_end,
            settings.lookback_days,
            config.min_completeness,
            config.grain,
        )
        values = pd.DataFrame()
        value_basis, pipeline_win_rate = None, None
        if config.revenue_method == "lead_value":
            fits = core.fit_curves(points[points["metric"] == "conversions"], options, spend)
            split = _stable_query(
                con,
                load_sql("marts/budget_lead_value"),
                {**params, "lookback_days": settings.lookback_days},
            )
            if config.value_method not in ("regression", "average"):
                raise ValueError(
                    f"value_method must be regression or average, got {config.value_method!r}"
                )
            if config.value_basis not in VALUE_BASES:
                raise ValueError(
                    f"value_basis must be one of {VALUE_BASES}, got {config.value_basis!r}"
                )
            lags, pipeline_win_rate = _value_lags(con, config.value_basis, params)
            value_basis = "won" if pipeline_win_rate is None else "pipeline"
            estimate = (
                core.lead_values_regression
                if config.value_method == "regression"
                else core.lead_values
            )
            value_args = dict(
                lead_split=split,
                lags=lags,
                horizon_days=config.value_horizon_days,
                min_completeness=config.min_value_completeness,
                shrink=config.shrink_value_per_lead,
                channels=sorted(spend.loc[spend["spend"] > 0, "channel"].unique()),
                pipeline_win_rate=pipeline_win_rate,
            )
            values = estimate(**value_args)
            # the regression's uncertainty (a value resting on a few large deals) rides
            # along in the revenue curves' bootstrap draws
            value_draws = (
                core.lead_value_draws(**value_args, n_draws=options.n_boot, seed=options.seed)
                if config.value_method == "regression"
                else None
            )
            fits = core.revenue_from_leads(fits, values, value_draws)
            points = core.revenue_points_from_leads(points, values)
        elif config.revenue_method == "attributed_revenue":
            fits = core.fit_curves(points, options, spend)
        else:
            raise ValueError(
                f"revenue_method must be lead_value or attributed_revenue, got {config.revenue_method!r}"
            )
        in_month = spend[pd.to_datetime(spend["date"]).dt.date >= month]
        days = (month_end - month).days
        current_per_period = {
            str(c): float(v) * options.grain_days / days
            for c, v in in_month.groupby("channel")["spend"].sum().items()
        }
        table = core.curves_table(fits, current_per_period, config.grain)
        month_days = pd.date_range(month, month_end, inclusive="left")
        table["flighting_shortfall"] = [
            core.flighting_shortfall(
                fits[(r.channel, r.metric)],
                core.channel_daily_spend(in_month, r.channel, month_days),
                options.grain_days,
            )
            for r in table.itertuples()
        ]
        table["attribution_model"] = model_name
        table["revenue_method"] = config.revenue_method
        if not values.empty and not table.empty:
            table = table.merge(
                values[
                    [
                        "channel",
                        "value_per_lead",
                        "value_raw",
                        "value_se",
                        "shrinkage",
                        "credited_leads",
                    ]
                ],
                on="channel",
                how="left",
            )
        table["window_start"] = window_start
        table["value_basis"] = value_basis
        table["pipeline_win_rate"] = pipeline_win_rate
        n = _write(con, "marts.budget_response_curves", table, month)
        _write(con, "marts.budget_curve_points", points, month)
        _write(
            con,
            "marts.budget_curve_bootstrap",
            core.boot_table(fits),
            month,
        )
        schema = table_schema(con, "marts.budget_response_curves") if n else None

    rev = table[(table["metric"] == "revenue")] if not table.empty else table
    unusable = rev[~rev["usable"]] if not rev.empty else rev
    shown = (
        rev[
            [
                "channel",
                "r2",
                "n_points",
                "adstock_decay",
                "saturation_grain",
                "flighting_shortfall",
                "current_period_spend",
                "average_return_current",
                "marginal_return_current",
                "far_from_saturation",
                "reason",
            ]
        ]
        if not rev.empty
        else rev
    )
    metadata = {
        "dagster/row_count": n,
        "preview": dg.MetadataValue.md(markdown_table(shown)),
        "window": f"{window_start} to {month_end} (weekly points)",
        "attribution_model": model_name,
        "value_basis": value_basis or "none (attributed_revenue)",
    }
    if pipeline_win_rate is not None:
        metadata["pipeline_win_rate"] = round(float(pipeline_win_rate), 4)
    if schema is not None:
        metadata["dagster/column_schema"] = schema
    return dg.MaterializeResult(
        metadata=metadata,
        check_results=[
            dg.AssetCheckResult(
                check_name="curves_usable",
                passed=bool(not rev.empty and unusable.empty),
                severity=dg.AssetCheckSeverity.WARN,
                metadata={
                    "unusable": dg.MetadataValue.md(
                        markdown_table(unusable[["channel", "reason"]])
                        if not unusable.empty
                        else "none"
                    ),
                    "channels": int(len(rev)),
                },
            )
        ],
    )


# ---------------------------------------------------------------------------- reallocation


@dg.asset(
    partitions_def=monthly_partitions,
    group_name=GROUP,
    pool=WAREHOUSE_POOL,
    kinds={"duckdb", "python"},
    deps=["staging_tables", "campaign_attribution", "budget_response_curves"],
    description=(
        "Next month's recommended spend per channel: maximises expected revenue on the fitted "
        "curves (by default each channel's mean bootstrap curve) within +-30% of each "
        "channel's current share, holding back a 10% test reserve, "
        "with expected revenue before and after (90% intervals), and the daily/weekly pacing "
        "schedule that delivers it (tables budget_reallocation, budget_pacing_schedule)."
    ),
    check_specs=[
        dg.AssetCheckSpec(
            "allocation_sums_to_budget",
            asset="budget_reallocation",
            blocking=True,
            description="Recommended spend sums to the budget minus the test reserve.",
        ),
        dg.AssetCheckSpec(
            "within_bounds",
            asset="budget_reallocation",
            blocking=True,
            description="Every channel's recommendation lies within its bounds.",
        ),
        dg.AssetCheckSpec(
            "reserve_within_range",
            asset="budget_reallocation",
            blocking=True,
            description="The test reserve is 10-15% of the budget.",
        ),
        dg.AssetCheckSpec(
            "marginal_roas_equalised",
            asset="budget_reallocation",
            blocking=True,
            description=(
                "At the optimum, channels not at a bound share one marginal ROAS; "
                "channels at their upper (lower) bound return at least (at most) it."
            ),
        ),
    ],
)
def budget_reallocation(
    context: dg.AssetExecutionContext,
    config: ReallocationConfig,
    warehouse: WarehouseResource,
    settings: GtmSettings,
) -> dg.MaterializeResult:
    options = _options(realloc=config)
    month, month_end, window_start = _window(context.partition_key, 12)
    next_end = add_months(month_end, 1)
    days_next = (next_end - month_end).days
    with warehouse.connect() as con:
        fits, curves, boot = _load_fits(con, month)
        options.grain = _grain_of(curves)
        current, partial_note = _month_spend(con, month, month_end)
        plan = _plan(con, month_end, next_end)
        planned_next = {
            str(r.channel): float(r.planned_spend) for r in plan.itertuples(index=False)
        }
        avg = _average_return(
            con, window_start, month_end, options.objective, curves, _model_of(curves, settings)
        )
        notes = [partial_note] if partial_note else []
        if not optional_table_present(con, "budget_plan"):
            notes.append(
                "skipped budget plan: budget_plan not supplied; budget = this month's spend"
            )
        if not current and not planned_next:
            result = None
        else:
            result = core.reallocate(fits, current, planned_next, avg, days_next, options)
            notes += result.notes
        table = result.table if result is not None else pd.DataFrame()
        checks = _reallocation_checks(result, options)
        # a recommendation that fails a gate does not replace the month's slice: the
        # previous one (if any) stays, and the run stops before anything reads it
        rejected = [c.check_name for c in checks if not c.passed]
        if rejected:
            notes.append(
                f"not written: the recommendation failed {', '.join(rejected)}; the month's "
                "previous slice of budget_reallocation and budget_pacing_schedule is kept"
            )
        n = 0 if rejected else _write(con, "marts.budget_reallocation", table, month)
        schedule = pd.DataFrame()
        if result is not None and not rejected:
            daily = _stable_query(
                con,
                load_sql("marts/budget_daily_spend"),
                {"window_start": add_months(month, -2), "month_end": month_end},
            )
            profile = pace.weekday_profile(daily, month_end)
            amounts = table.set_index("channel")["recommended_spend"]
            schedule = pace.pacing_schedule(amounts, month_end, next_end, profile)
            schedule.insert(0, "schedule_month", month_end)
        if not rejected:
            _write(con, "marts.budget_pacing_schedule", schedule, month)
        points = (
            _stable_query(
                con, "select * from marts.budget_curve_points where month = $m", {"m": month}
            )
            if wh.table_exists(con, "marts.budget_curve_points")
            else pd.DataFrame()
        )

    metadata: dict = {"dagster/row_count": n, "notes": "; ".join(notes) or "none"}
    if result is not None:
        metadata.update(
            {
                "preview": dg.MetadataValue.md(
                    markdown_table(
                        table[
                            [
                                "channel",
                                "current_spend",
                                "recommended_spend",
                                "lower_bound",
                                "upper_bound",
                                "marginal_roas_current",
                                "marginal_roas_recommended",
                                "at_bound",
                                "pinned_reason",
                            ]
                        ]
                    )
                ),
                "budget": result.budget,
                "budget_source": result.budget_source,
                "test_reserve": result.reserve,
                "expected_current": result.total_current,
                "expected_current_mix_at_budget": result.total_reference,
                "expected_recommended": result.total_recommended,
                "expected_recommended_interval": f"{result.total_recommended_ci[0]:,.0f} - {result.total_recommended_ci[1]:,.0f}",
                "expected_gain_interval": f"{result.gain_ci[0]:,.0f} - {result.gain_ci[1]:,.0f}",
                "marginal_roas_at_optimum": float(result.multiplier)
                if np.isfinite(result.multiplier)
                else None,
            }
        )
        if not curves.empty:
            pngs = core.channel_plots(curves, boot, points, table, options.objective, days_next)
            metadata["curves"] = dg.MetadataValue.md(
                "\n\n".join(core.png_markdown(p, f"{c} response curve") for c, p in pngs.items())
            )
    else:
        metadata["preview"] = dg.MetadataValue.md("_no spend and no plan: nothing to allocate_")
    return dg.MaterializeResult(metadata=metadata, check_results=checks)


def _reallocation_checks(
    result: core.Reallocation | None, options: core.BudgetOptions
) -> list[dg.AssetCheckResult]:
    if result is None:
        return [
            dg.AssetCheckResult(
                check_name=name, passed=True, metadata={"note": "no channels this month"}
            )
            for name in (
                "allocation_sums_to_budget",
                "within_bounds",
                "reserve_within_range",
                "marginal_roas_equalised",
            )
        ]
    t = result.table
    total = float(t["recommended_spend"].sum())
    tol = 1e-6 * max(result.budget, 1.0)
    outside = t[
        (t["recommended_spend"] < t["lower_bound"] - tol)
        | (t["recommended_spend"] > t["upper_bound"] + tol)
    ]
    # a budget of 0 (no spend and a plan of zeros) reserves 0 of 0: the configured share
    share = (result.budget - total) / result.budget if result.budget > 0 else options.test_reserve
    return [
        dg.AssetCheckResult(
            check_name="allocation_sums_to_budget",
            passed=bool(abs(total - result.allocatable) <= tol),
            metadata={"recommended_total": total, "budget_minus_reserve": result.allocatable},
        ),
        dg.AssetCheckResult(
            check_name="within_bounds",
            passed=bool(outside.empty),
            metadata={
                "outside": dg.MetadataValue.md(
                    markdown_table(
                        outside[["channel", "recommended_spend", "lower_bound", "upper_bound"]]
                    )
                    if not outside.empty
                    else "none"
                )
            },
        ),
        dg.AssetCheckResult(
            check_name="reserve_within_range",
            passed=bool(0.10 - 1e-9 <= share <= 0.15 + 1e-9),
            metadata={"reserve_share": float(share), "reserve": result.reserve},
        ),
        dg.AssetCheckResult(
            check_name="marginal_roas_equalised",
            passed=bool(result.kkt_passed),
            metadata={
                "detail": result.kkt_detail,
                "max_relative_gap": float(result.kkt_gap),
                "tolerance": options.kkt_tolerance,
            },
        ),
    ]


# ---------------------------------------------------------------------------- pacing


@dg.asset(
    partitions_def=monthly_partitions,
    group_name=GROUP,
    pool=WAREHOUSE_POOL,
    kinds={"duckdb", "python"},
    deps=["staging_tables"],
    description=(
        "Spend against plan per channel (budget plan, else the campaigns' prorated budgets) and "
        "per campaign: month to date, projected end of month from the last 7 days' run rate, "
        "over/under-pacing flags and the day the budget runs out (table budget_pacing)."
    ),
    check_specs=[
        dg.AssetCheckSpec(
            "pacing_on_plan",
            asset="budget_pacing",
            blocking=False,
            description="Warns when a channel is projected more than the tolerance off plan.",
        ),
    ],
)
def budget_pacing(
    context: dg.AssetExecutionContext, config: PacingConfig, warehouse: WarehouseResource
) -> dg.MaterializeResult:
    month, month_end = month_bounds(context.partition_key)
    with warehouse.connect() as con:
        daily = _stable_query(
            con,
            load_sql("marts/budget_daily_spend"),
            {"window_start": date(1900, 1, 1), "month_end": month_end},
        )
        campaigns = _stable_query(con, load_sql("marts/budget_campaigns"))
        plan_present = optional_table_present(con, "budget_plan")
        plan = _plan(con, month, month_end)
        out = pace.pacing(
            daily,
            campaigns,
            plan[["channel", "planned_spend"]],
            month,
            month_end,
            run_rate_days=config.run_rate_days,
            tolerance=config.tolerance,
        )
        n = _write(con, "marts.budget_pacing", out, month)
    channels = out[out["level"] == "channel"] if not out.empty else out
    off = channels[channels["status"].isin(["over", "under"])] if not channels.empty else channels
    return dg.MaterializeResult(
        metadata={
            "dagster/row_count": n,
            "preview": dg.MetadataValue.md(
                markdown_table(
                    channels[
                        [
                            "channel",
                            "mtd_spend",
                            "planned_spend",
                            "plan_source",
                            "projected_eom_spend",
                            "pacing_ratio",
                            "status",
                            "run_out_date",
                        ]
                    ]
                    if not channels.empty
                    else channels
                )
            ),
            "budget_plan": "supplied"
            if plan_present
            else "skipped: budget_plan not supplied (campaign budgets used)",
        },
        check_results=[
            dg.AssetCheckResult(
                check_name="pacing_on_plan",
                passed=bool(off.empty),
                severity=dg.AssetCheckSeverity.WARN,
                metadata={
                    "off_plan_channels": ", ".join(off["channel"]) if not off.empty else "none"
                },
            )
        ],
    )


# ---------------------------------------------------------------------------- waste


@dg.asset(
    partitions_def=monthly_partitions,
    group_name=GROUP,
    pool=WAREHOUSE_POOL,
    kinds={"duckdb", "python"},
    deps=["campaign_performance", "budget_response_curves"],
    description=(
        "Where money was wasted this month: campaigns with no lead where their spend should "
        "have bought some, campaigns with CPA clearly above target (both on the spend whose "
        "leads the channel's lag puts in the month, the month's campaigns tested together), "
        "campaigns whose leads rarely become pipeline or whose revenue "
        "stays below the ROAS target over three months (judged at their leads' ages: a "
        "launch's deals are not due yet), and channels past saturation (the last dollar "
        "returns less than a dollar, on 95% of the curve's bootstrap draws by default, while "
        "the average ROAS looks fine), with the amount "
        "(table budget_waste)."
    ),
    check_specs=[
        dg.AssetCheckSpec(
            "waste_reported",
            asset="budget_waste",
            blocking=False,
            description="Warns when wasted spend exceeds 10% of the month's spend.",
        ),
    ],
)
def budget_waste(
    context: dg.AssetExecutionContext,
    config: WasteConfig,
    warehouse: WarehouseResource,
    settings: GtmSettings,
) -> dg.MaterializeResult:
    month, month_end = month_bounds(context.partition_key)
    with warehouse.connect() as con:
        perf = _campaign_month(con, month, month_end, settings.lookback_days)
        fits, curves, _ = _load_fits(con, month)
        current, _ = _month_spend(con, month, month_end)
        camp = pace.campaign_waste(
            perf,
            min_spend=settings.min_spend_for_ranking,
            min_clicks=settings.min_clicks_for_ranking,
            cpa_tolerance=config.cpa_tolerance,
            alpha=config.cpa_p_value,
        )
        sat = core.saturation_waste(
            fits,
            current,
            (month_end - month).days / core.GRAIN_DAYS[_grain_of(curves)],
            min_probability=config.saturation_min_probability,
        )
        out = (
            pd.concat([d for d in (camp, sat) if not d.empty], ignore_index=True)
            if not (camp.empty and sat.empty)
            else camp
        )
        n = _write(con, "marts.budget_waste", out, month)
    total_spend = sum(current.values())
    wasted = float(out["wasted_spend"].sum()) if not out.empty else 0.0
    return dg.MaterializeResult(
        metadata={
            "dagster/row_count": n,
            "preview": dg.MetadataValue.md(
                markdown_table(
                    out[["kind", "scope_id", "channel", "spend", "wasted_spend", "detail"]]
                    if not out.empty
                    else out
                )
            ),
            "wasted_spend": wasted,
        },
        check_results=[
            dg.AssetCheckResult(
                check_name="waste_reported",
                passed=bool(total_spend <= 0 or wasted <= 0.10 * total_spend),
                severity=dg.AssetCheckSeverity.WARN,
                metadata={"wasted_spend": wasted, "month_spend": total_spend},
            )
        ],
    )


# ---------------------------------------------------------------------------- triggers


def decision_marginals(curves: pd.DataFrame, realloc: pd.DataFrame) -> pd.DataFrame:
    """Each channel's marginal ROAS at current spend as the month's reallocation measured it
    (the curve the optimizer maximised: by default the mean over the fit's bootstrap), else
    the point fit's from the curves table: the channel trigger rules then read the same
    number as the reallocation they defer to."""
    decided = (
        realloc.dropna(subset=["marginal_roas_current"])
        .set_index("channel")["marginal_roas_current"]
        .astype(float)
        if "marginal_roas_current" in realloc
        else pd.Series(dtype=float)
    )
    point = curves.set_index("channel")["marginal_roas"].astype(float)
    both = decided.combine_first(point)
    return both.rename("marginal_roas").rename_axis("channel").reset_index()


@dg.asset(
    partitions_def=monthly_partitions,
    group_name=GROUP,
    pool=WAREHOUSE_POOL,
    kinds={"duckdb", "python"},
    deps=["campaign_performance", "budget_pacing", "budget_response_curves", "budget_reallocation"],
    description=(
        "The in-month budget rules (CPA over target, ROAS under target, over/under pacing, "
        "saturated or under-funded channels) evaluated on this month's data: which fired and "
        "what to do (table budget_triggers)."
    ),
)
def budget_triggers(
    context: dg.AssetExecutionContext,
    config: TriggerConfig,
    warehouse: WarehouseResource,
    settings: GtmSettings,
) -> dg.MaterializeResult:
    month, month_end = month_bounds(context.partition_key)
    with warehouse.connect() as con:
        perf = _campaign_month(con, month, month_end, settings.lookback_days)
        pacing_rows = (
            _stable_query(con, "select * from marts.budget_pacing where month = $m", {"m": month})
            if wh.table_exists(con, "marts.budget_pacing")
            else pd.DataFrame(columns=["level", "pacing_ratio"])
        )
        _, curves, _ = _load_fits(con, month)
        marg = (
            curves[curves["metric"] == "revenue"].rename(
                columns={"marginal_return_current": "marginal_roas"}
            )
            if not curves.empty
            else pd.DataFrame(columns=["channel", "marginal_roas"])
        )
        realloc = (
            _stable_query(
                con,
                "select channel, recommended_spend - reference_spend as delta, "
                "marginal_roas_current from marts.budget_reallocation where month = $m",
                {"m": month},
            )
            if wh.table_exists(con, "marts.budget_reallocation")
            else pd.DataFrame(columns=["channel", "delta", "marginal_roas_current"])
        )
        out = pace.triggers(
            perf,
            pacing_rows,
            decision_marginals(marg[["channel", "marginal_roas"]], realloc),
            cpa_over=config.cpa_over,
            roas_under=config.roas_under,
            pacing_tolerance=config.pacing_tolerance,
            min_marginal_roas=config.min_marginal_roas,
            headroom_marginal_roas=config.headroom_marginal_roas,
            min_spend=settings.min_spend_for_ranking,
            recommended_change=dict(zip(realloc["channel"], realloc["delta"], strict=True)),
        )
        n = _write(con, "marts.budget_triggers", out, month)
    fired = out[out["fired"]] if not out.empty else out
    return dg.MaterializeResult(
        metadata={
            "dagster/row_count": n,
            "fired": int(len(fired)),
            "preview": dg.MetadataValue.md(
                markdown_table(
                    fired[["rule", "scope", "scope_id", "value", "threshold", "action"]]
                    if not fired.empty
                    else fired
                )
            ),
        }
    )


# ---------------------------------------------------------------------------- quarterly


@dg.asset(
    partitions_def=monthly_partitions,
    group_name=GROUP,
    pool=WAREHOUSE_POOL,
    kinds={"duckdb", "python"},
    deps=["staging_tables", "campaign_attribution", "budget_response_curves"],
    description=(
        "Next quarter's channel budget as of this month: the marginal-ROI allocation (fitted "
        "curves) beside the historical-ROI rule (fund the best average ROAS first), same "
        "bounds, budget and reserve, both scored on the curves (table "
        "budget_quarterly_allocation; the quarter-end month's row is the planning input)."
    ),
)
def budget_quarterly_allocation(
    context: dg.AssetExecutionContext,
    config: ReallocationConfig,
    warehouse: WarehouseResource,
    settings: GtmSettings,
) -> dg.MaterializeResult:
    options = _options(realloc=config)
    month, month_end, window_start = _window(context.partition_key, 12)
    q_start = date(month.year, (month.month - 1) // 3 * 3 + 1, 1)
    next_q = add_months(q_start, 3)
    next_q_end = add_months(next_q, 3)
    with warehouse.connect() as con:
        fits, curves, _ = _load_fits(con, month)
        options.grain = _grain_of(curves)
        spend3, _ = _month_spend(con, add_months(month, -2), month_end)
        plan = _plan(con, next_q, next_q_end)
        planned = None
        if not plan.empty and plan["month"].nunique() == 3:
            planned = {
                str(c): float(v) for c, v in plan.groupby("channel")["planned_spend"].sum().items()
            }
        avg = _average_return(
            con, window_start, month_end, options.objective, curves, _model_of(curves, settings)
        )
        if spend3 or planned:
            out, summary = core.quarterly_allocation(
                fits, spend3, planned, avg, (next_q_end - next_q).days, options
            )
            out.insert(0, "quarter_start", next_q)
            out["is_quarter_end"] = month == add_months(q_start, 2)
        else:
            out, summary = pd.DataFrame(), {}
        n = _write(con, "marts.budget_quarterly_allocation", out, month)
    return dg.MaterializeResult(
        metadata={
            "dagster/row_count": n,
            "quarter": str(next_q),
            "preview": dg.MetadataValue.md(
                markdown_table(
                    out[
                        [
                            "channel",
                            "current_quarter_spend",
                            "historical_roi_spend",
                            "marginal_roi_spend",
                            "expected_revenue_historical_roi",
                            "expected_revenue_marginal_roi",
                        ]
                    ]
                    if not out.empty
                    else out
                )
            ),
            **{
                k: (float(v) if isinstance(v, (int, float, np.floating)) else str(v))
                for k, v in summary.items()
            },
        }
    )
