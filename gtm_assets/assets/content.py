"""Content performance (content-performance analyst): engagement, assisted conversions, SEO.

One Dagster step writes the month's six content marts in order (each with
``replace_month``): SQL in ``sql/marts/content_*.sql`` for the per-content figures, and
``gtm_assets.analytics.content`` for topic gaps and recommendations.

Optional inputs: ``content`` and ``content_daily`` (performance, segments, gaps,
recommendations) and ``seo_rankings`` (SEO changes; gaps then without search demand). When
they are absent the affected tables get an empty slice and "skipped: ... not supplied".
"""

from collections.abc import Iterator
from datetime import date

import dagster as dg
import duckdb
import pandas as pd
from pydantic import Field

from gtm_assets import warehouse as wh
from gtm_assets.analytics.content import (
    GAP_SCHEMA,
    RECOMMENDATION_SCHEMA,
    ContentConfig,
    content_gaps,
    content_recommendations,
    empty_frame,
)
from gtm_assets.assets.common import gate_checks, markdown_table
from gtm_assets.assets.experiments import missing_optional_inputs, write_frame
from gtm_assets.partitions import add_months, month_bounds, monthly_partitions
from gtm_assets.resources import GtmSettings, WarehouseResource
from gtm_assets.sql_files import load_sql

GROUP = "content"
ATTRIBUTION = "content_attribution"
PERFORMANCE = "content_performance"
SEO = "content_seo_changes"
SEGMENTS = "content_segments"
GAPS = "content_gaps"
RECOMMENDATIONS = "content_recommendations"
CATALOG_INPUTS = ("content", "content_daily")
SEO_INPUTS = ("seo_rankings",)


class ContentAnalysisConfig(dg.Config):
    """Thresholds of the monthly content analysis."""

    first_weight: float = Field(
        default=0.4, description="Position-based credit of a path's first touch (as attribution)."
    )
    last_weight: float = Field(
        default=0.4, description="Position-based credit of a path's last touch (as attribution)."
    )
    viewer_window_days: int = Field(
        default=30,
        description=(
            "Days after a person's first view of a piece of content in which a new lead counts "
            "for the viewer comparison (viewer_lead_rate vs other_visitor_lead_rate)."
        ),
    )
    min_position_change: float = Field(
        default=1.0,
        description="A keyword or page moving at least this many positions is a gain or loss.",
    )
    top_position: int = Field(
        default=10, description="A ranking at or above this position captures its demand."
    )
    min_gap_share: float = Field(
        default=0.05,
        description="Share difference (demand or leads vs content) that makes a topic gap.",
    )
    weak_top10_share: float = Field(
        default=0.5, description="A topic with less of its demand in the top 10 has a ranking gap."
    )
    traffic_quantile: float = Field(
        default=0.75, description="Visitors quantile that counts as high traffic."
    )
    low_rate_factor: float = Field(
        default=0.5, description="Converting below this x the content average = under-converting."
    )
    high_rate_factor: float = Field(
        default=2.0, description="Converting at this x the content average = strong converter."
    )
    min_visitors: int = Field(
        default=100, description="Pages with fewer visitors get no conversion-rate advice."
    )
    min_clicks_lost: int = Field(
        default=10, description="Smaller organic click losses do not trigger a refresh."
    )
    max_recommendations: int = Field(default=10, description="Recommendations kept per month.")

    def analysis(self) -> ContentConfig:
        return ContentConfig(
            top_position=self.top_position,
            min_gap_share=self.min_gap_share,
            weak_top10_share=self.weak_top10_share,
            traffic_quantile=self.traffic_quantile,
            low_rate_factor=self.low_rate_factor,
            high_rate_factor=self.high_rate_factor,
            min_visitors=self.min_visitors,
            min_clicks_lost=self.min_clicks_lost,
            max_recommendations=self.max_recommendations,
        )


def _spec(key: str, description: str, deps: list[str]) -> dg.AssetSpec:
    return dg.AssetSpec(
        key,
        description=description,
        deps=deps,
        group_name=GROUP,
        kinds={"duckdb", "sql", "python"},
    )


