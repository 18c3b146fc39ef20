"""Multi-touch attribution: paths in DuckDB, seven models, exact and deterministic.

Pipeline for one month and one conversion type (all set-based in DuckDB, no per-person
Python loops):

1. ``build_paths`` builds, as temp tables on the connection:
   ``_attr_paths`` (``sql/intermediate/int_paths.sql``): one row per path with its window.
   Converting path: a conversion of the type in the month; its touches are those strictly
   before the conversion and within the lookback (90 days). Null (non-converting) path: a
   person with a counted touch in the month and no conversion of the type by the month
   end; touches in the lookback window ending at the month end.
   ``_attr_path_touches``: a view over the converting touches (``int_path_touches.sql``)
   and the (narrow) null touches (``int_path_null_touches.sql``), one row per touch.
   ``_attr_model_touches``: the same paths without the conversion session (touches chained
   to the conversion by gaps <= 30 minutes: the direct visit, branded search or email
   click the person came back through to fill the form), which the data-driven models use
   (``int_path_model_touches.sql``). Rule-based models keep their textbook definitions on
   the full paths.
   Option ``anchor_on_lead``: opportunity and won paths are the path of the lead that
   sourced them (lead-sourced pipeline), their null paths the lead risk set, and Shapley
   takes v(S) from the month's lead paths.
2. Rule-based models (first_touch, last_touch, linear, time_decay, position_based) are
   one SQL statement over the converting touches (``int_path_heuristic_credit.sql``).
3. ``markov``: transition counts of the order-k chain are aggregated in SQL
   (``int_path_transitions_first_order.sql``, ``int_path_transitions.sql`` for k > 1),
   then the absorbing chain is solved exactly with linear algebra
   (:mod:`gtm_assets.analytics.attribution_markov`). ``markov_month`` is the Markov-only
   route: it counts the null paths' order-1 transitions straight from the touches
   (``int_null_path_transitions_first_order.sql``) instead of building their touches.
4. ``shapley``: paths are aggregated by channel set (a bitmask) in SQL and exact Shapley
   values are computed on the channel-set game
   (:mod:`gtm_assets.analytics.attribution_shapley`).

Campaign credit: rule-based models credit each touch's campaign directly. Shapley gives a
share per channel in each path; it is spread evenly over that channel's touches in the
path, so their campaigns get it. Markov credit is global per channel; it is split over
campaigns by each campaign's share of the channel's touches in converting paths (all paths
for a channel that never appears in a converting path).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from datetime import date

import duckdb
import numpy as np
import pandas as pd

from gtm_assets.analytics.attribution_markov import markov_attribution
from gtm_assets.analytics.attribution_shapley import shapley_path_shares
from gtm_assets.sql_files import load_sql
from gtm_assets.warehouse import round_floats, table_exists

HEURISTIC_MODELS = ("first_touch", "last_touch", "linear", "time_decay", "position_based")
DATA_DRIVEN_MODELS = ("markov", "shapley")
MODELS = HEURISTIC_MODELS + DATA_DRIVEN_MODELS
CONVERSION_TYPES = ("lead", "opportunity", "won")
#: An ad click of these channels that brought a person into the conversion session stays in
#: the data-driven paths when the path had not used the channel before (docs/attribution.md).
PAID_CLICK_CHANNELS = ("paid_search", "paid_social", "display", "video", "affiliate")
PATHS_TABLE = "_attr_paths"
PATH_TABLE = "_attr_path_touches"  # a view over the two tables below
CONVERTING_TABLE = "_attr_converting_touches"
NULL_TABLE = "_attr_null_touches"
MODEL_TABLE = "_attr_model_touches"  # a view: null paths + _attr_model_converting
LEAD_SESSIONS_TABLE = "_attr_lead_sessions"
CREDIT_COLUMNS = [
    "model",
    "channel",
    "campaign_id",
    "attributed_conversions",
    "attributed_revenue",
]


@dataclass(frozen=True)
class AttributionParams:
    """Knobs of the attribution run (the Dagster Config mirrors these)."""

    lookback_days: int = 90
    half_life_days: float = 7.0
    first_weight: float = 0.4
    last_weight: float = 0.4
    markov_order: int = 1
    touch_types: tuple[str, ...] | None = None  # None: every touch type (view-through too)
    include_unclassified: bool = True
    session_minutes: float = 30.0  # conversion session left out of markov/shapley; 0 = keep
    anchor_on_lead: bool = False  # opportunity/won paths = the sourcing lead's path
    models: tuple[str, ...] = field(default=MODELS)

    def __post_init__(self) -> None:
        if self.lookback_days < 1:
            raise ValueError("lookback_days must be >= 1")
        if self.half_life_days <= 0:
            raise ValueError("half_life_days must be > 0")
        if min(self.first_weight, self.last_weight) < 0 or (
            self.first_weight + self.last_weight > 1 + 1e-12
        ):
            raise ValueError("position weights need first, last >= 0 and first + last <= 1")
        if self.first_weight + self.last_weight <= 0:
            raise ValueError("position weights: first + last must be > 0")
        if self.session_minutes < 0:
            raise ValueError("session_minutes must be >= 0")
        if not 1 <= self.markov_order <= 6:
            raise ValueError("markov_order must be between 1 and 6")
        unknown = set(self.models) - set(MODELS)
        if unknown:
            raise ValueError(f"unknown attribution model(s): {sorted(unknown)}")


@dataclass(frozen=True)
class PathSummary:
    """Counts behind one month x conversion type (coverage = with_touch / conversions)."""

    conversion_type: str
    conversions: int
    conversions_with_touch: int
    revenue: float
    revenue_with_touch: float
    null_paths: int
    channels: tuple[str, ...]

    @property
    def coverage(self) -> float | None:
        return self.conversions_with_touch / self.conversions if self.conversions else None


def build_paths(
    con: duckdb.DuckDBPyConnection,
    conversion_type: str,
    month_start: date,
    month_end: date,
    params: AttributionParams,
    include_null_touches: bool = True,
) -> PathSummary:
    """Build the paths of one conversion type and month on ``con`` (temp tables and views
    named in the module docstring); summarise them.

    Reads ``staging.touchpoints`` and ``intermediate.conversions``. Without
    ``include_null_touches`` the null paths get no touches (enough for statistics of the
    converting paths, and much cheaper: null paths hold most touches).
    """
    shared = {
        "month_start": month_start,
        "month_end": month_end,
        "lookback_days": params.lookback_days,
        "touch_types": list(params.touch_types) if params.touch_types else None,
        "include_unclassified": params.include_unclassified,
    }
    con.execute(
        f"create or replace temp table {PATHS_TABLE} as " + load_sql("intermediate/int_paths"),
        {
            **shared,
            "conversion_type": conversion_type,
            "anchor_on_lead": params.anchor_on_lead,
            "with_null_paths": include_null_touches,
        },
    )
    window_start = con.execute(f"select min(path_start) from {PATHS_TABLE}").fetchall()[0][0]
    filters = {
        "month_end": month_end,
        "touch_types": shared["touch_types"],
        "include_unclassified": params.include_unclassified,
    }
    con.execute(
        f"create or replace temp table {LEAD_SESSIONS_TABLE} as "
        + load_sql("intermediate/int_lead_sessions"),
        {
            **filters,
            "window_start": window_start or month_start,
            "session_minutes": float(params.session_minutes),
            "deal_paths": _leaves_out_lead_sessions(conversion_type, params),
            "paid_click_channels": list(PAID_CLICK_CHANNELS),
        },
    )
    con.execute(
        f"create or replace temp table {CONVERTING_TABLE} as "
        + load_sql("intermediate/int_path_touches"),
        {
            **filters,
            "window_start": window_start or month_start,
            "session_minutes": float(params.session_minutes),
            "paid_click_channels": list(PAID_CLICK_CHANNELS),
        },
    )
    con.execute(
        f"create or replace temp table {NULL_TABLE} as "
        + load_sql("intermediate/int_path_null_touches")
        + ("" if include_null_touches else " limit 0"),
        {**filters, "lookback_days": params.lookback_days},
    )
    _touch_view(con)
    _model_view(con)
    total = con.execute(
        "select count(*), coalesce(sum(coalesce(value, 0)), 0) from intermediate.conversions "
        "where conversion_type = $t and converted_at >= $s::timestamp "
        "and converted_at < $e::timestamp",
        {"t": conversion_type, "s": month_start, "e": month_end},
    ).fetchall()[0]
    return _summarise(con, conversion_type, int(total[0]), float(total[1]))


def _leaves_out_lead_sessions(conversion_type: str, params: AttributionParams) -> bool:
    """Whether the data-driven models leave the sourcing leads' conversion sessions out of
    this type's paths: deal paths that end at the deal (not lead-anchored)."""
    return conversion_type != "lead" and not params.anchor_on_lead and params.session_minutes > 0


