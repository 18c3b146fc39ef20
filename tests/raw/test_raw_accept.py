"""Valid (including messy but legal) input is accepted, typed and stored verbatim."""

from __future__ import annotations

import os
from datetime import date, datetime
from pathlib import Path

import duckdb
from raw_helpers import (
    NOW,
    folder_hashes,
    load,
    raw_tables,
    set_cell,
    write_csv,
    write_raw,
)

from gtm_assets.raw import TABLE_NAMES, LoadReport, raw_fingerprint


def test_valid_folder_loads_every_table_typed(con, valid_dir):
    report = load(con, valid_dir)
    assert isinstance(report, LoadReport)
    assert report.rows_quarantined == 0
    for table in TABLE_NAMES:
        assert report.tables[table].present
        assert report.tables[table].rows_loaded == report.tables[table].rows_read
    types = dict(
        con.execute("select column_name, column_type from (describe raw.ad_spend)").fetchall()
    )
    assert types == {
        "date": "DATE",
        "campaign_id": "VARCHAR",
        "impressions": "BIGINT",
        "clicks": "BIGINT",
        "spend": "DOUBLE",
        "currency": "VARCHAR",
        "platform_conversions": "BIGINT",
    }
    # Spend of C1 on day d is 100*d + 0.5 (fixture); sum over d=1..5 = 1502.5.
    assert con.execute(
        "select sum(spend) from raw.ad_spend where campaign_id = 'C1'"
    ).fetchall() == [(1502.5,)]
    # Empty currency defaults to the reporting currency; codes are upper-cased.
    assert con.execute(
        "select distinct currency from raw.ad_spend where campaign_id = 'C2'"
    ).fetchall() == [("USD",)]
    # Enums and channels are lower-cased and trimmed; free text and utm values are verbatim.
    assert con.execute(
        "select channel, utm_source, utm_campaign from raw.touchpoints where touchpoint_id='T6'"
    ).fetchall() == [("email", "Newsletter", "EU_Newsletter ")]
    assert con.execute("select seniority from raw.leads where lead_id = 'L2'").fetchall() == [
        ("vp",)
    ]
    # Month columns become the first day of the month; a channel target's scope_id is a group.
    assert con.execute(
        "select month, scope_id from raw.targets where scope = 'channel'"
    ).fetchall() == [(date(2024, 1, 1), "paid_search")]
    # converted accepts 0/1 and true/false.
    assert con.execute(
        "select unit_id, converted from raw.experiment_units order by unit_id"
    ).fetchall() == [("U1", 0), ("U2", 1), ("U3", 1)]
    # Every quarantine table exists (empty) with the raw columns as text plus the rule.
    cols = [r[0] for r in con.execute("describe quarantine.ad_spend").fetchall()]
    assert cols[-4:] == ["_row_number", "_rule", "_column", "_detail"]
    assert con.execute("select count(*) from quarantine.ad_spend").fetchall() == [(0,)]


def test_timestamps_with_offsets_are_converted_to_utc(con, valid_dir):
    load(con, valid_dir)
    got = dict(con.execute("select touchpoint_id, ts from raw.touchpoints").fetchall())
    assert got["T1"] == datetime(2024, 1, 2, 10, 0)  # Z
    assert got["T2"] == datetime(2024, 1, 3, 11, 0)  # no offset = UTC
    assert got["T3"] == datetime(2024, 1, 2, 9, 30)  # space separator
    assert got["T4"] == datetime(2024, 1, 4, 6, 0)  # +02:00 -> 06:00 UTC


def test_date_only_timestamps_are_midnight_utc(con, tmp_path):
    """A CMS or CRM often exports a timestamp column as a date: 2024-01-03 is ISO-8601 and
    means midnight UTC (its "-03" is the day, not an offset)."""
    data = raw_tables()
    set_cell(data, "touchpoints", 2, "ts", "2024-01-03")
    set_cell(data, "touchpoints", 3, "ts", "2024-01-02T09:30-03")
    report = load(con, write_raw(tmp_path / "raw", data))
    assert report.rows_quarantined == 0
    got = dict(con.execute("select touchpoint_id, ts from raw.touchpoints").fetchall())
    assert got["T2"] == datetime(2024, 1, 3, 0, 0)
    assert got["T3"] == datetime(2024, 1, 2, 12, 30)


