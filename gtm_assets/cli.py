"""The ``gtm`` command: generate sample data, run a month, backfill a range, or run the demo.

``gtm run`` and ``gtm backfill`` execute the same Dagster job the UI and the month-end
schedule use (``monthly_review``), in this process, one month after another.

Exit codes: 0 success (warnings are printed), 1 the run failed for another reason,
2 the input was rejected, 3 a blocking quality check failed, 64 bad command-line usage.
"""

import argparse
import os
import sys
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from pathlib import Path

EXIT_OK, EXIT_FAILED, EXIT_REJECTED, EXIT_CHECK_FAILED, EXIT_USAGE = 0, 1, 2, 3, 64
GENERATED_MARKER = ".gtm_generated"


@dataclass
class MonthOutcome:
    month: str
    exit_code: int
    seconds: float
    problems: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)


#: Said after a run that stopped on an error (or an interrupt) partway through a month.
PARTIAL_RUN_NOTE = (
    "The run of {month} stopped partway: the tables it had already written hold its new "
    "slice, the others still hold the previous run's (each table's slice is whole, but the "
    "month is mixed). Re-run the month (gtm run --month {month}) before reading it."
)

#: How a rejected load's message begins (gtm_assets.raw.errors.RawInputError).
REJECTED_MARK = "was rejected ("


def _parse_month(text: str) -> date:
    try:
        value = datetime.strptime(text, "%Y-%m").date()
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a month as YYYY-MM, got {text!r}") from None
    return value


def last_complete_month(today: date | None = None) -> date:
    from gtm_assets.partitions import add_months

    today = today or datetime.now(UTC).date()
    return add_months(date(today.year, today.month, 1), -1)


def month_range(first: date, last: date) -> list[date]:
    from gtm_assets.partitions import add_months

    months, current = [], first
    while current <= last:
        months.append(current)
        current = add_months(current, 1)
    return months


def _apply_locations(raw_dir: str | None, warehouse: str | None) -> None:
    """Command-line locations win over the environment, for this process and its runs."""
    if raw_dir:
        os.environ["GTM_RAW_DIR"] = str(raw_dir)
    if warehouse:
        os.environ["GTM_DUCKDB_PATH"] = str(warehouse)


def summarize_result(result, month: str, seconds: float) -> MonthOutcome:
    """Turn a Dagster run result into an exit code and readable problem sentences."""
    import dagster as dg

    outcome = MonthOutcome(month=month, exit_code=EXIT_OK, seconds=seconds)
    for event in result.all_events:
        if event.event_type == dg.DagsterEventType.ASSET_CHECK_EVALUATION:
            evaluation = event.event_specific_data
            if evaluation.passed:
                continue
            name = f"{evaluation.asset_key.to_user_string()} / {evaluation.check_name}"
            details = _check_details(evaluation)
            if evaluation.severity == dg.AssetCheckSeverity.ERROR:
                outcome.problems.append(f"Blocking check failed: {name}.{details}")
                outcome.exit_code = max(outcome.exit_code, EXIT_CHECK_FAILED)
            else:
                outcome.warnings.append(f"{name}.{details}")
        elif event.event_type == dg.DagsterEventType.STEP_FAILURE:
            error = event.event_specific_data.error
            message = _root_message(error)
            if REJECTED_MARK in message:
                outcome.problems.append(message)
                outcome.exit_code = EXIT_REJECTED
            elif "Blocking check" in message or "blocking" in message.lower():
                outcome.exit_code = max(outcome.exit_code, EXIT_CHECK_FAILED)
            else:
                outcome.problems.append(f"Step {event.step_key} failed: {message}")
                if outcome.exit_code == EXIT_OK:
                    outcome.exit_code = EXIT_FAILED
    if not result.success and outcome.exit_code == EXIT_OK:
        outcome.exit_code = EXIT_FAILED
        outcome.problems.append("The run did not succeed; open the Dagster UI for the logs.")
    if outcome.exit_code == EXIT_FAILED:
        outcome.problems.append(PARTIAL_RUN_NOTE.format(month=month))
    return outcome