def _touch_view(con: duckdb.DuckDBPyConnection) -> None:
    """``_attr_path_touches``: converting and null touches in one shape (null rows carry
    no timestamps, value 0 and no conversion session)."""
    con.execute(
        f"create or replace temp view {PATH_TABLE} as "
        f"select * from {CONVERTING_TABLE} "
        "union all "
        "select path_id, false as converted, 0.0::double as value, "
        "null::timestamp as path_end, null::timestamp as ts, channel, campaign_id, "
        "false as in_conversion_session, in_lead_session, touch_index, path_length, "
        f"previous_channel from {NULL_TABLE}"
    )


def _model_view(con: duckdb.DuckDBPyConnection) -> None:
    """``_attr_model_touches``: the paths as markov and shapley see them."""
    con.execute(
        "create or replace temp table _attr_model_converting as "
        + load_sql("intermediate/int_path_model_touches"),
        {"converted": True},
    )
    null_paths = f"(select * from {PATH_TABLE} where not converted)"
    if con.execute(f"select exists (select 1 from {NULL_TABLE} where in_lead_session)").fetchone()[
        0
    ]:
        con.execute(
            "create or replace temp table _attr_model_null as "
            + load_sql("intermediate/int_path_model_touches"),
            {"converted": False},
        )
        null_paths = "_attr_model_null"
    con.execute(
        f"create or replace temp view {MODEL_TABLE} as "
        f"select * from {null_paths} "
        "union all by name select * from _attr_model_converting"
    )


