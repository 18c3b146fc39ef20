"""Raw and staging layers: load the exports, gate them, build the typed staging tables.

Both are snapshots of the whole export folder (the exports hold full history). They are
month-partitioned only so that they run inside the monthly job; an unchanged folder is not
reloaded (fingerprint of file names, sizes and modification times plus the settings), so a
12-month backfill loads the files once.
"""

import hashlib
from pathlib import Path

import dagster as dg

from gtm_assets import warehouse as wh
from gtm_assets.assets.common import WAREHOUSE_POOL, gate_checks, markdown_table
from gtm_assets.partitions import month_bounds, monthly_partitions
from gtm_assets.raw import RawInputError, load_raw, raw_fingerprint
from gtm_assets.raw.report import quarantine_counts, stored_warnings
from gtm_assets.raw.schema import TABLE_NAMES
from gtm_assets.resources import GtmSettings, WarehouseResource
from gtm_assets.sql_files import load_sql

# Every contract table but fx_rates (applied inside the money columns); campaigns first,
# because staging.touchpoints maps utm_campaign through staging.campaigns.
STAGING_TABLES: tuple[str, ...] = (
    "campaigns",
    *(t for t in TABLE_NAMES if t not in ("campaigns", "fx_rates")),
)
INTERMEDIATE_TABLES = ("conversions", "lead_stage_reached")


def _fingerprint(settings: GtmSettings) -> str:
    rules = Path(settings.channel_rules_path) if settings.channel_rules_path else None
    return raw_fingerprint(
        Path(settings.raw_dir),
        currency=settings.currency,
        spend_ceiling=settings.spend_ceiling,
        max_quarantine_share=settings.max_quarantine_share,
        channel_rules_path=rules,
    )


def _stored_fingerprint(con) -> str | None:
    if not wh.table_exists(con, "raw.load_manifest"):
        return None
    rows = con.execute("select distinct fingerprint from raw.load_manifest").fetchall()
    return rows[0][0] if len(rows) == 1 else None


def _manifest(con):
    return wh.query_df(
        con,
        "select table_name, present, source_file, rows_read, rows_loaded, rows_quarantined "
        "from raw.load_manifest order by table_name",
    )


@dg.asset(
    partitions_def=monthly_partitions,
    group_name="raw",
    pool=WAREHOUSE_POOL,
    kinds={"duckdb", "csv"},
    description=(
        "The raw exports in GTM_RAW_DIR loaded into schema `raw`, types enforced. Rows that "
        "break the contract are counted in `quarantine.<table>`; a structurally bad export is "
        "rejected whole (the message names file, row and column) and nothing is changed."
    ),
    check_specs=[
        dg.AssetCheckSpec(
            "exports_cover_the_month",
            asset="raw_exports",
            blocking=True,
            description=(
                "The exports hold ad spend or touchpoints in the month being run; a month "
                "outside the data would produce empty, misleading analyses."
            ),
        ),
        dg.AssetCheckSpec(
            "no_quarantined_rows",
            asset="raw_exports",
            blocking=False,
            description="Warns when any row was quarantined, with the counts per table and rule.",
        ),
        dg.AssetCheckSpec(
            "no_load_warnings",
            asset="raw_exports",
            blocking=False,
            description=(
                "Warns about rows that were kept but look wrong (a country that is not an ISO "
                "code, a closed deal without closed_at, ...), listed with their counts."
            ),
        ),
    ],
)
def raw_exports(
    context: dg.AssetExecutionContext, warehouse: WarehouseResource, settings: GtmSettings
) -> dg.MaterializeResult:
    fingerprint = _fingerprint(settings)
    with warehouse.connect() as con:
        reused = _stored_fingerprint(con) == fingerprint
        if reused:
            context.log.info("Raw exports unchanged since the last load; reusing raw.*")
            summary = "Exports unchanged since the last load: reused."
        else:
            try:
                report = load_raw(
                    con,
                    Path(settings.raw_dir),
                    currency=settings.currency,
                    spend_ceiling=settings.spend_ceiling,
                    max_quarantine_share=settings.max_quarantine_share,
                    channel_rules_path=(
                        Path(settings.channel_rules_path) if settings.channel_rules_path else None
                    ),
                )
            except RawInputError as exc:
                raise dg.Failure(
                    description=str(exc),
                    metadata={"raw_dir": settings.raw_dir},
                    allow_retries=False,
                ) from exc
            summary = report.markdown()
        manifest = _manifest(con)
        quarantine_by_rule = quarantine_counts(con)
        warnings = stored_warnings(con)
        start, end = month_bounds(context.partition_key)
        coverage = con.execute(
            load_sql("staging/month_coverage"), {"month_start": start, "month_end": end}
        ).df()

    counts = dict(zip(coverage.table_name, coverage.rows_in_month, strict=True))
    quarantined = int(manifest.rows_quarantined.fillna(0).sum())

    return dg.MaterializeResult(
        metadata={
            "dagster/row_count": int(manifest.rows_loaded.fillna(0).sum()),
            "rows_quarantined": quarantined,
            "reused_previous_load": reused,
            "fingerprint": fingerprint,
            "tables": dg.MetadataValue.md(markdown_table(manifest, max_rows=30)),
            "load_summary": dg.MetadataValue.md(summary),
        },
        check_results=[
            dg.AssetCheckResult(
                check_name="exports_cover_the_month",
                passed=counts.get("ad_spend", 0) + counts.get("touchpoints", 0) > 0,
                metadata={f"{table}_rows_in_month": int(n) for table, n in counts.items()},
            ),
            dg.AssetCheckResult(
                check_name="no_load_warnings",
                passed=not warnings,
                severity=dg.AssetCheckSeverity.WARN,
                metadata={"warnings": "\n".join(warnings) or "none"},
            ),
            dg.AssetCheckResult(
                check_name="no_quarantined_rows",
                passed=quarantined == 0,
                severity=dg.AssetCheckSeverity.WARN,
                metadata={
                    "rows_quarantined": quarantined,
                    "by_table_and_rule": dg.MetadataValue.md(markdown_table(quarantine_by_rule)),
                },
            ),
        ],
    )


