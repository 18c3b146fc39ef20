"""Budget utilisation: pacing against plan, the next month's pacing schedule, campaign
waste and budget-adjustment triggers. Pure pandas; every rule is spelled out here.

Definitions
- ``as_of``: the last day of the month with any spend row (the whole month once it closed).
- run rate: mean daily spend over the last ``run_rate_days`` days up to ``as_of``.
- projected end of month: month-to-date spend + run rate * days left after ``as_of``.
- pacing ratio: projected end of month / plan; ``over`` above ``1 + tolerance``, ``under``
  below ``1 - tolerance``, else ``on_track``; ``no_plan`` when there is no plan.
- run-out date: the day cumulative spend reaches the plan (the actual day when it already
  did, else projected at the run rate), NULL when it does not happen within the month.
- campaign month plan: ``planned_budget`` (over the campaign's life) prorated by the
  campaign's active days in the month; campaigns without an end date have no month plan.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import date, timedelta

import numpy as np
import pandas as pd
from scipy import stats
from statsmodels.stats.multitest import multipletests

from gtm_assets.analytics.funnel import add_months


def _status(ratio: float | None, tolerance: float) -> str:
    if ratio is None or not np.isfinite(ratio):
        return "no_plan"
    if ratio > 1 + tolerance:
        return "over"
    if ratio < 1 - tolerance:
        return "under"
    return "on_track"


def _run_out(
    daily: pd.Series, plan: float | None, mtd: float, run_rate: float, as_of: date, month_end: date
) -> date | None:
    """Day cumulative spend reaches ``plan`` within the month (actual or projected)."""
    if plan is None or not np.isfinite(plan) or plan <= 0:
        return None
    if mtd >= plan:
        cum = daily.sort_index().cumsum()
        return cum.index[int(np.argmax(cum.to_numpy() >= plan - 1e-9))]
    return _day_reached(as_of, plan - mtd, run_rate, month_end - timedelta(days=1))


#: A campaign without an end date whose budget lasts longer than this never runs out.
RUN_OUT_HORIZON_DAYS = 3650


def _day_reached(as_of: date, remaining: float, run_rate: float, last_day: date) -> date | None:
    """The day spending ``run_rate`` a day from ``as_of`` uses up ``remaining``, when that is
    on or before ``last_day``; else None (a trickle of spend never overflows the calendar)."""
    if not run_rate > 0:
        return None
    days = remaining / run_rate
    if not np.isfinite(days) or days > (last_day - as_of).days:
        return None
    return as_of + timedelta(days=math.ceil(days))


@dataclass(frozen=True)
class RunRateWindow:
    """Where a month's spend data stand: ``as_of`` (the last day with a spend row), days
    elapsed and left in the month, and the run-rate window (``rr_days`` days from
    ``rr_from``)."""

    as_of: date
    elapsed: int
    days_left: int
    rr_days: int
    rr_from: date


def month_spend_rows(daily: pd.DataFrame, month_start: date, month_end: date) -> pd.DataFrame:
    """``daily``'s rows in [month_start, month_end), dates as ``date``."""
    d = daily.copy()
    d["date"] = pd.to_datetime(d["date"]).dt.date
    return d[(d["date"] >= month_start) & (d["date"] < month_end)]


def run_rate_window(
    in_month: pd.DataFrame, month_start: date, month_end: date, run_rate_days: int
) -> RunRateWindow:
    as_of = max(in_month["date"])
    elapsed = (as_of - month_start).days + 1
    rr_days = min(run_rate_days, elapsed)
    return RunRateWindow(
        as_of=as_of,
        elapsed=elapsed,
        days_left=(month_end - as_of).days - 1,
        rr_days=rr_days,
        rr_from=as_of - timedelta(days=rr_days - 1),
    )


def _projection(
    by_day: pd.Series, rr_from: date, rr_days: int, days_left: int
) -> tuple[float, float, float]:
    """Month-to-date spend, run rate (mean daily spend since ``rr_from``) and projected end
    of month (month to date + run rate x ``days_left``)."""
    mtd = float(by_day.sum())
    run_rate = float(by_day[by_day.index >= rr_from].sum()) / rr_days
    return mtd, run_rate, mtd + run_rate * days_left


#: A month whose spend export ends at least this many days before its last day is partial
#: (the rule of ``intermediate/data_end.sql``, on spend alone): one quiet last day is not.
PARTIAL_MONTH_MIN_DAYS_LEFT = 2


def month_spend_to_end(
    daily: pd.DataFrame, month_start: date, month_end: date, run_rate_days: int = 7
) -> tuple[dict[str, float], str | None]:
    """Each channel's spend in the month, or, when the spend export ends inside the month,
    its projected end-of-month spend (pacing's projection), with a note saying so.

    A partial month's month-to-date spend is not "this month's spend": compared with a
    whole next month it reads as a budget increase, and its mix is that of the days seen."""
    d = month_spend_rows(daily, month_start, month_end)
    if d.empty:
        return {}, None
    w = run_rate_window(d, month_start, month_end, run_rate_days)
    totals = d.groupby("channel")["spend"].sum()
    if w.days_left < PARTIAL_MONTH_MIN_DAYS_LEFT:
        return {str(c): float(v) for c, v in totals.items() if v > 0}, None
    out = {}
    for channel, part in d.groupby("channel", sort=True):
        by_day = part.groupby("date")["spend"].sum()
        projected = _projection(by_day, w.rr_from, w.rr_days, w.days_left)[2]
        if projected > 0:
            out[str(channel)] = projected
    note = (
        f"the spend export ends on {w.as_of:%Y-%m-%d}, {w.days_left} days before the month's "
        f"end: current spend is projected to the month's end at the last {w.rr_days} days' "
        f"run rate ({float(totals.sum()):,.0f} to date, {sum(out.values()):,.0f} projected)"
    )
    return out, note


def campaign_month_plan(campaigns: pd.DataFrame, month_start: date, month_end: date) -> pd.Series:
    """Each campaign's planned spend in the month: lifetime budget prorated by active days."""
    out = {}
    for row in campaigns.itertuples(index=False):
        start, end = row.start_date, row.end_date
        budget = row.planned_budget
        if pd.isna(end) or pd.isna(start) or pd.isna(budget):
            out[row.campaign_id] = np.nan
            continue
        start, end = pd.Timestamp(start).date(), pd.Timestamp(end).date()
        life = (end - start).days + 1
        overlap = (min(end, month_end - timedelta(days=1)) - max(start, month_start)).days + 1
        out[row.campaign_id] = float(budget) * max(overlap, 0) / life if life > 0 else np.nan
    return pd.Series(out, dtype=float)