def _summarise(
    con: duckdb.DuckDBPyConnection, conversion_type: str, conversions: int, revenue: float
) -> PathSummary:
    row = con.execute(
        f"select count(*) filter (where converted), count(*) filter (where not converted), "
        f"coalesce(sum(value) filter (where converted), 0) "
        f"from {PATH_TABLE} where touch_index = 1"
    ).fetchall()[0]
    rev = row[2]
    channels = tuple(
        r[0]
        for r in con.execute(
            f"select distinct channel from {PATH_TABLE} order by channel"
        ).fetchall()
    )
    for channel in channels:
        if ">" in channel:
            raise ValueError(f"channel name {channel!r} contains '>', which paths use as separator")
    return PathSummary(
        conversion_type=conversion_type,
        conversions=conversions,
        conversions_with_touch=int(row[0]),
        revenue=revenue,
        revenue_with_touch=float(rev),
        null_paths=int(row[1]),
        channels=channels,
    )


def path_touches_from_strings(
    con: duckdb.DuckDBPyConnection,
    paths: pd.DataFrame,
    conversion_type: str = "conversion",
    sep: str = ">",
) -> PathSummary:
    """Build ``_attr_path_touches`` from aggregated path strings instead of the warehouse.

    ``paths`` has columns ``path`` ("a > b > c"), ``conversions``, ``nulls`` and
    ``value`` (total conversion value of the path). Each conversion becomes one path with
    value ``value / conversions``; touches are one day apart ending a day before the
    conversion. Used to run the models on published path data (e.g. ChannelAttribution's
    Data.csv) and in tests.
    """
    frame = paths[["path", "conversions", "nulls", "value"]].copy()
    frame["path"] = frame["path"].astype(str)
    con.register("_attr_input_paths", frame)
    try:
        con.execute(
            f"""
            create or replace temp table {PATHS_TABLE} as
            with
            input as (
                select
                    row_number() over () as path_no,
                    [trim(x) for x in string_split(path, $sep) if trim(x) <> ''] as channels,
                    conversions::bigint as conversions,
                    nulls::bigint as nulls,
                    coalesce(value, 0)::double as value
                from _attr_input_paths
            ),
            expanded as (
                select
                    path_no || ':' || i as path_key, true as converted,
                    value / conversions as value, channels
                from input, range(conversions) as r(i)
                where conversions > 0
                union all
                select path_no || ':' || i, false, 0.0, channels
                from input, range(nulls) as r(i)
                where nulls > 0
            )
            select
                case when converted then -1 else 1 end
                    * row_number() over (partition by converted order by path_key) as path_id,
                path_key,
                path_key as person_id,
                converted,
                value,
                timestamp '2000-01-01' as path_start,
                timestamp '2000-01-01' + to_days(len(channels) + 1) as path_end,
                channels
            from expanded
            """,
            {"sep": sep},
        )
        con.execute(
            f"""
            create or replace temp table {CONVERTING_TABLE} as
            with touches as (
                select
                    path_id, converted, value, path_end,
                    unnest(channels) as channel,
                    unnest(range(1, len(channels) + 1)) as touch_index,
                    len(channels) as path_length,
                    unnest([null::varchar] || channels[1:-2]) as previous_channel
                from {PATHS_TABLE}
                where converted
            )
            select
                path_id, converted, value, path_end,
                timestamp '2000-01-01' + to_days(touch_index::integer) as ts,
                channel,
                null::varchar as campaign_id,
                false as in_conversion_session,
                false as in_lead_session,
                touch_index::integer as touch_index,
                path_length::integer as path_length,
                previous_channel
            from touches
            """
        )
        con.execute(
            f"""
            create or replace temp table {NULL_TABLE} as
            select
                path_id,
                unnest(channels) as channel,
                null::varchar as campaign_id,
                false as in_lead_session,
                unnest(range(1, len(channels) + 1))::integer as touch_index,
                len(channels)::integer as path_length,
                unnest([null::varchar] || channels[1:-2]) as previous_channel
            from {PATHS_TABLE}
            where not converted
            """
        )
        _touch_view(con)
        con.execute(f"alter table {PATHS_TABLE} drop column channels")
    finally:
        con.unregister("_attr_input_paths")
    _model_view(con)
    totals = con.execute(
        f"select count(*) filter (where converted), coalesce(sum(value) filter (where converted), 0) "
        f"from {PATH_TABLE} where touch_index = 1"
    ).fetchall()[0]
    return _summarise(con, conversion_type, int(totals[0]), float(totals[1]))