def _staging_signature(fingerprint: str | None) -> str:
    text = "".join(load_sql(f"staging/{t}") for t in STAGING_TABLES)
    text += "".join(load_sql(f"intermediate/{t}") for t in INTERMEDIATE_TABLES)
    return hashlib.sha256(f"{fingerprint}|{text}".encode()).hexdigest()[:16]


def staging_is_current(con) -> bool:
    """False when staging was built by other staging SQL than this version's (an upgrade
    since the last monthly run); True when it is current or carries no build record."""
    if not wh.table_exists(con, "staging.build_info"):
        return True
    stored = con.execute("select signature from staging.build_info").fetchall()
    return stored == [(_staging_signature(_stored_fingerprint(con)),)]


def raw_folder_changed(con, settings: GtmSettings) -> bool:
    """True when the warehouse holds a load and the raw folder's files (or the load settings)
    differ from it: the exports changed since the last monthly run."""
    stored = _stored_fingerprint(con)
    if stored is None or not Path(settings.raw_dir).is_dir():
        return False
    return stored != _fingerprint(settings)


def build_staging(con, currency: str) -> None:
    """(Re)build every staging table and the intermediate tables (conversions,
    lead_stage_reached) in one transaction (or the enclosing ``warehouse.gated`` one)."""
    params = {"currency": currency}
    tables = [f"staging.{t}" for t in STAGING_TABLES] + [
        f"intermediate.{t}" for t in INTERMEDIATE_TABLES
    ]
    with wh.transaction(con, *tables):
        for table in STAGING_TABLES:
            sql = load_sql(f"staging/{table}")
            wh.execute(con, f"create or replace table staging.{wh.ident(table)} as {sql}", params)
        for table in INTERMEDIATE_TABLES:
            sql = load_sql(f"intermediate/{table}")
            wh.execute(
                con, f"create or replace table intermediate.{wh.ident(table)} as {sql}", params
            )


#: Above this share of the touchpoints concerned, the channel checks warn.
CHANNEL_WARN_SHARE = 0.02


def _channel_warning(check_name: str, share: float, metadata: dict) -> dg.AssetCheckResult:
    """A non-blocking channel check: passes up to ``CHANNEL_WARN_SHARE``."""
    return dg.AssetCheckResult(
        check_name=check_name,
        passed=share <= CHANNEL_WARN_SHARE,
        severity=dg.AssetCheckSeverity.WARN,
        metadata=metadata,
    )