def _one_line(text: str) -> str:
    """A check's metadata value on one line: a markdown table becomes "a: b, c: d"."""
    lines = [line.strip() for line in text.strip().splitlines() if line.strip()]
    if len(lines) > 2 and all(line.startswith("|") for line in lines):
        rows = [[cell.strip() for cell in line.strip("|").split("|")] for line in lines[2:]]
        return ", ".join(": ".join(cell for cell in row if cell) for row in rows)
    return " ".join(lines)


def _check_details(evaluation) -> str:
    shown = []
    for key, value in (evaluation.metadata or {}).items():
        text = getattr(value, "value", value)
        if isinstance(text, str):
            text = _one_line(text)
        if isinstance(text, (int, float, str)):
            text = str(text)
            shown.append(f"{key}={text if len(text) <= 240 else text[:239] + '…'}")
    return f" ({'; '.join(shown[:4])})" if shown else ""


def _root_message(error) -> str:
    message = (error.message or "").strip()
    cause = error.cause
    while cause is not None and "Error occurred while executing" in message:
        message = (cause.message or "").strip()
        cause = cause.cause
    # Dagster prefixes user failures with the exception class name.
    for prefix in ("dagster._core.definitions.events.Failure: ", "Failure: "):
        if message.startswith(prefix):
            message = message[len(prefix) :]
    return message


LATE_REPORT_WARNING = "monthly_report / ready_within_3_business_days"


def hold_late_report(outcome: MonthOutcome) -> bool:
    """Take the late-report warning out of a backfilled month's outcome (a past month's
    report is late by construction); True when there was one."""
    kept = [w for w in outcome.warnings if not w.startswith(LATE_REPORT_WARNING)]
    held = len(kept) < len(outcome.warnings)
    outcome.warnings = kept
    return held


def run_months(
    months: Sequence[date],
    *,
    job_name: str = "monthly_review",
    verbose: bool = False,
    out=sys.stdout,
    outcomes: list[MonthOutcome] | None = None,
) -> int:
    """Materialize ``job_name`` (the monthly review or one of its modes) for each month in
    order; stop at the first failure."""
    import dagster as dg

    from gtm_assets.definitions import build_definitions
    from gtm_assets.partitions import monthly_partitions

    valid = set(monthly_partitions.get_partition_keys())
    keys = [m.strftime("%Y-%m-01") for m in months]
    outside = [k[:7] for k in keys if k not in valid]
    if outside:
        first = monthly_partitions.get_first_partition_key()
        last = monthly_partitions.get_last_partition_key()
        print(
            f"gtm: month(s) {', '.join(outside)} are not runnable: months run from "
            f"{first[:7] if first else '?'} (GTM_START_MONTH) to the last complete month "
            f"{last[:7] if last else '?'}.",
            file=sys.stderr,
        )
        return EXIT_USAGE

    defs = build_definitions()
    monthly_jobs = sorted(j.name for j in defs.jobs if j.name.startswith("monthly_review"))
    if job_name not in monthly_jobs:
        print(
            f"gtm: unknown job {job_name!r}; monthly jobs: {', '.join(monthly_jobs)}",
            file=sys.stderr,
        )
        return EXIT_USAGE
    job = defs.resolve_job_def(job_name)
    instance = (
        dg.DagsterInstance.get()
        if os.environ.get("DAGSTER_HOME")
        else dg.DagsterInstance.ephemeral()
    )
    run_config = {} if verbose else {"loggers": {"console": {"config": {"log_level": "CRITICAL"}}}}
    worst = EXIT_OK
    late_reports: list[str] = []
    with _turn(out) as got:
        if not got:
            return EXIT_FAILED
        for index, key in enumerate(keys, start=1):
            code = _run_one_month(
                job, instance, run_config, key, index, len(keys), out, outcomes, late_reports
            )
            worst = max(worst, code)
            if code != EXIT_OK:
                break
    if late_reports:
        print(
            f"note: {len(late_reports)} report(s) written after their 3-business-day deadline "
            f"({late_reports[0]} .. {late_reports[-1]}); expected when backfilling past months "
            "(check monthly_report / ready_within_3_business_days).",
            file=out,
        )
    return worst