def test_category_values_match_across_spaces_hyphens_and_case(con, tmp_path):
    """'Paid Search', 'always-on' and 'Closed Won' are the categories paid_search,
    always_on and closed_won; a value that is still not a category is quarantined."""
    data = raw_tables()
    set_cell(data, "campaigns", 1, "channel", " Paid Search ")
    set_cell(data, "campaigns", 1, "campaign_type", "Always-On")
    set_cell(data, "opportunities", 1, "stage", "Closed  Won")
    set_cell(data, "opportunities", 2, "stage", "closed-won-ish")
    report = load(con, write_raw(tmp_path / "raw", data), max_quarantine_share=0.5)
    assert con.execute(
        "select channel, campaign_type from raw.campaigns where campaign_id = 'C1'"
    ).fetchall() == [("paid_search", "always_on")]
    assert con.execute(
        "select stage from raw.opportunities where opportunity_id = 'O1'"
    ).fetchall() == [("closed_won",)]
    assert report.tables["opportunities"].rows_quarantined == 1
    assert con.execute(
        "select _row_number, _rule, _column, stage from quarantine.opportunities"
    ).fetchall() == [(2, "enum", "stage", "closed-won-ish")]


def test_messy_but_valid_csv_is_accepted(con, tmp_path):
    data = raw_tables(optional=False)
    folder = write_raw(tmp_path / "raw", data)
    # campaigns: BOM, CRLF, upper-case headers in another order, quoted newline and
    # formula / SQL-looking names, an extra column.
    header, rows = data["campaigns"]
    order = list(reversed(range(len(header))))
    names = [
        "Robert'); DROP TABLE campaigns;--",
        '=HYPERLINK("http://evil.example","click")',
        'Line one\r\nline "two", with comma',
    ]
    rows = [[*r] for r in rows]
    for r, name in zip(rows, names, strict=True):
        r[header.index("campaign_name")] = name
    write_csv(
        folder / "campaigns.csv",
        ["Extra Column"] + [header[i].upper() for i in order],  # campaign_id is last
        [["ignored"] + [r[i] for i in order] for r in rows],
        newline="\r\n",
        bom=True,
    )
    # fx_rates: dates with a midnight time, as spreadsheets export them.
    set_cell(data, "fx_rates", 1, "date", "2023-12-31 00:00:00")
    set_cell(data, "fx_rates", 2, "date", "2024-01-03T00:00")
    write_csv(folder / "fx_rates.csv", *data["fx_rates"])
    # touchpoints: lower-case header with spaces around names, offsets -05 and +0530.
    th, trows = data["touchpoints"]
    set_cell(data, "touchpoints", 1, "ts", "2024-01-02T10:00:00-05")
    set_cell(data, "touchpoints", 2, "ts", "2024-01-03T11:00:00.250+05:30")
    write_csv(folder / "touchpoints.csv", [f" {h} " for h in th], trows)
    # leads as Parquet with real types (timestamp with time zone, integer).
    lh, lrows = data["leads"]
    (folder / "leads.csv").unlink()
    src = write_csv(tmp_path / "leads_src.csv", lh, lrows)
    pq = duckdb.connect()
    pq.execute(
        "create table l as select lead_id, person_id, "
        "cast(created_at || '+00' as timestamptz) as CREATED_AT, lead_source, campaign_id, "
        "company, industry, try_cast(company_size as bigint) as company_size, country, "
        "seniority from read_csv($p, all_varchar=true, header=true)",
        {"p": str(src)},
    )
    pq.execute(f"copy l to '{folder / 'leads.parquet'}' (format parquet)")
    pq.close()

    report = load(con, folder)
    assert report.rows_quarantined == 0
    assert report.tables["leads"].source_file == "leads.parquet"
    stored = [
        r[0]
        for r in con.execute(
            "select campaign_name from raw.campaigns order by campaign_id"
        ).fetchall()
    ]
    assert stored == names
    ids = con.execute("select campaign_id from raw.campaigns order by campaign_id").fetchall()
    assert ids == [("C1",), ("C2",), ("C3",)]  # no stray \r from CRLF on the last column
    ts = dict(con.execute("select touchpoint_id, ts from raw.touchpoints").fetchall())
    assert ts["T1"] == datetime(2024, 1, 2, 15, 0)
    assert ts["T2"] == datetime(2024, 1, 3, 5, 30, 0, 250000)
    leads = con.execute(
        "select lead_id, created_at, company_size from raw.leads order by lead_id"
    ).fetchall()
    assert leads[0] == ("L1", datetime(2024, 1, 3, 12, 0), 120)
    assert leads[2][2] is None
    assert con.execute("select date from raw.fx_rates order by date").fetchall() == [
        (date(2023, 12, 31),),
        (date(2024, 1, 3),),
    ]