def heuristic_credit(con: duckdb.DuckDBPyConnection, params: AttributionParams) -> pd.DataFrame:
    """The five rule-based models' credit per model, channel and campaign (SQL)."""
    return con.execute(
        load_sql("intermediate/int_path_heuristic_credit"),
        {
            "half_life_days": float(params.half_life_days),
            "first_weight": float(params.first_weight),
            "last_weight": float(params.last_weight),
        },
    ).df()[CREDIT_COLUMNS]


def path_transitions(con: duckdb.DuckDBPyConnection, order: int) -> pd.DataFrame:
    """Transition counts (from_state, to_state, transitions, conversion_value) of order k."""
    if order == 1:
        return con.execute(load_sql("intermediate/int_path_transitions_first_order")).df()
    return con.execute(
        load_sql("intermediate/int_path_transitions"), {"markov_order": int(order)}
    ).df()


def channel_set_counts(con: duckdb.DuckDBPyConnection, channels: tuple[str, ...]) -> pd.DataFrame:
    """Conversions, null paths and revenue per channel set (bitmask over ``channels``)."""
    frame = con.execute(
        load_sql("intermediate/int_path_channel_sets"), {"channels": list(channels)}
    ).df()
    frame["channel_mask"] = frame["channel_mask"].astype("int64")
    return frame


def _touch_split(con: duckdb.DuckDBPyConnection) -> pd.DataFrame:
    """Touches per channel and campaign (as the data-driven models see the paths), in
    converting paths and in all paths."""
    return con.execute(
        f"select channel, campaign_id, count(*) filter (where converted) as converting_touches, "
        f"count(*) as all_touches from {MODEL_TABLE} group by all"
    ).df()


