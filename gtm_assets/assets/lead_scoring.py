"""Lead scoring and MQL quality (issue 4, stage 5 of the monthly review): thin Dagster layer
over ``gtm_assets.analytics.lead_scoring``."""

from datetime import date

import dagster as dg
import duckdb
import pandas as pd
from pydantic import Field

from gtm_assets import warehouse as wh
from gtm_assets.analytics import funnel as fn
from gtm_assets.analytics import lead_scoring as ls
from gtm_assets.assets.common import WAREHOUSE_POOL, covered_end, gate_checks, markdown_table
from gtm_assets.partitions import add_months, month_bounds, monthly_partitions
from gtm_assets.resources import WarehouseResource
from gtm_assets.sql_files import load_sql


class LeadScoringConfig(dg.Config):
    """Knobs of the lead-scoring engine; every default is documented in the README."""

    label_window_days: int = Field(
        default=60,
        description=(
            "A lead counts as a success when it reaches SQL within this many days of creation; "
            "only leads at least this old at month end are used for training (mature leads)."
        ),
    )
    pre_days: int = Field(default=90, description="Days of touches before lead creation used.")
    post_days: int = Field(
        default=14,
        description=(
            "Days of touches after lead creation used. Leads younger than this at month end "
            "get a provisional score (features_complete = false) and are rescored next month."
        ),
    )
    training_months: int = Field(
        default=12, description="Months of mature leads the model learns from."
    )
    validation_months: int = Field(
        default=2,
        description="The latest months of mature leads held out for out-of-time validation.",
    )
    alpha: float = Field(
        default=0.01,
        description="Ridge penalty on standardised features (statsmodels GLM fit_regularized).",
    )
    min_level_count: int = Field(
        default=20, description="Category levels rarer than this in training become 'other'."
    )
    min_train_leads: int = Field(
        default=200,
        description="Skip fitting below this many mature training leads (validation: a quarter).",
    )
    min_positives: int = Field(
        default=20,
        description="Skip fitting below this many SQLs in training (validation: a quarter).",
    )
    mql_rule: str = Field(
        default="target_precision",
        description=(
            "How the MQL threshold is chosen: 'target_precision' (lowest threshold whose "
            "validation SQL rate reaches target_precision) or 'sales_capacity' (about "
            "monthly_sales_capacity MQLs a month)."
        ),
    )
    target_precision: float = Field(
        default=0.5,
        description="Share of MQLs that should become SQLs (mql_rule target_precision).",
    )
    monthly_sales_capacity: int = Field(
        default=100, description="MQLs sales can work per month (mql_rule sales_capacity)."
    )
    grade_cutoffs: list[int] = Field(
        default=[60, 40, 20], description="Score cut-offs for grades A, B, C (below: D)."
    )
    calibration_tolerance: float = Field(
        default=0.05,
        description="Largest acceptable expected calibration error (10 bins) on validation leads.",
    )
    psi_warn: float = Field(
        default=0.25,
        description=(
            "Warn when the population stability index of this month's scores against the "
            "training leads' scores exceeds this (0.1 = moderate shift, 0.25 = major)."
        ),
    )
    recalibration: str = Field(
        default="none",
        description=(
            "'none' (default): the ridge logit's own probabilities, which were calibrated out "
            "of time on generated data, whereas a Platt map fitted to two validation months "
            "chased their noise; 'auto': Platt-scale when the validation calibration error "
            "exceeds the tolerance and chance and a likelihood-ratio test rejects calibration "
            "(p < 0.01); 'platt': always."
        ),
    )
    mql_sql_window_days: int = Field(
        default=30,
        description="MQL -> SQL window for MQL quality; must equal the funnel's (checked).",
    )

    def settings(self) -> ls.ScoringSettings:
        if self.mql_rule not in ls.MQL_RULES:
            raise ValueError(f"mql_rule must be one of {ls.MQL_RULES}, not {self.mql_rule!r}")
        if len(self.grade_cutoffs) != 3 or sorted(self.grade_cutoffs, reverse=True) != list(
            self.grade_cutoffs
        ):
            raise ValueError("grade_cutoffs must be three descending scores, e.g. [60, 40, 20]")
        a, b, c = self.grade_cutoffs
        return ls.ScoringSettings(
            pre_days=self.pre_days,
            post_days=self.post_days,
            label_window_days=self.label_window_days,
            training_months=self.training_months,
            validation_months=self.validation_months,
            alpha=self.alpha,
            min_level_count=self.min_level_count,
            min_train_leads=self.min_train_leads,
            min_positives=self.min_positives,
            mql_rule=self.mql_rule,
            target_precision=self.target_precision,
            monthly_sales_capacity=self.monthly_sales_capacity,
            grade_cutoffs=(a, b, c),
            calibration_tolerance=self.calibration_tolerance,
            recalibration=self.recalibration,
        )