def test_quoted_newlines_keep_data_row_numbers(con, tmp_path):
    """Row numbers count records, not lines: a bad value after a multi-line name is row 3."""
    data = raw_tables(optional=False)
    set_cell(data, "campaigns", 1, "campaign_name", "two\nlines")
    set_cell(data, "campaigns", 2, "campaign_name", "three\nmore\nlines")
    set_cell(data, "campaigns", 3, "planned_budget", "12,5")
    folder = write_raw(tmp_path / "raw", data)
    load(con, folder, max_quarantine_share=1.0)
    assert con.execute(
        "select _row_number, _rule, _column, planned_budget from quarantine.campaigns"
    ).fetchall() == [(3, "type", "planned_budget", "12,5")]


def test_optional_tables_absent_give_empty_typed_tables(con, tmp_path):
    folder = write_raw(tmp_path / "raw", raw_tables(optional=False))
    report = load(con, folder)
    assert "experiment_units" in report.absent_tables
    assert con.execute("select count(*) from raw.experiment_units").fetchall() == [(0,)]
    types = dict(
        con.execute(
            "select column_name, column_type from (describe raw.experiment_units)"
        ).fetchall()
    )
    assert types["assigned_at"] == "TIMESTAMP"
    assert types["converted"] == "BIGINT"
    manifest = dict(con.execute("select table_name, present from raw.load_manifest").fetchall())
    assert manifest["content"] is False and manifest["campaigns"] is True
    assert len(manifest) == len(TABLE_NAMES)


def test_optional_columns_absent(con, tmp_path):
    """Missing optional columns: currency defaults to the reporting currency, others NULL."""
    data = raw_tables(optional=False)
    header, rows = data["ad_spend"]
    keep = [i for i, h in enumerate(header) if h not in ("currency", "platform_conversions")]
    data["ad_spend"] = ([header[i] for i in keep], [[r[i] for i in keep] for r in rows])
    folder = write_raw(tmp_path / "raw", data)
    load(con, folder, currency="usd")
    assert con.execute(
        "select distinct currency, count(platform_conversions) from raw.ad_spend group by 1"
    ).fetchall() == [("USD", 0)]


def test_raw_files_are_never_modified(con, valid_dir):
    before = folder_hashes(valid_dir)
    mtimes = {p.name: p.stat().st_mtime_ns for p in valid_dir.iterdir()}
    load(con, valid_dir)
    assert folder_hashes(valid_dir) == before
    assert {p.name: p.stat().st_mtime_ns for p in valid_dir.iterdir()} == mtimes
    assert sorted(p.name for p in valid_dir.iterdir()) == sorted(before)


def test_manifest_and_report(con, valid_dir):
    report = load(con, valid_dir)
    rows = con.execute(
        "select table_name, present, source_file, rows_read, rows_loaded, rows_quarantined, "
        "loaded_at, fingerprint from raw.load_manifest where table_name = 'ad_spend'"
    ).fetchall()
    assert rows == [("ad_spend", True, "ad_spend.csv", 15, 15, 0, NOW, report.fingerprint)]
    md = report.markdown()
    assert "| ad_spend | `ad_spend.csv` | 15 | 15 | 0 |" in md
    assert con.execute("select count(*) from raw.channel_rules").fetchall()[0][0] > 10


def test_fingerprint_changes_with_files_and_settings(tmp_path: Path):
    folder = write_raw(tmp_path / "raw", raw_tables(optional=False))
    fp = raw_fingerprint(folder)
    assert fp == raw_fingerprint(folder)
    assert fp != raw_fingerprint(folder, currency="EUR")
    assert fp != raw_fingerprint(folder, spend_ceiling=5.0)
    assert fp != raw_fingerprint(folder, max_quarantine_share=0.1)
    rules = tmp_path / "rules.csv"
    rules.write_text("priority,source_regex,medium_regex,channel,note\n1,.*,.*,direct,\n")
    assert fp != raw_fingerprint(folder, channel_rules_path=rules)
    # Files that are not contract tables do not matter; a touched contract file does.
    (folder / "notes.txt").write_text("hello")
    assert fp == raw_fingerprint(folder)
    p = folder / "leads.csv"
    st = p.stat()
    os.utime(p, ns=(st.st_atime_ns, st.st_mtime_ns + 1_000_000_000))
    assert fp != raw_fingerprint(folder)