def markov_credit(
    con: duckdb.DuckDBPyConnection, summary: PathSummary, params: AttributionParams
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Exact Markov credit per channel and campaign, plus the per-channel removal effects."""
    transitions = path_transitions(con, params.markov_order)
    channel_credit = markov_attribution(
        transitions,
        total_conversions=summary.conversions_with_touch,
        total_revenue=summary.revenue_with_touch,
    )
    split = _touch_split(con)
    return _split_by_touches(channel_credit, split, "markov"), channel_credit


def markov_month(
    con: duckdb.DuckDBPyConnection,
    conversion_type: str,
    month_start: date,
    month_end: date,
    params: AttributionParams,
) -> tuple[pd.DataFrame, pd.DataFrame, PathSummary]:
    """Exact Markov credit of one conversion type and month without materialising the null
    paths' touches: the route when Markov is the only model wanted.

    The converting paths are built as for every model (``build_paths`` without null
    touches); the null paths' order-1 transitions are counted straight from the touches
    (``int_null_path_transitions_first_order.sql``). Same credit as ``build_paths`` +
    ``markov_credit`` (tested); 1.4-2.3x faster at 10M touchpoints a month (most of the
    time left is the sort of the null paths' touches by person and time). Orders above 1,
    deal paths (their null paths leave the leads' conversion sessions out, or are the lead
    risk set when lead-anchored), and a channel the chain credits but no converting path
    contains (its campaign split needs the null touches) take that full route.
    Returns campaign credit, channel credit (with removal effects) and the path summary.
    """
    anchored = params.anchor_on_lead and conversion_type != "lead"
    if (
        params.markov_order == 1
        and not anchored
        and not _leaves_out_lead_sessions(conversion_type, params)
    ):
        summary = build_paths(
            con, conversion_type, month_start, month_end, params, include_null_touches=False
        )
        null = con.execute(
            load_sql("intermediate/int_null_path_transitions_first_order"),
            {
                "month_start": month_start,
                "month_end": month_end,
                "lookback_days": params.lookback_days,
                "touch_types": list(params.touch_types) if params.touch_types else None,
                "include_unclassified": params.include_unclassified,
                "risk_type": conversion_type,
            },
        ).df()
        transitions = (
            pd.concat([path_transitions(con, 1), null], ignore_index=True)
            .groupby(["from_state", "to_state"], as_index=False)[
                ["transitions", "conversion_value"]
            ]
            .sum()
        )
        channel_credit = markov_attribution(
            transitions,
            total_conversions=summary.conversions_with_touch,
            total_revenue=summary.revenue_with_touch,
        )
        split = _touch_split(con)
        credited = channel_credit.loc[channel_credit["attributed_conversions"] > 0, "channel"]
        if set(credited) <= set(split["channel"]):
            summary = replace(
                summary,
                null_paths=int(null.loc[null["to_state"] == "(null)", "transitions"].sum()),
                channels=tuple(
                    sorted(set(summary.channels) | (set(null["to_state"]) - {"(null)"}))
                ),
            )
            return _split_by_touches(channel_credit, split, "markov"), channel_credit, summary
    summary = build_paths(con, conversion_type, month_start, month_end, params)
    campaign_credit, channel_credit = markov_credit(con, summary, params)
    return campaign_credit, channel_credit, summary


def _split_by_touches(
    channel_credit: pd.DataFrame, split: pd.DataFrame, model: str
) -> pd.DataFrame:
    """Spread channel credit over campaigns by their share of the channel's touches."""
    split = split.copy()
    conv_total = split.groupby("channel")["converting_touches"].transform("sum")
    all_total = split.groupby("channel")["all_touches"].transform("sum")
    split["weight"] = np.where(
        conv_total > 0,
        split["converting_touches"] / conv_total.where(conv_total > 0, 1),
        split["all_touches"] / all_total.where(all_total > 0, 1),
    )
    merged = channel_credit.merge(split[["channel", "campaign_id", "weight"]], on="channel")
    out = pd.DataFrame(
        {
            "model": model,
            "channel": merged["channel"],
            "campaign_id": merged["campaign_id"],
            "attributed_conversions": merged["attributed_conversions"] * merged["weight"],
            "attributed_revenue": merged["attributed_revenue"] * merged["weight"],
        }
    )
    return out[CREDIT_COLUMNS]


def channel_sets(counts: pd.DataFrame, channels: tuple[str, ...]) -> pd.DataFrame:
    """``channel_set_counts`` with the masks decoded to sets of channel names (portable
    between months and conversion types whose channel lists differ)."""
    out = counts.copy()
    out["channel_set"] = [
        frozenset(c for i, c in enumerate(channels) if int(m) >> i & 1) for m in out["channel_mask"]
    ]
    return out


def _encode(sets: pd.DataFrame, channels: tuple[str, ...]) -> pd.DataFrame:
    """Re-encode ``channel_sets`` output as masks over ``channels``, dropping the sets with
    a channel outside ``channels`` (no subset of the current channels contains them)."""
    position = {c: i for i, c in enumerate(channels)}
    keep = [s <= position.keys() for s in sets["channel_set"]]
    out = sets.loc[keep].copy()
    out["channel_mask"] = [sum(1 << position[c] for c in s) for s in out["channel_set"]]
    return out.groupby("channel_mask", as_index=False)[["conversions", "nulls", "revenue"]].sum()


def shapley_credit(
    con: duckdb.DuckDBPyConnection,
    summary: PathSummary,
    value_sets: pd.DataFrame | None = None,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Exact path-level Shapley credit per channel and campaign, plus per-set shares.

    v(S) comes from the current paths, or from ``value_sets`` (``channel_sets`` output of
    other paths, e.g. the month's lead paths for lead-sourced opportunity credit).
    """
    channels = summary.channels
    counts = channel_set_counts(con, channels)
    converting = counts.loc[counts["conversions"] > 0, "channel_mask"].to_numpy()
    value_counts = counts if value_sets is None else _encode(value_sets, channels)
    shares = shapley_path_shares(value_counts, len(channels), masks=converting)
    shares["channel"] = [channels[i] for i in shares["channel_index"]]
    shares["model"] = "shapley"
    con.register("_attr_mask_shares_df", shares[["model", "channel_mask", "channel", "share"]])
    try:
        con.execute(
            "create or replace temp table _attr_mask_shares as "
            "select model, channel_mask::ubigint as channel_mask, channel, share "
            "from _attr_mask_shares_df"
        )
    finally:
        con.unregister("_attr_mask_shares_df")
    credit = con.execute(
        load_sql("intermediate/int_path_share_credit"), {"channels": list(channels)}
    ).df()
    return credit[CREDIT_COLUMNS], shares


def attribute_paths(
    con: duckdb.DuckDBPyConnection,
    summary: PathSummary,
    params: AttributionParams,
    value_sets: pd.DataFrame | None = None,
) -> pd.DataFrame:
    """Run the selected models on ``_attr_path_touches``: credit per model/channel/campaign.

    ``value_sets``: see :func:`shapley_credit`.
    """
    parts: list[pd.DataFrame] = []
    if summary.conversions_with_touch == 0:
        return pd.DataFrame(columns=CREDIT_COLUMNS)
    if set(params.models) & set(HEURISTIC_MODELS):
        heuristic = heuristic_credit(con, params)
        parts.append(heuristic[heuristic["model"].isin(params.models)])
    if "markov" in params.models:
        parts.append(markov_credit(con, summary, params)[0])
    if "shapley" in params.models:
        parts.append(shapley_credit(con, summary, value_sets)[0])
    credit = pd.concat(parts, ignore_index=True)
    credit["campaign_id"] = (
        credit["campaign_id"].astype(object).where(credit["campaign_id"].notna(), None)
    )
    return credit


def to_channel_credit(credit: pd.DataFrame) -> pd.DataFrame:
    """Campaign-level credit summed to channels, with each model's conversion share. Every
    model lists every channel any model credits (0 where it gives none), so the models
    compare row by row."""
    if credit.empty:
        return pd.DataFrame(
            columns=["model", "channel", "attributed_conversions", "attributed_revenue", "share"]
        )
    out = credit.groupby(["model", "channel"], as_index=False)[
        ["attributed_conversions", "attributed_revenue"]
    ].sum()
    grid = pd.MultiIndex.from_product(
        [out["model"].unique(), out["channel"].unique()], names=["model", "channel"]
    )
    out = out.set_index(["model", "channel"]).reindex(grid, fill_value=0.0).reset_index()
    total = out.groupby("model")["attributed_conversions"].transform("sum")
    out["share"] = out["attributed_conversions"] / total.where(total != 0)
    revenue_total = out.groupby("model")["attributed_revenue"].transform("sum")
    out["revenue_share"] = out["attributed_revenue"] / revenue_total.where(revenue_total != 0)
    return out.sort_values(["model", "channel"], ignore_index=True)


def credit_problems(
    channel_credit: pd.DataFrame,
    conversions_with_touch: float,
    revenue_with_touch: float,
    tolerance: float = 1e-6,
    models: tuple[str, ...] = (),
) -> list[str]:
    """What is wrong with one month x conversion type's channel credit (empty = fine).

    Per model: conversions sum to conversions with a touch, revenue sums to their revenue,
    shares sum to 1 (when there are conversions), no negative credit; every model in
    ``models`` has rows when there are conversions with a touch.
    """
    problems: list[str] = []
    conv_tol = tolerance * max(1.0, conversions_with_touch)
    rev_tol = tolerance * max(1.0, abs(revenue_with_touch))
    for model, rows in channel_credit.groupby("model"):
        conv = float(rows["attributed_conversions"].sum())
        rev = float(rows["attributed_revenue"].sum())
        if abs(conv - conversions_with_touch) > conv_tol:
            problems.append(f"{model}: credit sums to {conv:.6f}, not {conversions_with_touch}")
        if abs(rev - revenue_with_touch) > rev_tol:
            problems.append(
                f"{model}: revenue credit {rev:.2f} != revenue {revenue_with_touch:.2f}"
            )
        if conversions_with_touch > 0 and abs(float(rows["share"].sum()) - 1) > tolerance:
            problems.append(f"{model}: shares sum to {float(rows['share'].sum()):.9f}")
        negative = rows[
            (rows["attributed_conversions"] < -conv_tol * 1e-3)
            | (rows["attributed_revenue"] < -rev_tol * 1e-3)
        ]
        if len(negative):
            problems.append(f"{model}: negative credit for {sorted(negative['channel'])}")
    if conversions_with_touch > 0:
        for model in sorted(set(models) - set(channel_credit["model"])):
            problems.append(f"{model}: no credit rows although there are conversions")
    return problems


@dataclass
class MonthAttribution:
    """One month's credit (per channel, with coverage columns, and per campaign), the
    insight tables and the problems the credit checks found per conversion type."""

    channel: pd.DataFrame
    campaign: pd.DataFrame
    summaries: list[PathSummary]
    problems: dict[str, list[str]]
    insights: dict[str, pd.DataFrame] = field(default_factory=dict)


def _stamp(frame: pd.DataFrame, month: date, conversion_type: str) -> pd.DataFrame:
    frame = frame.copy()
    frame.insert(0, "conversion_type", conversion_type)
    frame.insert(0, "month", month)
    return frame


def attribute_month(
    con: duckdb.DuckDBPyConnection,
    month_start: date,
    month_end: date,
    params: AttributionParams,
    conversion_types: tuple[str, ...] = CONVERSION_TYPES,
    insights: bool = True,
    top_n: int = 20,
) -> MonthAttribution:
    """Every model for every conversion type of one month, with the credit checks run.

    With ``insights``: also assisted conversions, path statistics (with the prior month's,
    built the same way), top paths, the order-1 transition matrix and the model comparison.
    """
    from gtm_assets.analytics import attribution_insights as ins

    channel_parts: list[pd.DataFrame] = []
    campaign_parts: list[pd.DataFrame] = []
    parts: dict[str, list[pd.DataFrame]] = {
        "assisted": [],
        "path_stats": [],
        "top_paths": [],
        "transitions": [],
    }
    summaries: list[PathSummary] = []
    problems: dict[str, list[str]] = {}
    prior_start = date(
        month_start.year - (month_start.month == 1), (month_start.month - 2) % 12 + 1, 1
    )
    lead_sets = None
    if params.anchor_on_lead and "shapley" in params.models and set(conversion_types) - {"lead"}:
        # lead-sourced deals: their Shapley split uses the lead game's v(S)
        lead = build_paths(con, "lead", month_start, month_end, params)
        lead_sets = channel_sets(channel_set_counts(con, lead.channels), lead.channels)
    for conversion_type in conversion_types:
        summary = build_paths(con, conversion_type, month_start, month_end, params)
        summaries.append(summary)
        credit = attribute_paths(
            con, summary, params, None if conversion_type == "lead" else lead_sets
        )
        channel = to_channel_credit(credit)
        problems[conversion_type] = credit_problems(
            channel,
            summary.conversions_with_touch,
            summary.revenue_with_touch,
            models=params.models if summary.conversions_with_touch else (),
        )
        channel = _stamp(channel, month_start, conversion_type)
        channel["conversions"] = summary.conversions
        channel["conversions_with_touch"] = summary.conversions_with_touch
        channel["coverage"] = summary.coverage
        channel["revenue_with_touch"] = summary.revenue_with_touch
        channel_parts.append(channel)
        campaign_parts.append(_stamp(credit, month_start, conversion_type))
        if not insights:
            continue
        parts["assisted"].append(
            _stamp(ins.assisted_conversions(con), month_start, conversion_type)
        )
        parts["top_paths"].append(_stamp(ins.top_paths(con, top_n), month_start, conversion_type))
        parts["transitions"].append(
            _stamp(ins.transition_matrix(con), month_start, conversion_type)
        )
        current = ins.path_stats(con)
        build_paths(
            con, conversion_type, prior_start, month_start, params, include_null_touches=False
        )
        stats = ins.with_prior(current, ins.path_stats(con))
        parts["path_stats"].append(_stamp(stats, month_start, conversion_type))
    drop_paths(con)
    channel = round_floats(_typed_channel(pd.concat(channel_parts, ignore_index=True)))
    campaign = round_floats(_typed_campaign(pd.concat(campaign_parts, ignore_index=True)))
    tables: dict[str, pd.DataFrame] = {}
    if insights:
        tables = {k: pd.concat(v, ignore_index=True) for k, v in parts.items()}
        tables["model_comparison"] = ins.model_comparison(channel)
        tables["model_disagreement"] = ins.model_disagreement(channel)
        for key in ("model_comparison", "model_disagreement"):
            tables[key].insert(0, "month", month_start)
        tables = {key: round_floats(frame) for key, frame in tables.items()}
    return MonthAttribution(channel, campaign, summaries, problems, tables)


def drop_paths(con: duckdb.DuckDBPyConnection) -> None:
    """Drop the temp tables and views the path building left on ``con``."""
    for view in (MODEL_TABLE, PATH_TABLE):
        con.execute(f"drop view if exists {view}")
    for table in (
        PATHS_TABLE,
        CONVERTING_TABLE,
        NULL_TABLE,
        LEAD_SESSIONS_TABLE,
        "_attr_model_converting",
        "_attr_model_null",
        "_attr_mask_shares",
    ):
        con.execute(f"drop table if exists {table}")


def _typed_channel(frame: pd.DataFrame) -> pd.DataFrame:
    columns = {
        "month": "object",
        "conversion_type": "str",
        "model": "str",
        "channel": "str",
        "attributed_conversions": "float64",
        "attributed_revenue": "float64",
        "share": "float64",
        "revenue_share": "float64",
        "conversions": "int64",
        "conversions_with_touch": "int64",
        "coverage": "float64",
        "revenue_with_touch": "float64",
    }
    for column in columns:
        if column not in frame:
            frame[column] = pd.Series(dtype="float64")
    return frame[list(columns)].astype(columns)


def _typed_campaign(frame: pd.DataFrame) -> pd.DataFrame:
    columns = ["month", "conversion_type", *CREDIT_COLUMNS]
    for column in columns:
        if column not in frame:
            frame[column] = pd.Series(dtype="float64")
    frame = frame[columns].copy()
    frame["campaign_id"] = frame["campaign_id"].astype(object)
    return frame.sort_values(
        ["conversion_type", "model", "channel", "campaign_id"],
        na_position="first",
        ignore_index=True,
    )


#: Default drop of touch coverage from the prior month (in share points) worth a warning.
MAX_COVERAGE_DROP = 0.10


def stored_coverage(con: duckdb.DuckDBPyConnection, month: date) -> dict[str, float]:
    """Touch coverage per conversion type as ``month``'s stored slice of
    ``marts.channel_attribution`` has it ({} when there is none)."""
    if not table_exists(con, "marts.channel_attribution"):
        return {}
    rows = con.execute(
        "select conversion_type, max(coverage) from marts.channel_attribution "
        "where month = $m and coverage is not null group by 1",
        {"m": month},
    ).fetchall()
    return {str(t): float(c) for t, c in rows}


def coverage_problems(
    coverage: Mapping[str, float],
    prior: Mapping[str, float],
    min_coverage: float,
    max_drop: float,
) -> list[str]:
    """Why a month's touch coverage (share of conversions with any touch in the lookback)
    needs a warning: below ``min_coverage``, or ``max_drop`` or more below the prior month's
    (a tracking break: channel credit then covers fewer conversions, so channel-level
    changes partly reflect tracking, not performance)."""
    problems = []
    for ctype, now in sorted(coverage.items()):
        before = prior.get(ctype)
        dropped = before is not None and before - now >= max_drop
        if now < min_coverage or dropped:
            problems.append(
                f"{ctype}: {now:.0%} of conversions have a touch"
                + (f", down from {before:.0%} last month" if dropped else "")
                + (f" (below {min_coverage:.0%})" if now < min_coverage else "")
            )
    return problems
