"""intermediate.lead_stage_reached (SQL, behind the executive summary's MQLs and SQLs) and
funnel.lead_stage_entries (Python, behind the funnel and lead scoring) are one definition:
equal on random histories with skipped, repeated and back-dated stages, several deals per
lead, and an as-of cut."""

from datetime import datetime, timedelta

import duckdb
import numpy as np
import pandas as pd
import pytest

from gtm_assets.analytics.funnel import load_funnel_inputs
from gtm_assets.sql_files import load_sql

STAGES = ("mql", "sql", "opportunity", "customer", "recycled", "disqualified")
T0 = datetime(2024, 1, 1)


def _world(seed: int) -> duckdb.DuckDBPyConnection:
    rng = np.random.default_rng(seed)
    leads, history, opps = [], [], []
    for i in range(300):
        lead_id = f"L{i}"
        created = T0 + timedelta(hours=float(rng.uniform(0, 24 * 150)))
        leads.append((lead_id, f"p{i}", created))
        for _ in range(rng.integers(0, 5)):  # any stage, any order, some before the lead
            at = created + timedelta(hours=float(rng.normal(24 * 20, 24 * 30)))
            history.append((lead_id, str(rng.choice(STAGES)), at))
        for j in range(rng.integers(0, 3)):
            opened = created + timedelta(hours=float(rng.uniform(-48, 24 * 60)))
            won = bool(rng.random() < 0.4)
            closed = (
                opened + timedelta(days=float(rng.uniform(1, 90))) if rng.random() < 0.7 else None
            )
            opps.append((f"O{i}_{j}", lead_id, opened, closed, won and closed is not None))
    con = duckdb.connect()
    con.execute("create schema staging; create schema intermediate")
    con.execute(
        "create table staging.leads (lead_id varchar, person_id varchar, created_at timestamp, "
        "lead_source varchar, campaign_id varchar, industry varchar, company_size bigint, "
        "company_size_band varchar, country varchar, seniority varchar)"
    )
    con.executemany(
        "insert into staging.leads (lead_id, person_id, created_at) values (?, ?, ?)", leads
    )
    con.execute(
        "create table staging.lead_stage_history (lead_id varchar, stage varchar, "
        "entered_at timestamp)"
    )
    con.executemany("insert into staging.lead_stage_history values (?, ?, ?)", history)
    con.execute(
        "create table staging.opportunities (opportunity_id varchar, lead_id varchar, "
        "created_at timestamp, closed_at timestamp, is_won boolean)"
    )
    con.executemany("insert into staging.opportunities values (?, ?, ?, ?, ?)", opps)
    con.execute(
        "create table staging.touchpoints (touchpoint_id varchar, person_id varchar, "
        "ts timestamp, touch_type varchar, channel varchar)"
    )
    return con


@pytest.mark.parametrize("seed", [1, 2, 3])
@pytest.mark.parametrize("as_of", [datetime(2024, 3, 1), datetime(2024, 6, 1)])
def test_sql_and_python_stage_times_agree(seed, as_of):
    con = _world(seed)
    sql = con.execute(load_sql("intermediate/lead_stage_reached")).df()
    sql = sql[sql["created_at"] < as_of].set_index("lead_id").sort_index()
    py = load_funnel_inputs(con, as_of).lead_entries.set_index("lead_id").sort_index()
    assert list(sql.index) == list(py.index)
    for stage in ("mql", "sql", "opportunity", "customer"):
        want = pd.to_datetime(py[f"{stage}_at"])
        got = pd.to_datetime(sql[f"{stage}_at"])
        got = got.where(got < as_of)  # what was not recorded by the cut is not reached yet
        pd.testing.assert_series_equal(
            got.astype("datetime64[us]"), want.astype("datetime64[us]"), check_names=False
        )
    # a lead enters at its creation, and no stage comes before it (back-dated stage rows and
    # deals opened before the lead count at the creation)
    created = pd.to_datetime(sql["created_at"]).astype("datetime64[us]")
    pd.testing.assert_series_equal(
        pd.to_datetime(py["lead_at"]).astype("datetime64[us]"), created, check_names=False
    )
    for stage in ("mql", "sql", "opportunity", "customer"):
        assert not (pd.to_datetime(sql[f"{stage}_at"]) < created).any()
    # and the skipped-stage rule did something in these worlds
    assert (sql["sql_at"].notna() & sql["sql_at"].lt(as_of)).sum() > 0