def _run_one_month(
    job, instance, run_config, key, index, total, out, outcomes, late_reports
) -> int:
    label = key[:7]
    print(f"[{index}/{total}] {label}: running the monthly review ...", file=out, flush=True)
    started = time.perf_counter()
    result = job.execute_in_process(
        partition_key=key,
        instance=instance,
        raise_on_error=False,
        run_config=run_config,
        tags={"gtm/source": "cli"},
    )
    outcome = summarize_result(result, label, time.perf_counter() - started)
    if total > 1 and hold_late_report(outcome):  # one line at the end, not per month
        late_reports.append(label)
    _print_outcome(outcome, out)
    if outcomes is not None:
        outcomes.append(outcome)
    return outcome.exit_code


@contextmanager
def _turn(out) -> Iterator[bool]:
    """This run's turn on the warehouse (``warehouse.run_lock``): yields False, after saying
    why, when another run kept it past GTM_LOCK_TIMEOUT."""
    from gtm_assets import paths
    from gtm_assets import warehouse as wh

    lock = wh.run_lock(paths.warehouse_path(), out=out)
    try:
        lock.__enter__()
    except wh.WarehouseLockedError as exc:
        print(f"gtm: {exc}", file=sys.stderr)
        yield False
        return
    try:
        yield True
    finally:
        lock.__exit__(None, None, None)


def _print_outcome(outcome: MonthOutcome, out) -> None:
    status = "ok" if outcome.exit_code == EXIT_OK else "FAILED"
    print(f"      {outcome.month}: {status} in {outcome.seconds:.1f} s", file=out, flush=True)
    for warning in outcome.warnings:
        print(f"      warning: {warning}", file=out)
    for problem in outcome.problems:
        print("\n" + problem + "\n", file=sys.stderr)


def print_locations(months: Sequence[date], out=sys.stdout, since: float | None = None) -> None:
    """Where the report and the tables are, plus the month's headline numbers. ``since``:
    the run's start (epoch seconds); a report file older than that is an earlier run's."""
    import duckdb

    from gtm_assets import paths
    from gtm_assets.assets.executive import report_path

    warehouse = paths.warehouse_path()
    read_copy = paths.read_copy_path(warehouse)
    last = months[-1]
    print("", file=out)
    report = report_path(paths.reports_dir(), last).resolve()
    if not report.exists():
        line = "Report:      not written by this run"
    elif since is not None and report.stat().st_mtime < since:
        line = f"Report:      not written by this run (an earlier run's is {report})"
    else:
        line = f"Report:      {report}"
    print(line, file=out)
    print(
        f"Warehouse:   {warehouse.resolve()}  (schemas raw, staging, marts, quarantine)", file=out
    )
    print(f"Read copy:   {read_copy.resolve()}  (open this one while the pipeline runs)", file=out)
    if read_copy.exists():
        con = duckdb.connect(str(read_copy), read_only=True)
        try:
            tables = [
                t
                for (t,) in con.execute(
                    "select table_name from information_schema.tables where table_schema = 'marts' order by 1"
                ).fetchall()
            ]
            rows = con.execute(
                "select metric, value, status from marts.executive_summary where month = $m "
                "and metric in ('spend', 'revenue', 'leads', 'customers', 'roas') order by metric_order",
                {"m": last},
            ).fetchall()
        finally:
            con.close()
        print(f"Mart tables: {', '.join('marts.' + t for t in tables)}", file=out)
        if rows:
            print(
                f"{last:%Y-%m} headline: "
                + ", ".join(
                    f"{m} {_headline_value(m, v)} ({s.replace('_', ' ')})"
                    if v is not None
                    else f"{m} n/a"
                    for m, v, s in rows
                ),
                file=out,
            )
    print(
        f'Query:       {sys.executable} -c "import duckdb; '
        f"print(duckdb.connect('{read_copy.resolve()}', read_only=True)"
        ".sql('select * from marts.campaign_performance limit 5'))\"",
        file=out,
    )


