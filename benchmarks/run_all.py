"""Run every benchmark with its default sizes and record the results.

    .venv/bin/python benchmarks/run_all.py            # full (10M touchpoints: several minutes)
    .venv/bin/python benchmarks/run_all.py --quick    # smaller sizes, a minute or two

Writes results under ``benchmarks/results/`` and prints the tables the README quotes.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent


def run(args: list[str]) -> int:
    print(f"\n$ {' '.join(args)}", flush=True)
    return subprocess.call([sys.executable, *args])


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="smaller sizes")
    args = parser.parse_args(argv)
    pipeline = (
        ["--months", "3", "--scale", "1"] if args.quick else ["--months", "12", "--scale", "1"]
    )
    touchpoints = ["1000000"] if args.quick else ["1000000", "10000000"]
    volumes = ["0.5"] if args.quick else ["1", "0.5"]
    codes = [
        run([str(HERE / "pipeline_bench.py"), *pipeline]),
        run([str(HERE / "attribution_bench.py"), "--touchpoints", *touchpoints]),
        run([str(HERE / "budget_foreign_world.py"), "--volume", *volumes]),
    ]
    return max(codes)


if __name__ == "__main__":
    sys.exit(main())
