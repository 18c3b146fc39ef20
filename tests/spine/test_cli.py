"""CLI: argument handling and how run results become exit codes and readable messages."""

from datetime import date

import dagster as dg
import pytest

from gtm_assets import cli


def test_usage_errors_exit_64(capsys):
    assert cli.main(["run"]) == cli.EXIT_USAGE
    assert cli.main(["run", "--month", "2024-13"]) == cli.EXIT_USAGE
    assert cli.main(["nonsense"]) == cli.EXIT_USAGE


def test_month_outside_partitions_is_refused(tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("GTM_RAW_DIR", "unused")
    monkeypatch.setenv("GTM_DUCKDB_PATH", str(tmp_path / "w.duckdb"))
    code = cli.main(
        [
            "run",
            "--month",
            "2019-01",
            "--raw-dir",
            str(tmp_path),
            "--warehouse",
            str(tmp_path / "w.duckdb"),
        ]
    )
    assert code == cli.EXIT_USAGE
    assert "not runnable" in capsys.readouterr().err


def test_month_range():
    months = cli.month_range(date(2024, 11, 1), date(2025, 2, 1))
    assert months == [date(2024, 11, 1), date(2024, 12, 1), date(2025, 1, 1), date(2025, 2, 1)]
    assert cli.last_complete_month(date(2026, 1, 15)) == date(2025, 12, 1)


@dg.asset(
    check_specs=[
        dg.AssetCheckSpec("gate", asset="gated", blocking=True),
        dg.AssetCheckSpec("advice", asset="gated", blocking=False),
    ]
)
def gated() -> dg.MaterializeResult:
    return dg.MaterializeResult(
        check_results=[
            dg.AssetCheckResult(check_name="gate", passed=False, metadata={"rows_off": 3}),
            dg.AssetCheckResult(
                check_name="advice", passed=False, severity=dg.AssetCheckSeverity.WARN
            ),
        ]
    )


@dg.asset(deps=[gated])
def downstream() -> None:
    return None


@dg.asset
def rejected() -> None:
    raise dg.Failure(
        description="The raw input in data/raw was rejected (1 problem); the warehouse was left unchanged.\n\nad_spend.csv row 3, column spend: 'x' is not a number"
    )


@dg.asset
def crashes() -> None:
    raise RuntimeError("disk full")


def test_blocking_check_failure_exits_3_and_stops_downstream():
    result = dg.materialize([gated, downstream], raise_on_error=False)
    outcome = cli.summarize_result(result, "2024-01", 1.0)
    assert outcome.exit_code == cli.EXIT_CHECK_FAILED
    assert any("gated / gate" in p and "rows_off=3" in p for p in outcome.problems)
    assert any("gated / advice" in w for w in outcome.warnings)
    assert not result.asset_materializations_for_node("downstream")


def test_rejected_input_exits_2_with_the_loader_message():
    outcome = cli.summarize_result(dg.materialize([rejected], raise_on_error=False), "2024-01", 1.0)
    assert outcome.exit_code == cli.EXIT_REJECTED
    assert outcome.problems[0].startswith("The raw input in data/raw was rejected (1 problem)")
    assert "ad_spend.csv row 3, column spend" in outcome.problems[0]


def test_other_failures_exit_1():
    outcome = cli.summarize_result(dg.materialize([crashes], raise_on_error=False), "2024-01", 1.0)
    assert outcome.exit_code == cli.EXIT_FAILED
    assert "disk full" in outcome.problems[0]
    # the operator learns the month is now mixed and what to do
    assert outcome.problems[-1].startswith("The run of 2024-01 stopped partway")
    assert "Re-run the month (gtm run --month 2024-01)" in outcome.problems[-1]
    # a rejected load changed nothing: no such note
    rejected_outcome = cli.summarize_result(
        dg.materialize([rejected], raise_on_error=False), "2024-01", 1.0
    )
    assert not any("stopped partway" in p for p in rejected_outcome.problems)


@pytest.mark.parametrize("text", ["2024-02", "2030-12"])
def test_parse_month(text):
    assert cli._parse_month(text).strftime("%Y-%m") == text


def test_unknown_job_is_a_usage_error(tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("GTM_RAW_DIR", "unused")
    monkeypatch.setenv("GTM_DUCKDB_PATH", str(tmp_path / "w.duckdb"))
    assert cli.main(["run", "--month", "2024-03", "--job", "no_such_job"]) == cli.EXIT_USAGE
    assert "monthly_review_analysis_only" in capsys.readouterr().err


def test_bad_quarter_is_a_usage_error(tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("GTM_RAW_DIR", "unused")
    monkeypatch.setenv("GTM_DUCKDB_PATH", str(tmp_path / "w.duckdb"))
    assert cli.main(["quarter", "--quarter", "1999-Q1"]) == cli.EXIT_USAGE
    assert "not runnable" in capsys.readouterr().err


def test_check_metadata_is_printed_on_one_line():
    table = "| channel | reason |\n|---|---|\n| email | poor fit (R^2 -0.01 < 0.1) |\n| video | no spend |"
    assert cli._one_line(table) == "email: poor fit (R^2 -0.01 < 0.1), video: no spend"
    assert cli._one_line("first line\n  second line ") == "first line second line"
    assert cli._one_line("plain") == "plain"


def test_backfill_holds_the_late_report_warning_for_one_summary_line():
    outcome = cli.MonthOutcome(month="2025-01", exit_code=cli.EXIT_OK, seconds=1.0)
    outcome.warnings = [
        "budget_pacing / pacing_on_plan. (off_plan_channels=display)",
        f"{cli.LATE_REPORT_WARNING}. (late=True)",
    ]
    assert cli.hold_late_report(outcome)
    assert outcome.warnings == ["budget_pacing / pacing_on_plan. (off_plan_channels=display)"]
    assert not cli.hold_late_report(outcome)


def test_locations_print_whole_counts_and_an_absolute_query(tmp_path, monkeypatch):
    """The closing lines: headline counts without decimals ("leads 391", not 391.00),
    ROAS with two, and a query line that works from any directory."""
    import io
    import sys

    import duckdb

    warehouse = tmp_path / "w.duckdb"
    monkeypatch.setenv("GTM_DUCKDB_PATH", str(warehouse))
    monkeypatch.setenv("GTM_REPORTS_DIR", str(tmp_path / "reports"))
    monkeypatch.delenv("GTM_READ_COPY_PATH", raising=False)
    monkeypatch.delenv("GTM_CURRENCY", raising=False)
    con = duckdb.connect(str(tmp_path / "w.read.duckdb"))
    con.execute("create schema marts")
    con.execute(
        "create table marts.executive_summary as select * from (values "
        "(date '2025-10-01', 'leads', 391.0, 'on_track', 1), "
        "(date '2025-10-01', 'roas', 3.456, 'above_target', 2), "
        "(date '2025-10-01', 'revenue', 123456.78, 'below_target', 3)"
        ") as t(month, metric, value, status, metric_order)"
    )
    con.close()
    out = io.StringIO()
    cli.print_locations([date(2025, 10, 1)], out=out)
    text = out.getvalue()
    assert "leads 391 (on track), roas 3.46 (above target), revenue USD 123,457" in text
    assert f"Query:       {sys.executable} -c" in text
    assert str((tmp_path / "w.read.duckdb").resolve()) in text
    assert "Report:      not written by this run" in text  # e.g. the load-only job
    # an earlier run's report is not this run's (the load-only job after a full run)
    import time

    report = tmp_path / "reports" / "monthly-review-2025-10.html"
    report.parent.mkdir()
    report.write_text("<html></html>", encoding="utf-8")
    out = io.StringIO()
    cli.print_locations([date(2025, 10, 1)], out=out, since=time.time() + 5)
    assert "Report:      not written by this run (an earlier run's is" in out.getvalue()
    out = io.StringIO()
    cli.print_locations([date(2025, 10, 1)], out=out, since=time.time() - 5)
    assert f"Report:      {report.resolve()}" in out.getvalue()


def test_rerunning_an_earlier_month_names_the_later_months_to_rerun(tmp_path, monkeypatch):
    import duckdb

    monkeypatch.setenv("GTM_DUCKDB_PATH", str(tmp_path / "w.duckdb"))
    monkeypatch.delenv("GTM_READ_COPY_PATH", raising=False)
    assert cli.later_months_note(date(2025, 6, 1)) == ""  # no read copy yet
    con = duckdb.connect(str(tmp_path / "w.read.duckdb"))
    con.execute("create schema marts")
    con.execute(
        "create table marts.executive_summary as select * from (values "
        "(date '2025-06-01'), (date '2025-07-01'), (date '2025-08-01')) as t(month)"
    )
    con.close()
    note = cli.later_months_note(date(2025, 6, 1))
    assert "2 later month(s) (2025-07 .. 2025-08)" in note
    assert "gtm backfill --from 2025-07 --to 2025-08" in note
    assert "if it changed 2025-06," in note
    assert "1 later month(s) (2025-08) were built" in cli.later_months_note(date(2025, 7, 1))
    assert cli.later_months_note(date(2025, 8, 1)) == ""


def test_launch_refuses_exports_changed_since_the_load(tmp_path, capsys, monkeypatch):
    """The launch reads the loaded tables: after an edit of campaigns.csv (say, an end date
    added) it asks for a load instead of judging the campaign on the old row."""
    import duckdb

    from gtm_assets.assets.raw import _fingerprint
    from gtm_assets.resources import GtmSettings

    monkeypatch.setenv("GTM_RAW_DIR", "unused")
    monkeypatch.setenv("GTM_DUCKDB_PATH", str(tmp_path / "w.duckdb"))
    raw = tmp_path / "raw"
    raw.mkdir()
    (raw / "campaigns.csv").write_text("campaign_id,end_date\nC1,\n", encoding="utf-8")
    db = tmp_path / "w.duckdb"
    settings = GtmSettings.from_env(raw_dir=raw)
    with duckdb.connect(str(db)) as con:
        con.execute("create schema raw")
        con.execute(
            "create table raw.load_manifest as select 'campaigns' as table_name, $f as fingerprint",
            {"f": _fingerprint(settings)},
        )
    monkeypatch.setenv("GTM_RAW_DIR", str(raw))
    monkeypatch.setenv("GTM_DUCKDB_PATH", str(db))
    assert not cli._exports_changed_since_load()
    (raw / "campaigns.csv").write_text("campaign_id,end_date\nC1,2025-12-31\n", encoding="utf-8")
    assert cli._exports_changed_since_load()
    args = ["launch", "--campaign", "C1", "--raw-dir", str(raw), "--warehouse", str(db)]
    assert cli.main(args) == cli.EXIT_USAGE
    assert "changed since the warehouse last loaded them" in capsys.readouterr().err


def test_a_stopped_backfill_says_where_it_stopped(tmp_path, capsys, monkeypatch):
    def fake_run_months(months, *, job_name, verbose, outcomes):
        outcomes.append(cli.MonthOutcome("2025-04", cli.EXIT_REJECTED, 1.0))
        return cli.EXIT_REJECTED

    monkeypatch.setenv("GTM_RAW_DIR", "unused")
    monkeypatch.setenv("GTM_DUCKDB_PATH", str(tmp_path / "w.duckdb"))
    monkeypatch.setattr(cli, "run_months", fake_run_months)
    code = cli.main(["backfill", "--from", "2025-04", "--to", "2025-06"])
    out = capsys.readouterr().out
    assert code == cli.EXIT_REJECTED
    assert "Backfill stopped at 2025-04" in out and "0 of 3 month(s) ran" in out
    assert "finished" not in out
