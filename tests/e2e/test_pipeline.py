"""End to end through the `gtm` command: generate, backfill three months, re-run a month
(identical slices), reject bad input (exit 2, nothing changed)."""

import shutil
from pathlib import Path

import duckdb
import pandas as pd
import pytest

from gtm_assets import cli
from gtm_assets.generate import generate

MONTHS = ["2025-04", "2025-05", "2025-06"]
# Columns that legitimately differ between two runs of the same month.
VOLATILE = {"scored_at", "loaded_at", "generated_at", "as_of_run"}


@pytest.fixture(scope="module")
def pipeline(tmp_path_factory):
    root = tmp_path_factory.mktemp("e2e")
    raw = root / "raw"
    generate(raw, months=9, end_month="2025-06", scale=0.25, seed=7)
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("GTM_REPORTS_DIR", str(root / "reports"))
        mp.setenv("GTM_RAW_DIR", str(raw))
        mp.setenv("GTM_DUCKDB_PATH", str(root / "warehouse.duckdb"))
        mp.delenv("DAGSTER_HOME", raising=False)
        code = cli.main(
            [
                "backfill",
                "--from",
                MONTHS[0],
                "--to",
                MONTHS[-1],
                "--raw-dir",
                str(raw),
                "--warehouse",
                str(root / "warehouse.duckdb"),
            ]
        )
        yield root, code, mp


def _marts(path: Path, month: str) -> dict[str, pd.DataFrame]:
    con = duckdb.connect(str(path), read_only=True)
    try:
        tables = [
            t
            for (t,) in con.execute(
                "select table_name from information_schema.columns where table_schema = 'marts' "
                "and column_name = 'month' order by 1"
            ).fetchall()
        ]
        out = {}
        for t in tables:
            df = con.execute(f"select * from marts.{t} where month = $m", {"m": f"{month}-01"}).df()
            df = df.drop(columns=[c for c in df.columns if c in VOLATILE])
            out[t] = df.sort_values(list(df.columns)).reset_index(drop=True)
        return out
    finally:
        con.close()


def test_backfill_succeeds_and_writes_every_month(pipeline):
    root, code, _ = pipeline
    assert code == cli.EXIT_OK
    con = duckdb.connect(str(root / "warehouse.read.duckdb"), read_only=True)
    months = {
        m.strftime("%Y-%m")
        for (m,) in con.execute("select distinct month from marts.campaign_performance").fetchall()
    }
    assert months == set(MONTHS)
    for table in (
        "campaign_performance",
        "channel_attribution",
        "funnel_stages",
        "budget_reallocation",
        "executive_summary",
        "action_items",
        "experiment_results",
    ):
        assert con.execute(f"select count(*) from marts.{table}").fetchall()[0][0] > 0, table
    assert con.execute("select count(*) from marts.lead_scores").fetchall()[0][0] > 0
    con.close()
    for month in MONTHS:
        html = (root / "reports" / f"monthly-review-{month}.html").read_text(encoding="utf-8")
        assert 'data-section="headline" data-status="ok"' in html


def test_spend_in_marts_equals_raw(pipeline):
    root, _, _ = pipeline
    con = duckdb.connect(str(root / "warehouse.read.duckdb"), read_only=True)
    for month in MONTHS:
        mart = con.execute(
            "select sum(spend) from marts.campaign_performance where month = $m",
            {"m": f"{month}-01"},
        ).fetchall()[0][0]
        raw = con.execute(
            "select sum(spend) from staging.ad_spend where month = $m", {"m": f"{month}-01"}
        ).fetchall()[0][0]
        assert mart == pytest.approx(raw, rel=1e-9)
    con.close()


def test_rerunning_a_month_gives_identical_slices(pipeline):
    root, _, mp = pipeline
    before = _marts(root / "warehouse.duckdb", MONTHS[1])
    others_before = _marts(root / "warehouse.duckdb", MONTHS[0])
    assert cli.main(["run", "--month", MONTHS[1]]) == cli.EXIT_OK
    after = _marts(root / "warehouse.duckdb", MONTHS[1])
    assert before.keys() == after.keys()
    for table in before:
        pd.testing.assert_frame_equal(
            before[table], after[table], check_exact=False, rtol=1e-9, obj=table
        )
    others_after = _marts(root / "warehouse.duckdb", MONTHS[0])
    for table in others_before:
        pd.testing.assert_frame_equal(others_before[table], others_after[table], obj=table)


def test_rejected_input_exits_2_and_changes_nothing(pipeline, tmp_path, capsys):
    root, _, mp = pipeline
    bad = tmp_path / "bad_raw"
    shutil.copytree(root / "raw", bad)
    spend = pd.read_csv(bad / "ad_spend.csv", dtype=str)
    spend.drop(columns=["spend"]).to_csv(bad / "ad_spend.csv", index=False)
    before = _marts(root / "warehouse.duckdb", MONTHS[-1])
    code = cli.main(["run", "--month", MONTHS[-1], "--raw-dir", str(bad)])
    assert code == cli.EXIT_REJECTED
    err = capsys.readouterr().err
    assert "ad_spend" in err and "spend" in err
    after = _marts(root / "warehouse.duckdb", MONTHS[-1])
    for table in before:
        pd.testing.assert_frame_equal(before[table], after[table], obj=table)
    mp.setenv("GTM_RAW_DIR", str(root / "raw"))
