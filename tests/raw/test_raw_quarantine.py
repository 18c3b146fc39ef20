"""Rows that break a row-level contract rule are quarantined: counted, queryable in
``quarantine.<table>`` with the rule, column and detail, and absent from ``raw.<table>``."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest
from raw_helpers import load, raw_tables, set_cell, write_raw

from gtm_assets.raw import RULES, RawInputError
from gtm_assets.raw.schema import TABLES

# (table, 1-based row, column, bad value, expected rule, expected column, detail fragment)
CASES = [
    ("ad_spend", 4, "spend", "12,5", "type", "spend", '"12,5" is not a number'),
    ("ad_spend", 4, "impressions", "1e3", "type", "impressions", "is not a whole number"),
    ("ad_spend", 4, "date", "2024-1-5", "type", "date", "is not a date (YYYY-MM-DD)"),
    ("ad_spend", 4, "date", "05/01/2024", "type", "date", "is not a date"),
    ("content_daily", 2, "date", "2024-01-01 10:00:00", "type", "date", "is not a date"),
    ("touchpoints", 2, "ts", "2024-01-03 25:00:00", "type", "ts", "is not an ISO-8601 timestamp"),
    ("touchpoints", 2, "ts", "yesterday", "type", "ts", "is not an ISO-8601 timestamp"),
    ("touchpoints", 2, "ts", "2024-01-03+02:00", "type", "ts", "is not an ISO-8601 timestamp"),
    ("touchpoints", 2, "touchpoint_id", "  ", "missing_key", "touchpoint_id", "key value is empty"),
    ("ad_spend", 4, "campaign_id", "", "missing_key", "campaign_id", "key value is empty"),
    ("touchpoints", 2, "person_id", "", "missing_value", "person_id", "value is empty"),
    ("touchpoints", 2, "touch_type", "tap", "enum", "touch_type", '"tap" is not one of'),
    ("touchpoints", 2, "channel", "tv", "enum", "channel", '"tv" is not one of'),
    ("leads", 2, "seniority", "intern", "enum", "seniority", "is not one of: ic, manager"),
    ("lead_stage_history", 2, "stage", "won", "enum", "stage", '"won" is not one of'),
    ("opportunities", 1, "stage", "closed", "enum", "stage", "is not one of"),
    ("sales_feedback", 1, "verdict", "maybe", "enum", "verdict", "is not one of"),
    ("experiments", 1, "primary_metric", "ctr", "enum", "primary_metric", "is not one of"),
    ("targets", 1, "metric", "profit", "enum", "metric", "is not one of"),
    ("targets", 2, "scope", "region", "enum", "scope", "is not one of"),
    ("targets", 2, "scope_id", "tv", "enum", "scope_id", '"tv" is not a channel group'),
    ("targets", 1, "scope_id", "X", "range", "scope_id", "a total target takes no scope_id"),
    ("budget_plan", 1, "channel", "radio", "enum", "channel", "is not one of"),
    ("content", 2, "content_type", "podcast", "enum", "content_type", "is not one of"),
    ("ad_spend", 4, "spend", "-1", "range", "spend", "must be at least 0"),
    ("ad_spend", 4, "impressions", "-3", "range", "impressions", "must be at least 0"),
    ("ad_spend", 4, "clicks", "5000", "range", "clicks", "clicks (5000) exceed impressions (2000)"),
    ("seo_rankings", 1, "position", "0", "range", "position", "must be at least 1"),
    ("seo_rankings", 1, "clicks", "501", "range", "clicks", "exceed impressions (500)"),
    ("leads", 1, "company_size", "-10", "range", "company_size", "must be at least 0"),
    ("leads", 1, "company_size", "12.5", "type", "company_size", "is not a whole number"),
    ("experiment_units", 2, "converted", "2", "range", "converted", "must be 0 or 1"),
    ("experiment_units", 2, "converted", "yes", "type", "converted", "is not 0 or 1"),
    ("experiments", 1, "planned_split", "half", "type", "planned_split", "is not a split"),
    ("fx_rates", 2, "rate_to_reporting", "0", "range", "rate_to_reporting", "greater than 0"),
    ("fx_rates", 2, "currency", "EURO", "type", "currency", "is not a 3-letter ISO 4217"),
    ("campaigns", 1, "end_date", "2023-12-01", "range", "end_date", "is before start_date"),
    ("opportunities", 1, "closed_at", "2024-01-01T00:00:00", "range", "closed_at", "before"),
    ("touchpoints", 2, "ts", "2024-06-01T12:00:01", "future", "ts", "after the time of the run"),
    ("ad_spend", 4, "date", "2024-06-02", "future", "date", "after the time of the run"),
    ("leads", 1, "created_at", "2024-06-01T14:00:00+01:00", "future", "created_at", "after"),
    ("lead_stage_history", 2, "lead_id", "L9", "reference", "lead_id", "is not a known leads"),
    ("opportunities", 2, "lead_id", "L9", "reference", "lead_id", "is not a known leads"),
    ("ad_spend", 4, "campaign_id", "C9", "reference", "campaign_id", "is not a known campaigns"),
    ("leads", 3, "campaign_id", "C9", "reference", "campaign_id", "is not a known campaigns"),
    ("experiment_units", 1, "experiment_id", "E9", "reference", "experiment_id", "experiments"),
    ("content_daily", 1, "content_id", "K9", "reference", "content_id", "is not a known content"),
    ("seo_rankings", 1, "content_id", "K9", "reference", "content_id", "is not a known content"),
    ("touchpoints", 1, "content_id", "K9", "reference", "content_id", "is not a known content"),
    ("sales_feedback", 2, "lead_id", "L9", "reference", "lead_id", "is not a known leads"),
    ("targets", 3, "scope_id", "C9", "reference", "scope_id", "is not a known campaigns"),
    (
        "touchpoints",
        2,
        "touchpoint_id",
        "T1",
        "duplicate_key",
        "touchpoint_id",
        "duplicate of row 1",
    ),
    ("ad_spend", 4, "date", "2024-01-01", "duplicate_key", "date", "duplicate of row 1"),
]


# Parent tables whose quarantined rows cascade into a child (reference checks), plus the
# fx dependency of money tables. Cases on related tables never share a load.
_PARENTS: dict[str, set[str]] = {
    spec.name: {ref.parent for ref in spec.references} for spec in TABLES
}
_PARENTS["targets"].add("campaigns")
for _money in ("campaigns", "ad_spend", "opportunities"):
    _PARENTS[_money].add("fx_rates")


def _ancestors(table: str) -> set[str]:
    out: set[str] = set()
    todo = list(_PARENTS.get(table, ()))
    while todo:
        t = todo.pop()
        if t not in out:
            out.add(t)
            todo += _PARENTS.get(t, ())
    return out


def _group(cases: list[tuple]) -> list[list[tuple]]:
    """Pack cases into loads: one case per table per load, never a table with its
    ancestor, so one case's quarantined row cannot cascade into another's table."""
    groups: list[list[tuple]] = []
    for case in cases:
        table = case[0]
        for group in groups:
            if all(
                g[0] != table and g[0] not in _ancestors(table) and table not in _ancestors(g[0])
                for g in group
            ):
                group.append(case)
                break
        else:
            groups.append([case])
    return groups


GROUPS = _group(CASES)


@pytest.mark.parametrize("cases", GROUPS, ids=[f"load{i}" for i in range(len(GROUPS))])
def test_rows_are_quarantined(con, tmp_path, cases):
    data = raw_tables()
    rows_before = {c[0]: len(data[c[0]][1]) for c in cases}
    for table, row, column, value, *_ in cases:
        set_cell(data, table, row, column, value)
    report = load(con, write_raw(tmp_path / "raw", data), max_quarantine_share=1.0)
    for table, row, column, value, rule, q_column, detail in cases:
        case = (table, row, column, value)
        got = con.execute(
            f"select _row_number, _rule, _column, _detail, {column} from quarantine.{table}"  # noqa: S608
        ).fetchall()
        assert len(got) == 1, (case, got)
        row_number, got_rule, got_column, got_detail, raw_value = got[0]
        assert (row_number, got_rule, got_column) == (row, rule, q_column), case
        assert detail in got_detail, (case, got_detail)
        if value.strip():
            assert raw_value == value, case  # the raw text is kept as written
        # Cascades (children of a quarantined parent row) count under their own tables.
        t = report.tables[table]
        assert t.quarantined_by_rule == {rule: 1}, case
        n = rows_before[table]
        assert (t.rows_read, t.rows_loaded, t.rows_quarantined) == (n, n - 1, 1), case
        assert con.execute(f"select count(*) from raw.{table}").fetchall() == [(n - 1,)]  # noqa: S608


def test_cases_cover_every_rule():
    assert {c[4] for c in CASES} | {"spend_ceiling"} == set(RULES)


def test_first_broken_rule_is_recorded(con, tmp_path):
    """A row breaking several rules is quarantined once, under the first rule in order."""
    data = raw_tables()
    set_cell(data, "ad_spend", 4, "spend", "-1")  # range
    set_cell(data, "ad_spend", 4, "impressions", "many")  # type (checked before range)
    load(con, write_raw(tmp_path / "raw", data), max_quarantine_share=1.0)
    assert con.execute("select _rule, _column from quarantine.ad_spend").fetchall() == [
        ("type", "impressions")
    ]


def test_quarantined_campaign_cascades_to_its_spend(con, tmp_path):
    data = raw_tables()
    set_cell(data, "campaigns", 2, "campaign_type", "evergreen")  # C2 quarantined
    report = load(con, write_raw(tmp_path / "raw", data), max_quarantine_share=1.0)
    assert report.quarantine_counts[("campaigns", "enum")] == 1
    # C2 has 5 spend rows (days 1..5): all become reference violations.
    assert report.quarantine_counts[("ad_spend", "reference")] == 5
    assert con.execute("select distinct _detail from quarantine.ad_spend").fetchall() == [
        ('"C2" is a campaigns row quarantined in quarantine.campaigns',)
    ]


def test_duplicates_keep_the_first_valid_occurrence(con, tmp_path):
    data = raw_tables()
    header, rows = data["leads"]
    rows.insert(0, ["L2", "P2", "not a time", "", "", "", "", "", "", ""])  # row 1: bad L2
    rows.append(list(rows[2]))  # row 5: second valid copy of L2
    load(con, write_raw(tmp_path / "raw", data), max_quarantine_share=1.0)
    assert con.execute(
        "select _row_number, _rule, _detail from quarantine.leads order by 1"
    ).fetchall() == [
        (
            1,
            "type",
            '"not a time" is not an ISO-8601 timestamp (YYYY-MM-DD[THH:MM[:SS]][Z or +HH:MM])',
        ),
        (5, "duplicate_key", "duplicate of row 3 (key lead_id)"),
    ]
    assert con.execute("select count(*) from raw.leads where lead_id = 'L2'").fetchall() == [(1,)]


def test_spend_ceiling_in_reporting_currency(con, tmp_path):
    data = raw_tables()
    # C3 spends in EUR; rate 1.1 until 2024-01-02, 1.2 from 2024-01-03.
    set_cell(data, "ad_spend", 3, "spend", "1000")  # 2024-01-01, C3: 1100 USD > 1050
    set_cell(data, "ad_spend", 9, "spend", "870")  # 2024-01-03, C3: 1044 USD <= 1050
    set_cell(data, "ad_spend", 12, "spend", "880")  # 2024-01-04, C3: 1056 USD > 1050
    set_cell(data, "ad_spend", 1, "spend", "1050")  # C1 in USD, exactly the ceiling: kept
    report = load(
        con, write_raw(tmp_path / "raw", data), spend_ceiling=1050, max_quarantine_share=1.0
    )
    assert report.quarantine_counts == {("ad_spend", "spend_ceiling"): 2}
    got = con.execute("select _row_number, _detail from quarantine.ad_spend order by 1").fetchall()
    assert [r[0] for r in got] == [3, 12]
    assert "(1100.0 USD) exceeds the daily spend ceiling of 1050.0 USD" in got[0][1]


def test_fx_rows_for_the_reporting_currency_must_be_one(con, tmp_path):
    data = raw_tables()
    data["fx_rates"][1].extend([["2024-01-01", "USD", "1"], ["2024-01-02", "usd", "0.9"]])
    report = load(con, write_raw(tmp_path / "raw", data), max_quarantine_share=1.0)
    assert report.quarantine_counts == {("fx_rates", "range"): 1}
    assert con.execute("select _row_number from quarantine.fx_rates").fetchall() == [(4,)]


def test_unknown_currency_code_is_a_warning_when_fx_covers_it(con, tmp_path):
    data = raw_tables()
    set_cell(data, "ad_spend", 1, "currency", "XYZ")
    data["fx_rates"][1].append(["2023-12-01", "XYZ", "0.5"])
    set_cell(data, "leads", 1, "country", "Germany")
    report = load(con, write_raw(tmp_path / "raw", data))
    assert report.rows_quarantined == 0
    assert any("XYZ are not ISO 4217" in w for w in report.warnings)
    assert any("1 lead(s) have a country" in w for w in report.warnings)
    assert "Warnings:" in report.markdown()
    # kept with the load, so a reused load, the run's checks and the report still show them
    stored = [w for (w,) in con.execute("select warning from raw.load_warnings").fetchall()]
    assert stored == report.warnings
    from gtm_assets.report.sections import data_quality_section

    section = data_quality_section(con, date(2024, 1, 1), "USD")
    assert any("Kept, but check:" in p and "have a country" in p for p in section.paragraphs)


def test_default_now_is_the_current_time(con, tmp_path):
    """Without ``now``, a timestamp in the year 2999 is in the future and quarantined."""
    from gtm_assets.raw import load_raw

    data = raw_tables()
    set_cell(data, "touchpoints", 1, "ts", "2999-01-01T00:00:00")
    report = load_raw(con, write_raw(tmp_path / "raw", data), max_quarantine_share=1.0)
    assert report.quarantine_counts == {("touchpoints", "future"): 1}
    assert report.loaded_at <= datetime.now(UTC).replace(tzinfo=None)


def test_spend_and_impressions_without_a_click_is_a_warning(con, tmp_path):
    """C2 reports 15,000 impressions and 752.50 spend in January 2024 but not one click:
    kept, and warned about (a broken click column would make CTR, CVR and CPC wrong)."""
    data = raw_tables()
    for row in (2, 5, 8, 11, 14):  # C2's five days
        set_cell(data, "ad_spend", row, "clicks", "0")
    report = load(con, write_raw(tmp_path / "raw", data))
    assert report.rows_quarantined == 0
    silent = [w for w in report.warnings if "not one click" in w]
    assert len(silent) == 1
    assert "1 campaign-month(s)" in silent[0] and "C2 in 2024-01" in silent[0]
    assert "15,000 impressions" in silent[0]
    clean = load(con, write_raw(tmp_path / "clean", raw_tables()))
    assert not any("not one click" in w for w in clean.warnings)


def test_a_closed_deal_without_closed_at_is_a_warning(con, tmp_path):
    """O1 is won with a close_date but no closed_at: kept, and the warning says its
    close_date stands in; without a close_date either, its close time is unknown."""
    data = raw_tables()
    set_cell(data, "opportunities", 1, "closed_at", "")
    report = load(con, write_raw(tmp_path / "dated", data))
    assert report.rows_quarantined == 0
    dated = [w for w in report.warnings if "have no closed_at" in w]
    assert len(dated) == 1
    assert "1 closed opportunity(ies)" in dated[0]
    assert "their close_date is taken as the close time)" in dated[0]
    # O1 was created on 7 January; a close_date on the 5th closes it at its creation
    set_cell(data, "opportunities", 1, "close_date", "2024-01-05")
    report = load(con, write_raw(tmp_path / "early", data))
    dated = [w for w in report.warnings if "have no closed_at" in w]
    assert "1 of them have a close_date before the day they were created" in dated[0]
    set_cell(data, "opportunities", 1, "close_date", "2999-01-01")
    report = load(con, write_raw(tmp_path / "later", data))
    dated = [w for w in report.warnings if "have no closed_at" in w]
    assert "1 of them have a close_date after the run" in dated[0]
    set_cell(data, "opportunities", 1, "close_date", "")
    report = load(con, write_raw(tmp_path / "undated", data))
    undated = [w for w in report.warnings if "neither closed_at nor close_date" in w]
    assert len(undated) == 1 and "close time is unknown" in undated[0]
    assert not any("have no closed_at" in w for w in report.warnings)


def test_a_stage_row_before_its_lead_is_a_warning(con, tmp_path):
    """L1 was created on 3 January 2024; an MQL row dated 1 December 2023 is kept and
    counted in a warning."""
    data = raw_tables()
    data["lead_stage_history"][1].append(["L1", "mql", "2023-12-01T00:00:00"])
    report = load(con, write_raw(tmp_path / "raw", data))
    before = [w for w in report.warnings if "dated before their lead was created" in w]
    assert len(before) == 1 and "1 stage row(s)" in before[0]
    clean = load(con, write_raw(tmp_path / "clean", raw_tables()))
    assert not any("dated before their lead was created" in w for w in clean.warnings)


def test_implausible_counts_money_and_dates_are_quarantined(con, tmp_path):
    """Values no export means: 9,223,372,036,854,775,807 impressions (their month's sum
    overflowed campaign performance), an amount of 1e300, a touch in the year 1 and a lead
    in 1900 (placeholders). Each is quarantined as ``range`` with its column named."""
    data = raw_tables()
    set_cell(data, "ad_spend", 1, "impressions", "9223372036854775807")
    set_cell(data, "opportunities", 2, "amount", "1e300")
    set_cell(data, "touchpoints", 1, "ts", "0001-01-01T00:00:00")
    set_cell(data, "sales_feedback", 1, "ts", "1900-01-01T00:00:00")
    report = load(con, write_raw(tmp_path / "raw", data), max_quarantine_share=1.0)
    assert report.quarantine_counts == {
        ("ad_spend", "range"): 1,
        ("opportunities", "range"): 1,
        ("touchpoints", "range"): 1,
        ("sales_feedback", "range"): 1,
    }
    rows = dict(
        con.execute(
            "select _column, _detail from quarantine.ad_spend union all "
            "select _column, _detail from quarantine.opportunities union all "
            "select _column, _detail from quarantine.touchpoints"
        ).fetchall()
    )
    assert "implausibly large (above 1e+12)" in rows["impressions"]
    assert "implausibly large (above 1e+15)" in rows["amount"]
    assert "implausibly early (before 1990)" in rows["ts"]


def test_a_table_in_a_format_that_is_not_read_is_a_warning(con, tmp_path):
    """targets.xlsx and a targets.parquet/ folder are not read: the load says so (else the
    run shows only "no target"); a required table in such a format names the file beside
    its rejection."""
    folder = write_raw(tmp_path / "raw", raw_tables())
    (folder / "targets.csv").unlink()
    (folder / "targets.xlsx").write_bytes(b"PK")
    (folder / "targets.parquet").mkdir()
    report = load(con, folder)
    warning = next(w for w in report.warnings if "named like the targets table" in w)
    assert warning.startswith("targets.parquet/, targets.xlsx:")
    assert "table targets is absent" in warning
    (folder / "leads.csv").rename(folder / "leads.txt")
    with pytest.raises(RawInputError) as err:
        load(con, folder)
    assert "required table leads is missing" in str(err.value)
    assert "(leads.txt is there, in a format that is not read)" in str(err.value)
