"""Attribution (attribution analyst): which channels and campaigns drive conversions.

Thin Dagster layer over ``gtm_assets.analytics.attribution``: builds the month's paths in
DuckDB, runs the seven models for each conversion type, writes
``marts.channel_attribution`` and ``marts.campaign_attribution`` with ``replace_month`` and
reports the credit checks. ``marts.campaign_attribution_roi`` is the credit campaign ROI
reads (``roi_basis``: deals credited along their sourcing lead's path by default). Methods
and definitions are documented in the analytics modules.
"""

from dataclasses import replace

import dagster as dg
import duckdb
import pandas as pd
from pydantic import Field

from gtm_assets import warehouse as wh
from gtm_assets.analytics import attribution as at
from gtm_assets.analytics import attribution_insights as ins
from gtm_assets.assets.common import gate_checks, markdown_table, table_schema
from gtm_assets.partitions import add_months, month_bounds, monthly_partitions
from gtm_assets.resources import GtmSettings, WarehouseResource
from gtm_assets.sql_files import load_sql

CHANNEL_TABLE = "marts.channel_attribution"
CAMPAIGN_TABLE = "marts.campaign_attribution"
ROI_TABLE = "marts.campaign_attribution_roi"
ROI_BASES = ("lead_sourced", "deal_path")
GROUP = "attribution"

CHANNEL_SCHEMA = {
    "month": "date",
    "conversion_type": "varchar",
    "model": "varchar",
    "channel": "varchar",
    "attributed_conversions": "double",
    "attributed_revenue": "double",
    "share": "double",
    "revenue_share": "double",
    "conversions": "bigint",
    "conversions_with_touch": "bigint",
    "coverage": "double",
    "revenue_with_touch": "double",
}
CAMPAIGN_SCHEMA = {
    "month": "date",
    "conversion_type": "varchar",
    "model": "varchar",
    "channel": "varchar",
    "campaign_id": "varchar",
    "attributed_conversions": "double",
    "attributed_revenue": "double",
}

_STATS = ["mean", "median", "p75", "p90"]
INSIGHT_TABLES: dict[str, tuple[str, dict[str, str]]] = {
    "assisted": (
        "marts.attribution_assisted",
        {
            "month": "date",
            "conversion_type": "varchar",
            "channel": "varchar",
            "conversions_touched": "bigint",
            "last_touch_conversions": "bigint",
            "assisted_conversions": "bigint",
            "first_touch_conversions": "bigint",
            "touches": "bigint",
            "last_touch_revenue": "double",
            "assisted_revenue": "double",
            "assist_ratio": "double",
            "share_of_conversions_touched": "double",
        },
    ),
    "path_stats": (
        "marts.attribution_path_stats",
        {
            "month": "date",
            "conversion_type": "varchar",
            "metric": "varchar",
            "paths": "bigint",
            **{stat: "double" for stat in _STATS},
            **{f"prior_{stat}": "double" for stat in _STATS},
            **{f"{stat}_change": "double" for stat in _STATS},
            **{f"{stat}_change_pct": "double" for stat in _STATS},
        },
    ),
    "top_paths": (
        "marts.attribution_top_paths",
        {
            "month": "date",
            "conversion_type": "varchar",
            "rank": "bigint",
            "path": "varchar",
            "steps": "bigint",
            "conversions": "bigint",
            "null_paths": "bigint",
            "conversion_rate": "double",
            "revenue": "double",
            "share_of_conversions": "double",
        },
    ),
    "transitions": (
        "marts.attribution_transitions",
        {
            "month": "date",
            "conversion_type": "varchar",
            "from_channel": "varchar",
            "to_channel": "varchar",
            "transitions": "bigint",
            "probability": "double",
            "conversion_value": "double",
        },
    ),
    "model_comparison": (
        "marts.attribution_model_comparison",
        {
            "month": "date",
            "conversion_type": "varchar",
            "channel": "varchar",
            **{f"share_{m}": "double" for m in at.MODELS},
            "min_share": "double",
            "max_share": "double",
            "spread": "double",
            "most_generous_model": "varchar",
            "least_generous_model": "varchar",
        },
    ),
    "model_disagreement": (
        "marts.attribution_model_disagreement",
        {
            "month": "date",
            "conversion_type": "varchar",
            "model_a": "varchar",
            "model_b": "varchar",
            "tv_distance": "double",
        },
    ),
}
INSIGHT_DESCRIPTIONS = {
    "assisted": (
        "Per channel: conversions it touched, closed as last touch, assisted (in the path "
        "but not last) and opened (first touch), with the assist ratio (assisted per "
        "last-touch conversion). High ratios mark channels that last-touch reports undervalue."
    ),
    "path_stats": (
        "How long journeys are: touches per converting path and days from the first touch "
        "to the conversion (mean, median, 75th and 90th percentile) with last month's "
        "values and the change."
    ),
    "top_paths": (
        "The most common channel sequences that led to conversions (repeats collapsed), "
        "with how often the same sequence did not convert and the revenue it brought."
    ),
    "transitions": (
        "Which channels feed which: how often a journey moves from one channel to the next, "
        "to a conversion or to no conversion, and the probability of each move (the chain "
        "the Markov model uses: repeats collapsed, conversion session left out)."
    ),
    "model_comparison": (
        "Every model's share of credit per channel side by side, the gap between the most "
        "and least generous model and which models they are."
    ),
    "model_disagreement": (
        "How differently each pair of models splits the credit (total-variation distance: "
        "the share of credit that would have to move to turn one split into the other)."
    ),
}