def _headline_value(metric: str, value: float) -> str:
    """Counts and money (with the reporting currency) without decimals, ratios with two."""
    if metric == "roas":
        return f"{value:,.2f}"
    if metric in ("spend", "revenue"):
        return f"{(os.environ.get('GTM_CURRENCY') or 'USD').upper()} {value:,.0f}"
    return f"{value:,.0f}"


def cmd_generate(args) -> int:
    from gtm_assets.generate import generate

    summary = generate(
        Path(args.out),
        months=args.months,
        end_month=args.end_month,
        scale=args.scale,
        seed=args.seed,
        file_format=args.format,
        progress=lambda msg: print(f"  {msg}", flush=True),
    )
    print(summary)
    return EXIT_OK


def cmd_run(args) -> int:
    _apply_locations(args.raw_dir, args.warehouse)
    since = time.time()
    code = run_months([args.month], job_name=args.job, verbose=args.verbose)
    if code == EXIT_OK:
        print_locations([args.month], since=since)
        note = later_months_note(args.month)
        if note:
            print(note)
    return code


def later_months_note(month: date) -> str:
    """A note when months after ``month`` were built before this re-run: their prior-month
    and trailing columns (and trends) still reflect the old slice."""
    import duckdb

    from gtm_assets import paths
    from gtm_assets import warehouse as wh

    read_copy = paths.read_copy_path(paths.warehouse_path())
    if not read_copy.exists():
        return ""
    con = duckdb.connect(str(read_copy), read_only=True)
    try:
        later = (
            [
                m
                for (m,) in con.execute(
                    "select distinct month from marts.executive_summary where month > $m "
                    "order by month",
                    {"m": month},
                ).fetchall()
            ]
            if wh.table_exists(con, "marts.executive_summary")
            else []
        )
    finally:
        con.close()
    if not later:
        return ""
    span = f"{later[0]:%Y-%m}" if len(later) == 1 else f"{later[0]:%Y-%m} .. {later[-1]:%Y-%m}"
    return (
        f"note: {len(later)} later month(s) ({span}) were built before this re-run; if it "
        f"changed {month:%Y-%m}, their channel and campaign prior-month and trailing columns "
        f"still use the old {month:%Y-%m} slice (the executive summary recomputes its prior "
        f"month from the exports). Re-run them with gtm backfill --from {later[0]:%Y-%m} --to "
        f"{later[-1]:%Y-%m}."
    )


def cmd_backfill(args) -> int:
    _apply_locations(args.raw_dir, args.warehouse)
    if args.to_month < args.from_month:
        print("gtm backfill: --to is before --from", file=sys.stderr)
        return EXIT_USAGE
    months = month_range(args.from_month, args.to_month)
    started, since = time.perf_counter(), time.time()
    outcomes: list[MonthOutcome] = []
    code = run_months(months, job_name=args.job, verbose=args.verbose, outcomes=outcomes)
    seconds = time.perf_counter() - started
    if code == EXIT_OK:
        print(f"Backfill of {len(months)} month(s) finished in {seconds:.0f} s.")
    else:
        done = sum(o.exit_code == EXIT_OK for o in outcomes)
        failed = outcomes[-1].month if outcomes else "the first month"
        print(
            f"Backfill stopped at {failed} after {seconds:.0f} s: {done} of {len(months)} "
            "month(s) ran; the months after it were not run."
        )
    if code == EXIT_OK:
        print_locations(months, since=since)
    return code