def pacing(
    daily: pd.DataFrame,
    campaigns: pd.DataFrame,
    channel_plan: pd.DataFrame,
    month_start: date,
    month_end: date,
    *,
    run_rate_days: int = 7,
    tolerance: float = 0.10,
) -> pd.DataFrame:
    """Spend vs plan per channel and per campaign for the month.

    ``daily``: date, campaign_id, channel, spend (all history up to the month's end, so
    campaign life-to-date spend is known). ``campaigns``: campaign_id, channel, start_date,
    end_date, planned_budget. ``channel_plan``: channel, planned_spend for this month
    (empty when no budget plan was supplied; channels then fall back to the sum of their
    campaigns' prorated plans when every campaign has one). ``run_out_date``: the day the
    month's plan is used up at the run rate, if inside the month;
    ``lifetime_budget_run_out_date``: the day the campaign's planned_budget is, if by its end
    date (without one, within ``RUN_OUT_HORIZON_DAYS``).
    """
    d = daily.copy()
    d["date"] = pd.to_datetime(d["date"]).dt.date
    in_month = month_spend_rows(d, month_start, month_end)
    days_in_month = (month_end - month_start).days
    if in_month.empty:
        return pd.DataFrame()
    w = run_rate_window(in_month, month_start, month_end, run_rate_days)
    as_of, elapsed, days_left = w.as_of, w.elapsed, w.days_left
    rr_days, rr_from = w.rr_days, w.rr_from
    camp_plan = campaign_month_plan(campaigns, month_start, month_end)
    plan_by_channel = dict(zip(channel_plan["channel"], channel_plan["planned_spend"], strict=True))

    rows = []

    def build(level: str, channel: str, campaign_id: str | None, part: pd.DataFrame, plan, source):
        by_day = part.groupby("date")["spend"].sum()
        mtd, run_rate, projected = _projection(by_day, rr_from, rr_days, days_left)
        plan_f = float(plan) if plan is not None and np.isfinite(plan) else None
        ratio = projected / plan_f if plan_f else None
        expected_to_date = plan_f * elapsed / days_in_month if plan_f is not None else None
        rows.append(
            {
                "level": level,
                "channel": channel,
                "campaign_id": campaign_id,
                "as_of_date": as_of,
                "days_elapsed": elapsed,
                "days_in_month": days_in_month,
                "mtd_spend": mtd,
                "planned_spend": plan_f,
                "plan_source": source if plan_f is not None else None,
                "plan_to_date": expected_to_date,
                "run_rate_daily": run_rate,
                "projected_eom_spend": projected,
                "pacing_ratio": ratio,
                "status": _status(ratio, tolerance),
                "run_out_date": _run_out(by_day, plan_f, mtd, run_rate, as_of, month_end),
            }
        )

    for channel, part in in_month.groupby("channel", sort=True):
        ch_camps = campaigns.loc[campaigns["channel"] == channel, "campaign_id"]
        if channel in plan_by_channel:
            plan, source = plan_by_channel[channel], "budget_plan"
        elif len(ch_camps) and camp_plan.reindex(ch_camps).notna().all():
            plan, source = float(camp_plan.reindex(ch_camps).sum()), "campaign_planned_budget"
        else:
            plan, source = None, None
        build("channel", str(channel), None, part, plan, source)
    # a channel with a plan and no spend at all this month is the worst under-pace: listed
    for channel in sorted(set(plan_by_channel) - set(in_month["channel"])):
        plan = plan_by_channel[channel]
        if plan is not None and np.isfinite(plan) and plan > 0:
            build("channel", str(channel), None, in_month.iloc[0:0], plan, "budget_plan")
    for campaign_id, part in in_month.groupby("campaign_id", sort=True):
        plan = camp_plan.get(campaign_id, np.nan)
        build(
            "campaign",
            str(part["channel"].iloc[0]),
            str(campaign_id),
            part,
            plan,
            "campaign_planned_budget",
        )
    out = pd.DataFrame(rows)

    # campaign lifetime: does the planned budget run out before the campaign ends?
    life = d[d["date"] < month_end].groupby("campaign_id")["spend"].sum()
    meta = campaigns.set_index("campaign_id")
    lifetime_spend, lifetime_budget, runout = [], [], []
    for row in out.itertuples(index=False):
        if row.level != "campaign" or row.campaign_id not in meta.index:
            lifetime_spend.append(np.nan)
            lifetime_budget.append(np.nan)
            runout.append(None)
            continue
        spent = float(life.get(row.campaign_id, 0.0))
        budget = meta.at[row.campaign_id, "planned_budget"]
        end = meta.at[row.campaign_id, "end_date"]
        lifetime_spend.append(spent)
        lifetime_budget.append(float(budget) if pd.notna(budget) else np.nan)
        if pd.isna(budget) or budget <= 0:
            runout.append(None)
        elif spent >= budget:
            runout.append(as_of)
        else:
            last_day = (
                as_of + timedelta(days=RUN_OUT_HORIZON_DAYS)
                if pd.isna(end)
                else pd.Timestamp(end).date()
            )
            runout.append(_day_reached(as_of, budget - spent, row.run_rate_daily, last_day))
    out["lifetime_spend"] = lifetime_spend
    out["lifetime_budget"] = lifetime_budget
    out["lifetime_budget_run_out_date"] = runout
    return out


def weekday_profile(daily: pd.DataFrame, end: date, weeks: int = 8) -> pd.DataFrame:
    """Each channel's share of a week's spend by weekday (0 = Monday) over the last
    ``weeks`` whole weeks before ``end``; channels without data get a flat profile later."""
    d = daily.copy()
    d["date"] = pd.to_datetime(d["date"]).dt.date
    start = end - timedelta(days=7 * weeks)
    d = d[(d["date"] >= start) & (d["date"] < end)]
    if d.empty:
        return pd.DataFrame(columns=["channel", "weekday", "weight"])
    d["weekday"] = [x.weekday() for x in d["date"]]
    g = d.groupby(["channel", "weekday"])["spend"].sum().unstack(fill_value=0.0)
    g = g.reindex(columns=range(7), fill_value=0.0)
    g = g.div(g.sum(axis=1).replace(0, np.nan), axis=0).fillna(1 / 7)
    return g.stack().rename("weight").reset_index()