def _with_month(df: pd.DataFrame, month: date) -> pd.DataFrame:
    out = df.copy()
    out.insert(0, "month", [month] * len(out))
    return out


#: The score history's columns, for the months before any model wrote a row.
SCORE_HISTORY_DDL = (
    "create table if not exists marts.lead_score_history (month date, lead_id varchar, "
    "scored_at timestamp, score bigint, predicted_sql_probability double, grade varchar, "
    "is_mql boolean, features_complete boolean, lead_created_at timestamp, backscored boolean, "
    "mql_rule varchar, is_mql_by_rule boolean, probability_threshold double)"
)


def _write(con: duckdb.DuckDBPyConnection, table: str, df: pd.DataFrame, month: date) -> int:
    """replace_month, except that an empty slice never creates a table (its types would be
    unknown); an empty slice still clears the month in an existing table."""
    if df.empty and not wh.table_exists(con, table):
        return 0
    return wh.replace_month(con, table, fn.as_typed(_with_month(df, month)), month)


def _previous_threshold(con: duckdb.DuckDBPyConnection, month: date) -> float | None:
    """Last month's MQL probability threshold, if that month was scored."""
    if not wh.table_exists(con, "marts.lead_model_performance"):
        return None
    rows = con.execute(
        "select probability_threshold from marts.lead_model_performance "
        "where month = $prior and model_fitted",
        {"prior": add_months(month, -1)},
    ).fetchall()
    return float(rows[0][0]) if rows and rows[0][0] is not None else None


def _unscored_leads(
    con: duckdb.DuckDBPyConnection, month: date, settings: ls.ScoringSettings
) -> pd.DataFrame:
    """Leads older than this month's scoring population that no earlier month scored."""
    params = {
        "before": pd.Timestamp(month) - pd.Timedelta(days=settings.post_days),
        "month": month,
    }
    if wh.table_exists(con, "marts.lead_score_history"):
        return con.execute(load_sql("marts/lead_score_backlog"), params).df()
    return con.execute(
        "select lead_id, created_at from staging.leads where created_at < $before",
        {"before": params["before"]},
    ).df()


def _feedback_present(con: duckdb.DuckDBPyConnection) -> bool:
    if not wh.table_exists(con, "raw.load_manifest"):
        return wh.table_exists(con, "staging.sales_feedback")
    rows = con.execute(
        "select present from raw.load_manifest where table_name = 'sales_feedback'"
    ).fetchall()
    return bool(rows and rows[0][0])


def mql_consistency(
    con: duckdb.DuckDBPyConnection, month: date, quality: pd.DataFrame, window_days: int
) -> tuple[bool, dict]:
    """The MQL definition lead scoring used equals the funnel's for this month: same
    definition text and MQL -> SQL window recorded by the funnel, and the same MQL cohort
    (cohort month, MQL count, SQL count) in both published tables."""
    if not wh.table_exists(con, "marts.funnel_definitions"):
        return False, {
            "problem": "marts.funnel_definitions missing: materialize funnel_stages first"
        }
    recorded = con.execute(
        "select definition, window_days from marts.funnel_definitions "
        "where month = $month and from_stage = 'mql' and to_stage = 'sql'",
        {"month": month},
    ).fetchall()
    funnel_row = con.execute(
        "select cohort_month, entered, converted from marts.funnel_stages "
        "where month = $month and segment_type = 'all' and from_stage = 'mql' "
        "and to_stage = 'sql'",
        {"month": month},
    ).fetchall()
    overall = quality[quality["dimension"] == "all"].iloc[0]
    mine = (overall["cohort_month"], int(overall["mqls"]), int(overall["sqls"]))
    meta = {
        "lead_scoring_definition": fn.MQL_DEFINITION,
        "lead_scoring_window_days": window_days,
        "lead_scoring_cohort": str(mine),
        "funnel_definition": recorded[0][0] if recorded else None,
        "funnel_window_days": recorded[0][1] if recorded else None,
        "funnel_cohort": str(funnel_row[0]) if funnel_row else None,
    }
    ok = (
        bool(recorded)
        and recorded[0][0] == fn.MQL_DEFINITION
        and int(recorded[0][1]) == window_days
        and bool(funnel_row)
        and (funnel_row[0][0], int(funnel_row[0][1]), int(funnel_row[0][2])) == mine
    )
    return ok, meta