SPECS = [
    _spec(
        ATTRIBUTION,
        "Conversions (leads, opportunities, won deals) each piece of content assisted this "
        "month: how many journeys it appeared in, and its share of the credit under the "
        "linear and position-based (40/20/40) attribution models.",
        ["staging_tables", "channel_attribution"],
    ),
    _spec(
        PERFORMANCE,
        "Every piece of content this month: traffic, engaged time, organic sessions, form "
        "fills, conversions it assisted, change vs last month, and its rank by engagement "
        "and by assisted leads and revenue.",
        ["staging_tables", ATTRIBUTION],
    ),
    _spec(
        SEO,
        "Search rankings month over month, by keyword and by page: position, clicks and "
        "impressions now vs last month, labelled gain, loss, new, lost or flat.",
        ["staging_tables"],
    ),
    _spec(
        SEGMENTS,
        "Content performance rolled up by content type and by topic, with each group's share "
        "of content, traffic, engagement, leads and revenue.",
        [PERFORMANCE],
    ),
    _spec(
        GAPS,
        "Topics where search demand or converting traffic outweighs how much content we have "
        "or how well it ranks, with the form fills that closing the gap is expected to bring.",
        [PERFORMANCE, SEO],
    ),
    _spec(
        RECOMMENDATIONS,
        "The month's content actions (refresh, create, fix the call to action, promote), "
        "ranked by expected form fills per month, each stated with its numbers.",
        [PERFORMANCE, SEO, GAPS],
    ),
]

CHECKS = [
    dg.AssetCheckSpec(
        "content_credit_bounded",
        asset=ATTRIBUTION,
        blocking=True,
        description=(
            "Each content item's credit lies between 0 and the conversions it assisted, and "
            "content credit per conversion type never exceeds the conversions that have a path."
        ),
    ),
    dg.AssetCheckSpec(
        "paths_match_channel_attribution",
        asset=ATTRIBUTION,
        blocking=False,
        description=(
            "The conversions with a touch path here equal the linear credit total in "
            "marts.channel_attribution (same path definition); warns when they drift apart."
        ),
    ),
    dg.AssetCheckSpec(
        "one_row_per_content",
        asset=PERFORMANCE,
        blocking=True,
        description="One row per content item, and no negative traffic or form fills.",
    ),
    dg.AssetCheckSpec(
        "one_row_per_keyword_page",
        asset=SEO,
        blocking=True,
        description="One keyword row per keyword and page, one page row per page.",
    ),
    dg.AssetCheckSpec(
        "recommendations_quantified",
        asset=RECOMMENDATIONS,
        blocking=False,
        description="Every recommendation carries an expected impact and its evidence number.",
    ),
]


def _skipped(missing: list[str]) -> str:
    return f"skipped: {', '.join(missing)} not supplied"


def _month_df(con: duckdb.DuckDBPyConnection, table: str, month: date) -> pd.DataFrame:
    return con.execute(
        f"select * from {wh.ident(table)} where month = $month",  # noqa: S608
        {"month": month},
    ).df()


def _seo_history(con: duckdb.DuckDBPyConnection, month: date, months: int = 12) -> pd.DataFrame:
    """Keyword rows of the ``months`` months before ``month`` from the SEO export (for the
    site's top-10 capture rate when no keyword ranks there this month)."""
    return con.execute(
        load_sql("marts/content_seo_history"),
        {"history_start": add_months(month, -months), "month_start": month},
    ).df()


def _write_sql(
    con: duckdb.DuckDBPyConnection, table: str, name: str, month: date, params: dict
) -> int:
    return wh.replace_month(con, f"marts.{table}", load_sql(f"marts/{name}"), month, params)


def _write_empty_sql(con: duckdb.DuckDBPyConnection, table: str, name: str, month: date) -> int:
    """An empty slice with the table's columns: the query shape with no rows."""
    sql = f"select * from ({load_sql(f'marts/{name}')}) where false"
    params = _params_for(name, month, ContentAnalysisConfig(), 90)
    return wh.replace_month(con, f"marts.{table}", sql, month, params)


def _params_for(name: str, month: date, config: ContentAnalysisConfig, lookback: int) -> dict:
    """Exactly the parameters a content SQL file uses (DuckDB rejects unused ones)."""
    base = {"month_start": month, "month_end": add_months(month, 1)}
    if name == "content_attribution":
        return base | {
            "lookback_days": lookback,
            "first_weight": config.first_weight,
            "last_weight": config.last_weight,
        }
    if name == "content_attribution_paths":
        return base | {"lookback_days": lookback}
    if name == "content_performance":
        return base | {
            "prior_month": add_months(month, -1),
            "viewer_window_days": config.viewer_window_days,
        }
    if name == "content_seo_changes":
        return base | {
            "prior_month": add_months(month, -1),
            "min_position_change": config.min_position_change,
        }
    if name == "content_segments":
        return {"month_start": month}
    raise ValueError(f"unknown content SQL {name!r}")