def pacing_schedule(
    amounts: pd.Series, month_start: date, month_end: date, profile: pd.DataFrame
) -> pd.DataFrame:
    """Spread each channel's month amount over the days of the month by its weekday
    profile, with the cumulative target, plus weekly totals (weeks start on Monday and are
    cut at the month's edges). Rows: grain (day|week), period_start, channel, planned_spend,
    cumulative_planned_spend."""
    days = [month_start + timedelta(days=i) for i in range((month_end - month_start).days)]
    weights = {
        (r.channel, int(r.weekday)): float(r.weight) for r in profile.itertuples(index=False)
    }
    rows = []
    for channel, amount in amounts.items():
        w = np.array([weights.get((channel, d.weekday()), 1 / 7) for d in days])
        if w.sum() <= 0:
            w = np.ones(len(days))
        daily = float(amount) * w / w.sum()
        cum = np.cumsum(daily)
        for d, v, c in zip(days, daily, cum, strict=True):
            rows.append(("day", d, channel, float(v), float(c)))
        frame = pd.DataFrame({"d": days, "v": daily})
        frame["week"] = [max(d - timedelta(days=d.weekday()), month_start) for d in days]
        weekly = frame.groupby("week")["v"].sum()
        for wk, v, c in zip(
            weekly.index, weekly.to_numpy(), weekly.cumsum().to_numpy(), strict=True
        ):
            rows.append(("week", wk, channel, float(v), float(c)))
    return pd.DataFrame(
        rows,
        columns=["grain", "period_start", "channel", "planned_spend", "cumulative_planned_spend"],
    )


def campaign_waste(
    perf: pd.DataFrame,
    *,
    min_spend: float,
    min_clicks: int,
    cpa_tolerance: float,
    alpha: float = 0.05,
) -> pd.DataFrame:
    """Campaign waste. ``perf``: campaign_id, campaign_name, channel, spend, clicks, leads,
    target_cpa (optional: attribution_model, last_touch_leads, lead_due_spend).

    The month's two lead rules judge ``lead_due_spend`` (:func:`lead_due_spend`: the spend
    whose leads the channel's lag puts in this month; without it, the month's spend): a
    campaign launched on the 26th has had four days to bring leads, one winding down still
    brings leads bought last month. Each asks for evidence, a one-sided Poisson p-value, and
    the month's p-values are adjusted together (Benjamini-Hochberg: of the campaigns flagged,
    at most ``alpha`` are expected to be on target) before a campaign is flagged. Neither
    judges an events campaign before its event (its flight ends after the month): its spend
    buys the event, whose leads come at it.

    - ``no_conversions``: spend >= ``min_spend``, clicks >= ``min_clicks``, no (attributed)
      leads, and the lead-due spend would have bought some at the going price (the target
      CPA, else the channel's CPA this month, else the account's): P(0 leads) = exp(-expected).
      The whole spend is counted as wasted. The row keeps the model and the campaign's
      last-touch leads: a campaign with no credit under a data-driven model can still be
      the last touch before many leads (brand search catching people already converting).
      Without any price to judge by (no lead in the whole account) the volume thresholds
      alone decide, and the detail says so.
    - ``leads_rarely_close`` / ``roas_below_target``: leads that do not become pipeline, or
      revenue below the ROAS target, over three months against the account
      (``_revenue_waste_row``): cheap leads that do not close look fine on CPA.
    - ``cpa_above_target``: spend >= ``min_spend`` and CPA (lead-due spend / leads) above
      ``target_cpa * (1 + cpa_tolerance)`` this month, and clearly so: the leads credited
      are fewer than a campaign on target would have had for the lead-due spend, this
      month or over the three months ending with it (``leads_3m`` and
      ``lead_due_spend_3m``, when present;
      the stronger of the two looks, Bonferroni-adjusted for taking two). A CPA 8% over
      target on 20 leads is noise, not waste; 1 lead a month where 6 were due is clear
      after three, and a month that doubles the CPA on real volume is clear on its own.
      Wasted is this month's lead-due spend above what its leads would have cost at the
      target CPA. The row keeps the campaign's last-touch leads and the conversions
      its ad platform reported (``platform_conversions``), the other lenses on its cost. A
      campaign whose ROAS meets its ROAS target (without one: the month's ROAS over every
      campaign with spend) is not waste: its leads close, which pays for the CPA.
    """
    rows = []
    benchmark = _paid_roas(perf)
    rates = _account_rates(perf)
    prices = _lead_prices(perf)
    # the three-month rules test every campaign with spend: Bonferroni over them
    tested = int((pd.to_numeric(perf["spend"], errors="coerce").fillna(0) >= min_spend).sum())
    alpha_3m = alpha / max(tested, 1)
    monthly: list[tuple[dict, float]] = []  # (row, one-sided p) of the month's lead tests
    for r in perf.itertuples(index=False):
        spend = float(r.spend or 0.0)
        leads = float(r.leads) if pd.notna(r.leads) else 0.0
        clicks = float(r.clicks) if pd.notna(r.clicks) else 0.0
        due = _number(getattr(r, "lead_due_spend", None))
        due = spend if not np.isfinite(due) else due
        roas = _number(getattr(r, "roas", None))
        target_roas = _number(getattr(r, "target_roas", None))
        low = _revenue_waste_row(
            r, spend, roas, target_roas, rates, min_spend, cpa_tolerance, alpha_3m
        )
        if low is not None:
            rows.append(low)
            continue
        if _event_ahead(r):
            continue
        if leads <= 0 and spend >= min_spend and clicks >= min_clicks:
            monthly.append(_no_conversions_test(r, spend, clicks, due, prices))
        elif (
            leads > 0
            and spend >= min_spend
            and pd.notna(r.target_cpa)
            and r.target_cpa > 0
            and due > 0
        ):
            target = float(r.target_cpa)
            limit = target * (1 + cpa_tolerance)
            cpa = due / leads
            p_month = float(stats.poisson.cdf(math.floor(leads), due / target))
            leads_3m, due_3m = _trailing_leads_and_due(r, leads, due)
            pooled = due_3m > due
            p_3m = float(stats.poisson.cdf(math.floor(leads_3m), due_3m / target))
            # two looks at one campaign (the month, the three months): Bonferroni over them
            p_value = min(1.0, 2 * min(p_month, p_3m)) if pooled else p_month
            # leads that close pay for a high CPA: no waste while revenue meets its mark
            revenue_ok = np.isfinite(roas) and (
                roas >= target_roas if np.isfinite(target_roas) else roas >= benchmark
            )
            if cpa <= limit or revenue_ok:
                monthly.append(({}, p_value))  # tested, not waste: still one of the family
                continue
            if pooled and p_3m < p_month:
                detail = (
                    f"CPA {cpa:,.2f} this month ({due_3m / leads_3m:,.2f} over three months) "
                    f"vs target {target:,.2f}: {leads_3m:,.1f} leads credited over three months "
                    f"where the target implies {due_3m / target:,.1f}"
                )
            else:
                detail = (
                    f"CPA {cpa:,.2f} vs target {target:,.2f}: {leads:,.1f} leads credited "
                    f"where the target implies {due / target:,.1f}"
                )
            monthly.append(
                (
                    {
                        "kind": "cpa_above_target",
                        "scope": "campaign",
                        "scope_id": r.campaign_id,
                        "name": r.campaign_name,
                        "channel": r.channel,
                        "spend": spend,
                        "metric": "cpa",
                        "value": cpa,
                        "threshold": limit,
                        "wasted_spend": due - target * leads,
                        "detail": detail + _due_note(spend, due),
                        "target_cpa": target,
                        "cpa": cpa,
                        "lead_due_spend": due,
                        "attribution_model": getattr(r, "attribution_model", None),
                        "last_touch_leads": _number(getattr(r, "last_touch_leads", None)),
                        "platform_conversions": _number(getattr(r, "platform_conversions", None)),
                    },
                    p_value,
                )
            )
    rows.extend(_significant(monthly, alpha))
    return pd.DataFrame(
        rows,
        columns=[
            "kind",
            "scope",
            "scope_id",
            "name",
            "channel",
            "spend",
            "metric",
            "value",
            "threshold",
            "wasted_spend",
            "detail",
            "attribution_model",
            "last_touch_leads",
            "platform_conversions",
            "campaign_end_date",
            "trailing_3m_roas",
            "target_cpa",
            "cpa",
            "leads_3m",
            "opportunities_3m",
            "lead_due_spend",
            "p_value",
            "p_value_adjusted",
        ],
    )