@dg.asset(
    partitions_def=monthly_partitions,
    group_name="staging",
    pool=WAREHOUSE_POOL,
    kinds={"duckdb", "sql"},
    deps=["raw_exports"],
    description=(
        "Typed, normalised staging tables (money in the reporting currency, channels derived "
        "from utm values by the channel rules), intermediate.conversions (lead, "
        "opportunity and won events) and intermediate.lead_stage_reached (when each lead "
        "first reached each funnel stage)."
    ),
    check_specs=[
        dg.AssetCheckSpec(
            "row_counts_match_raw",
            asset="staging_tables",
            blocking=True,
            description="Every staging table has exactly the rows of its raw table.",
        ),
        dg.AssetCheckSpec(
            "money_converted",
            asset="staging_tables",
            blocking=True,
            description="No spend, budget or amount lost its value in currency conversion.",
        ),
        dg.AssetCheckSpec(
            "channels_classified",
            asset="staging_tables",
            blocking=False,
            description="Warns when more than 2% of touchpoints have no derivable channel.",
        ),
        dg.AssetCheckSpec(
            "campaign_channels_agree",
            asset="staging_tables",
            blocking=False,
            description=(
                "Warns when more than 2% of the touchpoints that name a campaign have another "
                "channel than the campaign's (channel ROAS then splits that campaign)."
            ),
        ),
    ],
)
def staging_tables(
    context: dg.AssetExecutionContext, warehouse: WarehouseResource, settings: GtmSettings
) -> dg.MaterializeResult:
    with warehouse.connect() as con:
        with wh.gated(con) as gate:
            signature = _staging_signature(_stored_fingerprint(con))
            built = wh.table_exists(con, "staging.build_info") and staging_is_current(con)
            if built:
                context.log.info("Staging is up to date with the raw load; not rebuilt.")
            else:
                build_staging(con, settings.currency)
                wh.replace_table(
                    con,
                    "staging.build_info",
                    "select $signature as signature",
                    {"signature": signature},
                )
            counts = wh.query_df(con, load_sql("staging/row_count_reconciliation"))
            money = con.execute(load_sql("staging/unconverted_money")).fetchall()[0][0]
            channels = wh.query_df(con, load_sql("staging/unclassified_channels"))
            conflicts = wh.query_df(
                con, load_sql("staging/campaign_channel_conflicts"), {"start": None, "end": None}
            )
            totals = con.execute(
                "select count(*), count(*) filter (where channel = 'unclassified'), "
                "count(campaign_id) from staging.touchpoints"
            ).fetchall()[0]
            mismatched = counts[counts.raw_rows != counts.staging_rows]
            touches, unclassified, with_campaign = (int(x) for x in totals)
            unclassified_share = unclassified / touches if touches else 0.0
            conflicting = int(conflicts["touchpoints"].sum())
            conflict_share = conflicting / with_campaign if with_campaign else 0.0
            checks = [
                dg.AssetCheckResult(
                    check_name="row_counts_match_raw",
                    passed=mismatched.empty,
                    metadata={"mismatches": dg.MetadataValue.md(markdown_table(mismatched))},
                ),
                dg.AssetCheckResult(
                    check_name="money_converted",
                    passed=money == 0,
                    metadata={"rows_with_lost_money": int(money)},
                ),
            ]
            not_written = gate_checks(gate, staging_tables, checks)
    return dg.MaterializeResult(
        metadata={
            "dagster/row_count": int(counts.staging_rows.sum()),
            "rebuilt": not built,
            "tables": dg.MetadataValue.md(markdown_table(counts, max_rows=30)),
            "unclassified_touchpoints": unclassified,
            **not_written,
        },
        check_results=[
            *checks,
            _channel_warning(
                "channels_classified",
                unclassified_share,
                {
                    "unclassified_touchpoints": unclassified,
                    "unclassified_share": round(unclassified_share, 4),
                    "top_unclassified_source_medium": dg.MetadataValue.md(
                        markdown_table(channels, max_rows=15)
                    ),
                },
            ),
            _channel_warning(
                "campaign_channels_agree",
                conflict_share,
                {
                    "touchpoints_off_their_campaign_channel": conflicting,
                    "share_of_campaign_touchpoints": round(conflict_share, 4),
                    "by_campaign": dg.MetadataValue.md(markdown_table(conflicts, max_rows=15)),
                },
            ),
        ],
    )
