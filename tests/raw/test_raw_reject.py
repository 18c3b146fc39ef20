"""Input that rejects the whole load: the message names file, row and column, and the
warehouse is left exactly as it was."""

from __future__ import annotations

import pytest
from raw_helpers import load, raw_tables, set_cell, write_csv, write_raw

from gtm_assets.raw import RawInputError


def _reject(con, folder, **kw) -> RawInputError:
    with pytest.raises(RawInputError) as info:
        load(con, folder, **kw)
    return info.value


def _rules(err: RawInputError) -> list[str]:
    return [p.rule for p in err.problems]


def test_required_table_missing(con, tmp_path):
    data = raw_tables()
    del data["leads"]
    err = _reject(con, write_raw(tmp_path / "raw", data))
    assert _rules(err) == ["missing_table"]
    assert "required table leads is missing" in str(err)
    assert "leads.csv or leads.parquet" in str(err)


def test_required_table_empty_and_empty_file(con, tmp_path):
    data = raw_tables()
    data["opportunities"] = (data["opportunities"][0], [])
    folder = write_raw(tmp_path / "raw", data)
    (folder / "touchpoints.csv").write_bytes(b"")
    err = _reject(con, folder)
    text = str(err)
    assert "opportunities.csv: required table opportunities has no data rows" in text
    assert "touchpoints.csv: the file is empty" in text
    assert sorted(_rules(err)) == ["empty", "empty"]


def test_required_column_missing_and_duplicate_column(con, tmp_path):
    data = raw_tables()
    header, rows = data["ad_spend"]
    i = header.index("spend")
    data["ad_spend"] = (header[:i] + header[i + 1 :], [r[:i] + r[i + 1 :] for r in rows])
    header, rows = data["leads"]
    data["leads"] = (header + ["LEAD_ID"], [r + ["x"] for r in rows])
    err = _reject(con, write_raw(tmp_path / "raw", data))
    by_file = {p.file: p for p in err.problems}
    assert by_file["ad_spend.csv"].column == "spend"
    assert by_file["ad_spend.csv"].rule == "missing_column"
    assert "ad_spend.csv, column spend: required column spend is missing" in str(err)
    assert by_file["leads.csv"].rule == "ambiguous"
    assert "column lead_id appears 2 times" in str(err)


def test_not_utf8_names_file_and_line(con, tmp_path):
    data = raw_tables()
    set_cell(data, "campaigns", 2, "campaign_name", "Café Crème")
    folder = write_raw(tmp_path / "raw", data)
    header, rows = data["campaigns"]
    write_csv(folder / "campaigns.csv", header, rows, encoding="latin-1")
    err = _reject(con, folder)
    assert _rules(err) == ["encoding"]
    # Header is line 1, the second data row is line 3.
    assert str(err.problems[0]).startswith("campaigns.csv: line 3: the file is not UTF-8")


def test_csv_and_parquet_for_one_table_is_ambiguous(con, tmp_path):
    folder = write_raw(tmp_path / "raw", raw_tables())
    (folder / "budget_plan.parquet").write_bytes(b"PAR1")
    err = _reject(con, folder)
    assert _rules(err) == ["ambiguous"]
    assert "budget_plan.csv and budget_plan.parquet" in str(err)


def test_unparseable_csv_and_parquet(con, tmp_path):
    folder = write_raw(tmp_path / "raw", raw_tables())
    text = (folder / "sales_feedback.csv").read_text()
    (folder / "sales_feedback.csv").write_text(text + "L3,2024-01-07T10:00:00,accepted,x,extra\n")
    (folder / "content.csv").unlink()
    (folder / "content.parquet").write_bytes(b"not a parquet file")
    err = _reject(con, folder)
    msgs = {p.file: p.message for p in err.problems}
    assert msgs["sales_feedback.csv"].startswith("row 3: the file cannot be parsed as CSV")
    assert "Expected Number of Columns" in msgs["sales_feedback.csv"]
    assert "cannot be read as Parquet" in msgs["content.parquet"]


def test_a_csv_problem_names_the_data_row_after_a_quoted_line_break(con, tmp_path):
    """Row 1's reason holds two quoted line breaks, so row 3 sits on physical line 6: the
    message names row 3, as the quarantine would. A field over DuckDB's 2,000,000-byte line
    limit says so."""
    folder = write_raw(tmp_path / "raw", raw_tables())
    path = folder / "sales_feedback.csv"
    header = "lead_id,ts,verdict,reason"
    path.write_text(
        f"{header}\n"
        'L1,2024-01-05T10:00:00,accepted,"good\nfit,\nreally"\n'
        "L2,2024-01-06T10:00:00,rejected,student\n"
        "L3,2024-01-07T10:00:00,accepted,x,extra\n"
    )
    msgs = {p.file: p.message for p in _reject(con, folder).problems}
    assert msgs["sales_feedback.csv"].startswith("row 3: the file cannot be parsed as CSV")
    path.write_text(f"{header}\nL1,2024-01-05T10:00:00,accepted,{'y' * 2_100_000}\n")
    msgs = {p.file: p.message for p in _reject(con, folder).problems}
    assert "Maximum line size of 2000000 bytes exceeded" in msgs["sales_feedback.csv"]