def test_fingerprint_sees_a_same_size_edit_with_its_time_restored(tmp_path: Path):
    """A corrected value of the same length, the modification time put back (cp -p, touch
    -r, rsync -a): the load must not be reused. A copy in another folder is another load."""
    import shutil
    import time

    folder = write_raw(tmp_path / "raw", raw_tables(optional=False))
    p = folder / "ad_spend.csv"
    before = raw_fingerprint(folder)
    st = p.stat()
    text = p.read_text(encoding="utf-8")
    digit = next(c for c in text.splitlines()[1] if c.isdigit())
    edited = text.replace(digit, "9" if digit != "9" else "8", 1)
    assert len(edited) == len(text)
    time.sleep(0.01)
    p.write_text(edited, encoding="utf-8")
    os.utime(p, ns=(st.st_atime_ns, st.st_mtime_ns))
    assert p.stat().st_size == st.st_size and p.stat().st_mtime_ns == st.st_mtime_ns
    assert raw_fingerprint(folder) != before
    copy = tmp_path / "copy"
    shutil.copytree(folder, copy)  # copy2: sizes and modification times kept
    assert raw_fingerprint(copy) != raw_fingerprint(folder)


def test_row_numbers_follow_the_file_on_many_rows(con, tmp_path):
    """Row numbers are the file's record order on 60k rows with quoted newlines. (Checked
    by hand on a 118 MB file read by DuckDB with 2 threads; too slow for the suite.)"""
    data = raw_tables(optional=False)
    header, rows = data["touchpoints"]
    template = rows[1]
    for i in range(7, 60_001):
        row = list(template)
        row[header.index("touchpoint_id")] = f"T{i}"
        row[header.index("utm_campaign")] = "multi\nline" if i % 7 == 0 else "x"
        rows.append(row)
    bad_row = 54_321
    rows[bad_row - 1][header.index("ts")] = "not a timestamp"
    load(con, write_raw(tmp_path / "raw", data))
    assert con.execute(
        "select _row_number, touchpoint_id from quarantine.touchpoints"
    ).fetchall() == [(bad_row, f"T{bad_row}")]


def test_parquet_dates_written_as_timestamps(con, tmp_path):
    """pandas writes date columns as timestamps: midnight means the date, other times are
    quarantined as not-a-date."""
    data = raw_tables(optional=False)
    folder = write_raw(tmp_path / "raw", data)
    header, rows = data["ad_spend"]
    src = write_csv(tmp_path / "spend_src.csv", header, rows)
    (folder / "ad_spend.csv").unlink()
    pq = duckdb.connect()
    pq.execute(
        "create table s as select * replace (case when campaign_id = 'C2' and date = '2024-01-05' "
        "then cast(date as timestamp) + interval 3 hour else cast(date as timestamp) end as date, "
        "cast(spend as double) as spend) from read_csv($p, all_varchar=true, header=true)",
        {"p": str(src)},
    )
    pq.execute(f"copy s to '{folder / 'ad_spend.parquet'}' (format parquet)")
    pq.close()
    report = load(con, folder, max_quarantine_share=0.1)
    assert report.tables["ad_spend"].rows_loaded == 14
    assert con.execute("select min(date), sum(spend) from raw.ad_spend").fetchall() == [
        # 3 campaigns x sum over d=1..5 of (100 d + 0.5) = 4507.5, minus C2 on day 5 (500.5)
        (date(2024, 1, 1), 4507.5 - 500.5)
    ]
    assert con.execute("select _rule, date from quarantine.ad_spend").fetchall() == [
        ("type", "2024-01-05T03:00:00")
    ]


def test_an_empty_string_in_parquet_is_an_empty_cell(con, tmp_path):
    """A Parquet writer stores blank cells as "" (pandas with keep_default_na=False), and a
    CSV cell of spaces is as blank: both are NULL like CSV's empty cell, not a campaign id
    that no campaign has (which quarantined the lead and its stage rows)."""
    data = raw_tables()
    set_cell(data, "leads", 3, "campaign_id", "   ")  # L2 has none: "" in the Parquet
    folder = write_raw(tmp_path / "raw", data)
    lh, lrows = data["leads"]
    (folder / "leads.csv").unlink()
    src = write_csv(tmp_path / "leads_src.csv", lh, lrows)
    pq = duckdb.connect()
    pq.execute(
        "create table l as select * replace (coalesce(campaign_id, '') as campaign_id) "
        "from read_csv($p, all_varchar=true, header=true)",
        {"p": str(src)},
    )
    assert pq.execute("select count(*) from l where campaign_id = ''").fetchone()[0] >= 1
    pq.execute(f"copy l to '{folder / 'leads.parquet'}' (format parquet)")
    pq.close()
    report = load(con, folder)
    assert report.rows_quarantined == 0
    blank = con.execute(
        "select count(*) from raw.leads where campaign_id is null or trim(campaign_id) = ''"
    ).fetchone()[0]
    nulls = con.execute("select count(*) from raw.leads where campaign_id is null").fetchone()[0]
    assert blank == nulls >= 2
