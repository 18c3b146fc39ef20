"""The lead-scoring asset on the synthetic CRM: no leakage from the future, idempotent months,
lead_scores = latest score per lead, and the MQL-definition gate."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import dagster as dg
import duckdb
import numpy as np
import pandas as pd
import pytest
from lead_world import write_staging

from gtm_assets.analytics import lead_scoring as ls
from gtm_assets.assets.funnel import funnel_stages
from gtm_assets.assets.lead_scoring import lead_scores
from gtm_assets.resources import WarehouseResource

MONTH = "2024-09-01"


def _truncate(world: dict[str, pd.DataFrame], cut: pd.Timestamp) -> dict[str, pd.DataFrame]:
    """The world as an export taken at ``cut`` would show it."""
    out = dict(world)
    out["leads"] = world["leads"][world["leads"]["created_at"] < cut]
    out["lead_stage_history"] = world["lead_stage_history"][
        world["lead_stage_history"]["entered_at"] < cut
    ]
    out["touchpoints"] = world["touchpoints"][world["touchpoints"]["ts"] < cut]
    out["sales_feedback"] = world["sales_feedback"][world["sales_feedback"]["ts"] < cut]
    return out


def _run(db: Path, tmp: Path, month: str, config: dict | None = None) -> dg.ExecuteInProcessResult:
    wh = WarehouseResource(path=str(db), read_copy_path=str(tmp / "read.duckdb"))
    run_config = {"ops": {"lead_scores": {"config": config}}} if config else None
    return dg.materialize(
        [funnel_stages, lead_scores],
        resources={"warehouse": wh},
        partition_key=month,
        run_config=run_config,
        raise_on_error=False,
    )


def _history(db: Path, month: str) -> pd.DataFrame:
    con = duckdb.connect(str(db), read_only=True)
    df = con.execute(
        "select * from marts.lead_score_history where month = $m order by lead_id",
        {"m": date.fromisoformat(month)},
    ).df()
    con.close()
    return df


@pytest.fixture(scope="module")
def full_run(world, tmp_path_factory) -> tuple[Path, Path]:
    tmp = tmp_path_factory.mktemp("lead_full")
    db = tmp / "w.duckdb"
    write_staging(db, world)
    assert _run(db, tmp, "2024-08-01").success
    assert _run(db, tmp, MONTH).success
    return db, tmp


def test_no_leakage_from_after_the_month(world, full_run, tmp_path: Path) -> None:
    db, _ = full_run
    cut_db = tmp_path / "cut.duckdb"
    write_staging(cut_db, _truncate(world, pd.Timestamp("2024-10-01")))
    # the same months in the same order: a month also scores older leads no earlier
    # month scored (backscored), so its slice depends on which earlier months ran
    assert _run(cut_db, tmp_path, "2024-08-01").success
    assert _run(cut_db, tmp_path, MONTH).success
    full, cut = _history(db, MONTH), _history(cut_db, MONTH)
    assert len(full) > 100
    pd.testing.assert_frame_equal(full, cut)


def test_every_lead_has_a_score(full_run) -> None:
    """marts.lead_scores has one row per lead: leads from before the first month with a
    model are scored by that month (backscored), and only they are flagged."""
    db, _ = full_run
    con = duckdb.connect(str(db), read_only=True)
    missing = con.execute(
        "select count(*) from staging.leads where created_at < $end "
        "and lead_id not in (select lead_id from marts.lead_scores)",
        {"end": date(2024, 10, 1)},
    ).fetchall()[0][0]
    flagged = con.execute(
        "select h.month, min(h.lead_created_at), max(h.lead_created_at), count(*) "
        "from marts.lead_score_history as h where h.backscored group by h.month"
    ).fetchall()
    first_model = con.execute(
        "select min(month) from marts.lead_model_performance where model_fitted"
    ).fetchall()[0][0]
    unscored = con.execute(
        "select count(*), count(*) filter (where score is null and unscored_reason is not null)"
        " from marts.lead_scores where unscored"
    ).fetchall()[0]
    n_leads, n_rows = con.execute(
        "select (select count(*) from staging.leads), (select count(*) from marts.lead_scores)"
    ).fetchall()[0]
    con.close()
    assert missing == 0
    # one row per lead, the leads created after September (no month scored them) included,
    # unscored and saying so
    assert n_rows == n_leads
    assert unscored[0] > 0 and unscored[0] == unscored[1]
    # the first month with a model scored the backlog; September found none left
    assert [row[0] for row in flagged] == [first_model]
    assert flagged[0][2] < pd.Timestamp(first_model) - pd.Timedelta(days=14)
    assert flagged[0][3] > 100


def test_scores_checks_and_latest(full_run) -> None:
    db, tmp = full_run
    con = duckdb.connect(str(db), read_only=True)
    perf = con.execute(
        "select * from marts.lead_model_performance where month = $m", {"m": date(2024, 9, 1)}
    ).df()
    assert bool(perf.loc[0, "model_fitted"])
    assert 0.5 < perf.loc[0, "auc"] <= 1.0
    every = con.execute("select * from marts.lead_scores").df()
    assert every["lead_id"].is_unique
    # leads created after September have a row, unscored (no later month ran)
    assert every.loc[every["unscored"], "score"].isna().all()
    scores = every[~every["unscored"]].reset_index(drop=True)
    scores["score"] = scores["score"].astype(int)
    assert scores["score"].between(0, 100).all()
    assert scores["predicted_sql_probability"].between(0, 1).all()
    np.testing.assert_array_equal(
        scores["score"], np.round(100 * scores["predicted_sql_probability"]).astype(int)
    )
    assert (
        scores["is_mql"] == (scores["predicted_sql_probability"] >= scores["probability_threshold"])
    ).all()
    # leads scored in both months (post window open at August's end) take September's score
    both = con.execute(
        "select lead_id from marts.lead_score_history group by lead_id having count(*) = 2"
    ).df()["lead_id"]
    assert len(both) > 0
    latest = scores.set_index("lead_id").loc[both, "scored_month"]
    assert (latest == pd.Timestamp(MONTH)).all()
    quality = con.execute(
        "select * from marts.lead_mql_quality where month = $m and dimension = 'all'",
        {"m": date(2024, 9, 1)},
    ).df()
    funnel = con.execute(
        "select entered, converted from marts.funnel_stages where month = $m and "
        "segment_type = 'all' and from_stage = 'mql'",
        {"m": date(2024, 9, 1)},
    ).fetchall()
    assert (int(quality.loc[0, "mqls"]), int(quality.loc[0, "sqls"])) == funnel[0]
    rec = con.execute(
        "select * from marts.lead_threshold_recommendations where month = $m and is_recommended",
        {"m": date(2024, 9, 1)},
    ).df()
    assert len(rec) == 1 and rec.loc[0, "precision"] >= 0.5
    con.close()


def test_rerunning_an_old_month_keeps_latest_scores(full_run) -> None:
    db, tmp = full_run
    before = duckdb.connect(str(db), read_only=True)
    snap = before.execute("select * from marts.lead_scores order by lead_id").df()
    before.close()
    assert _run(db, tmp, "2024-08-01").success
    after = duckdb.connect(str(db), read_only=True)
    again = after.execute("select * from marts.lead_scores order by lead_id").df()
    after.close()
    pd.testing.assert_frame_equal(snap, again)


def test_mql_gate_blocks_on_window_mismatch(full_run) -> None:
    db, tmp = full_run
    result = _run(db, tmp, MONTH, {"mql_sql_window_days": 45})
    checks = {c.check_name: c.passed for c in result.get_asset_check_evaluations()}
    assert checks["mql_definition_consistent"] is False
    # restore the consistent state for other tests
    assert _run(db, tmp, MONTH).success


def test_ece_noise_quantile_matches_simulation() -> None:
    rng = np.random.default_rng(0)
    p = rng.uniform(0.05, 0.95, 300)
    q = ls.ece_noise_quantile(p, bins=10, q=0.95, sims=200, seed=3)
    sim = np.random.default_rng(3)
    values = [ls.ece((sim.random(len(p)) < p).astype(int), p, 10) for _ in range(200)]
    assert q == pytest.approx(np.quantile(values, 0.95))


REFERENCE_SQL = """
with firsts as (
    select
        lead_id,
        min(entered_at) filter (where stage in ('mql', 'sql', 'opportunity', 'customer')) as mql_at,
        min(entered_at) filter (where stage in ('sql', 'opportunity', 'customer')) as sql_at
    from staging.lead_stage_history
    where entered_at < timestamp '2024-10-01'
    group by lead_id
),
leads as (
    select l.lead_id, l.industry, l.created_at, f.mql_at, f.sql_at
    from staging.leads as l left join firsts as f using (lead_id)
    where l.created_at < timestamp '2024-10-01'
)
select 'lead' as from_stage, industry,
    count(*) as entered,
    count(*) filter (where mql_at <= created_at + interval 30 day) as converted