@dg.asset(
    partitions_def=monthly_partitions,
    group_name="lead_scoring",
    pool=WAREHOUSE_POOL,
    kinds={"duckdb", "python"},
    deps=["staging_tables", "funnel_stages"],
    description=(
        "A 0-100 lead score = the chance (in %) that a lead becomes a sales-qualified lead, "
        "learned every month from older leads whose outcome is known (firmographics and "
        "engagement before and after sign-up). `marts.lead_scores` holds each lead's latest "
        "score, grade and MQL flag; the MQL threshold follows your rule (target precision or "
        "sales capacity). Also: model quality (`lead_model_performance`, `_deciles`, "
        "`_reliability`, `_factors`), threshold options with their expected MQL volume and SQL "
        "yield (`lead_threshold_recommendations`), MQL -> SQL rates by source, channel and "
        "campaign (`lead_mql_quality`), sales feedback (`lead_sales_feedback`) and the CRM's "
        "lead source against the first touch channel (`lead_source_comparison`)."
    ),
    check_specs=[
        dg.AssetCheckSpec(
            "calibration_within_tolerance",
            asset="lead_scores",
            blocking=False,
            description=(
                "Expected calibration error (10 bins) on out-of-time validation leads is within "
                "max(calibration_tolerance, the 95% quantile of the ECE a perfectly calibrated "
                "score would show on as many leads). WARN: a miscalibrated score still ranks "
                "leads, but its probabilities and the threshold's expected effects should not "
                "be trusted."
            ),
        ),
        dg.AssetCheckSpec(
            "score_drift_psi",
            asset="lead_scores",
            blocking=False,
            description="Warns when this month's score distribution shifted (PSI > psi_warn).",
        ),
        dg.AssetCheckSpec(
            "mql_definition_consistent",
            asset="lead_scores",
            blocking=True,
            description=(
                "Lead scoring and the funnel use the same MQL definition and window: the MQL "
                "cohort and its SQLs agree between lead_mql_quality and funnel_stages."
            ),
        ),
    ],
)
def lead_scores(
    context: dg.AssetExecutionContext, config: LeadScoringConfig, warehouse: WarehouseResource
) -> dg.MaterializeResult:
    month, month_end = month_bounds(context.partition_key)
    settings = config.settings()
    with warehouse.connect() as con:
        data_end = covered_end(con, month_end)
        as_of = pd.Timestamp(data_end)
        backlog = _unscored_leads(con, month, settings)
        leads, inputs = ls.scoring_frame(
            con,
            month_end,
            month,
            settings,
            earliest=backlog["created_at"].min().to_pydatetime() if len(backlog) else None,
        )
        result = ls.run_month(
            leads,
            month,
            settings,
            _previous_threshold(con, month),
            backlog_ids=set(backlog["lead_id"]),
            data_end=data_end,
        )
        cohort = fn.mature_cohort_month(month, data_end, config.mql_sql_window_days)
        entries = inputs.lead_entries.merge(
            inputs.leads[["lead_id", "lead_source", "campaign_id"]], on="lead_id", how="left"
        )
        quality = ls.mql_quality(entries, cohort, config.mql_sql_window_days, as_of)
        this_month = leads[(leads["lead_at"] >= pd.Timestamp(month)) & (leads["lead_at"] < as_of)]
        comparison = ls.source_comparison(this_month)
        scores = result.scores.assign(probability_threshold=result.threshold)
        with wh.gated(con) as gate:
            written = {
                "marts.lead_score_history": _write(con, "marts.lead_score_history", scores, month),
                "marts.lead_model_performance": _write(
                    con, "marts.lead_model_performance", result.performance, month
                ),
                "marts.lead_model_deciles": _write(
                    con, "marts.lead_model_deciles", result.deciles, month
                ),
                "marts.lead_model_reliability": _write(
                    con, "marts.lead_model_reliability", result.reliability, month
                ),
                "marts.lead_model_factors": _write(
                    con, "marts.lead_model_factors", result.factors, month
                ),
                "marts.lead_threshold_recommendations": _write(
                    con, "marts.lead_threshold_recommendations", result.thresholds, month
                ),
                "marts.lead_mql_quality": _write(con, "marts.lead_mql_quality", quality, month),
                "marts.lead_source_comparison": _write(
                    con, "marts.lead_source_comparison", comparison, month
                ),
            }
            # before the first month with a model the history is empty: lead_scores still has
            # a row per lead (unscored), so the contract table exists from the first run
            con.execute(SCORE_HISTORY_DDL)
            written["marts.lead_scores"] = wh.replace_table(
                con, "marts.lead_scores", load_sql("marts/lead_scores")
            )
            # sales feedback, with each lead's latest score as of this month (not of later
            # months: re-running a month must give the same slice)
            feedback_note = "skipped: sales_feedback not supplied"
            feedback = pd.DataFrame()
            if _feedback_present(con):
                fb = con.execute(
                    load_sql("intermediate/lead_sales_feedback"),
                    {"month_start": month, "month_end": month_end},
                ).df()
                known = None
                if wh.table_exists(con, "marts.lead_score_history"):
                    known = con.execute(
                        "select lead_id, score from marts.lead_score_history where month <= $month "
                        "qualify row_number() over (partition by lead_id order by month desc) = 1",
                        {"month": month},
                    ).df()
                feedback = ls.feedback_summary(fb, known)
                feedback_note = f"{len(fb)} verdicts"
            written["marts.lead_sales_feedback"] = _write(
                con, "marts.lead_sales_feedback", feedback, month
            )
            consistent, consistency_meta = mql_consistency(
                con, month, quality, config.mql_sql_window_days
            )
            consistency = dg.AssetCheckResult(
                check_name="mql_definition_consistent",
                passed=bool(consistent),
                metadata={k: dg.MetadataValue.text(str(v)) for k, v in consistency_meta.items()},
            )
            not_written = gate_checks(gate, lead_scores, [consistency])

    perf = result.performance.iloc[0].to_dict() if len(result.performance) else {}
    ece_value = perf.get("ece")
    psi_value = perf.get("psi_vs_training")
    noise = perf.get("ece_noise_95")
    allowed = max(config.calibration_tolerance, float(noise) if noise is not None else 0.0)
    calibrated = (not result.fitted) or (ece_value is not None and float(ece_value) <= allowed)
    stable = psi_value is None or pd.isna(psi_value) or float(psi_value) <= config.psi_warn
    summary = pd.DataFrame(
        [
            {
                k: perf.get(k)
                for k in (
                    "n_train",
                    "n_validation",
                    "auc",
                    "brier",
                    "ece",
                    "crm_mql_auc",
                    "probability_threshold",
                    "n_scored",
                    "mqls_scored",
                    "psi_vs_training",
                )
            }
        ]
    )
    return dg.MaterializeResult(
        metadata={
            "dagster/row_count": written["marts.lead_score_history"],
            "model": result.reason or "fitted",
            "sales_feedback": feedback_note,
            "tables": dg.MetadataValue.json(written),
            "preview": dg.MetadataValue.md(markdown_table(summary, floatfmt=",.3f")),
            "top_factors": dg.MetadataValue.md(
                markdown_table(
                    result.factors[["direction", "rank", "feature", "odds_ratio_per_sd"]]
                    if len(result.factors)
                    else result.factors,
                    floatfmt=",.2f",
                )
            ),
            **not_written,
        },
        check_results=[
            dg.AssetCheckResult(
                check_name="calibration_within_tolerance",
                passed=bool(calibrated),
                severity=dg.AssetCheckSeverity.WARN,
                metadata={
                    "ece": None if ece_value is None else float(ece_value),
                    "tolerance": config.calibration_tolerance,
                    "ece_noise_95": None if noise is None else float(noise),
                    "allowed": allowed,
                    "note": result.reason
                    if not result.fitted
                    else (
                        "recalibrated with Platt scaling on the validation months; ECE is "
                        "in-sample for the Platt map"
                        if perf.get("recalibrated")
                        else ""
                    ),
                },
            ),
            dg.AssetCheckResult(
                check_name="score_drift_psi",
                passed=bool(stable),
                severity=dg.AssetCheckSeverity.WARN,
                metadata={
                    "psi": None if psi_value is None or pd.isna(psi_value) else float(psi_value),
                    "threshold": config.psi_warn,
                },
            ),
            consistency,
        ],
    )
