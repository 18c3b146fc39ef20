"""Budget optimizer out of sample: uplift capture on a world our generator did not write.

    .venv/bin/python benchmarks/budget_foreign_world.py        # volumes 1 and 0.5, seeds 3 and 7
    .venv/bin/python benchmarks/budget_foreign_world.py --volume 0.5 --seed 11

The world is deliberately simple and unlike ``gtm_assets.generate``: four paid channels,
each with its own Hill curve of daily leads on adstocked daily spend (shapes from concave
to S-shaped, carry-over 0.3-0.6), monthly budget changes (x0.55-1.6) and weekly flights
(x0.6/1/1.4); every lead has the click of the channel that caused it 0-6 days before,
sometimes organic visits too; a channel-specific share of leads becomes a won deal of a
channel-specific mean amount; organic leads arrive on their own. Non-converting clickers
(one touch record per 20 clicks) give the null paths. The true revenue curve of a channel
is its lead curve x deal rate x mean amount.

The exports go through ``gtm backfill`` (every month of the monthly review, default
settings); each month's ``marts.budget_reallocation`` is then scored on the true curves
with the same ``evaluate_against_truth`` as the generator's check: capture = true uplift
of the recommendation over the current mix / true uplift of the true optimum within the
configured bounds and the same budget (a channel the recommendation held for want of a
curve may move in the optimum). Months before any channel has a curve are not scored.
Writes ``results/budget_foreign_world.md``.
"""

from __future__ import annotations

import argparse
import calendar
import csv
import platform
import sys
import tempfile
from datetime import date, datetime, timedelta
from pathlib import Path

import duckdb
import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from gtm_assets import cli  # noqa: E402
from gtm_assets.analytics import budget as core  # noqa: E402
from gtm_assets.generate.truth import true_response  # noqa: E402
from gtm_assets.raw.schema import REQUIRED_TABLES, TABLE_BY_NAME  # noqa: E402

START, END = date(2024, 3, 1), date(2025, 9, 1)
# channel: top leads/day, K (spend/day), n, adstock decay, deal rate, mean amount,
# base spend/day, cost per click, utm source, utm medium
CHANNELS = {
    "paid_search": (14.0, 900, 1.2, 0.3, 0.10, 9000, 800, 2.5, "google", "cpc"),
    "paid_social": (7.0, 700, 2.2, 0.5, 0.05, 6000, 500, 1.2, "linkedin", "paid_social"),
    "display": (4.0, 1800, 0.9, 0.6, 0.04, 5000, 450, 0.6, "dv360", "display"),
    "video": (5.0, 1000, 1.6, 0.4, 0.07, 7000, 400, 0.9, "youtube", "video"),
}
# The required tables with their always-present columns, in the contract's order.
HEADERS = {
    name: [c.name for c in TABLE_BY_NAME[name].columns if not c.optional]
    for name in REQUIRED_TABLES
}


def _hill(x: float, top: float, k: float, n: float) -> float:
    return top * x**n / (x**n + k**n)


class _World:
    def __init__(self, seed: int) -> None:
        self.rng = np.random.default_rng(seed)
        self.rows: dict[str, list[list]] = {name: [] for name in HEADERS}
        self.people = 0

    def person(self) -> str:
        self.people += 1
        return f"u{self.people}"

    def touch(self, person: str, ts: datetime, kind: str, source: str, medium: str, utm: str):
        t = self.rows["touchpoints"]
        t.append([f"t{len(t) + 1}", person, ts.isoformat(), kind, source, medium, utm])

    def lead(self, person: str, at: datetime) -> str:
        lead_id = f"L{len(self.rows['leads']) + 1}"
        self.rows["leads"].append(
            [lead_id, person, at.isoformat(), "Web", "Co", "saas", 100, "US", "manager"]
        )
        self.rows["lead_stage_history"].append([lead_id, "lead", at.isoformat()])
        return lead_id

    def deal(self, lead_id: str, lead_at: datetime, mean_amount: float) -> None:
        rng = self.rng
        opened = lead_at + timedelta(days=float(rng.uniform(3, 15)))
        won_at = opened + timedelta(days=float(rng.uniform(10, 50)))
        stages = self.rows["lead_stage_history"]
        stages.append([lead_id, "mql", (lead_at + timedelta(hours=2)).isoformat()])
        stages.append([lead_id, "sql", (opened - timedelta(hours=5)).isoformat()])
        stages.append([lead_id, "opportunity", opened.isoformat()])
        closed = won_at.date() < END
        if closed:
            stages.append([lead_id, "customer", won_at.isoformat()])
        amount = round(mean_amount * float(rng.lognormal(-0.125, 0.5)), 2)  # mean 1
        self.rows["opportunities"].append(
            [
                f"O{len(self.rows['opportunities']) + 1}",
                lead_id,
                opened.isoformat(),
                amount,
                "closed_won" if closed else "proposal",
                won_at.date().isoformat(),
                won_at.isoformat() if closed else "",
            ]
        )


