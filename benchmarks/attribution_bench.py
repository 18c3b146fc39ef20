"""Attribution speed: path building and every model on one month of 1M / 10M touchpoints,
against the peer route (paths as strings in DuckDB + ChannelAttribution's markov_model).

    .venv/bin/python benchmarks/attribution_bench.py --touchpoints 1000000 10000000

Data (``--source synthetic``, default): a world written straight into DuckDB: ``N``
touchpoints dated in the attribution month (June 2024) plus ``N / 2`` in the 60 days
before it (the lookback tail), ``N / 8`` people, 11 channel groups with realistic weights,
8 touch types, ~40 campaigns; 4% of people become a lead in the month (about N / 200
conversions). Deterministic (hash based, no RNG state). ``--source generator``: the sample
generator at the scale that puts about N touchpoints in the month, 4 months, loaded through
the pipeline's raw loader and staging SQL (realistic journeys; heavy at 10M).
One conversion type (lead), all seven models, default settings.

Measured per stage: wall time and the peak resident memory of the process during the stage
(sampled every 5 ms from /proc/self/statm; DuckDB runs in-process, so this includes it).
The peer route is what a user would do today: ``string_agg`` of each conversion's and each
non-converter's touches in DuckDB, grouped by path, fed to ChannelAttribution.markov_model
(order 1, default simulation settings).
"""

from __future__ import annotations

import argparse
import contextlib
import io
import os
import platform
import sys
import threading
import time
from datetime import date
from pathlib import Path

import duckdb

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from gtm_assets.analytics import attribution as at  # noqa: E402

MONTH = (date(2024, 6, 1), date(2024, 7, 1))
PAGE = os.sysconf("SC_PAGE_SIZE")


class PeakMemory:
    """Peak RSS (bytes) of this process while the context is open."""

    def __init__(self, interval: float = 0.005) -> None:
        self.interval = interval
        self.peak = 0
        self._stop = threading.Event()

    @staticmethod
    def rss() -> int:
        with open("/proc/self/statm") as fh:
            return int(fh.read().split()[1]) * PAGE

    def _run(self) -> None:
        while not self._stop.is_set():
            self.peak = max(self.peak, self.rss())
            time.sleep(self.interval)

    def __enter__(self) -> PeakMemory:
        self.peak = self.rss()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join()
        self.peak = max(self.peak, self.rss())


def stage(results: list, name: str, fn, *args, **kwargs):
    with PeakMemory() as mem:
        t0 = time.perf_counter()
        out = fn(*args, **kwargs)
        elapsed = time.perf_counter() - t0
    results.append({"stage": name, "seconds": elapsed, "peak_rss_gb": mem.peak / 1e9})
    print(f"  {name:<44} {elapsed:8.2f} s  peak RSS {mem.peak / 1e9:6.2f} GB", flush=True)
    return out


SYNTHETIC_WORLD = """
create schema if not exists staging;
create schema if not exists intermediate;
create or replace table staging.touchpoints as
with
channels as (
    select * from (values
        (0, 'paid_search', 0.16), (1, 'paid_social', 0.14), (2, 'display', 0.14),
        (3, 'video', 0.06), (4, 'affiliate', 0.04), (5, 'events', 0.02),
        (6, 'email', 0.14), (7, 'organic_search', 0.14), (8, 'organic_social', 0.05),
        (9, 'referral', 0.04), (10, 'direct', 0.07)
    ) as t(k, channel, weight)
),
bounds as (
    select k, channel,
           sum(weight) over (order by k) - weight as lo,
           sum(weight) over (order by k) as hi
    from channels
),
raw as (
    select
        i,
        (hash(i, 1) % $people)::bigint as person,
        case
            when i < $touchpoints
                then timestamp '2024-06-01' + to_seconds((hash(i, 2) % (30 * 86400))::bigint)
            else timestamp '2024-04-02' + to_seconds((hash(i, 2) % (60 * 86400))::bigint)
        end as ts,
        (hash(i, 3) % 1000000) / 1000000.0 as u_channel,
        (hash(i, 4) % 8)::integer as tt,
        (hash(i, 5) % 6)::integer as campaign_no
    from range($touchpoints + $touchpoints // 2) as r(i)
)
select
    't' || i as touchpoint_id,
    'p' || person as person_id,
    ts,
    date_trunc('month', ts)::date as month,
    (['impression', 'click', 'visit', 'email_open', 'email_click', 'form_fill',
      'event_attend', 'content_view'])[tt + 1] as touch_type,
    null::varchar as utm_source, null::varchar as utm_medium, null::varchar as utm_campaign,
    b.channel,
    'rule' as channel_source,
    case when b.k <= 6 then 'cmp_' || b.channel || '_' || campaign_no end as campaign_id,
    null::varchar as content_id
from raw
join bounds as b on raw.u_channel >= b.lo and raw.u_channel < b.hi;

create or replace table intermediate.conversions as
select
    'lead:' || p as conversion_id,
    'lead' as conversion_type,
    'p' || p as person_id,
    'L' || p as lead_id,
    timestamp '2024-06-01' + to_seconds((hash(p, 7) % (30 * 86400))::bigint) as converted_at,
    date '2024-06-01' as month,
    0.0 as value
from range($people) as r(p)
where hash(p, 6) % 100 < 4;
"""


