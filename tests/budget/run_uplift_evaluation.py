"""Uplift capture of the budget recommendations on generated data (issue 5's criterion).

Not a test (too slow for CI): run after materialising the budget assets for a range of
months on `gtm generate` data, e.g.

    .venv/bin/python tests/budget/run_uplift_evaluation.py \
        --warehouse data/warehouse.duckdb --truth data/raw/truth

For every month with a `marts.budget_reallocation` slice: the true revenue (generator's
`true_response`) at the baseline (current mix at the same budget), at the recommendation
and at the true optimum within the same bounds and budget; capture =
(rec - baseline) / (optimum - baseline).
"""

import argparse
import sys
from pathlib import Path

import duckdb
import numpy as np
import pandas as pd

from gtm_assets.analytics.budget import evaluate_against_truth
from gtm_assets.generate.truth import true_response
from gtm_assets.partitions import add_months


def main(argv=None) -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--warehouse", required=True)
    ap.add_argument("--truth", required=True, help="folder with response_curves.csv")
    ap.add_argument("--metric", default="revenue")
    args = ap.parse_args(argv)
    curves = pd.read_csv(Path(args.truth) / "response_curves.csv")
    con = duckdb.connect(args.warehouse, read_only=True)
    realloc = con.execute("select * from marts.budget_reallocation order by month, channel").df()
    con.close()
    rows = []
    for month, part in realloc.groupby("month"):
        month = pd.Timestamp(month).date()
        nxt = add_months(month, 1)
        days = (add_months(nxt, 1) - nxt).days
        ev = evaluate_against_truth(
            part, lambda c, s: true_response(c, s, args.metric, curves), days
        )
        moved = float(np.abs(part["recommended_spend"] - part["reference_spend"]).sum())
        rows.append(
            {
                "month": month.strftime("%Y-%m"),
                "true_baseline": ev["true_baseline"],
                "true_recommended": ev["true_recommended"],
                "true_optimum": ev["true_optimum"],
                "achievable_uplift": ev["achievable_uplift"],
                "recommended_uplift": ev["recommended_uplift"],
                "capture": ev["capture"],
                "spend_moved": moved,
            }
        )
    out = pd.DataFrame(rows)
    pd.set_option("display.width", 200)
    print(
        out.to_string(
            index=False, float_format=lambda v: f"{v:,.3f}" if abs(v) < 10 else f"{v:,.0f}"
        )
    )
    valid = out["capture"].dropna()
    print(
        f"\nmonths: {len(out)}, capture >= 0.9 in {int((valid >= 0.9).sum())} of {len(valid)}; "
        f"median capture {valid.median():.3f}, min {valid.min():.3f}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