def _insight_key(name: str) -> str:
    return INSIGHT_TABLES[name][0].split(".")[1]


class AttributionConfig(dg.Config):
    """Knobs of the attribution models (defaults are the issue's)."""

    lookback_days: int | None = Field(
        default=None,
        description=(
            "Days before a conversion whose touches form its path. Empty: the shared "
            "setting GtmSettings.lookback_days (default 90)."
        ),
    )
    half_life_days: float = Field(
        default=7.0, description="time_decay: a touch this many days older earns half the weight."
    )
    first_weight: float = Field(
        default=0.4, description="position_based: share of the first touch (40/20/40)."
    )
    last_weight: float = Field(
        default=0.4,
        description="position_based: share of the last touch; the middle gets the rest.",
    )
    markov_order: int = Field(
        default=1,
        description="markov: order k of the chain (a state is the last k channels), 1 to 6.",
    )
    touch_types: list[str] | None = Field(
        default=None,
        description=(
            "Touch types that count in paths. Empty: all of them, impressions included, so "
            "view-through exposure is credited (e.g. ['click', 'visit', 'email_click', "
            "'form_fill', 'event_attend', 'content_view'] for click-through only)."
        ),
    )
    include_unclassified: bool = Field(
        default=True,
        description="Keep touches whose channel is 'unclassified' as a channel of their own.",
    )
    session_minutes: float = Field(
        default=30.0,
        description=(
            "markov and shapley leave out the conversion session: the touches chained to the "
            "conversion by gaps of at most this many minutes (a direct visit, branded search "
            "or email click right before the form fill records how the person came back to "
            "convert, not what persuaded them), except an ad click of a channel the path had "
            "not used before (the direct response to an ad). Opportunity and won paths also "
            "lose the session their lead was created in (only leads have one). 0 keeps them. "
            "Rule-based models keep them."
        ),
    )
    anchor_on_lead: bool = Field(
        default=False,
        description=(
            "Lead-sourced credit for opportunities and won deals: their path is the path of "
            "the lead that sourced them (touches before the lead's creation) and Shapley uses "
            "the month's lead paths for v(S). Off: paths run up to the opportunity or win."
        ),
    )
    min_coverage: float = Field(
        default=0.7,
        description="Warn when fewer than this share of a month's conversions have any touch.",
    )
    max_coverage_drop: float = Field(
        default=at.MAX_COVERAGE_DROP,
        description=(
            "Warn when the share of conversions with any touch falls this much (0.10 = 10 "
            "points) from the prior month: a tracking break, not a performance change."
        ),
    )
    roi_basis: str = Field(
        default="lead_sourced",
        description=(
            "Which opportunity and won credit campaign ROI, ROAS, CAC and pipeline use "
            "(marts.campaign_attribution_roi, read by campaign_performance and "
            "channel_performance). lead_sourced: a deal is credited along the path of the "
            "lead that sourced it (touches before the lead's creation), so revenue goes to "
            "the campaigns that brought the lead, not to nurture email or sales-cycle visits. "
            "deal_path: the deal's own path (touches before the opportunity or the close), "
            "as in marts.channel_attribution. Lead credit is the same in both."
        ),
    )
    max_cycle_outside_lookback: float = Field(
        default=0.25,
        description=(
            "Warn when more than this share of the month's won revenue (or opportunities) "
            "comes from deals whose lead was created more than lookback_days before them: "
            "their sourcing touches fall outside the path."
        ),
    )
    tolerance: float = Field(
        default=1e-6, description="Relative tolerance of the credit-sum checks (rounding)."
    )
    top_paths: int = Field(default=20, description="How many top converting paths to keep.")

    def params(self, settings: GtmSettings) -> at.AttributionParams:
        return at.AttributionParams(
            lookback_days=self.lookback_days or settings.lookback_days,
            half_life_days=self.half_life_days,
            first_weight=self.first_weight,
            last_weight=self.last_weight,
            markov_order=self.markov_order,
            touch_types=tuple(self.touch_types) if self.touch_types else None,
            include_unclassified=self.include_unclassified,
            session_minutes=self.session_minutes,
            anchor_on_lead=self.anchor_on_lead,
        )


