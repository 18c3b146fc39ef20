"""Experiments (growth analyst): the month's A/B and multi-variant test readout.

Thin Dagster layer over ``gtm_assets.analytics.experiments``: loads the month's experiments
and their units, computes the statistics, writes ``marts.experiment_results`` with
``replace_month`` and reports the checks. The methods are documented in the analytics module.
"""

from typing import Literal

import dagster as dg
import duckdb
import pandas as pd
from pydantic import Field

from gtm_assets import warehouse as wh
from gtm_assets.analytics.experiments import (
    RESULT_SCHEMA,
    VERDICT_SRM,
    ExperimentStatsConfig,
    empty_results,
    experiment_results,
)
from gtm_assets.assets.common import gate_checks
from gtm_assets.partitions import month_bounds, monthly_partitions
from gtm_assets.resources import WarehouseResource
from gtm_assets.sql_files import load_sql

TABLE = "marts.experiment_results"
OPTIONAL_INPUTS = ("experiments", "experiment_units")


class ExperimentConfig(dg.Config):
    """Statistical settings of the monthly experiment readout."""

    alpha: float = Field(
        default=0.05, description="Two-sided significance level; intervals are 1 - alpha (95%)."
    )
    power: float = Field(default=0.80, description="Power used for the required sample size.")
    mde_relative: float = Field(
        default=0.10,
        description="Minimum detectable effect, relative to the control's metric (0.10 = 10%).",
    )
    srm_alpha: float = Field(
        default=0.001,
        description="Sample ratio mismatch is flagged when the chi-square p-value is below this.",
    )
    correction: Literal["holm", "fdr_bh"] = Field(
        default="holm",
        description=(
            "Multiple-testing correction across the month's treatment-vs-control tests: "
            "holm (family-wise error rate) or fdr_bh (Benjamini-Hochberg false discovery rate)."
        ),
    )

    def stats_config(self) -> ExperimentStatsConfig:
        return ExperimentStatsConfig(
            alpha=self.alpha,
            power=self.power,
            mde_relative=self.mde_relative,
            srm_alpha=self.srm_alpha,
            correction=self.correction,
        )


def missing_optional_inputs(con: duckdb.DuckDBPyConnection, tables: tuple[str, ...]) -> list[str]:
    """The optional raw tables among ``tables`` that ``raw.load_manifest`` says are absent."""
    if not wh.table_exists(con, "raw.load_manifest"):
        return list(tables)
    rows = con.execute(
        "select table_name, bool_or(present) from raw.load_manifest "
        "where list_contains($tables, table_name) group by table_name",
        {"tables": list(tables)},
    ).fetchall()
    present = {name for name, ok in rows if ok}
    return [t for t in tables if t not in present]


def write_frame(
    con: duckdb.DuckDBPyConnection,
    table: str,
    df: pd.DataFrame,
    schema: dict[str, str],
    month,
) -> int:
    """Write ``df`` as the month's slice of ``table`` with the declared column types."""
    return wh.replace_month(con, table, df[list(schema)], month, schema=schema)


def _fmt(value, pattern: str) -> str:
    return "" if value is None or pd.isna(value) else format(value, pattern)


def results_markdown(df: pd.DataFrame, limit: int = 30) -> str:
    """A compact markdown table of the readout for the Dagster UI."""
    if df.empty:
        return "No experiment ran this month."
    lines = [
        "| experiment | variant | units | conv. rate | lift (rel) | 95% CI of lift | p adj. | SRM p | verdict |",
        "|---|---|---:|---:|---:|---|---:|---:|---|",
    ]
    for _, r in df.head(limit).iterrows():
        ci = (
            f"[{_fmt(r['ci_low'], '+.2%')}, {_fmt(r['ci_high'], '+.2%')}]"
            if not pd.isna(r["ci_low"])
            else ""
        )
        name = str(r["experiment_name"] or r["experiment_id"]).replace("|", "/")
        lines.append(
            f"| {name} | {str(r['variant']).replace('|', '/')} | {r['units']:,} "
            f"| {_fmt(r['conversion_rate'], '.2%')} | {_fmt(r['lift_rel'], '+.1%')} | {ci} "
            f"| {_fmt(r['decision_p_value_adjusted'], '.3g')} | {_fmt(r['srm_p_value'], '.2g')} "
            f"| {r['verdict']} |"
        )
    return "\n".join(lines)