def test_missing_fx_rate_names_rows(con, tmp_path):
    data = raw_tables()
    # GBP has no rate at all; EUR on 2023-12-30 predates the first EUR rate (2023-12-31).
    set_cell(data, "ad_spend", 2, "currency", "gbp")
    set_cell(data, "opportunities", 2, "created_at", "2023-12-30T10:00:00")
    err = _reject(con, write_raw(tmp_path / "raw", data))
    assert _rules(err) == ["fx", "fx"]
    text = str(err)
    assert (
        'ad_spend.csv row 2, column currency: "GBP" has no fx_rates row for GBP on or before '
        "2024-01-01 (the date of this row)"
    ) in text
    assert "opportunities.csv row 2, column currency" in text
    assert "on or before 2023-12-30 (the created_at of this row)" in text


def test_a_missing_fx_rate_says_when_its_row_was_quarantined(con, tmp_path):
    """EUR's first rate (2023-12-31) is 0, so it is quarantined; a EUR row dated 2024-01-01
    then has no rate, and the message points at the quarantined row instead of claiming
    fx_rates has none."""
    data = raw_tables()
    set_cell(data, "fx_rates", 1, "rate_to_reporting", "0")
    err = _reject(con, write_raw(tmp_path / "raw", data))
    text = str(err)
    assert "has no fx_rates row for EUR on or before" in text
    assert "(1 fx_rates row(s) for EUR on or before" in text
    assert "were quarantined: see quarantine.fx_rates)" in text


def test_too_many_quarantined_rows_reject(con, tmp_path):
    data = raw_tables()
    for row in range(3, 9):  # 6 of 15 rows = 40% > 5%, and more than 5 rows
        set_cell(data, "ad_spend", row, "spend", "12,5")
    folder = write_raw(tmp_path / "raw", data)
    err = _reject(con, folder)
    assert _rules(err) == ["quarantine_share"]
    assert str(err.problems[0]).startswith("ad_spend.csv: 6 of 15 rows (40.0%) break the contract")
    assert 'row 3, column spend: "12,5" is not a number' in str(err)
    # The same file passes when the tolerance allows it.
    report = load(con, folder, max_quarantine_share=0.5)
    assert report.quarantine_counts == {("ad_spend", "type"): 6}


def test_a_few_bad_rows_in_a_small_table_are_quarantined_not_rejected(con, tmp_path):
    """One bad row of 15 (6.7%) is no structural problem: quarantined and counted, and the
    load goes on. A bad campaign's spend rows follow it into quarantine without counting
    towards ad_spend's share (5 of 15 there)."""
    data = raw_tables()
    set_cell(data, "ad_spend", 3, "spend", "12,5")
    set_cell(data, "campaigns", 2, "campaign_type", "evergreen")  # C2: 5 spend rows follow
    report = load(con, write_raw(tmp_path / "raw", data))
    assert report.quarantine_counts == {
        ("ad_spend", "type"): 1,
        ("ad_spend", "reference"): 5,
        ("campaigns", "enum"): 1,
    }


def test_duplicate_utm_campaign_rejects(con, tmp_path):
    data = raw_tables()
    set_cell(data, "campaigns", 3, "utm_campaign", " Spring_Launch")
    err = _reject(con, write_raw(tmp_path / "raw", data))
    assert _rules(err) == ["ambiguous"]
    p = err.problems[0]
    assert (p.file, p.row, p.column) == ("campaigns.csv", 3, "utm_campaign")
    assert "used by campaigns C1, C3 (rows 1, 3)" in p.message


def test_child_table_without_its_parent(con, tmp_path):
    data = raw_tables()
    del data["experiments"]
    err = _reject(con, write_raw(tmp_path / "raw", data))
    assert _rules(err) == ["missing_table"]
    assert "experiment_units refers to experiments, which was not supplied" in str(err)


def test_message_lists_at_most_20_problems(con, tmp_path):
    data = raw_tables()
    header, rows = data["ad_spend"]
    rows += [[f"2024-02-{d:02d}", "C1", "1", "1", "1", "JPY", ""] for d in range(1, 26)]
    err = _reject(con, write_raw(tmp_path / "raw", data))
    assert len(err.problems) == 25
    text = str(err)
    assert text.count('"JPY" has no fx_rates row') == 20
    assert text.endswith("... and 5 more.")