def write_month(
    con: duckdb.DuckDBPyConnection, table: str, frame: pd.DataFrame, schema: dict, month
) -> int:
    """Write ``frame`` as ``table``'s slice of ``month`` with declared column types."""
    frame = frame[list(schema)].copy()
    frame["month"] = pd.to_datetime(pd.Series([month] * len(frame), dtype="object"))
    return wh.replace_month(con, table, frame, month, schema=schema)


def _check_results(
    result: at.MonthAttribution,
    campaign_ok: list[str],
    config: AttributionConfig,
    prior_coverage: dict[str, float] | None = None,
) -> list[dg.AssetCheckResult]:
    def problems_with(word: str) -> list[str]:
        return [f"{ct}: {p}" for ct, probs in result.problems.items() for p in probs if word in p]

    sums = problems_with("sums to") + problems_with("no credit rows")
    shares = problems_with("shares")
    negative = problems_with("negative")
    revenue = problems_with("revenue credit")
    coverage = {s.conversion_type: s.coverage for s in result.summaries if s.coverage is not None}
    low = at.coverage_problems(
        coverage, prior_coverage or {}, config.min_coverage, config.max_coverage_drop
    )
    conv = {s.conversion_type: s.conversions_with_touch for s in result.summaries}

    def check(name: str, asset: str, failures: list[str], **meta) -> dg.AssetCheckResult:
        return dg.AssetCheckResult(
            check_name=name,
            asset_key=asset,
            passed=not failures,
            severity=dg.AssetCheckSeverity.ERROR,
            metadata={"problems": "\n".join(failures) or "none", **meta},
        )

    return [
        check(
            "credit_sums_to_conversions",
            "channel_attribution",
            sums,
            conversions_with_touch=dg.MetadataValue.json(conv),
        ),
        check("shares_sum_to_one", "channel_attribution", shares),
        check("no_negative_credit", "channel_attribution", negative),
        check("revenue_credit_sums_to_revenue", "channel_attribution", revenue),
        dg.AssetCheckResult(
            check_name="touch_coverage",
            asset_key="channel_attribution",
            passed=not low,
            severity=dg.AssetCheckSeverity.WARN,
            metadata={
                "problems": "\n".join(low) or "none",
                "coverage": dg.MetadataValue.json({k: round(v, 4) for k, v in coverage.items()}),
                "prior_month_coverage": dg.MetadataValue.json(
                    {k: round(v, 4) for k, v in (prior_coverage or {}).items()}
                ),
                "min_coverage": config.min_coverage,
                "max_coverage_drop": config.max_coverage_drop,
            },
        ),
        check("campaign_credit_matches_channel_credit", "campaign_attribution", campaign_ok),
    ]