def _run_other(label: str, runner, out=sys.stdout) -> int:
    """Run a quarterly or launch job via ``runner()`` and report it like a month."""
    started = time.perf_counter()
    print(f"{label}: running ...", file=out, flush=True)
    with _turn(out) as got:
        if not got:
            return EXIT_FAILED
        try:
            result = runner()
        except ValueError as exc:
            print(f"gtm: {exc}", file=sys.stderr)
            return EXIT_USAGE
    outcome = summarize_result(result, label, time.perf_counter() - started)
    _print_outcome(outcome, out)
    return outcome.exit_code


def cmd_quarter(args) -> int:
    from gtm_assets import paths
    from gtm_assets.analytics.quarterly import add_months
    from gtm_assets.assets.quarterly import plan_path
    from gtm_assets.assets.workflows import quarter_partition_key, run_quarter

    _apply_locations(args.raw_dir, args.warehouse)
    code = _run_other(args.quarter, lambda: run_quarter(args.quarter, quiet=not args.verbose))
    if code == EXIT_OK:
        closed = date.fromisoformat(quarter_partition_key(args.quarter))
        plan = plan_path(paths.reports_dir().resolve(), add_months(closed, 3))
        print(f"Plan:        {plan} (for the quarter after {args.quarter})")
        print(f"Tables:      marts.quarter_* in {paths.read_copy_path().resolve()}")
    return code


def _exports_changed_since_load() -> bool:
    """Whether the raw folder's files differ from what the warehouse last loaded (False
    when there is no warehouse or it cannot be opened now)."""
    import duckdb

    from gtm_assets import paths
    from gtm_assets.assets.raw import raw_folder_changed
    from gtm_assets.resources import GtmSettings

    if not paths.warehouse_path().exists():
        return False
    try:
        with duckdb.connect(str(paths.warehouse_path()), read_only=True) as con:
            return raw_folder_changed(con, GtmSettings.from_env())
    except duckdb.Error:
        return False


def cmd_launch(args) -> int:
    from gtm_assets import paths
    from gtm_assets.assets.workflows import run_launch

    _apply_locations(args.raw_dir, args.warehouse)
    if _exports_changed_since_load():
        print(
            f"gtm launch: the exports in {paths.raw_dir()} changed since the warehouse last "
            "loaded them, and the launch reads the loaded tables. Load them first (gtm run "
            "--month YYYY-MM --job monthly_review_load_only, or the monthly review), then run "
            "the launch again.",
            file=sys.stderr,
        )
        return EXIT_USAGE
    code = _run_other(
        args.campaign, lambda: run_launch(args.campaign, as_of=args.as_of, quiet=not args.verbose)
    )
    if code == EXIT_OK:
        print(
            f"Tables:      marts.launch_* (where campaign_id = {args.campaign!r}) in "
            f"{paths.read_copy_path().resolve()}"
        )
    return code