@dg.multi_asset(
    name="content_analysis",
    specs=SPECS,
    check_specs=CHECKS,
    partitions_def=monthly_partitions,
    pool="duckdb_warehouse",
    description="Monthly content performance, SEO changes, gaps and recommendations.",
)
def content_analysis(
    context: dg.AssetExecutionContext,
    config: ContentAnalysisConfig,
    warehouse: WarehouseResource,
    settings: GtmSettings,
) -> Iterator[dg.MaterializeResult]:
    month, _ = month_bounds(context.partition_key)
    lookback = int(settings.lookback_days)
    cfg = config.analysis()

    def params(name: str) -> dict:
        return _params_for(name, month, config, lookback)

    with warehouse.connect() as con:
        missing_catalog = missing_optional_inputs(con, CATALOG_INPUTS)
        missing_seo = missing_optional_inputs(con, SEO_INPUTS)

        # one transaction for every table: a failed blocking check keeps all previous slices
        with wh.gated(con) as gate:
            # 1. assisted conversions (touchpoints are required, so this always runs)
            n_attr = _write_sql(con, ATTRIBUTION, ATTRIBUTION, month, params(ATTRIBUTION))
            attribution = _month_df(con, f"marts.{ATTRIBUTION}", month)
            paths = con.execute(
                load_sql("marts/content_attribution_paths"), params("content_attribution_paths")
            ).df()
            channel_totals = _channel_linear_totals(con, month)

            # 2. per content performance and 4. segments
            if missing_catalog:
                n_perf = _write_empty_sql(con, PERFORMANCE, PERFORMANCE, month)
                n_seg = _write_empty_sql(con, SEGMENTS, SEGMENTS, month)
            else:
                n_perf = _write_sql(con, PERFORMANCE, PERFORMANCE, month, params(PERFORMANCE))
                n_seg = _write_sql(con, SEGMENTS, SEGMENTS, month, params(SEGMENTS))
            performance = _month_df(con, f"marts.{PERFORMANCE}", month)
            segments = _month_df(con, f"marts.{SEGMENTS}", month)

            # 3. SEO changes
            if missing_seo:
                n_seo = _write_empty_sql(con, SEO, SEO, month)
            else:
                n_seo = _write_sql(con, SEO, SEO, month, params(SEO))
            seo = _month_df(con, f"marts.{SEO}", month)

            # 5. gaps and 6. recommendations
            seo_input = None if missing_seo else seo
            if missing_catalog:
                gaps = empty_frame(GAP_SCHEMA)
                recs = empty_frame(RECOMMENDATION_SCHEMA)
            else:
                history = None if missing_seo else _seo_history(con, month)
                gaps = content_gaps(performance, seo_input, month, cfg, history)
                recs = content_recommendations(performance, seo_input, gaps, month, cfg)
            gaps["month"] = month
            recs["month"] = month
            n_gaps = write_frame(con, f"marts.{GAPS}", gaps, GAP_SCHEMA, month)
            n_recs = write_frame(
                con, f"marts.{RECOMMENDATIONS}", recs, RECOMMENDATION_SCHEMA, month
            )
            checks = {
                ATTRIBUTION: [
                    credit_bounded_check(attribution, paths),
                    paths_vs_channel_check(paths, channel_totals),
                ],
                PERFORMANCE: [one_row_per_content_check(performance)],
                SEO: [one_row_per_keyword_page_check(seo)],
                RECOMMENDATIONS: [recommendations_quantified_check(recs)],
            }
            not_written = gate_checks(
                gate, content_analysis, [c for cs in checks.values() for c in cs]
            )

    yield dg.MaterializeResult(
        asset_key=ATTRIBUTION,
        metadata={
            "dagster/row_count": n_attr,
            **not_written,
            "preview": dg.MetadataValue.md(
                markdown_table(
                    attribution.sort_values("linear_conversions", ascending=False),
                    10,
                    columns=[
                        "content_id",
                        "conversion_type",
                        "assisted_conversions",
                        "linear_conversions",
                        "position_based_conversions",
                        "linear_value",
                    ],
                )
            ),
            "path_definition": (
                f"touches strictly before the conversion within {lookback} days, every touch "
                f"type; position-based {config.first_weight:g}/rest/{config.last_weight:g}"
            ),
        },
        check_results=checks[ATTRIBUTION],
    )
    catalog_meta = {"skipped": _skipped(missing_catalog)} if missing_catalog else {}
    top_engagement = performance.sort_values("engagement_rank") if len(performance) else performance
    top_assisted = (
        performance.sort_values("assisted_leads_rank") if len(performance) else performance
    )
    yield dg.MaterializeResult(
        asset_key=PERFORMANCE,
        metadata={
            "dagster/row_count": n_perf,
            **not_written,
            **catalog_meta,
            "top_by_engagement": dg.MetadataValue.md(
                markdown_table(
                    top_engagement,
                    10,
                    columns=[
                        "title",
                        "content_type",
                        "topic",
                        "engaged_hours",
                        "pageviews",
                        "form_fills",
                    ],
                )
            ),
            "top_by_assisted_leads": dg.MetadataValue.md(
                markdown_table(
                    top_assisted,
                    10,
                    columns=[
                        "title",
                        "content_type",
                        "topic",
                        "assisted_leads",
                        "leads_linear",
                        "revenue_linear",
                    ],
                )
            ),
        },
        check_results=checks[PERFORMANCE],
    )
    seo_meta = {"skipped": _skipped(missing_seo)} if missing_seo else {}
    movers = seo[seo["level"] == "page"].sort_values("clicks_change") if len(seo) else seo
    yield dg.MaterializeResult(
        asset_key=SEO,
        metadata={
            "dagster/row_count": n_seo,
            **not_written,
            **seo_meta,
            "biggest_page_losses": dg.MetadataValue.md(
                markdown_table(
                    movers,
                    10,
                    columns=[
                        "title",
                        "position",
                        "prior_position",
                        "clicks",
                        "prior_clicks",
                        "clicks_change",
                        "movement",
                    ],
                )
            ),
            "biggest_page_gains": dg.MetadataValue.md(
                markdown_table(
                    movers.iloc[::-1],
                    10,
                    columns=[
                        "title",
                        "position",
                        "prior_position",
                        "clicks",
                        "prior_clicks",
                        "clicks_change",
                        "movement",
                    ],
                )
            ),
        },
        check_results=checks[SEO],
    )
    yield dg.MaterializeResult(
        asset_key=SEGMENTS,
        metadata={
            "dagster/row_count": n_seg,
            **not_written,
            **catalog_meta,
            "preview": dg.MetadataValue.md(
                markdown_table(
                    segments,
                    20,
                    columns=[
                        "segment_type",
                        "segment",
                        "content_items",
                        "pageviews",
                        "form_fill_rate",
                        "leads_linear",
                        "leads_share",
                    ],
                )
            ),
        },
    )
    gap_meta = dict(catalog_meta)
    if missing_seo and not missing_catalog:
        gap_meta["note"] = "search demand not assessed: seo_rankings not supplied"
    yield dg.MaterializeResult(
        asset_key=GAPS,
        metadata={
            "dagster/row_count": n_gaps,
            **not_written,
            **gap_meta,
            "gaps": int(gaps["is_gap"].fillna(False).astype(bool).sum()) if len(gaps) else 0,
            "preview": dg.MetadataValue.md(
                markdown_table(
                    gaps,
                    10,
                    columns=[
                        "topic",
                        "content_share",
                        "demand_share",
                        "leads_share",
                        "gap_types",
                        "expected_form_fills",
                    ],
                )
            ),
        },
    )
    yield dg.MaterializeResult(
        asset_key=RECOMMENDATIONS,
        metadata={
            "dagster/row_count": n_recs,
            **not_written,
            **catalog_meta,
            "preview": dg.MetadataValue.md(
                "\n".join(f"{r['rank']}. {r['recommendation']}" for _, r in recs.iterrows())
                or "_no recommendations_"
            ),
        },
        check_results=checks[RECOMMENDATIONS],
    )


