"""Recovery of the generator's true channel shares by every attribution model.

Generates a sample world (``gtm_assets.generate``), loads it through the pipeline's own
raw and staging assets, then for every month and conversion type builds the attribution
paths, runs the seven models and ChannelAttribution's markov_model (the peer route: the
same paths as ``>``-joined strings, default settings) and reports the total-variation
distance of each model's channel shares from ``truth/channel_shares.csv``.

    .venv/bin/python benchmarks/attribution_recovery.py --months 7 --end 2024-07 --scale 1

Writes ``benchmarks/results/attribution_recovery.csv`` and prints a markdown table.
ChannelAttribution (GPL) is used here as a reference only, never by the pipeline.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import os
import sys
import tempfile
import time
from datetime import date
from pathlib import Path

import pandas as pd


def _month_starts(end: str, months: int) -> list[date]:
    year, month = (int(x) for x in end.split("-"))
    out = []
    for i in range(months - 1, -1, -1):
        index = year * 12 + month - 1 - i
        out.append(date(index // 12, index % 12 + 1, 1))
    return out


def _next_month(value: date) -> date:
    return date(value.year + value.month // 12, value.month % 12 + 1, 1)


def load_world(raw_dir: Path, warehouse: Path, first_month: date, last_month: date) -> None:
    """raw exports -> staging tables with the pipeline's own assets."""
    os.environ["GTM_START_MONTH"] = first_month.strftime("%Y-%m")
    import dagster as dg

    from gtm_assets.assets.raw import raw_exports, staging_tables
    from gtm_assets.resources import GtmSettings, WarehouseResource

    result = dg.materialize(
        [raw_exports, staging_tables],
        resources={
            "warehouse": WarehouseResource(
                path=str(warehouse), read_copy_path=str(warehouse) + ".read"
            ),
            "settings": GtmSettings(raw_dir=str(raw_dir), reports_dir=str(raw_dir / "reports")),
        },
        partition_key=last_month.isoformat(),
        raise_on_error=True,
    )
    if not result.success:
        raise RuntimeError("loading the generated world failed")


def ca_markov_shares(con, order: int = 1, table: str = "_attr_path_touches") -> pd.Series:
    """ChannelAttribution markov_model on the current paths (default settings), as shares."""
    import ChannelAttribution as ca

    paths = con.execute(
        f"""
        with p as (
            select path_id, any_value(converted) as converted,
                   string_agg(channel, ' > ' order by touch_index) as path
            from {table} group by path_id
        )
        select path, count(*) filter (where converted) as total_conversions,
               count(*) filter (where not converted) as total_null
        from p group by path
        """  # noqa: S608 (fixed temp table names)
    ).df()
    with contextlib.redirect_stdout(io.StringIO()):
        result = ca.markov_model(
            paths,
            "path",
            "total_conversions",
            var_null="total_null",
            order=order,
            verbose=False,
            flg_pro=False,
        )
    credit = result.set_index("channel_name")["total_conversions"]
    return credit / credit.sum()


def evaluate(
    warehouse: Path,
    truth_csv: Path,
    months: list[date],
    anchor_on_lead: bool = False,
    peer_types: tuple[str, ...] = ("lead", "opportunity", "won"),
) -> pd.DataFrame:
    import duckdb

    from gtm_assets.analytics import attribution as at
    from gtm_assets.analytics.attribution_recovery import read_truth, recovery_table

    truth = read_truth(str(truth_csv))
    params = at.AttributionParams(anchor_on_lead=anchor_on_lead)
    con = duckdb.connect(str(warehouse), read_only=True)
    frames = []
    for month in months:
        lead_sets = None
        if anchor_on_lead:
            lead = at.build_paths(con, "lead", month, _next_month(month), params)
            lead_sets = at.channel_sets(at.channel_set_counts(con, lead.channels), lead.channels)
        for conversion_type in at.CONVERSION_TYPES:
            summary = at.build_paths(con, conversion_type, month, _next_month(month), params)
            if summary.conversions_with_touch == 0:
                continue
            value_sets = None if conversion_type == "lead" else lead_sets
            credit = at.to_channel_credit(at.attribute_paths(con, summary, params, value_sets))
            credit = credit[["model", "channel", "share"]]
            peers = []
            for name, table in (
                ()
                if conversion_type not in peer_types
                else (
                    ("ca_markov", "_attr_path_touches"),
                    ("ca_markov_session_cleaned", "_attr_model_touches"),
                )
            ):
                shares = ca_markov_shares(con, table=table)
                peers.append(
                    pd.DataFrame({"model": name, "channel": shares.index, "share": shares.values})
                )
            frame = pd.concat([credit, *peers], ignore_index=True)
            frame["month"] = month
            frame["conversion_type"] = conversion_type
            frame["conversions"] = summary.conversions_with_touch
            frames.append(frame)
    con.close()
    shares = pd.concat(frames, ignore_index=True)
    table = recovery_table(shares, truth)
    counts = shares.groupby(["month", "conversion_type"])["conversions"].first()
    return table.join(counts, on=["month", "conversion_type"])