ROI_SCHEMA = {**CAMPAIGN_SCHEMA, "roi_basis": "varchar"}


def roi_credit(
    con: duckdb.DuckDBPyConnection,
    result: at.MonthAttribution,
    month,
    month_end,
    params: at.AttributionParams,
    basis: str,
) -> tuple[pd.DataFrame, dict[str, list[str]]]:
    """The campaign credit ROI uses: the month's lead credit, and opportunity and won credit
    on ``basis`` (lead-sourced paths, or the deals' own paths as in ``result``). Returns the
    rows and the credit problems of the lead-sourced run (sums, shares, negatives), keyed
    like ``MonthAttribution.problems`` so the same checks report them."""
    if basis not in ROI_BASES:
        raise ValueError(f"roi_basis must be one of {ROI_BASES}, got {basis!r}")
    campaign = result.campaign
    problems: dict[str, list[str]] = {}
    if basis == "lead_sourced" and not params.anchor_on_lead:
        sourced = at.attribute_month(
            con,
            month,
            month_end,
            replace(params, anchor_on_lead=True),
            conversion_types=("opportunity", "won"),
            insights=False,
        )
        problems = {f"{ctype} (lead-sourced, ROI)": p for ctype, p in sourced.problems.items()}
        campaign = pd.concat(
            [campaign[campaign["conversion_type"] == "lead"], sourced.campaign],
            ignore_index=True,
        )
    return campaign.assign(roi_basis=basis), problems


def outside_lookback_shares(cycle: pd.DataFrame) -> dict[str, float]:
    """Per deal type, the share outside the lookback: of won revenue for ``won`` (by count
    when it has no value), of deals for ``opportunity``."""
    shares = {}
    for row in cycle.to_dict("records"):
        by_value = row["conversion_type"] == "won" and row["value"] and row["value"] > 0
        shares[row["conversion_type"]] = (
            row["value_outside"] / row["value"]
            if by_value
            else (row["deals_outside"] / row["deals"] if row["deals"] else 0.0)
        )
    return shares


def cycle_check(
    cycle: pd.DataFrame, params: at.AttributionParams, max_share: float
) -> dg.AssetCheckResult:
    """WARN when the sales cycle outruns the lookback for too much of the month's deals."""
    shares = outside_lookback_shares(cycle)
    anchored = params.anchor_on_lead
    over = {k: v for k, v in shares.items() if v > max_share} if not anchored else {}
    text = "; ".join(
        f"{row['conversion_type']}: {shares[row['conversion_type']]:.0%} "
        f"{'of revenue' if row['conversion_type'] == 'won' and row['value'] else 'of deals'} "
        f"from leads created more than {params.lookback_days} days before (median "
        f"{row['median_days_from_lead']:.0f} days from lead, p75 {row['p75_days_from_lead']:.0f})"
        for row in cycle.to_dict("records")
        if row["conversion_type"] in over
    )
    return dg.AssetCheckResult(
        check_name="deal_cycle_within_lookback",
        asset_key="channel_attribution",
        passed=not over,
        severity=dg.AssetCheckSeverity.WARN,
        metadata={
            "outside_lookback_share": dg.MetadataValue.json(
                {k: round(v, 4) for k, v in shares.items()}
            ),
            "lookback_days": params.lookback_days,
            "anchor_on_lead": anchored,
            "problem": (
                f"{text}. Their sourcing touches are outside the path, so their credit goes "
                "to what happened after the lead (nurture, sales). Raise lookback_days to "
                "the cycle's p75, or set anchor_on_lead."
                if over
                else "none"
            ),
        },
    )