def _channel_linear_totals(con: duckdb.DuckDBPyConnection, month: date) -> pd.DataFrame | None:
    """Linear-model conversions per type from marts.channel_attribution (None if absent)."""
    if not wh.table_exists(con, "marts.channel_attribution"):
        return None
    return con.execute(
        "select conversion_type, sum(attributed_conversions) as conversions "
        "from marts.channel_attribution where month = $month and model = 'linear' "
        "group by conversion_type",
        {"month": month},
    ).df()


def credit_bounded_check(attribution: pd.DataFrame, paths: pd.DataFrame) -> dg.AssetCheckResult:
    """0 <= credit <= assisted conversions per row; content credit <= conversions with a path."""
    problems: list[str] = []
    eps = 1e-9
    for model in ("linear", "position_based"):
        credit = attribution[f"{model}_conversions"].astype(float)
        bad = (credit < -eps) | (credit > attribution["assisted_conversions"].astype(float) + eps)
        if bad.any():
            problems.append(f"{int(bad.sum())} row(s) with {model} credit outside [0, assisted]")
        totals = attribution.groupby("conversion_type")[f"{model}_conversions"].sum()
        with_path = paths.set_index("conversion_type")["conversions_with_path"]
        for ctype, total in totals.items():
            if total > float(with_path.get(ctype, 0)) + eps:
                problems.append(f"{model} {ctype}: content credit {total:.3f} > conversions")
    return dg.AssetCheckResult(
        check_name="content_credit_bounded",
        asset_key=ATTRIBUTION,
        passed=not problems,
        metadata={"problems": "; ".join(problems) or "none"},
    )


