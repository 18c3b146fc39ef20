"""Pipeline speed: generate a sample world and backfill its months through the CLI's path.

    .venv/bin/python benchmarks/pipeline_bench.py [--months 12] [--scale 1]

Measures the generator, then the monthly_review job month by month (the same in-process
runs `gtm backfill` does, so the first month includes loading the raw exports and building
staging; later months reuse them), and the process's peak memory. Writes
``benchmarks/results/pipeline.csv`` and prints a markdown table with the machine.
"""

from __future__ import annotations

import argparse
import io
import os
import platform
import resource
import sys
import tempfile
import time
from pathlib import Path

import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from gtm_assets import cli  # noqa: E402
from gtm_assets.generate import generate  # noqa: E402
from gtm_assets.partitions import add_months  # noqa: E402

RESULTS = Path(__file__).resolve().parent / "results"


def machine() -> str:
    cpu = "unknown CPU"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    mem = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    return f"{os.cpu_count()} cores ({cpu}), {mem:.0f} GiB RAM, {platform.system()} {platform.release()}, Python {platform.python_version()}"


def peak_rss_gb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--months", type=int, default=12)
    parser.add_argument("--scale", type=float, default=1.0)
    parser.add_argument("--end-month", default="2025-12")
    args = parser.parse_args(argv)

    with tempfile.TemporaryDirectory(prefix="gtm-bench-") as tmp:
        root = Path(tmp)
        os.environ.update(
            GTM_RAW_DIR=str(root / "raw"),
            GTM_DUCKDB_PATH=str(root / "warehouse.duckdb"),
            GTM_REPORTS_DIR=str(root / "reports"),
        )
        started = time.perf_counter()
        summary = generate(
            root / "raw", months=args.months, end_month=args.end_month, scale=args.scale
        )
        generate_s = time.perf_counter() - started
        touchpoints = summary.rows.get("touchpoints", 0)

        last = cli._parse_month(args.end_month)
        months = cli.month_range(add_months(last, -(args.months - 1)), last)
        outcomes: list[cli.MonthOutcome] = []
        started = time.perf_counter()
        code = cli.run_months(months, out=io.StringIO(), outcomes=outcomes)
        backfill_s = time.perf_counter() - started
        if code != cli.EXIT_OK:
            print(f"backfill failed with exit code {code}", file=sys.stderr)
            return code

    rows = [
        dict(stage="generate", months=args.months, scale=args.scale, seconds=round(generate_s, 1))
    ]
    rows += [
        dict(stage=f"month {o.month}", months=1, scale=args.scale, seconds=round(o.seconds, 1))
        for o in outcomes
    ]
    rows.append(
        dict(
            stage="backfill total",
            months=args.months,
            scale=args.scale,
            seconds=round(backfill_s, 1),
        )
    )
    df = pd.DataFrame(rows)
    RESULTS.mkdir(exist_ok=True)
    df.to_csv(RESULTS / "pipeline.csv", index=False)
    print(f"Machine: {machine()}")
    print(f"Touchpoints generated: {touchpoints:,}; peak memory {peak_rss_gb():.2f} GB")
    print(df.to_markdown(index=False))
    return 0


if __name__ == "__main__":
    sys.exit(main())