def _trailing_leads_and_due(r, leads: float, due: float) -> tuple[float, float]:
    """The three months' credited leads and lead-due spend the CPA test pools (a campaign
    over target month after month on a few leads a month is clear over three), else the
    month's own when the trailing columns are absent."""
    leads_3m = _number(getattr(r, "leads_3m", None))
    due_3m = _number(getattr(r, "lead_due_spend_3m", None))
    if np.isfinite(leads_3m) and np.isfinite(due_3m) and leads_3m >= leads and due_3m >= due:
        return leads_3m, due_3m
    return leads, due


def _lead_prices(perf: pd.DataFrame) -> tuple[dict[str, float], float]:
    """The month's cost per credited lead per channel and over the account, on lead-due
    spend (spend where the column is absent): the going price a campaign without a target
    CPA is judged at. NaN where no lead was credited."""
    spend = pd.to_numeric(perf["spend"], errors="coerce").fillna(0.0)
    due = (
        pd.to_numeric(perf["lead_due_spend"], errors="coerce").fillna(spend)
        if "lead_due_spend" in perf
        else spend
    )
    leads = pd.to_numeric(perf["leads"], errors="coerce").fillna(0.0)
    by_channel = pd.DataFrame({"channel": perf["channel"], "due": due, "leads": leads})
    sums = by_channel.groupby("channel")[["due", "leads"]].sum()
    channel = {
        str(c): float(v.due / v.leads) if v.leads > 0 else np.nan for c, v in sums.iterrows()
    }
    total_leads = float(leads.sum())
    account = float(due.sum()) / total_leads if total_leads > 0 else np.nan
    return channel, account


def _no_conversions_test(
    r, spend: float, clicks: float, due: float, prices: tuple[dict[str, float], float]
) -> tuple[dict, float]:
    """The ``no_conversions`` row of a campaign without leads and its p-value: P(0 leads)
    when its lead-due spend buys leads at the going price (NaN: no price to judge by)."""
    model = getattr(r, "attribution_model", None)
    last_touch = float(getattr(r, "last_touch_leads", 0) or 0)
    target = _number(getattr(r, "target_cpa", None))
    channel_price, account_price = prices
    if np.isfinite(target) and target > 0:
        price, whose = target, "its target CPA"
    elif np.isfinite(channel_price.get(str(r.channel), np.nan)):
        price, whose = channel_price[str(r.channel)], f"the {r.channel} CPA this month"
    else:
        price, whose = account_price, "the account's CPA this month"
    detail = f"{clicks:,.0f} clicks and {spend:,.0f} spend without a lead"
    if model:
        detail += f" credited by {str(model).replace('_', ' ')} attribution"
    if last_touch > 0 and model != "last_touch":
        detail += (
            f"; last touch credits it with {last_touch:,.0f}: it catches people who "
            "were already converting"
        )
    if np.isfinite(price):
        expected = due / price
        p_value = math.exp(-expected)
        detail += f"; at {whose} ({price:,.2f}) {expected:,.1f} were due" + _due_note(spend, due)
    else:
        p_value = np.nan
        detail += "; no lead in the account this month to price one by: the volume alone"
    row = {
        "kind": "no_conversions",
        "scope": "campaign",
        "scope_id": r.campaign_id,
        "name": r.campaign_name,
        "channel": r.channel,
        "spend": spend,
        "metric": "leads",
        "value": 0.0,
        "threshold": None,
        "wasted_spend": spend,
        "detail": detail,
        "attribution_model": model,
        "last_touch_leads": last_touch,
        "campaign_end_date": getattr(r, "campaign_end_date", None),
        "target_cpa": target,
        "lead_due_spend": due,
    }
    return row, p_value