def write_world(raw_dir: Path, seed: int, volume: float) -> pd.DataFrame:
    """Write the exports into ``raw_dir``; return the true revenue curves."""
    world = _World(seed)
    rng = world.rng
    days = (END - START).days
    for channel, (top, k, n, decay, deal_rate, amount, base, cpc, src, med) in CHANNELS.items():
        cid = f"{channel}-1"
        world.rows["campaigns"].append(
            [cid, f"{channel} always on", channel, "always_on", START, "", base * days, cid]
        )
        month_mult = flight = 1.0
        adstocked = 0.0
        for i in range(days):
            d = START + timedelta(days=i)
            if d.day == 1:
                month_mult = rng.uniform(0.55, 1.6)
            if d.weekday() == 0:
                flight = float(rng.choice([0.6, 1.0, 1.4]))
            spend = base * month_mult * flight * rng.uniform(0.9, 1.1)
            clicks = int(spend / cpc)
            world.rows["ad_spend"].append([d, cid, clicks * 60, clicks, round(spend, 2)])
            adstocked = (1 - decay) * spend + decay * adstocked
            midnight = datetime.combine(d, datetime.min.time())
            for _ in range(rng.poisson(_hill(adstocked, volume * top, k, n))):
                person = world.person()
                click_at = midnight + timedelta(seconds=int(rng.uniform(0, 86400)))
                lead_at = click_at + timedelta(
                    days=int(rng.geometric(0.45) - 1), hours=float(rng.uniform(0.5, 20))
                )
                if lead_at.date() >= END:
                    continue
                world.touch(person, click_at, "click", src, med, cid)
                for _ in range(rng.poisson(0.8)):
                    seen = lead_at - timedelta(hours=float(rng.uniform(1, 200)))
                    world.touch(person, seen, "visit", rng.choice(["google", ""]), "organic", "")
                lead_id = world.lead(person, lead_at)
                if rng.random() < deal_rate:
                    world.deal(lead_id, lead_at, amount)
            for _ in range(rng.poisson(clicks / 20)):
                at = midnight + timedelta(seconds=int(rng.uniform(0, 86400)))
                world.touch(world.person(), at, "click", src, med, cid)
    for i in range(days):
        midnight = datetime.combine(START + timedelta(days=i), datetime.min.time())
        for _ in range(rng.poisson(3)):
            person = world.person()
            at = midnight + timedelta(seconds=int(rng.uniform(0, 86400)))
            world.touch(person, at, "visit", "google", "organic", "")
            if rng.random() < 0.3 and (at + timedelta(hours=2)).date() < END:
                world.lead(person, at + timedelta(hours=2))
    raw_dir.mkdir(parents=True, exist_ok=True)
    for name, header in HEADERS.items():
        with open(raw_dir / f"{name}.csv", "w", newline="", encoding="utf-8") as fh:
            writer = csv.writer(fh)
            writer.writerow(header)
            writer.writerows(world.rows[name])
    return pd.DataFrame(
        [
            {"channel": c, "metric": "revenue", "top": volume * p[0] * p[4] * p[5], "K": p[1]}
            | {"n": p[2]}
            for c, p in CHANNELS.items()
        ]
    )


def capture_by_month(warehouse: Path, truth: pd.DataFrame) -> pd.DataFrame:
    with duckdb.connect(str(warehouse), read_only=True) as con:
        realloc = con.sql("select * from marts.budget_reallocation").df()
    rows = []
    for month, table in realloc.groupby("month"):
        nxt = pd.Timestamp(month) + pd.offsets.MonthBegin(1)
        days = calendar.monthrange(nxt.year, nxt.month)[1]
        table = table[table["channel"].isin(truth["channel"])]
        ev = core.evaluate_against_truth(
            table, lambda c, s: true_response(c, s, "revenue", truth), days
        )
        with_curve = int((table["curve_source"] == "hill_fit").sum())
        rows.append(
            {
                "month": f"{pd.Timestamp(month):%Y-%m}",
                "channels_with_curve": with_curve,
                # the first months have no curve at all yet: not scored
                "capture": ev["capture"] if with_curve else np.nan,
                "true_achievable_uplift": ev["achievable_uplift"],
                "true_recommended_uplift": ev["recommended_uplift"],
            }
        )
    return pd.DataFrame(rows)


def run(volume: float, seed: int, workdir: Path) -> pd.DataFrame:
    raw, warehouse = workdir / "raw", workdir / "warehouse.duckdb"
    truth = write_world(raw, seed, volume)
    last = f"{END - timedelta(days=1):%Y-%m}"
    args = ["backfill", "--raw-dir", str(raw), "--warehouse", str(warehouse)]
    code = cli.main([*args, "--from", f"{START:%Y-%m}", "--to", last])
    if code != 0:
        raise SystemExit(f"backfill failed with exit code {code}")
    return capture_by_month(workdir / "warehouse.read.duckdb", truth).assign(
        volume=volume, seed=seed
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--volume", type=float, nargs="+", default=[1.0, 0.5])
    parser.add_argument("--seed", type=int, nargs="+", default=[3, 7])
    parser.add_argument("--out", default=str(Path(__file__).parent / "results"))
    args = parser.parse_args(argv)
    results = []
    for seed in args.seed:
        for volume in args.volume:
            with tempfile.TemporaryDirectory() as tmp:
                results.append(run(volume, seed, Path(tmp)))
    df = pd.concat(results, ignore_index=True)
    lines = [
        f"machine: {platform.platform()}, python {platform.python_version()}",
        "",
        "| volume | seed | months scored | months >= 0.9 | median | worst |",
        "|---|---|---|---|---|---|",
    ]
    for (volume, seed), g in df.groupby(["volume", "seed"]):
        v = g["capture"].dropna()
        lines.append(
            f"| {volume:g} | {seed} | {len(v)} | {(v >= 0.9).sum()} | {v.median():.2f} | "
            f"{v.min():.2f} |"
        )
    lines += ["", df.round(3).to_markdown(index=False)]
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    (out / "budget_foreign_world.md").write_text("\n".join(lines) + "\n", encoding="utf-8")
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
