"""End to end on the generator's sample world, checked against its recorded truth (slow).

The generator plants, in its first month, a clear winner (+50% relative lift), a sample
ratio mismatch (12% of treatment units lost) and null experiments; its truth file says
which is which. Run: ``pytest -m slow tests/experiments``.
"""

from __future__ import annotations

import dagster as dg
import duckdb
import pandas as pd
import pytest

from gtm_assets.assets.experiments import experiment_results_asset
from gtm_assets.assets.raw import raw_exports, staging_tables
from gtm_assets.generate import generate
from gtm_assets.resources import GtmSettings, WarehouseResource

pytestmark = pytest.mark.slow


def test_generated_month_recovers_the_planted_winner_and_srm(tmp_path):
    raw = tmp_path / "raw"
    generate(raw, months=1, end_month="2025-03", scale=1.0, seed=42)
    truth = pd.read_csv(raw / "truth" / "experiments.csv")
    kinds = truth.groupby("experiment_id")["kind"].first().fillna("null")
    resource = WarehouseResource(
        path=str(tmp_path / "wh.duckdb"), read_copy_path=str(tmp_path / "r.duckdb")
    )
    result = dg.materialize(
        [raw_exports, staging_tables, experiment_results_asset],
        resources={"warehouse": resource, "settings": GtmSettings.from_env(raw)},
        partition_key="2025-03-01",
    )
    assert result.success
    with duckdb.connect(resource.path, read_only=True) as con:
        out = con.execute(
            "select experiment_id, verdict, srm_flag from marts.experiment_results "
            "where not is_control"
        ).df()
    verdicts = out.groupby("experiment_id")["verdict"].first()
    srm = out.groupby("experiment_id")["srm_flag"].first()
    for exp, kind in kinds.items():
        if exp not in verdicts.index:
            continue  # ends after the month and has no units yet
        if kind == "srm":
            assert srm[exp] and verdicts[exp] == "invalid: SRM"
        else:
            assert not srm[exp], exp
        if kind == "winner":
            assert verdicts[exp] == "ship"
        if kind in ("null", "three_arm"):
            assert verdicts[exp] in ("stop", "keep running", "inconclusive"), exp
    assert {"winner", "srm"} <= set(kinds[kinds.index.isin(verdicts.index)])