def cmd_demo(args) -> int:
    """Generate sample data (unless the folder holds other files) and backfill its months."""
    from gtm_assets import paths
    from gtm_assets.generate import generate
    from gtm_assets.partitions import add_months

    _apply_locations(args.raw_dir, args.warehouse)
    raw = paths.raw_dir()
    if raw.exists() and any(raw.iterdir()) and not (raw / GENERATED_MARKER).exists():
        print(
            f"gtm demo: {raw} already holds files that gtm did not generate; refusing to "
            "overwrite them. Use --raw-dir to choose another folder.",
            file=sys.stderr,
        )
        return EXIT_USAGE
    end = args.end_month or last_complete_month().strftime("%Y-%m")
    print(f"Generating {args.months} months of sample data (scale {args.scale}) into {raw} ...")
    summary = generate(
        raw,
        months=args.months,
        end_month=end,
        scale=args.scale,
        seed=args.seed,
        progress=lambda msg: print(f"  {msg}", flush=True),
    )
    (raw / GENERATED_MARKER).write_text("generated by gtm demo\n", encoding="utf-8")
    print(summary)
    last = _parse_month(end)
    first = add_months(last, -(args.months - 1))
    months = month_range(first, last)
    started = time.perf_counter()
    code = run_months(months, verbose=args.verbose)
    print(f"Ran {len(months)} month(s) in {time.perf_counter() - started:.0f} s.")
    if code == EXIT_OK:
        print_locations(months)
    return code


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="gtm", description="Marketing analytics on Dagster + DuckDB (gtm_assets)."
    )
    sub = parser.add_subparsers(dest="command", required=True)

    gen = sub.add_parser("generate", help="write realistic sample exports in the raw-data contract")
    gen.add_argument("--out", required=True, help="folder to write the exports to")
    gen.add_argument("--months", type=int, default=12, help="number of months (default 12)")
    gen.add_argument("--scale", type=float, default=1.0, help="volume multiplier (default 1)")
    gen.add_argument("--seed", type=int, default=42, help="random seed (default 42)")
    gen.add_argument(
        "--end-month", default=None, help="last month YYYY-MM (default: last complete month)"
    )
    gen.add_argument(
        "--format", choices=["csv", "parquet"], default="csv", help="file format (default csv)"
    )
    gen.set_defaults(func=cmd_generate)

    locations = argparse.ArgumentParser(add_help=False)
    locations.add_argument("--raw-dir", default=None, help="exports folder (overrides GTM_RAW_DIR)")
    locations.add_argument(
        "--warehouse", default=None, help="DuckDB file (overrides GTM_DUCKDB_PATH)"
    )
    locations.add_argument("--verbose", action="store_true", help="show Dagster's run logs")

    job = argparse.ArgumentParser(add_help=False)
    job.add_argument(
        "--job",
        default="monthly_review",
        help="monthly job or mode, e.g. monthly_review_analysis_only (default monthly_review)",
    )

    run = sub.add_parser(
        "run", parents=[locations, job], help="materialize every asset of one month"
    )
    run.add_argument("--month", required=True, type=_parse_month, help="YYYY-MM")
    run.set_defaults(func=cmd_run)

    backfill = sub.add_parser(
        "backfill", parents=[locations, job], help="run a range of months in order"
    )
    backfill.add_argument(
        "--from", dest="from_month", required=True, type=_parse_month, help="YYYY-MM"
    )
    backfill.add_argument("--to", dest="to_month", required=True, type=_parse_month, help="YYYY-MM")
    backfill.set_defaults(func=cmd_backfill)

    quarter = sub.add_parser(
        "quarter", parents=[locations], help="quarterly planning for a closed quarter"
    )
    quarter.add_argument(
        "--quarter", required=True, help="the quarter just closed, YYYY-QN (e.g. 2026-Q3)"
    )
    quarter.set_defaults(func=cmd_quarter)

    launch = sub.add_parser(
        "launch", parents=[locations], help="campaign launch planning and monitoring"
    )
    launch.add_argument("--campaign", required=True, help="campaign_id")
    launch.add_argument(
        "--as-of",
        default=None,
        help="evaluate as of YYYY-MM-DD (default: last day with spend, or the campaign's end "
        "date if it ended earlier)",
    )
    launch.set_defaults(func=cmd_launch)

    demo = sub.add_parser(
        "demo", parents=[locations], help="generate sample data and run all its months"
    )
    demo.add_argument("--months", type=int, default=12)
    demo.add_argument("--scale", type=float, default=1.0)
    demo.add_argument("--seed", type=int, default=42)
    demo.add_argument(
        "--end-month", default=None, help="last month YYYY-MM (default: last complete month)"
    )
    demo.set_defaults(func=cmd_demo)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:
        return EXIT_USAGE if exc.code else EXIT_OK
    return int(args.func(args))


if __name__ == "__main__":
    sys.exit(main())
