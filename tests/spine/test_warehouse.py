"""The warehouse write path: one partition slice per transaction, nothing else touched."""

import os
import subprocess
import sys
import textwrap
import time
from datetime import date

import duckdb
import pandas as pd
import pytest

from gtm_assets import warehouse as wh

JAN, FEB = date(2024, 1, 1), date(2024, 2, 1)


@pytest.fixture
def con():
    c = duckdb.connect()
    for s in wh.SCHEMAS:
        c.execute(f"create schema {s}")
    yield c
    c.close()


def _slice(month: date, n: int) -> str:
    return f"select $m::date as month, range as x, range * 1.5 as y from range({n})"


def test_replace_month_replaces_only_that_month(con):
    wh.replace_month(con, "marts.t", _slice(JAN, 3), JAN, {"m": JAN})
    wh.replace_month(con, "marts.t", _slice(FEB, 2), FEB, {"m": FEB})
    wh.replace_month(con, "marts.t", _slice(JAN, 5), JAN, {"m": JAN})
    counts = dict(con.execute("select month, count(*) from marts.t group by 1").fetchall())
    assert counts == {JAN: 5, FEB: 2}


def test_rerun_gives_identical_table(con):
    wh.replace_month(con, "marts.t", _slice(JAN, 4), JAN, {"m": JAN})
    first = con.execute("select * from marts.t order by all").fetchall()
    wh.replace_month(con, "marts.t", _slice(JAN, 4), JAN, {"m": JAN})
    assert con.execute("select * from marts.t order by all").fetchall() == first


def test_float_noise_of_parallel_sums_does_not_change_a_rewritten_slice(con):
    """Two runs whose float sums differ in the last bits (12.41904761904762 vs
    12.419047619047621, as parallel aggregation gives) write the same slice: doubles are
    kept to 12 significant digits. Zeros, NaN, infinities, tiny and huge values survive."""
    values = [12.41904761904762, 0.0, float("nan"), float("inf"), 1.23456789012345e-20, -3e15]
    noisy = [12.419047619047621, *values[1:]]
    for run in (values, noisy):
        frame = pd.DataFrame({"month": [JAN] * len(run), "x": run})
        wh.replace_month(con, "marts.f", frame, JAN)
        got = con.execute("select x from marts.f order by rowid").fetchall()
        if run is values:
            first = got
    assert str(got) == str(first)
    assert got[0][0] == 12.419047619 and got[1][0] == 0.0
    assert got[4][0] == pytest.approx(1.23456789012e-20) and got[5][0] == -3e15


def test_rows_outside_the_month_roll_back_everything(con):
    wh.replace_month(con, "marts.t", _slice(JAN, 3), JAN, {"m": JAN})
    with pytest.raises(ValueError, match="outside"):
        wh.replace_month(con, "marts.t", _slice(FEB, 2), JAN, {"m": FEB})
    assert con.execute("select count(*) from marts.t where month = $m", {"m": JAN}).fetchall() == [
        (3,)
    ]


def test_new_columns_are_added(con):
    wh.replace_month(con, "marts.t", _slice(JAN, 2), JAN, {"m": JAN})
    wh.replace_month(
        con, "marts.t", "select $m::date as month, 1 as x, 'new' as z", FEB, {"m": FEB}
    )
    rows = con.execute("select month, z from marts.t order by month, x").fetchall()
    assert rows[-1] == (FEB, "new") and rows[0][1] is None


def test_dataframe_source(con):
    df = pd.DataFrame({"month": [JAN, JAN], "v": [1.0, 2.0]})
    assert wh.replace_month(con, "marts.d", df, JAN) == 2
    assert con.execute("select sum(v) from marts.d").fetchall() == [(3.0,)]


def test_identifiers_are_validated(con):
    for bad in ["marts.t; drop table x", "Marts.T", "a.b.c", "t-1", ""]:
        with pytest.raises(ValueError):
            wh.ident(bad)
    assert wh.ident("marts.campaign_performance") == "marts.campaign_performance"


def test_bind_passes_only_referenced_parameters(con):
    params = {"a": 1, "b": 2}
    assert wh.bind("select $a", params) == {"a": 1}
    with pytest.raises(ValueError, match="not supplied"):
        wh.bind("select $c", params)
    assert wh.execute(con, "select $b::int", params).fetchall() == [(2,)]


def test_values_are_bound_not_interpolated(con):
    hostile = "x'); drop table marts.t; --"
    wh.replace_month(
        con, "marts.t", "select $m::date as month, $name as name", JAN, {"m": JAN, "name": hostile}
    )
    assert con.execute("select name from marts.t").fetchall() == [(hostile,)]