def markdown(table: pd.DataFrame, conversion_type: str) -> str:
    wide = table[table["conversion_type"] == conversion_type].pivot_table(
        index=["month", "conversions"], columns="model", values="tv_distance"
    )
    order = [
        "first_touch",
        "last_touch",
        "linear",
        "time_decay",
        "position_based",
        "markov",
        "shapley",
        "ca_markov",
        "ca_markov_session_cleaned",
    ]
    wide = wide[[c for c in order if c in wide.columns]]
    mean = wide.mean()
    lines = [
        "| month | conversions | " + " | ".join(wide.columns) + " |",
        "|---|---:|" + "---:|" * len(wide.columns),
    ]
    for (month, conversions), row in wide.iterrows():
        lines.append(
            f"| {month:%Y-%m} | {conversions} | " + " | ".join(f"{v:.3f}" for v in row) + " |"
        )
    lines.append("| mean | | " + " | ".join(f"**{v:.3f}**" for v in mean) + " |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--months", type=int, default=7)
    parser.add_argument("--end", default="2024-07", help="last generated month YYYY-MM")
    parser.add_argument("--scale", type=float, default=1.0)
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument(
        "--skip-first",
        type=int,
        default=1,
        help="months at the start left out (their 90-day lookback is not yet filled)",
    )
    parser.add_argument(
        "--anchor-on-lead",
        action="store_true",
        help="opportunity/won paths = the sourcing lead's path (lead-sourced credit)",
    )
    parser.add_argument(
        "--peer-types",
        default="lead,opportunity,won",
        help="conversion types on which ChannelAttribution runs (slow on few conversions)",
    )
    parser.add_argument("--out", default=str(Path(__file__).parent / "results"))
    args = parser.parse_args(argv)

    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
    from gtm_assets.generate import generate

    months = _month_starts(args.end, args.months)
    with tempfile.TemporaryDirectory(prefix="gtm_recovery_") as tmp:
        raw = Path(tmp) / "raw"
        t0 = time.perf_counter()
        generate(raw, months=args.months, end_month=args.end, scale=args.scale, seed=args.seed)
        load_world(raw, Path(tmp) / "warehouse.duckdb", months[0], months[-1])
        t1 = time.perf_counter()
        table = evaluate(
            Path(tmp) / "warehouse.duckdb",
            raw / "truth" / "channel_shares.csv",
            months[args.skip_first :],
            anchor_on_lead=args.anchor_on_lead,
            peer_types=tuple(args.peer_types.split(",")),
        )
        t2 = time.perf_counter()
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    suffix = "_lead_sourced" if args.anchor_on_lead else ""
    table.to_csv(out / f"attribution_recovery{suffix}.csv", index=False)
    print(
        f"generate + load {t1 - t0:.1f} s, evaluate {t2 - t1:.1f} s "
        f"(scale {args.scale:g}, seed {args.seed}, anchor_on_lead {args.anchor_on_lead})\n"
    )
    for conversion_type in ("lead", "opportunity", "won"):
        print(f"### {conversion_type}: TV distance from the true channel shares\n")
        print(markdown(table, conversion_type) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