def _due_note(spend: float, due: float) -> str:
    """Say which spend was judged when the lead lag makes it differ from the month's."""
    if spend > 0 and abs(due - spend) <= 0.05 * spend:
        return ""
    return (
        f" (judged on the {due:,.0f} of spend whose leads are due this month at the "
        f"channel's lead lag, not the month's {spend:,.0f})"
    )


def _significant(tests: list[tuple[dict, float]], alpha: float) -> list[dict]:
    """The waste rows among ``tests`` whose p-value survives Benjamini-Hochberg at
    ``alpha`` over every test of the month (rows are empty for campaigns tested and not
    waste); a row without a p-value (nothing to judge it by) is kept as is."""
    p = np.array([pv for _, pv in tests], dtype=float)
    q = np.full(len(p), np.nan)
    finite = np.isfinite(p)
    if finite.any():
        q[finite] = multipletests(p[finite], method="fdr_bh")[1]
    out = []
    for (row, p_value), q_value in zip(tests, q, strict=True):
        if not row or (np.isfinite(q_value) and q_value >= alpha):
            continue
        if np.isfinite(p_value):
            row["detail"] += f" (Poisson p = {p_value:.2g}; {q_value:.2g} across the month's tests)"
        out.append(row | {"p_value": p_value, "p_value_adjusted": q_value})
    return out


#: A channel with less lead credit than this in the lag history takes every channel's
#: pooled lag (a handful of leads would give a jagged curve).
MIN_LAG_CREDIT = 30.0


def lead_lag_curves(
    lags: pd.DataFrame, min_credit: float = MIN_LAG_CREDIT
) -> dict[str, np.ndarray]:
    """Per channel, the share of its lead credit that arrives within ``a`` days of the
    touch, at a = 0, 1, 2, ... days (0 at a = 0, 1 at the end); key ``""`` is every
    channel pooled, the curve of channels with less than ``min_credit``.

    ``lags``: channel, lag_day (whole days from touch to lead), credit
    (budget_lead_lags.sql). Empty without any credit.
    """
    if lags.empty or float(lags["credit"].sum()) <= 0:
        return {}
    horizon = int(lags["lag_day"].max()) + 1

    def curve(part: pd.DataFrame) -> np.ndarray:
        by_day = part.groupby("lag_day")["credit"].sum().reindex(range(horizon), fill_value=0.0)
        return np.concatenate([[0.0], by_day.cumsum().to_numpy() / by_day.sum()])

    curves = {"": curve(lags)}
    for channel, part in lags.groupby("channel"):
        if float(part["credit"].sum()) >= min_credit:
            curves[str(channel)] = curve(part)
    return curves


def _arrived(curve: np.ndarray, days: np.ndarray) -> np.ndarray:
    """Share of the credit arrived ``days`` after the touch (0 before it, 1 past the curve)."""
    return np.interp(days, np.arange(len(curve), dtype=float), curve, left=0.0, right=1.0)


def lead_due_spend(
    daily: pd.DataFrame, curves: dict[str, np.ndarray], month_start: date, month_end: date
) -> pd.Series:
    """Per campaign: the spend whose leads the channel's lag puts in [month_start,
    month_end), sum over days d of spend(d) x (F(month_end - d) - F(month_start - d)), a
    day's touches taken at its middle. A steady campaign's is close to its month's spend; a
    launch late in the month has only its first days' share; spend of earlier days counts
    with the leads it still brings this month.

    ``daily``: date, campaign_id, channel, spend, from at least the lookback before
    ``month_start``; ``curves``: :func:`lead_lag_curves` (empty: the month's spend).
    """
    if daily.empty:
        return pd.Series(dtype=float)
    frame = daily.assign(date=pd.to_datetime(daily["date"]))
    spend = pd.to_numeric(frame["spend"], errors="coerce").fillna(0.0).to_numpy()
    if not curves:
        share = (
            (frame["date"] >= pd.Timestamp(month_start)) & (frame["date"] < pd.Timestamp(month_end))
        ).to_numpy(dtype=float)
    else:
        to_end = (pd.Timestamp(month_end) - frame["date"]).dt.days.to_numpy(dtype=float) - 0.5
        to_start = (pd.Timestamp(month_start) - frame["date"]).dt.days.to_numpy(dtype=float) - 0.5
        share = np.empty(len(frame))
        channels = frame["channel"].astype(str).to_numpy()
        for channel in np.unique(channels):
            rows = channels == channel
            curve = curves.get(channel, curves[""])
            share[rows] = _arrived(curve, to_end[rows]) - _arrived(curve, to_start[rows])
    return pd.Series(spend * share, index=frame["campaign_id"].to_numpy()).groupby(level=0).sum()


def _number(value: object) -> float:
    return float(value) if value is not None and pd.notna(value) else np.nan


def _paid_roas(perf: pd.DataFrame) -> float:
    """The month's ROAS over every campaign with spend (attributed revenue / spend)."""
    if "attributed_revenue" not in perf or perf.empty:
        return np.nan
    spend = pd.to_numeric(perf["spend"], errors="coerce").fillna(0.0)
    revenue = pd.to_numeric(perf["attributed_revenue"], errors="coerce").fillna(0.0)
    total = float(spend[spend > 0].sum())
    return float(revenue[spend > 0].sum()) / total if total > 0 else np.nan


#: Lead cohorts (months) the opportunity lag is measured over; opportunities later than
#: this after their lead count as if on time.
LAG_HISTORY_MONTHS = 12

#: The three-month window the revenue waste rules judge a campaign over.
WINDOW_MONTHS = 3


def months_between(start: date, end: date) -> int:
    """Whole calendar months from ``start``'s month to ``end``'s month."""
    return (end.year - start.year) * 12 + end.month - start.month