def _hold(body: str) -> subprocess.Popen:
    """Run ``body`` in another Python process (``time`` imported) and return once it has
    printed 'ready' (it holds a lock by then)."""
    holder = subprocess.Popen(
        [sys.executable, "-c", "import time\n" + textwrap.dedent(body)],
        stdout=subprocess.PIPE,
        text=True,
    )
    assert holder.stdout.readline().strip() == "ready"
    return holder


def test_waits_then_names_the_lock_holder(tmp_path):
    path = tmp_path / "w.duckdb"
    duckdb.connect(str(path)).close()
    holder = _hold(f"""
        import duckdb
        con = duckdb.connect({str(path)!r})
        print('ready', flush=True)
        time.sleep(20)
    """)
    try:
        started = time.monotonic()
        with pytest.raises(wh.WarehouseLockedError, match="read copy"):
            with wh.connect(path, lock_timeout_s=1.0):
                pass
        assert time.monotonic() - started >= 1.0
        # the Dagster resource honours GTM_LOCK_TIMEOUT (its own default had overridden it)
        from gtm_assets.resources import WarehouseResource

        resource = WarehouseResource(path=str(path), read_copy_path=str(path) + ".read")
        os.environ["GTM_LOCK_TIMEOUT"] = "1"
        try:
            started = time.monotonic()
            with pytest.raises(wh.WarehouseLockedError):
                with resource.connect():
                    pass
            assert time.monotonic() - started < 10
        finally:
            del os.environ["GTM_LOCK_TIMEOUT"]
    finally:
        holder.kill()
        holder.wait()


def test_read_copy_is_published_atomically(tmp_path):
    path = tmp_path / "w.duckdb"
    target = tmp_path / "w.read.duckdb"
    with wh.connect(path) as con:
        con.execute("create table marts.t as select 1 as x")
        wh.publish_read_copy(con, path, target)
    reader = duckdb.connect(str(target), read_only=True)
    assert reader.execute("select x from marts.t").fetchall() == [(1,)]
    with wh.connect(path) as con:  # an open reader of the copy never blocks the writer
        con.execute("insert into marts.t values (2)")
        wh.publish_read_copy(con, path, target)
    assert reader.execute("select count(*) from marts.t").fetchall() == [(1,)]
    reader.close()
    fresh = duckdb.connect(str(target), read_only=True)
    assert fresh.execute("select count(*) from marts.t").fetchall() == [(2,)]
    fresh.close()


def test_all_null_columns_take_their_type_later(con):
    wh.replace_month(
        con, "marts.n", "select $m::date as month, null as reason, null as score", JAN, {"m": JAN}
    )
    wh.replace_month(
        con,
        "marts.n",
        "select $m::date as month, 'pinned' as reason, 1.5 as score",
        FEB,
        {"m": FEB},
    )
    types = wh.table_columns(con, "marts.n")
    assert types["reason"] == "VARCHAR" and types["score"] == "DECIMAL(2,1)"
    assert con.execute(
        "select reason, score from marts.n where month = $m", {"m": FEB}
    ).fetchall() == [("pinned", 1.5)]
    wh.replace_month(
        con, "marts.n", "select $m::date as month, null as reason, null as score", FEB, {"m": FEB}
    )
    assert con.execute("select count(*) from marts.n").fetchall() == [(2,)]


def test_existing_null_typed_column_is_repaired(con):
    con.execute("create table marts.old as select date '2024-01-01' as month, null as reason")
    assert wh.table_columns(con, "marts.old")["reason"].strip('"') == "NULL"
    wh.replace_month(con, "marts.old", "select $m::date as month, 'x' as reason", FEB, {"m": FEB})
    assert wh.table_columns(con, "marts.old")["reason"] == "VARCHAR"


def test_runs_on_one_warehouse_take_turns(tmp_path):
    """A second run waits for the first (saying so) and gives up after the timeout with a
    message naming the holder; once the first is done the lock is free again."""
    import io

    path = tmp_path / "w.duckdb"
    holder = _hold(f"""
        from gtm_assets import warehouse as wh
        with wh.run_lock({str(path)!r}):
            print('ready', flush=True)
            time.sleep(20)
    """)
    try:
        said = io.StringIO()
        with pytest.raises(wh.WarehouseLockedError, match=rf"pid {holder.pid}"):
            with wh.run_lock(path, timeout_s=1.0, out=said):
                pass
        assert "waiting for another gtm run on this warehouse" in said.getvalue()
    finally:
        holder.kill()
        holder.wait()
    with wh.run_lock(path, timeout_s=1.0):  # the killed holder's lock died with it
        pass