def paths_vs_channel_check(
    paths: pd.DataFrame, channel_totals: pd.DataFrame | None
) -> dg.AssetCheckResult:
    """Conversions with a path here vs linear totals in marts.channel_attribution."""
    if channel_totals is None or channel_totals.empty:
        return dg.AssetCheckResult(
            check_name="paths_match_channel_attribution",
            asset_key=ATTRIBUTION,
            passed=True,
            severity=dg.AssetCheckSeverity.WARN,
            metadata={"note": "marts.channel_attribution has no slice for this month"},
        )
    ours = paths.set_index("conversion_type")["conversions_with_path"].astype(float)
    theirs = channel_totals.set_index("conversion_type")["conversions"].astype(float)
    diffs = {
        t: (float(ours.get(t, 0.0)), float(theirs.get(t, 0.0)))
        for t in sorted(set(ours.index) | set(theirs.index))
    }
    drift = {t: v for t, v in diffs.items() if abs(v[0] - v[1]) > 1e-6 * max(1.0, v[1])}
    return dg.AssetCheckResult(
        check_name="paths_match_channel_attribution",
        asset_key=ATTRIBUTION,
        passed=not drift,
        severity=dg.AssetCheckSeverity.WARN,
        metadata={
            "content_paths_vs_channel_linear": dg.MetadataValue.json(
                {t: {"content": a, "channel_attribution": b} for t, (a, b) in diffs.items()}
            )
        },
    )


def one_row_per_content_check(performance: pd.DataFrame) -> dg.AssetCheckResult:
    dupes = int(performance["content_id"].duplicated().sum()) if len(performance) else 0
    negative = 0
    for col in ("pageviews", "unique_visitors", "form_fills", "organic_sessions"):
        if len(performance):
            negative += int((performance[col].astype(float) < 0).sum())
    return dg.AssetCheckResult(
        check_name="one_row_per_content",
        asset_key=PERFORMANCE,
        passed=dupes == 0 and negative == 0,
        metadata={"duplicate_content_rows": dupes, "negative_values": negative},
    )


def one_row_per_keyword_page_check(seo: pd.DataFrame) -> dg.AssetCheckResult:
    dupes = int(seo.duplicated(subset=["level", "keyword", "content_id"]).sum()) if len(seo) else 0
    return dg.AssetCheckResult(
        check_name="one_row_per_keyword_page",
        asset_key=SEO,
        passed=dupes == 0,
        metadata={"duplicate_rows": dupes},
    )


def recommendations_quantified_check(recs: pd.DataFrame) -> dg.AssetCheckResult:
    missing = (
        int((recs["expected_impact"].isna() | recs["evidence_value"].isna()).sum())
        if len(recs)
        else 0
    )
    return dg.AssetCheckResult(
        check_name="recommendations_quantified",
        asset_key=RECOMMENDATIONS,
        passed=missing == 0,
        severity=dg.AssetCheckSeverity.WARN,
        metadata={"recommendations_without_numbers": missing, "recommendations": len(recs)},
    )