def chain_ladder(lag: np.ndarray, age: np.ndarray, value: np.ndarray, horizon: int) -> np.ndarray:
    """Share of a lead's eventual conversions (counts or value) dated within ``a`` periods
    of the lead, for a = 0..horizon: the chain ladder over every lead, young or old.

    ``lag``: periods from each conversion's lead to it (negative counts as 0); ``age``:
    periods from that lead to the end of the data; ``value``: its weight. ``F(horizon) = 1``
    (conversions later than the horizon are not counted) and ``F(d) = F(d + 1) x
    V(lag <= d) / V(lag <= d + 1)``, both sums over the conversions of leads at least
    ``d + 1`` periods old (whose first ``d + 1`` periods are fully observed). An age without
    conversions gives 0 (nothing converts that soon); an age no lead has reached yet, or
    without a conversion to measure it, gives a ratio of 1, so a young account's lags read
    short, never long.
    """
    lag = np.clip(np.asarray(lag, dtype=float), 0, None)
    age = np.asarray(age, dtype=float)
    value = np.asarray(value, dtype=float)
    ladder = np.ones(int(horizon) + 1)
    keep = (lag <= horizon) & (value > 0) & np.isfinite(value)
    top = int(min(horizon, age[keep].max())) if keep.any() else 0
    if top <= 0:
        return ladder
    # by[a, l]: value of conversions whose lead is a periods old (capped at top) with lag l
    by = np.zeros((top + 1, top + 1))
    np.add.at(by, (np.minimum(age[keep], top).astype(int), lag[keep].astype(int)), value[keep])
    older = np.cumsum(by[::-1], axis=0)[::-1]  # rows: leads at least a periods old
    within = np.cumsum(older, axis=1)  # [a, l]: of those, value with lag <= l
    for d in range(top - 1, -1, -1):
        later = within[d + 1, d + 1]
        ladder[d] = ladder[d + 1] * (within[d + 1, d] / later if later > 0 else 1.0)
    return ladder


def lead_cohort_completeness(
    development: pd.DataFrame, month: date, max_age: int = LAG_HISTORY_MONTHS
) -> np.ndarray:
    """Share of a lead cohort's eventual opportunities (or won deals) dated by the end of
    the month it is ``a`` months old, for a = 0..max_age (1 from max_age on): the chain
    ladder (:func:`chain_ladder`) on the account's monthly cohorts observed up to ``month``.

    ``development``: lead_month, age_months, conversions (budget_lead_cohort_development
    .sql); conversions older than ``max_age`` count at ``max_age``.
    """
    if development.empty:
        return np.ones(max_age + 1)
    observed = np.array(
        [months_between(pd.Timestamp(m).date(), month) for m in development["lead_month"]]
    )
    seen = observed >= 0
    return chain_ladder(
        np.minimum(development["age_months"].to_numpy(dtype=float), max_age)[seen],
        observed[seen],
        development["conversions"].to_numpy(dtype=float)[seen],
        max_age,
    )


def due_in_window(
    history: pd.DataFrame,
    month: date,
    completeness: np.ndarray,
    column: str = "leads",
    window: int = WINDOW_MONTHS,
) -> pd.Series:
    """Per campaign: its monthly ``column`` (leads, or the spend that bought them) weighted
    by the share of their eventual opportunities (or won deals) the account's lag puts
    inside the ``window`` months ending with ``month``: sum over months k of
    column(k) x (F(age at the window's end) - F(age at its start)).

    A steady campaign's is close to its own total over the window; a campaign launched this
    month has only F(0) of it due yet, one winding down more. ``history``: campaign_id,
    month and ``column`` (budget_campaign_history.sql).
    """

    def share(age: int) -> float:
        if age < 0:
            return 0.0
        return float(completeness[min(age, len(completeness) - 1)])

    if history.empty:
        return pd.Series(dtype=float)
    ages = np.array([months_between(pd.Timestamp(m).date(), month) for m in history["month"]])
    due = np.array([share(a) - share(a - window) for a in ages])
    weighted = pd.to_numeric(history[column], errors="coerce").fillna(0.0).to_numpy() * due
    return pd.Series(weighted, index=history["campaign_id"].to_numpy()).groupby(level=0).sum()


def _account_rates(perf: pd.DataFrame) -> tuple[float, float, float]:
    """(opportunities per lead, revenue per won deal, ROAS) over every campaign's trailing
    three months: the account's yardsticks for whether a campaign's leads close. They share
    the campaigns' lags (a deal closes months after its lead), so a young account or a slow
    quarter is not read as one campaign's failure. With ``effective_leads_3m`` (leads
    weighted by the share of their opportunities due in the window, ``due_in_window``)
    the rate is per effective lead: what a campaign's leads owe at their own ages."""
    columns = ("leads_3m", "opportunities_3m", "customers_3m", "revenue_3m", "spend_3m")
    if not set(columns) <= set(perf):
        return np.nan, np.nan, np.nan
    total = {c: float(pd.to_numeric(perf[c], errors="coerce").fillna(0).sum()) for c in columns}
    leads = (
        float(pd.to_numeric(perf["effective_leads_3m"], errors="coerce").fillna(0).sum())
        if "effective_leads_3m" in perf
        else total["leads_3m"]
    )
    opp_rate = total["opportunities_3m"] / leads if leads > 0 else np.nan
    deal = total["revenue_3m"] / total["customers_3m"] if total["customers_3m"] > 0 else np.nan
    roas = total["revenue_3m"] / total["spend_3m"] if total["spend_3m"] > 0 else np.nan
    return opp_rate, deal, roas


def _event_ahead(r) -> bool:
    """An events campaign whose flight ends after this month: its leads are registrations,
    whose pipeline comes after the event, not at the account's lag from the lead."""
    end = getattr(r, "campaign_end_date", None)
    month = getattr(r, "month", None)
    if getattr(r, "channel", None) != "events" or end is None or month is None:
        return False
    if pd.isna(end) or pd.isna(month):
        return False
    return pd.Timestamp(end).date() >= add_months(pd.Timestamp(month).date(), 1)


#: A campaign's leads need at least this many expected opportunities to be judged.
MIN_EXPECTED_OPPORTUNITIES = 5.0