@dg.asset(
    name="experiment_results",
    partitions_def=monthly_partitions,
    group_name="experiments",
    pool="duckdb_warehouse",
    kinds={"duckdb", "python"},
    deps=["staging_tables"],
    check_specs=[
        dg.AssetCheckSpec(
            "srm_gate",
            asset="experiment_results",
            blocking=True,
            description=(
                "Gate: every experiment whose sample ratio mismatches its planned split "
                "(chi-square p < 0.001) has the verdict 'invalid: SRM' on every row, so no "
                "ship/stop decision is read from a broken assignment."
            ),
        ),
        dg.AssetCheckSpec(
            "statistics_valid",
            asset="experiment_results",
            blocking=True,
            description=(
                "p-values lie in [0, 1], each lift lies inside its interval, every experiment "
                "has exactly one control, and the units add up to the units loaded."
            ),
        ),
        dg.AssetCheckSpec(
            "no_sample_ratio_mismatch",
            asset="experiment_results",
            blocking=False,
            description="Warns when any experiment of the month shows a sample ratio mismatch.",
        ),
    ],
    description=(
        "Readout of the month's experiments: per variant the conversion rate, lift vs control "
        "with a 95% interval, p-value (raw and corrected for the number of tests), "
        "sample-ratio check, sample needed to detect a 10% change, revenue per unit and "
        "variance-reduced (CUPED) estimates, and a verdict: ship, stop, keep running or "
        "invalid: SRM, with the reason."
    ),
)
def experiment_results_asset(
    context: dg.AssetExecutionContext,
    config: ExperimentConfig,
    warehouse: WarehouseResource,
) -> dg.MaterializeResult:
    month, month_end = month_bounds(context.partition_key)
    params = {"month_start": month, "month_end": month_end}
    cfg = config.stats_config()
    with warehouse.connect() as con:
        missing = missing_optional_inputs(con, OPTIONAL_INPUTS)
        if missing:
            df = empty_results()
            units_loaded = 0
        else:
            experiments = con.execute(load_sql("marts/experiment_results_experiments"), params).df()
            units = con.execute(load_sql("marts/experiment_results_units"), params).df()
            units_loaded = len(units)
            df = experiment_results(experiments, units, month, month_end, cfg)
        df["month"] = month
        with wh.gated(con) as gate:
            written = write_frame(con, TABLE, df, RESULT_SCHEMA, month)
            checks = _checks(df, units_loaded, cfg)
            not_written = gate_checks(gate, experiment_results_asset, checks)

    metadata: dict = {
        "dagster/row_count": written,
        "preview": dg.MetadataValue.md(results_markdown(df)),
        "experiments": int(df["experiment_id"].nunique()),
        "correction": cfg.correction,
        "ci_method": "Newcombe hybrid score (difference of proportions)",
        "experiments_in_month": (
            "active at any time in the month (start before month end, no end or end on/after "
            "month start), units assigned before month end"
        ),
    }
    if missing:
        metadata["skipped"] = f"skipped: {', '.join(missing)} not supplied"
    else:
        counts = df[~df["is_control"].astype(bool)]["verdict"].value_counts().to_dict()
        metadata["verdicts"] = dg.MetadataValue.json({str(k): int(v) for k, v in counts.items()})
    metadata.update(not_written)
    return dg.MaterializeResult(metadata=metadata, check_results=checks)


def _checks(df: pd.DataFrame, units_loaded: int, cfg: ExperimentStatsConfig) -> list:
    """The three check results of the asset (pure function of the written slice)."""
    return [srm_gate_check(df), statistics_valid_check(df, units_loaded), srm_warning(df)]


def srm_gate_check(df: pd.DataFrame) -> dg.AssetCheckResult:
    flagged = df[df["srm_flag"].fillna(False).astype(bool)]
    leaking = flagged[flagged["verdict"] != VERDICT_SRM]
    return dg.AssetCheckResult(
        check_name="srm_gate",
        asset_key="experiment_results",
        passed=bool(leaking.empty),
        severity=dg.AssetCheckSeverity.ERROR,
        metadata={
            "srm_experiments": ", ".join(sorted(flagged["experiment_id"].unique())) or "none",
            "rows_with_a_decision_despite_srm": len(leaking),
        },
    )


def statistics_valid_check(df: pd.DataFrame, units_loaded: int) -> dg.AssetCheckResult:
    problems: list[str] = []
    for col in ("p_value", "p_value_adjusted", "srm_p_value", "decision_p_value_adjusted"):
        values = df[col].dropna().astype(float)
        if ((values < 0) | (values > 1)).any():
            problems.append(f"{col} outside [0, 1]")
    treat = df[df["lift_abs"].notna()]
    outside = treat[
        (treat["ci_low"].astype(float) > treat["lift_abs"].astype(float) + 1e-12)
        | (treat["ci_high"].astype(float) < treat["lift_abs"].astype(float) - 1e-12)
    ]
    if len(outside):
        problems.append(f"{len(outside)} lift(s) outside their interval")
    if len(df):
        controls = df.groupby("experiment_id")["is_control"].sum()
        if (controls != 1).any():
            problems.append(
                "experiments without exactly one control: "
                + ", ".join(controls[controls != 1].index.astype(str))
            )
    units = int(df["units"].sum()) if len(df) else 0
    if units != units_loaded:
        problems.append(f"units in the results {units} != units loaded {units_loaded}")
    return dg.AssetCheckResult(
        check_name="statistics_valid",
        asset_key="experiment_results",
        passed=not problems,
        severity=dg.AssetCheckSeverity.ERROR,
        metadata={"problems": "; ".join(problems) or "none", "units": units},
    )


def srm_warning(df: pd.DataFrame) -> dg.AssetCheckResult:
    flagged = df[df["srm_flag"].fillna(False).astype(bool)]
    details = (
        flagged.groupby("experiment_id")["srm_p_value"].first().astype(float).to_dict()
        if len(flagged)
        else {}
    )
    return dg.AssetCheckResult(
        check_name="no_sample_ratio_mismatch",
        asset_key="experiment_results",
        passed=flagged.empty,
        severity=dg.AssetCheckSeverity.WARN,
        metadata={
            "srm_experiments": ", ".join(
                f"{k} (p = {v:.2g})" if not pd.isna(v) else f"{k} (planned split mismatch)"
                for k, v in details.items()
            )
            or "none"
        },
    )