def insight_problems(result: at.MonthAttribution, tolerance: float) -> dict[str, list[str]]:
    """Consistency of the insight tables with the paths behind the credit."""
    with_touch = {s.conversion_type: s.conversions_with_touch for s in result.summaries}
    out: dict[str, list[str]] = {name: [] for name in INSIGHT_TABLES}
    tables = result.insights
    last = tables["assisted"].groupby("conversion_type")["last_touch_conversions"].sum()
    stats = tables["path_stats"].groupby("conversion_type")["paths"].max()
    for ctype, n in with_touch.items():
        if int(last.get(ctype, 0)) != n:
            out["assisted"].append(f"{ctype}: last-touch conversions {last.get(ctype, 0)} != {n}")
        if int(stats.get(ctype, 0)) != n:
            out["path_stats"].append(f"{ctype}: {stats.get(ctype, 0)} paths != {n} conversions")
    sums = tables["transitions"].groupby(["conversion_type", "from_channel"])["probability"].sum()
    for key, total in sums.items():
        if abs(total - 1) > tolerance:
            out["transitions"].append(f"{key}: probabilities sum to {total:.9f}")
    top = tables["top_paths"].groupby("conversion_type")["conversions"].sum()
    for ctype, total in top.items():
        if total > with_touch.get(ctype, 0):
            out["top_paths"].append(f"{ctype}: top paths hold more conversions than exist")
    spread = tables["model_comparison"]["spread"]
    if ((spread < -tolerance) | (spread > 1 + tolerance)).any():
        out["model_comparison"].append("a spread lies outside [0, 1]")
    tv = tables["model_disagreement"]["tv_distance"]
    if ((tv < -tolerance) | (tv > 1 + tolerance)).any():
        out["model_disagreement"].append("a distance lies outside [0, 1]")
    return out


def campaign_mismatches(result: at.MonthAttribution, tolerance: float) -> list[str]:
    """Campaign credit summed per channel must equal the channel credit."""
    keys = ["conversion_type", "model", "channel"]
    left = result.campaign.groupby(keys)[["attributed_conversions", "attributed_revenue"]].sum()
    right = result.channel.set_index(keys)[["attributed_conversions", "attributed_revenue"]]
    joined = right.join(left.add_suffix("_campaign"), how="outer").fillna(0.0)
    bad = joined[
        (joined["attributed_conversions"] - joined["attributed_conversions_campaign"]).abs()
        > tolerance * joined["attributed_conversions"].abs().clip(lower=1)
    ]
    bad_rev = joined[
        (joined["attributed_revenue"] - joined["attributed_revenue_campaign"]).abs()
        > tolerance * joined["attributed_revenue"].abs().clip(lower=1)
    ]
    return [
        f"{'/'.join(map(str, k))}: campaign credit differs" for k in bad.index.union(bad_rev.index)
    ]


def _preview(channel: pd.DataFrame, model: str) -> str:
    shown = channel[channel["model"] == model].pivot_table(
        index="channel", columns="conversion_type", values="attributed_conversions", aggfunc="sum"
    )
    if shown.empty:
        return "_no conversions with a touch this month_"
    return f"**{model}** attributed conversions\n\n" + markdown_table(
        shown.reset_index().sort_values(shown.columns[0], ascending=False), max_rows=15
    )