def _revenue_waste_row(
    r,
    spend: float,
    roas: float,
    target_roas: float,
    rates: tuple[float, float, float],
    min_spend: float,
    tolerance: float,
    alpha: float,
) -> dict | None:
    """Campaigns whose leads do not turn into pipeline or revenue, judged over three months
    against the account, with a one-sided Poisson test (deal counts are small and lumpy):

    - ``leads_rarely_close``: opportunities from its leads at most half of what the account's
      opportunities per lead imply (at least ``MIN_EXPECTED_OPPORTUNITIES`` due); wasted =
      this month's spend x (1 - its rate / the account's): spend buying leads that an
      average campaign's would have turned into pipeline. With ``effective_leads_3m`` the
      account's rate applies at the campaign's leads' ages (a launch's leads are weeks old;
      most of their opportunities are not due yet), and ``threshold`` is that rate per lead.
    - ``roas_below_target``: ROAS below its target this month and below half the bar over
      three months, with fewer won deals (revenue / the account's average deal) than the bar
      implies; the bar is the target, or the account's own three-month ROAS when lower (a
      young account whose deals have not closed yet), applied to the spend whose deals were
      due in the window (``won_due_spend_3m``: each month's spend weighted by the share of
      its leads' won deals the account's lag puts in the window; a launch's are mostly not
      due yet); wasted = spend - revenue / target ROAS.

    Neither judges an events campaign before its event (flight ending after the month):
    registrations become pipeline after the event.

    ``alpha`` arrives Bonferroni-adjusted over the campaigns tested.
    """
    if spend < max(min_spend, 1e-9) or _event_ahead(r):
        return None
    opp_rate, deal, account_roas = rates
    leads_3m = _number(getattr(r, "leads_3m", None))
    opps_3m = _number(getattr(r, "opportunities_3m", None))
    spend_3m = _number(getattr(r, "spend_3m", None))
    revenue_3m = _number(getattr(r, "revenue_3m", None))
    base = {
        "scope": "campaign",
        "scope_id": r.campaign_id,
        "name": r.campaign_name,
        "channel": r.channel,
        "spend": spend,
        "attribution_model": getattr(r, "attribution_model", None),
        "last_touch_leads": np.nan,
        "platform_conversions": np.nan,
        "campaign_end_date": getattr(r, "campaign_end_date", None),
        "target_cpa": _number(getattr(r, "target_cpa", None)),
        "cpa": spend / float(r.leads) if pd.notna(r.leads) and float(r.leads) > 0 else np.nan,
        "leads_3m": leads_3m,
        "opportunities_3m": opps_3m,
        "trailing_3m_roas": revenue_3m / spend_3m if spend_3m and spend_3m > 0 else np.nan,
    }
    effective = _number(getattr(r, "effective_leads_3m", None))
    if not np.isfinite(effective):
        effective = leads_3m
    if (
        np.isfinite(opp_rate)
        and opp_rate > 0
        and np.isfinite(leads_3m)
        and leads_3m > 0
        and np.isfinite(opps_3m)
    ):
        expected = effective * opp_rate
        if expected >= MIN_EXPECTED_OPPORTUNITIES and opps_3m <= 0.5 * expected:
            p_value = float(stats.poisson.cdf(math.floor(opps_3m), expected))
            if p_value < alpha:
                own, bar = opps_3m / leads_3m, expected / leads_3m
                # a campaign whose leads are younger than the account's owes fewer yet
                ages = (
                    " at these leads' ages" if abs(effective - leads_3m) > 0.05 * leads_3m else ""
                )
                return base | {
                    "kind": "leads_rarely_close",
                    "metric": "opportunities_per_lead",
                    "value": own,
                    "threshold": bar,
                    "wasted_spend": spend * (1 - own / bar),
                    "detail": (
                        f"{opps_3m:,.1f} opportunities from {leads_3m:,.1f} leads over three "
                        f"months where the account's {opp_rate:.1%}{ages} implies "
                        f"{expected:,.1f} (Poisson p = {p_value:.2g})"
                    ),
                }
    trailing = base["trailing_3m_roas"]
    if not (np.isfinite(target_roas) and target_roas > 0 and np.isfinite(roas)):
        return None
    if roas >= target_roas * (1 - tolerance) or not np.isfinite(trailing):
        return None
    # judged against what the account returned over the same months when that is lower
    # than the target: deals lag their leads, and a young account has few yet
    bar = min(target_roas, account_roas) if np.isfinite(account_roas) else target_roas
    # on the spend whose deals were due in the window: a launch's deals are not due yet,
    # a campaign winding down closes the deals of leads bought before the window
    due_spend = _number(getattr(r, "won_due_spend_3m", None))
    if not np.isfinite(due_spend):
        due_spend = spend_3m
    maturity = due_spend / spend_3m if spend_3m and spend_3m > 0 else 1.0
    if (
        revenue_3m >= 0.5 * bar * due_spend
        or not (np.isfinite(deal) and deal > 0)
        or bar <= 0
        or due_spend <= 0
    ):
        return None
    due = due_spend * bar / deal
    p_value = float(stats.poisson.cdf(math.floor(revenue_3m / deal), due))
    if p_value >= alpha:
        return None
    revenue = _number(getattr(r, "attributed_revenue", None))
    revenue = revenue if np.isfinite(revenue) else roas * spend
    return base | {
        "kind": "roas_below_target",
        "metric": "roas",
        "value": roas,
        "threshold": target_roas,
        "wasted_spend": spend - revenue / target_roas,
        "detail": (
            (
                f"ROAS {roas:.2f} this month and {trailing:.2f} over three months vs target "
                f"{target_roas:.2f}"
                if abs(maturity - 1.0) <= 0.05
                else f"ROAS {roas:.2f} this month; {revenue_3m / due_spend:.2f} over three "
                f"months on the {due_spend:,.0f} of spend whose leads' deals were due in them "
                f"(of {spend_3m:,.0f} spent) vs target {target_roas:.2f}"
            )
            + f": about {due:,.1f} won deals were due at the average deal and "
            + ("the target" if bar == target_roas else f"the account's ROAS of {bar:.2f}")
            + f" (Poisson p = {p_value:.2g})"
        ),
    }


#: A campaign whose three months' spend has less than this share of its deals due (the
#: account's lag from lead to won deal) is too young for the in-month ROAS rule.
YOUNG_DUE_SHARE = 0.5

#: What a campaign's month plan is, said with its pacing triggers: it can differ from the
#: channel's budget_plan (a campaign at the channel's pace can still outrun its own budget).
CAMPAIGN_PLAN_NOTE = " (plan: the campaign's planned_budget spread evenly over its flight)"


#: Why a CPA trigger does not fire for an events campaign before its event.
EVENT_AHEAD_NOTE = "an events campaign before its event: its leads come at the event"


def _cpa_on_due_spend(r) -> float:
    """The campaign's CPA on its lead-due spend when the row has one, else its CPA."""
    due = _number(getattr(r, "lead_due_spend", None))
    leads = _number(getattr(r, "leads", None))
    if np.isfinite(due) and np.isfinite(leads) and leads > 0:
        return due / leads
    return _number(getattr(r, "cpa", None))