# ---------------------------------------------------------------- gated writes


def _months(c, table: str) -> dict:
    return dict(c.execute(f"select month, count(*) from {table} group by 1").fetchall())


def _two_good_tables(c) -> None:
    for table in ("marts.t", "marts.u"):
        wh.replace_month(c, table, _slice(JAN, 3), JAN, {"m": JAN})
        wh.replace_month(c, table, _slice(FEB, 2), FEB, {"m": FEB})


def test_gate_commits_when_nothing_is_rejected(con):
    _two_good_tables(con)
    with wh.gated(con) as gate:
        wh.replace_month(con, "marts.t", _slice(JAN, 5), JAN, {"m": JAN})
        wh.replace_table(con, "marts.whole", "select 1 as x")
        gate.reject([])
    assert gate.committed and gate.tables == ["marts.t", "marts.whole"]
    assert _months(con, "marts.t") == {JAN: 5, FEB: 2}
    assert con.execute("select x from marts.whole").fetchall() == [(1,)]


def test_rejected_gate_keeps_the_previous_slice_of_every_table(con):
    _two_good_tables(con)
    before = {
        t: con.execute(f"select * from {t} order by all").fetchall() for t in ("marts.t", "marts.u")
    }
    with wh.gated(con) as gate:
        wh.replace_month(con, "marts.t", _slice(JAN, 7), JAN, {"m": JAN})
        wh.replace_month(con, "marts.u", _slice(JAN, 9), JAN, {"m": JAN})
        wh.replace_month(con, "marts.new_table", _slice(JAN, 1), JAN, {"m": JAN})
        # checks run inside the gate see the uncommitted slice
        assert _months(con, "marts.t")[JAN] == 7
        assert gate.reject(["too_many_rows"]) == ["too_many_rows"]
    assert not gate.committed
    for table, rows in before.items():
        assert con.execute(f"select * from {table} order by all").fetchall() == rows
    assert not wh.table_exists(con, "marts.new_table")


def test_rejected_gate_undoes_added_columns(con):
    wh.replace_month(con, "marts.t", _slice(JAN, 2), JAN, {"m": JAN})
    with wh.gated(con) as gate:
        wh.replace_month(
            con,
            "marts.t",
            "select $m::date as month, 1 as x, 2.0 as y, 'z' as extra",
            JAN,
            {"m": JAN},
        )
        gate.reject(["bad"])
    assert list(wh.table_columns(con, "marts.t")) == ["month", "x", "y"]


def test_exception_in_a_gate_rolls_back_and_reraises(con):
    _two_good_tables(con)
    with pytest.raises(RuntimeError, match="boom"), wh.gated(con):
        wh.replace_month(con, "marts.t", _slice(JAN, 7), JAN, {"m": JAN})
        raise RuntimeError("boom")
    assert _months(con, "marts.t") == {JAN: 3, FEB: 2}
    # a failing replace_* inside the gate rolls back the gate's earlier writes too
    with pytest.raises(ValueError, match="outside"), wh.gated(con):
        wh.replace_month(con, "marts.u", _slice(JAN, 7), JAN, {"m": JAN})
        wh.replace_month(con, "marts.t", _slice(FEB, 2), JAN, {"m": FEB})
    assert _months(con, "marts.u") == {JAN: 3, FEB: 2}
    # the connection is usable (no transaction left open) and replace_* commit on their own
    wh.replace_month(con, "marts.t", _slice(JAN, 4), JAN, {"m": JAN})
    assert _months(con, "marts.t") == {JAN: 4, FEB: 2}


def test_replace_outside_a_gate_commits_its_own_transaction(con):
    wh.replace_month(con, "marts.t", _slice(JAN, 3), JAN, {"m": JAN})
    wh.replace_table(con, "marts.whole", "select 2 as x")
    # nothing is left open: an explicit transaction can start and see both writes
    con.execute("begin transaction")
    assert _months(con, "marts.t") == {JAN: 3}
    con.execute("rollback")
    assert con.execute("select x from marts.whole").fetchall() == [(2,)]


def test_gates_do_not_nest(con):
    with pytest.raises(RuntimeError, match="does not nest"), wh.gated(con), wh.gated(con):
        pass
    wh.replace_month(con, "marts.t", _slice(JAN, 1), JAN, {"m": JAN})
    assert _months(con, "marts.t") == {JAN: 1}