@dg.multi_asset(
    name="attribution_credit",
    specs=[
        dg.AssetSpec(
            "channel_attribution",
            deps=["staging_tables"],
            group_name=GROUP,
            kinds={"duckdb", "python"},
            description=(
                "Credit for the month's leads, opportunities and won deals per channel under "
                "seven attribution models (first touch, last touch, linear, time decay, "
                "position based, Markov, Shapley): attributed conversions, attributed "
                "revenue and each channel's share, plus how many conversions had any "
                "touch (coverage)."
            ),
        ),
        dg.AssetSpec(
            "campaign_attribution",
            deps=["staging_tables"],
            group_name=GROUP,
            kinds={"duckdb", "python"},
            description=(
                "The same credit per channel and campaign (campaign empty for touches that "
                "carry no campaign). Campaign performance and the budget optimizer read the "
                "model chosen in settings (default linear)."
            ),
        ),
        *[
            dg.AssetSpec(
                _insight_key(name),
                deps=["staging_tables"],
                group_name=GROUP,
                kinds={"duckdb", "python"},
                description=INSIGHT_DESCRIPTIONS[name],
            )
            for name in INSIGHT_TABLES
        ],
    ],
    partitions_def=monthly_partitions,
    pool="duckdb_warehouse",
    check_specs=[
        dg.AssetCheckSpec(
            "credit_sums_to_conversions",
            asset="channel_attribution",
            blocking=True,
            description=(
                "Per conversion type and model, attributed conversions add up to the "
                "conversions with at least one touch in the lookback window."
            ),
        ),
        dg.AssetCheckSpec(
            "shares_sum_to_one",
            asset="channel_attribution",
            blocking=True,
            description="Per conversion type and model, channel shares add up to 1.",
        ),
        dg.AssetCheckSpec(
            "no_negative_credit",
            asset="channel_attribution",
            blocking=True,
            description="No channel receives negative conversions or revenue.",
        ),
        dg.AssetCheckSpec(
            "revenue_credit_sums_to_revenue",
            asset="channel_attribution",
            blocking=True,
            description=(
                "Per conversion type and model, attributed revenue adds up to the value of "
                "the conversions with a touch."
            ),
        ),
        dg.AssetCheckSpec(
            "touch_coverage",
            asset="channel_attribution",
            blocking=False,
            description=(
                "Warns when a small share of conversions (below min_coverage, default 70%) has "
                "any tracked touch, or the share fell 10 points or more from the prior month "
                "(max_coverage_drop): then attribution speaks for few conversions, and channel "
                "changes partly reflect tracking."
            ),
        ),
        dg.AssetCheckSpec(
            "deal_cycle_within_lookback",
            asset="channel_attribution",
            blocking=False,
            description=(
                "Warns when many of the month's deals had their lead created more than "
                "lookback_days before (a sales cycle longer than the lookback): their "
                "sourcing touches are outside the path, so opportunity and won credit go to "
                "what happened after the lead. Raise lookback_days or set anchor_on_lead."
            ),
        ),
        dg.AssetCheckSpec(
            "campaign_credit_matches_channel_credit",
            asset="campaign_attribution",
            blocking=True,
            description="Campaign credit summed per channel equals the channel credit.",
        ),
        *[
            dg.AssetCheckSpec(
                "consistent_with_paths",
                asset=_insight_key(name),
                blocking=True,
                description=(
                    "The table agrees with the paths behind the credit (conversion counts, "
                    "probabilities summing to 1, distances within [0, 1])."
                ),
            )
            for name in INSIGHT_TABLES
        ],
    ],
)
def attribution_credit(
    context: dg.AssetExecutionContext,
    config: AttributionConfig,
    warehouse: WarehouseResource,
    settings: GtmSettings,
):
    month, month_end = month_bounds(context.partition_key)
    params = config.params(settings)
    with warehouse.connect() as con:
        prior_coverage = at.stored_coverage(con, add_months(month, -1))
        result = at.attribute_month(con, month, month_end, params, top_n=config.top_paths)
        roi, roi_problems = roi_credit(con, result, month, month_end, params, config.roi_basis)
        with wh.gated(con) as gate:
            roi_rows = write_month(con, ROI_TABLE, roi, ROI_SCHEMA, month)
            cycle = con.execute(
                load_sql("intermediate/deal_cycle_vs_lookback"),
                {
                    "month_start": month,
                    "month_end": month_end,
                    "lookback_days": params.lookback_days,
                },
            ).df()
            channel_rows = write_month(con, CHANNEL_TABLE, result.channel, CHANNEL_SCHEMA, month)
            campaign_rows = write_month(
                con, CAMPAIGN_TABLE, result.campaign, CAMPAIGN_SCHEMA, month
            )
            insight_rows = {
                name: write_month(con, table, result.insights[name], schema, month)
                for name, (table, schema) in INSIGHT_TABLES.items()
            }
            schemas = {
                table: table_schema(con, table)
                for table in [
                    CHANNEL_TABLE,
                    CAMPAIGN_TABLE,
                    *(t for t, _ in INSIGHT_TABLES.values()),
                ]
            }
            result.problems.update(roi_problems)
            checks = _check_results(
                result, campaign_mismatches(result, config.tolerance), config, prior_coverage
            )
            checks.append(cycle_check(cycle, params, config.max_cycle_outside_lookback))
            problems = insight_problems(result, config.tolerance)
            insight_checks = {
                name: dg.AssetCheckResult(
                    check_name="consistent_with_paths",
                    asset_key=_insight_key(name),
                    passed=not problems[name],
                    severity=dg.AssetCheckSeverity.ERROR,
                    metadata={"problems": "\n".join(problems[name]) or "none"},
                )
                for name in INSIGHT_TABLES
            }
            # one transaction for every table: a failed blocking check keeps all previous slices
            not_written = gate_checks(gate, attribution_credit, [*checks, *insight_checks.values()])
    summary = pd.DataFrame(
        [
            {
                "conversion_type": s.conversion_type,
                "conversions": s.conversions,
                "with_touch": s.conversions_with_touch,
                "coverage": s.coverage,
                "null_paths": s.null_paths,
            }
            for s in result.summaries
        ]
    )
    yield dg.MaterializeResult(
        asset_key="channel_attribution",
        metadata={
            "dagster/row_count": channel_rows,
            "dagster/column_schema": schemas[CHANNEL_TABLE],
            "paths": dg.MetadataValue.md(markdown_table(summary, floatfmt=",.3f")),
            "preview": dg.MetadataValue.md(_preview(result.channel, settings.attribution_model)),
            "lookback_days": params.lookback_days,
            "markov_order": params.markov_order,
            "touch_types": ", ".join(params.touch_types) if params.touch_types else "all",
            "session_minutes": params.session_minutes,
            "anchor_on_lead": params.anchor_on_lead,
            **not_written,
        },
        check_results=[c for c in checks if c.asset_key == dg.AssetKey("channel_attribution")],
    )
    yield dg.MaterializeResult(
        asset_key="campaign_attribution",
        metadata={
            "dagster/row_count": campaign_rows,
            "dagster/column_schema": schemas[CAMPAIGN_TABLE],
            "preview": dg.MetadataValue.md(
                markdown_table(
                    result.campaign[
                        result.campaign["model"] == settings.attribution_model
                    ].sort_values("attributed_revenue", ascending=False),
                    max_rows=15,
                )
            ),
            "roi_table": ROI_TABLE,
            "roi_basis": config.roi_basis,
            "roi_rows": roi_rows,
            **not_written,
        },
        check_results=[c for c in checks if c.asset_key == dg.AssetKey("campaign_attribution")],
    )
    headlines = ins.disagreement_headlines(
        result.insights["model_comparison"], result.insights["model_disagreement"]
    )
    for name, (table, _schema) in INSIGHT_TABLES.items():
        frame = result.insights[name]
        metadata = {
            "dagster/row_count": insight_rows[name],
            "dagster/column_schema": schemas[table],
            "table": table,
            "preview": dg.MetadataValue.md(markdown_table(frame.drop(columns=["month"]))),
            **not_written,
        }
        if name in ("model_comparison", "model_disagreement"):
            metadata["disagreement"] = dg.MetadataValue.md("\n".join(f"- {h}" for h in headlines))
        yield dg.MaterializeResult(
            asset_key=_insight_key(name),
            metadata=metadata,
            check_results=[insight_checks[name]],
        )