def build_world(con: duckdb.DuckDBPyConnection, touchpoints: int) -> None:
    for statement in SYNTHETIC_WORLD.split(";"):
        if statement.strip():
            params = {"touchpoints": touchpoints, "people": max(touchpoints // 8, 1)}
            used = {k: v for k, v in params.items() if f"${k}" in statement}
            con.execute(statement, used)


PEER_PATHS = """
with
conv as (
    select conversion_id, person_id, converted_at from intermediate.conversions
    where conversion_type = 'lead' and converted_at >= $s and converted_at < $e
),
conv_paths as (
    select string_agg(t.channel, ' > ' order by t.ts) as path
    from conv as c
    join staging.touchpoints as t
      on t.person_id = c.person_id and t.ts < c.converted_at
     and t.ts >= c.converted_at - interval 90 day
    group by c.conversion_id
),
null_paths as (
    select string_agg(t.channel, ' > ' order by t.ts) as path
    from staging.touchpoints as t
    where t.ts >= $e::timestamp - interval 90 day and t.ts < $e
      and t.person_id not in (
          select person_id from intermediate.conversions
          where conversion_type = 'lead' and converted_at < $e)
    group by t.person_id
    having max(t.ts) >= $s
)
select path, sum(conv) as total_conversions, sum(nul) as total_null from (
    select path, 1 as conv, 0 as nul from conv_paths
    union all
    select path, 0, 1 from null_paths
) group by path
"""


def peer_route(con: duckdb.DuckDBPyConnection):
    import ChannelAttribution as ca

    paths = con.execute(PEER_PATHS, {"s": MONTH[0], "e": MONTH[1]}).df()
    with contextlib.redirect_stdout(io.StringIO()):
        return ca.markov_model(
            paths,
            "path",
            "total_conversions",
            var_null="total_null",
            verbose=False,
            flg_pro=False,
        )


def generated_world(con: duckdb.DuckDBPyConnection, touchpoints: int, workdir: Path) -> None:
    """The sample generator at the scale that puts ~``touchpoints`` in the month (scale 1
    writes about 43,000 touchpoints a month), 4 months (the month and its 90-day lookback),
    loaded through the pipeline's own raw loader and staging SQL."""
    from gtm_assets.assets.raw import build_staging
    from gtm_assets.generate import generate
    from gtm_assets.raw.loader import load_raw

    scale = touchpoints / 43_000
    generate(workdir / "raw", months=4, end_month="2024-06", scale=scale, seed=11)
    load_raw(con, workdir / "raw")
    build_staging(con, "USD")


def run(
    touchpoints: int,
    threads: int | None,
    peer: bool,
    source: str,
    workdir: Path,
    memory_limit: int | None = None,
) -> list[dict]:
    from gtm_assets import warehouse as wh

    results: list[dict] = []
    print(f"\n{touchpoints:,} touchpoints ({source} world)", flush=True)
    with wh.connect(workdir / f"bench_{source}_{touchpoints}.duckdb") as con:
        if threads:
            con.execute(f"set threads = {int(threads)}")
        if memory_limit:
            con.execute(f"set memory_limit = '{int(memory_limit)}MB'")
        if source == "synthetic":
            stage(results, "world (not part of the totals)", build_world, con, touchpoints)
        else:
            stage(
                results,
                "world (not part of the totals)",
                generated_world,
                con,
                touchpoints,
                workdir,
            )
        results.extend(_measure(con, peer))
    for row in results:
        row["touchpoints_requested"] = touchpoints
        row["source"] = source
    return results


def _measure(con: duckdb.DuckDBPyConnection, peer: bool) -> list[dict]:
    results: list[dict] = []
    n_touch = con.execute(
        "select count(*) from staging.touchpoints where ts >= $s and ts < $e",
        {"s": MONTH[0], "e": MONTH[1]},
    ).fetchall()[0][0]
    n_all = con.execute("select count(*) from staging.touchpoints").fetchall()[0][0]
    n_conv = con.execute(
        "select count(*) from intermediate.conversions where conversion_type = 'lead' "
        "and converted_at >= $s and converted_at < $e",
        {"s": MONTH[0], "e": MONTH[1]},
    ).fetchall()[0][0]
    print(
        f"  {n_touch:,} touchpoints in the month ({n_all:,} in the table), "
        f"{n_conv:,} lead conversions",
        flush=True,
    )
    params = at.AttributionParams()
    summary = stage(
        results,
        "paths (converting + null, session flags)",
        at.build_paths,
        con,
        "lead",
        *MONTH,
        params,
    )
    print(
        f"  {summary.conversions_with_touch:,} converting paths, {summary.null_paths:,} null paths",
        flush=True,
    )
    # the five rule-based models are one SQL pass over the converting touches
    stage(results, "rule-based: all five models (one SQL)", at.heuristic_credit, con, params)
    stage(results, "markov (exact, order 1)", at.markov_credit, con, summary, params)
    stage(results, "shapley (exact)", at.shapley_credit, con, summary)
    stage(results, "all seven models (attribute_paths)", at.attribute_paths, con, summary, params)

    def markov_via_all_paths():
        s = at.build_paths(con, "lead", *MONTH, params)
        return at.markov_credit(con, s, params)

    at.drop_paths(con)
    stage(results, "exact markov via every path (build + credit)", markov_via_all_paths)
    at.drop_paths(con)
    stage(
        results,
        "OURS: exact markov (markov_month), touchpoints -> credit",
        at.markov_month,
        con,
        "lead",
        *MONTH,
        at.AttributionParams(models=("markov",)),
    )
    at.drop_paths(con)
    if peer:
        stage(results, "PEER: string_agg paths + CA markov_model", peer_route, con)
    for row in results:
        row["touchpoints_in_month"] = n_touch
        row["touchpoints_in_table"] = n_all
        row["conversions"] = n_conv
    return results


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--touchpoints", type=int, nargs="+", default=[1_000_000, 10_000_000])
    parser.add_argument("--threads", type=int, default=None, help="DuckDB threads (default all)")
    parser.add_argument("--no-peer", action="store_true")
    parser.add_argument(
        "--memory-limit-mb",
        type=int,
        default=None,
        help="DuckDB memory_limit for the run (default: DuckDB's, 80%% of RAM)",
    )
    parser.add_argument(
        "--source",
        choices=["synthetic", "generator"],
        default="synthetic",
        help="synthetic: DuckDB-generated world (any size, seconds); generator: the sample "
        "generator through the raw loader (realistic paths, slow and memory-hungry at 10M)",
    )
    parser.add_argument("--workdir", default=None, help="where the benchmark DuckDB files go")
    parser.add_argument("--out", default=str(Path(__file__).parent / "results"))
    args = parser.parse_args(argv)
    print(
        f"machine: {platform.platform()}, {os.cpu_count()} cores, python "
        f"{platform.python_version()}, duckdb {duckdb.__version__}"
    )
    import tempfile

    rows = []
    with tempfile.TemporaryDirectory(prefix="gtm_bench_", dir=args.workdir) as tmp:
        for n in args.touchpoints:
            rows.extend(
                run(n, args.threads, not args.no_peer, args.source, Path(tmp), args.memory_limit_mb)
            )
    import pandas as pd

    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    frame = pd.DataFrame(rows)
    frame.to_csv(out / f"attribution_bench_{args.source}.csv", index=False)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