def _snapshot(con) -> dict[str, list]:
    tables = [
        f"{s}.{t}"
        for s, t in con.execute(
            "select table_schema, table_name from information_schema.tables "
            "where table_schema in ('raw', 'quarantine') order by 1, 2"
        ).fetchall()
    ]
    return {t: con.execute(f"select * from {t} order by all").fetchall() for t in tables}  # noqa: S608


def test_rejected_load_leaves_previous_tables_intact(con, tmp_path):
    good = raw_tables()
    set_cell(good, "ad_spend", 1, "spend", "-5")  # one quarantined row in the good load
    load(con, write_raw(tmp_path / "good", good), max_quarantine_share=0.1)
    before = _snapshot(con)
    assert len(before) == 2 * 15 + 3  # raw + quarantine per table, manifest, rules, warnings
    assert before["quarantine.ad_spend"] != []
    bad = raw_tables()
    set_cell(bad, "campaigns", 1, "campaign_id", "CX")  # orphans C1's spend: 5 of 15 rows
    set_cell(bad, "leads", 1, "company_size", "lots")
    del bad["touchpoints"]
    with pytest.raises(RawInputError):
        load(con, write_raw(tmp_path / "bad", bad), max_quarantine_share=0.1)
    bad2 = raw_tables()
    set_cell(bad2, "campaigns", 1, "campaign_id", "CX")  # orphans C1's and C2's spend:
    set_cell(bad2, "campaigns", 2, "campaign_id", "CY")  # 10 of 15 rows
    with pytest.raises(RawInputError):
        load(con, write_raw(tmp_path / "bad2", bad2), max_quarantine_share=0.1)
    assert _snapshot(con) == before
    # No temp tables are left behind either.
    assert con.execute(
        "select count(*) from duckdb_tables() where table_name like '_gtm_raw_%'"
    ).fetchall() == [(0,)]


def test_bad_reporting_currency_setting(con, valid_dir):
    with pytest.raises(ValueError, match="3-letter"):
        load(con, valid_dir, currency="dollars")


def test_missing_folder_is_one_clear_problem(con, tmp_path):
    err = _reject(con, tmp_path / "nowhere")
    assert _rules(err) == ["unreadable"]
    assert "the raw folder does not exist" in str(err)


def test_semicolon_separated_file_gets_a_hint(con, tmp_path):
    data = raw_tables()
    folder = write_raw(tmp_path / "raw", data)
    header, rows = data["budget_plan"]
    (folder / "budget_plan.csv").write_text(
        "\n".join(";".join(r) for r in [header, *rows]) + "\n", encoding="utf-8"
    )
    err = _reject(con, folder)
    assert [str(p) for p in err.problems] == [
        "budget_plan.csv: the header is one column separated by semicolons; export the file "
        "with commas as separators (CSV UTF-8, comma-delimited)"
    ]


def test_mixed_line_endings_name_the_first_odd_line(con, tmp_path):
    """A CRLF export with rows appended by a tool that writes LF: DuckDB's parser gives no
    line, so the message finds the first line whose ending differs."""
    from gtm_assets.raw.reader import first_mixed_line_ending

    folder = write_raw(tmp_path / "raw", raw_tables())
    path = folder / "leads.csv"
    lines = path.read_text().splitlines()
    path.write_bytes(("\r\n".join(lines[:-1]) + "\r\n" + lines[-1] + "\n").encode())
    assert first_mixed_line_ending(path) == (len(lines), "CRLF (Windows)", "LF (Unix)")
    assert first_mixed_line_ending(path, chunk_size=7) == (
        len(lines),
        "CRLF (Windows)",
        "LF (Unix)",
    )
    (tmp_path / "one.csv").write_bytes(b"a,b\r\n1,2\r\n")
    assert first_mixed_line_ending(tmp_path / "one.csv") is None
    # DuckDB's sniffer error on such a file carries no line (an outside probe's 702-line
    # opportunities.csv): the message says where the endings change
    from gtm_assets.raw.reader import SourceFile, _duckdb_csv_problem

    problem = _duckdb_csv_problem(
        SourceFile("leads", path, "csv"),
        RuntimeError("Invalid Input Error: The CSV Parser state machine reached an invalid state."),
    )
    assert problem.message == (
        f"line {len(lines)}: the file mixes line endings: lines end with CRLF (Windows) up to "
        "here and this one with LF (Unix) (often rows appended by another tool); save the "
        "file again with one kind of line ending"
    )