def triggers(
    perf: pd.DataFrame,
    pacing_rows: pd.DataFrame,
    channel_marginal: pd.DataFrame,
    *,
    cpa_over: float = 0.20,
    roas_under: float = 0.20,
    pacing_tolerance: float = 0.10,
    min_marginal_roas: float = 1.0,
    headroom_marginal_roas: float = 2.0,
    min_spend: float = 0.0,
    recommended_change: dict[str, float] | None = None,
) -> pd.DataFrame:
    """Evaluate the in-month budget rules on the current data; one row per evaluable
    (rule, scope) with ``fired`` and the action it asks for.

    Rules: campaign CPA above target by more than ``cpa_over`` (on the spend whose leads
    are due this month, ``lead_due_spend``, when given: a launch on the 26th is not judged
    on leads its clicks have not had time to bring; an events campaign before its event is
    overridden, as in the waste list); campaign ROAS below target
    by more than ``roas_under``; channel or campaign projected spend more than
    ``pacing_tolerance`` over / under plan; channel marginal ROAS below
    ``min_marginal_roas`` (saturated: move money out) or above
    ``headroom_marginal_roas`` (room to grow: move money in). Campaign rules need at least
    ``min_spend`` of spend. ``recommended_change`` (channel: recommended minus reference
    spend of the month's reallocation): a channel rule that points the other way from the
    reallocation does not fire, and ``overridden_by`` says why (a channel can return 3 at the
    margin and still lose budget to channels that return more). The ROAS rule gives way
    for a campaign whose spend's deals are mostly not due yet (``won_due_spend_3m`` below
    ``YOUNG_DUE_SHARE`` of ``spend_3m``: a launch).
    """
    rows = []

    def add(rule, scope, scope_id, channel, metric, value, threshold, fired, action, override=None):
        rows.append(
            {
                "rule": rule,
                "scope": scope,
                "scope_id": scope_id,
                "channel": channel,
                "metric": metric,
                "value": value,
                "threshold": threshold,
                "fired": bool(fired) and override is None,
                "action": action if fired and override is None else None,
                "overridden_by": override if fired else None,
            }
        )

    change = recommended_change or {}

    def against(channel: str, direction: int) -> str | None:
        """Why a channel rule pointing ``direction`` (+1 in, -1 out) is overridden."""
        delta = change.get(channel)
        if delta is None or pd.isna(delta) or delta * direction >= 0:
            return None
        if direction > 0:
            return (
                "budget_reallocation moves money out of this channel: other channels return "
                "more at the margin"
            )
        return "budget_reallocation moves money into this channel: the others return less"

    for r in perf.itertuples(index=False):
        if float(r.spend or 0) < min_spend:
            continue
        cpa = _cpa_on_due_spend(r)
        if pd.notna(r.target_cpa) and r.target_cpa > 0 and np.isfinite(cpa):
            limit = float(r.target_cpa) * (1 + cpa_over)
            target_roas = getattr(r, "target_roas", None)
            closes = (
                pd.notna(target_roas)
                and target_roas > 0
                and pd.notna(r.roas)
                and float(r.roas) >= float(target_roas)
            )
            add(
                "cpa_above_target",
                "campaign",
                r.campaign_id,
                r.channel,
                "cpa",
                cpa,
                limit,
                cpa > limit,
                "cut the campaign's daily budget or its worst ad groups",
                "its ROAS meets its target: the leads close, which pays for the CPA"
                if closes
                else EVENT_AHEAD_NOTE
                if _event_ahead(r)
                else None,
            )
        if pd.notna(r.target_roas) and r.target_roas > 0 and pd.notna(r.roas):
            limit = float(r.target_roas) * (1 - roas_under)
            spent = _number(getattr(r, "spend_3m", None))
            due = (
                _number(getattr(r, "won_due_spend_3m", None)) / spent
                if np.isfinite(spent) and spent > 0
                else np.nan
            )
            add(
                "roas_below_target",
                "campaign",
                r.campaign_id,
                r.channel,
                "roas",
                float(r.roas),
                limit,
                r.roas < limit,
                "reduce the campaign's budget and review targeting",
                f"its leads are young: the deals of only {due:.0%} of its three months' spend "
                "are due yet (the account's lag from lead to won deal)"
                if np.isfinite(due) and due < YOUNG_DUE_SHARE
                else None,
            )
    for r in pacing_rows.itertuples(index=False):
        if r.pacing_ratio is None or pd.isna(r.pacing_ratio):
            continue
        scope_id = r.campaign_id if r.level == "campaign" else r.channel
        add(
            "over_pacing",
            r.level,
            scope_id,
            r.channel,
            "pacing_ratio",
            float(r.pacing_ratio),
            1 + pacing_tolerance,
            r.pacing_ratio > 1 + pacing_tolerance,
            "lower the daily cap so spend lands on plan"
            + (CAMPAIGN_PLAN_NOTE if r.level == "campaign" else ""),
        )
        add(
            "under_pacing",
            r.level,
            scope_id,
            r.channel,
            "pacing_ratio",
            float(r.pacing_ratio),
            1 - pacing_tolerance,
            r.pacing_ratio < 1 - pacing_tolerance,
            "raise bids/caps or release the unspent budget to better channels"
            + (CAMPAIGN_PLAN_NOTE if r.level == "campaign" else ""),
        )
    for r in channel_marginal.itertuples(index=False):
        if pd.isna(r.marginal_roas):
            continue
        add(
            "saturated",
            "channel",
            r.channel,
            r.channel,
            "marginal_roas",
            float(r.marginal_roas),
            min_marginal_roas,
            r.marginal_roas < min_marginal_roas,
            "the next dollar returns less than a dollar: move budget out of this channel",
            against(r.channel, -1),
        )
        add(
            "headroom",
            "channel",
            r.channel,
            r.channel,
            "marginal_roas",
            float(r.marginal_roas),
            headroom_marginal_roas,
            r.marginal_roas > headroom_marginal_roas,
            "the next dollar returns well above target: move budget into this channel",
            against(r.channel, +1),
        )
    return pd.DataFrame(
        rows,
        columns=[
            "rule",
            "scope",
            "scope_id",
            "channel",
            "metric",
            "value",
            "threshold",
            "fired",
            "action",
            "overridden_by",
        ],
    )