from leads
where created_at >= timestamp '2024-08-01' and created_at < timestamp '2024-09-01'
group by all
union all
select 'mql', industry,
    count(*),
    count(*) filter (where sql_at <= mql_at + interval 30 day)
from leads
where mql_at >= timestamp '2024-08-01' and mql_at < timestamp '2024-09-01'
group by all
"""


def test_funnel_matches_independent_sql(full_run) -> None:
    """funnel_stages (pandas/numpy) against a plain SQL recount of the September slice's
    mature cohorts (August, 30-day windows) per industry."""
    db, _ = full_run
    con = duckdb.connect(str(db), read_only=True)
    ref = con.execute(REFERENCE_SQL).df().sort_values(["from_stage", "industry"])
    got = con.execute(
        "select from_stage, segment as industry, entered, converted from marts.funnel_stages "
        "where month = date '2024-09-01' and segment_type = 'industry' "
        "and from_stage in ('lead', 'mql') and cohort_month = date '2024-08-01' "
        "order by from_stage, industry"
    ).df()
    con.close()
    assert len(got) == len(ref) > 4
    np.testing.assert_array_equal(got["entered"].to_numpy(), ref["entered"].to_numpy())
    np.testing.assert_array_equal(got["converted"].to_numpy(), ref["converted"].to_numpy())


def test_empty_staging_writes_empty_slices(world, tmp_path: Path) -> None:
    """A month without any CRM rows (e.g. the first month of a new setup) runs cleanly:
    zero-entered funnel rows, no model ('skipped' with the reason), gates pass."""
    db = tmp_path / "empty.duckdb"
    write_staging(db, {k: v.iloc[0:0] for k, v in world.items()})
    result = _run(db, tmp_path, "2024-03-01")
    assert result.success
    checks = {c.check_name: c.passed for c in result.get_asset_check_evaluations()}
    assert checks["funnel_counts_consistent"] and checks["mql_definition_consistent"]
    con = duckdb.connect(str(db), read_only=True)
    assert con.execute("select sum(entered) from marts.funnel_stages").fetchall() == [(0,)]
    note = con.execute("select note from marts.lead_model_performance").fetchall()[0][0]
    assert note.startswith("skipped: 0 mature training leads")
    con.close()


def test_touches_after_sql_left_out_when_sales_drive_them(world, tmp_path: Path) -> None:
    """Sales working each SQL (three site visits within two days of SQL) would hand the score
    the label: the post-SQL touch test sees the jump and the features leave those touches out.
    On the world without them the touches after SQL (intent, same rate) are kept."""
    hist = world["lead_stage_history"]
    sql_at = hist[hist["stage"] == "sql"].set_index("lead_id")["entered_at"]
    leads = world["leads"].set_index("lead_id")
    rng = np.random.default_rng(3)
    extra = [
        (
            f"S{lead_id}_{k}",
            leads.at[lead_id, "person_id"],
            at + pd.Timedelta(days=rng.uniform(0, 2)),
        )
        for lead_id, at in sql_at.items()
        for k in range(3)
    ]
    sales = pd.DataFrame(extra, columns=["touchpoint_id", "person_id", "ts"]).assign(
        touch_type="visit", channel="direct"
    )
    sales["ts"] = sales["ts"].astype("datetime64[us]")
    worked = dict(world, touchpoints=pd.concat([world["touchpoints"], sales], ignore_index=True))
    settings = ls.ScoringSettings()
    as_of, month = date(2024, 9, 1), date(2024, 8, 1)
    frames = {}
    for name, w in (("plain", world), ("worked", worked)):
        db = tmp_path / f"{name}.duckdb"
        write_staging(db, w)
        with duckdb.connect(str(db)) as con:
            frames[name], _ = ls.scoring_frame(con, as_of, month, settings)
    assert not frames["plain"].attrs["post_sql_touches"].cut
    test = frames["worked"].attrs["post_sql_touches"]
    assert test.cut and test.rate_ratio > 1.25, test.describe()
    # with the cut, the sales visits are not features: every post count as in the plain world
    # minus the plain world's own touches after SQL
    plain = frames["plain"].set_index("lead_id")
    worked_frame = frames["worked"].set_index("lead_id")
    tp = world["touchpoints"].merge(world["leads"][["person_id", "lead_id", "created_at"]])
    tp = tp.merge(sql_at.rename("sql_at"), left_on="lead_id", right_index=True, how="left")
    # with the cut, every lead is counted over the same shorter window: the 10th percentile
    # of the time to SQL in whole days, so a lead's own SQL does not shorten its window
    lead_days = (
        tp.drop_duplicates("lead_id").set_index("lead_id").eval("sql_at - created_at")
    ).dropna()
    lead_days = lead_days[lead_days > pd.Timedelta(0)].dt.total_seconds() / 86_400
    horizon = int(min(settings.post_days, max(1, np.floor(lead_days.quantile(0.10)))))
    assert test.horizon_days == horizon < settings.post_days
    in_post = (tp["ts"] >= tp["created_at"]) & (
        tp["ts"] < tp["created_at"] + pd.Timedelta(days=horizon)
    )
    before_sql = tp["sql_at"].isna() | (tp["ts"] < tp["sql_at"])
    known = (tp["ts"] < pd.Timestamp(as_of)) & tp["lead_id"].isin(worked_frame.index)
    expected = (
        tp[in_post & before_sql & known & (tp["touch_type"] == "email_click")]
        .groupby("lead_id")
        .size()
        .reindex(worked_frame.index, fill_value=0)
    )
    assert (worked_frame["post_email_click"] == expected).all()
    assert (worked_frame["post_visit"] == 0).all()
    assert (plain["post_email_click"] >= worked_frame["post_email_click"]).all()


def test_labels_mature_at_the_data_end_of_a_partial_month(world, tmp_path: Path) -> None:
    """An export taken on 10 September: leads created from 12 July to 1 August have not had
    their 60-day label window by then, so they are not training or validation leads (as they
    would be with the month's end, 1 October)."""
    db = tmp_path / "w.duckdb"
    write_staging(db, _truncate(world, pd.Timestamp("2024-09-10")))
    settings = ls.ScoringSettings()
    with duckdb.connect(str(db)) as con:
        frame, _ = ls.scoring_frame(con, date(2024, 10, 1), date(2024, 9, 1), settings)
    whole = ls.run_month(frame, date(2024, 9, 1), settings)
    cut = ls.run_month(frame, date(2024, 9, 1), settings, data_end=date(2024, 9, 10))

    def labelled(result: ls.ScoringResult) -> int:
        perf = result.performance.iloc[0]
        return int(perf["n_train"] + perf["n_validation"])

    mature = frame["lead_at"] + pd.Timedelta(days=60)
    assert labelled(whole) - labelled(cut) == int(
        ((mature > pd.Timestamp("2024-09-10")) & (mature <= pd.Timestamp("2024-10-01"))).sum()
    )
    assert (cut.scores["scored_at"] == pd.Timestamp("2024-09-10")).all()


def test_lead_scores_exists_before_the_first_model(world, tmp_path: Path) -> None:
    """The first months of an export have no mature leads to fit on: lead_scores still has
    one row per lead created so far, unscored and saying why."""
    db = tmp_path / "w.duckdb"
    write_staging(db, world)
    assert _run(db, tmp_path, "2024-01-01").success
    con = duckdb.connect(str(db), read_only=True)
    perf = con.execute("select model_fitted from marts.lead_model_performance").fetchall()
    rows, unscored, leads = con.execute(
        "select count(*), count(*) filter (where unscored and score is null), "
        "(select count(*) from staging.leads) from marts.lead_scores"
    ).fetchall()[0]
    con.close()
    assert perf == [(False,)]
    assert rows == unscored == leads
