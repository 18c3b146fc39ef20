"""Load the raw exports into ``raw.*``: read as text, type, validate, quarantine, publish.

Flow (see ``docs/raw-data.md`` for the user-facing policy):

1. find one file per contract table; read each, as text, into a temp table;
2. per table, in dependency order (parents first): type every value, then mark the first
   rule each row breaks (missing key, type, missing value, enum, range, future), then the
   cross-row rules (reference to surviving parent rows, duplicate key, spend ceiling);
3. collect the problems that reject the whole load (structural problems, missing fx
   rates, ambiguous utm_campaign, too many quarantined rows) and raise
   ``RawInputError`` *before* any warehouse table is touched;
4. otherwise replace every ``raw.*`` / ``quarantine.*`` table, ``raw.load_manifest`` and
   ``raw.channel_rules`` in ONE transaction.

Values are never formatted into SQL: file paths, the reporting currency, the time of the
run and the ceiling are bound parameters; identifiers come from the contract in
``schema.py`` and are validated with ``warehouse.ident``.
"""

from __future__ import annotations

import hashlib
import json
from datetime import UTC, date, datetime
from pathlib import Path

import duckdb
import pandas as pd

from gtm_assets.raw.channels import DEFAULT_RULES_PATH, load_channel_rules
from gtm_assets.raw.errors import Problem, RawInputError, quote_value
from gtm_assets.raw.reader import SourceFile, contract_files, discover, stage_text, unread_files
from gtm_assets.raw.report import LoadReport, TableLoad
from gtm_assets.raw.schema import (
    CHANNEL_GROUPS,
    ISO_4217,
    TABLE_BY_NAME,
    TABLE_NAMES,
    TABLES,
    Column,
    Reference,
    Table,
)
from gtm_assets.warehouse import ident

#: Bump when the loader's rules change, so fingerprints of unchanged files change too.
LOADER_VERSION = "2"

#: A campaign-month with at least this many impressions, spend and no click is warned about.
SILENT_CLICKS_MIN_IMPRESSIONS = 1000
#: A table is never rejected for this many bad rows or fewer, whatever its share.
MIN_ROWS_TO_REJECT = 5
#: Marks a reference failure whose parent row exists but was quarantined itself.
CASCADED = "quarantined in quarantine."
#: Quarantine rules, in the order they are evaluated (the first broken rule is recorded).
RULES = (
    "missing_key",
    "type",
    "missing_value",
    "enum",
    "range",
    "future",
    "reference",
    "duplicate_key",
    "spend_ceiling",
)
_WS = "' ' || chr(9) || chr(10) || chr(13)"
_PREFIX = "_gtm_raw_"

_NUMBER_RE = r"^[+-]?([0-9]+[.]?[0-9]*|[.][0-9]+)([eE][+-]?[0-9]+)?$"
_INTEGER_RE = r"^[+-]?[0-9]+([.]0*)?$"
#: A date; a midnight time after it (as spreadsheets export dates) is accepted too.
_DATE_RE = r"^[0-9]{4}-[0-9]{2}-[0-9]{2}([T ]00:00(:00([.]0+)?)?)?$"
_MONTH_RE = r"^[0-9]{4}-[0-9]{2}(-01)?$"
# A timestamp: a date, optionally a time, and after a time optionally an offset. A date
# alone is midnight UTC (content published_at and the like are often exported as dates).
_TS_RE = (
    r"^[0-9]{4}-[0-9]{2}-[0-9]{2}"
    r"([T ][0-9]{2}:[0-9]{2}(:[0-9]{2}([.][0-9]{1,9})?)?([Zz]|[+-][0-9]{2}(:?[0-9]{2})?)?)?$"
)
_TS_OFFSET_RE = (
    r"[T ][0-9]{2}:[0-9]{2}(:[0-9]{2}([.][0-9]{1,9})?)?([Zz]|[+-][0-9]{2}(:?[0-9]{2})?)$"
)
_SPLIT_RE = r"^\s*[0-9]+([.][0-9]+)?(\s*/\s*[0-9]+([.][0-9]+)?)+\s*$"


def _lit(text: str) -> str:
    """A SQL string literal for a constant from this module (never for data)."""
    return "'" + text.replace("'", "''") + "'"


#: Implausible values, quarantined as ``range``: a count above a trillion in one row (sums
#: of such counts would overflow), money above 1e15 in one row (any currency), and an event
#: dated before 1990 (a placeholder such as 0001-01-01 or 1900-01-01).
COUNT_CEILING = 10**12
MONEY_CEILING = 1e15
EARLIEST_EVENT = date(1990, 1, 1)


def _v(col: str) -> str:
    """The trimmed text of a column, NULL when empty."""
    return f"nullif(trim({col}, {_WS}), '')"


def _category(v: str) -> str:
    """A category value as matched: lower case, runs of spaces, hyphens and underscores as
    one underscore ('Paid Search', 'paid-search' and 'PAID_SEARCH' are paid_search)."""
    return f"regexp_replace(lower({v}), '[\\s_-]+', '_', 'g')"


def _typed_expr(spec: Table, col: Column) -> str:
    c, v = col.name, f"v__{col.name}"
    if (spec.name, c) == ("targets", "scope_id"):
        # A channel target's scope_id is a channel group (matched like every channel).
        return f"case when lower(v__scope) = 'channel' then {_category(v)} else {v} end"
    kind = col.kind
    if kind == "text":
        # kept as written, but empty or blank is NULL whatever the format: a Parquet
        # writer's "" (or a cell of spaces) is the empty cell CSV reads as NULL
        return f"case when {v} is not null then {c} end"
    if kind == "enum":
        return _category(v)
    if kind == "currency":
        return f"coalesce(upper({v}), $currency)"
    if kind == "date":
        return f"case when regexp_full_match({v}, {_lit(_DATE_RE)}) then try_cast(left({v}, 10) as date) end"
    if kind == "month":
        return (
            f"case when regexp_full_match({v}, {_lit(_MONTH_RE)}) "
            f"then try_cast(left({v}, 7) || '-01' as date) end"
        )
    if kind == "timestamp":
        return (
            f"case when not regexp_full_match({v}, {_lit(_TS_RE)}) then null "
            f"when regexp_matches({v}, {_lit(_TS_OFFSET_RE)}) "
            f"then timezone('UTC', try_cast({v} as timestamptz)) "
            f"else try_cast({v} as timestamp) end"
        )
    if kind == "integer":
        return (
            f"case when regexp_full_match({v}, {_lit(_INTEGER_RE)}) "
            f"then try_cast({v} as bigint) end"
        )
    if kind in ("number", "money"):
        return (
            f"case when regexp_full_match({v}, {_lit(_NUMBER_RE)}) "
            f"and isfinite(try_cast({v} as double)) then try_cast({v} as double) end"
        )
    if kind == "flag":
        return (
            f"case when lower({v}) in ('true', 't') then 1 "
            f"when lower({v}) in ('false', 'f') then 0 "
            f"when regexp_full_match({v}, {_lit(_INTEGER_RE)}) then try_cast({v} as bigint) end"
        )
    raise ValueError(f"unknown column kind {kind}")


_TYPE_WORDS = {
    "date": "is not a date (YYYY-MM-DD)",
    "month": "is not a month (YYYY-MM)",
    "timestamp": "is not an ISO-8601 timestamp (YYYY-MM-DD[THH:MM[:SS]][Z or +HH:MM])",
    "integer": "is not a whole number",
    "number": "is not a number (use . as decimal separator, no thousands separator)",
    "money": "is not a number (use . as decimal separator, no thousands separator)",
    "flag": "is not 0 or 1",
}


def _shown(col: str) -> str:
    """SQL producing the quoted, shortened raw value for a message."""
    return f"'\"' || left(replace(replace({col}, chr(10), '\\n'), chr(13), '\\r'), 60) || '\"'"


def _row_checks(spec: Table) -> list[tuple[str, str, str, str]]:
    """(condition, rule, column, detail SQL) in evaluation order; the first true one wins.

    Conditions read the raw text columns (``col``) and the typed ones (``t__col``).
    """
    checks: list[tuple[str, str, str, str]] = []
    cols = spec.columns
    key_cols = [spec.column(k) for k in spec.key if not spec.column(k).nullable]
    for c in key_cols:
        checks.append(
            (f"v__{c.name} is null", "missing_key", c.name, "'key value is empty'"),
        )
    for c in cols:
        if c.kind in _TYPE_WORDS:
            checks.append(
                (
                    f"v__{c.name} is not null and t__{c.name} is null",
                    "type",
                    c.name,
                    f"{_shown(c.name)} || ' {_TYPE_WORDS[c.kind]}'",
                )
            )
        if c.kind == "currency":
            checks.append(
                (
                    f"not regexp_full_match(t__{c.name}, '^[A-Z]{{3}}$')",
                    "type",
                    c.name,
                    f"{_shown(c.name)} || ' is not a 3-letter ISO 4217 currency code'",
                )
            )
    if spec.name == "experiments":
        checks.append(
            (
                "v__planned_split is not null and not regexp_full_match("
                f"planned_split, {_lit(_SPLIT_RE)})",
                "type",
                "planned_split",
                f"{_shown('planned_split')} || ' is not a split like 50/50'",
            )
        )
    for c in cols:
        if not c.nullable and c.name not in spec.key:
            checks.append(
                (f"v__{c.name} is null", "missing_value", c.name, "'value is empty'"),
            )
    for c in cols:
        if c.enum:
            allowed = ", ".join(_lit(x) for x in c.enum)
            checks.append(
                (
                    f"t__{c.name} is not null and t__{c.name} not in ({allowed})",
                    "enum",
                    c.name,
                    f"{_shown(c.name)} || ' is not one of: {', '.join(c.enum)}'",
                )
            )
    if spec.name == "targets":
        channels = ", ".join(_lit(x) for x in CHANNEL_GROUPS)
        checks += [
            (
                "t__scope = 'channel' and (t__scope_id is null or t__scope_id not in "
                f"({channels}))",
                "enum",
                "scope_id",
                f"coalesce({_shown('scope_id')}, '(empty)') || ' is not a channel group'",
            ),
            (
                "t__scope = 'total' and t__scope_id is not null",
                "range",
                "scope_id",
                f"{_shown('scope_id')} || ': a total target takes no scope_id'",
            ),
            (
                "t__scope = 'campaign' and t__scope_id is null",
                "missing_value",
                "scope_id",
                "'a campaign target needs the campaign_id in scope_id'",
            ),
        ]
    for c in cols:
        if c.min_value is not None:
            op = "<=" if c.min_exclusive else "<"
            word = "greater than" if c.min_exclusive else "at least"
            checks.append(
                (
                    f"t__{c.name} {op} {c.min_value!r}",
                    "range",
                    c.name,
                    f"{_shown(c.name)} || ' must be {word} {c.min_value:g}'",
                )
            )
        if c.kind == "flag":
            checks.append(
                (
                    f"t__{c.name} not in (0, 1)",
                    "range",
                    c.name,
                    f"{_shown(c.name)} || ' must be 0 or 1'",
                )
            )
    names = set(spec.column_names)
    if {"clicks", "impressions"} <= names:
        checks.append(
            (
                "t__impressions > 0 and t__clicks > t__impressions",
                "range",
                "clicks",
                "'clicks (' || t__clicks || ') exceed impressions (' || t__impressions || ')'",
            )
        )
    if {"start_date", "end_date"} <= names:
        checks.append(
            (
                "t__end_date < t__start_date",
                "range",
                "end_date",
                "'end_date ' || t__end_date || ' is before start_date ' || t__start_date",
            )
        )
    if spec.name == "opportunities":
        checks.append(
            (
                "t__closed_at < t__created_at",
                "range",
                "closed_at",
                "'closed_at ' || t__closed_at || ' is before created_at ' || t__created_at",
            )
        )
    if spec.name == "fx_rates":
        checks.append(
            (
                "t__currency = $currency and t__rate_to_reporting <> 1",
                "range",
                "rate_to_reporting",
                f"{_shown('rate_to_reporting')} || ': the reporting currency ' || $currency "
                "|| ' must have rate 1'",
            )
        )
    for c in cols:
        ceiling = {"integer": COUNT_CEILING, "money": MONEY_CEILING}.get(c.kind)
        if ceiling is not None:
            checks.append(
                (
                    f"t__{c.name} > {ceiling!r}",
                    "range",
                    c.name,
                    f"{_shown(c.name)} || ' is implausibly large (above {ceiling:.0e})'",
                )
            )
        if c.no_future:
            checks.append(
                (
                    f"t__{c.name} < {_lit(EARLIEST_EVENT.isoformat())}::date",
                    "range",
                    c.name,
                    f"{_shown(c.name)} || ' is implausibly early (before {EARLIEST_EVENT.year})'",
                )
            )
            bound = "$now" if c.kind == "timestamp" else "$today"
            checks.append(
                (
                    f"t__{c.name} > {bound}",
                    "future",
                    c.name,
                    f"{_shown(c.name)} || ' is after the time of the run (' || "
                    f"strftime($now, '%Y-%m-%d %H:%M') || ' UTC)'",
                )
            )
    return checks


class _Loader:
    def __init__(
        self,
        con: duckdb.DuckDBPyConnection,
        raw_dir: Path,
        currency: str,
        spend_ceiling: float,
        max_quarantine_share: float,
        channel_rules_path: Path | None,
        now: datetime,
    ) -> None:
        self.con = con
        self.raw_dir = raw_dir
        self.currency = currency
        self.spend_ceiling = spend_ceiling
        self.max_share = max_quarantine_share
        self.rules_path = channel_rules_path
        self.now = now
        self.params = {"currency": currency, "now": now, "today": now.date()}
        self.sources: dict[str, SourceFile] = {}
        self.rows_read: dict[str, int] = {}
        self.reject: list[Problem] = []
        self.warnings: list[str] = []
        self.temp_tables: list[str] = []

    # -- helpers -------------------------------------------------------------------------
    def _temp(self, kind: str, table: str) -> str:
        name = ident(f"{_PREFIX}{kind}_{table}")
        if name not in self.temp_tables:
            self.temp_tables.append(name)
        return name

    def _q(self, sql: str, params: dict | None = None) -> list[tuple]:
        used = {k: v for k, v in {**self.params, **(params or {})}.items() if f"${k}" in sql}
        return self.con.execute(sql, used).fetchall()

    def _file(self, table: str) -> str:
        src = self.sources.get(table)
        return src.name if src else f"{table}.csv"

    # -- phase 1: read -------------------------------------------------------------------
    def read_all(self) -> None:
        sources, problems = discover(self.raw_dir, list(TABLE_NAMES))
        self.sources = sources
        self.reject += problems
        if not self.raw_dir.is_dir():
            return
        ambiguous = {p.file.rpartition(".")[0].lower() for p in problems}
        unread = unread_files(self.raw_dir, list(TABLE_NAMES))
        for table, names in unread.items():
            absent = "" if table in sources else f"; table {table} is absent"
            self.warnings.append(
                f"{', '.join(names)}: named like the {table} table but not read (only "
                f"{table}.csv or {table}.parquet, as a file, is){absent}"
            )
        for spec in TABLES:
            txt = self._temp("txt", spec.name)
            src = sources.get(spec.name)
            if src is None:
                if spec.required and spec.name not in ambiguous:
                    beside = (
                        f" ({', '.join(unread[spec.name])} is there, in a format that is not read)"
                        if spec.name in unread
                        else ""
                    )
                    self.reject.append(
                        Problem(
                            f"{spec.name}.csv",
                            "missing_table",
                            f"required table {spec.name} is missing: put {spec.name}.csv "
                            f"or {spec.name}.parquet in {self.raw_dir}{beside}",
                        )
                    )
                self._empty_text(spec, txt)
                self.rows_read[spec.name] = 0
                continue
            rows, problems = stage_text(self.con, src, spec, txt)
            self.reject += problems
            if problems:
                self._empty_text(spec, txt)
                rows = 0
            elif rows == 0 and spec.required:
                self.reject.append(
                    Problem(src.name, "empty", f"required table {spec.name} has no data rows")
                )
            self.rows_read[spec.name] = rows
        for spec in TABLES:
            for ref in spec.references:
                if (
                    spec.name in self.sources
                    and ref.parent not in self.sources
                    and not ref.when_parent_present
                    and not TABLE_BY_NAME[ref.parent].required
                    and not all(spec.column(c).nullable for c in ref.columns)
                ):
                    self.reject.append(
                        Problem(
                            self._file(spec.name),
                            "missing_table",
                            f"{spec.name} refers to {ref.parent}, which was not supplied; "
                            f"add {ref.parent}.csv or remove {self._file(spec.name)}",
                        )
                    )

    def _empty_text(self, spec: Table, txt: str) -> None:
        cols = ", ".join(f"cast(null as varchar) as {c}" for c in spec.column_names)
        self.con.execute(
            f"create or replace temp table {txt} as select {cols}, "  # noqa: S608
            "cast(null as bigint) as _row_number limit 0"
        )

    # -- phase 2: validate ---------------------------------------------------------------
    def validate_all(self) -> None:
        for spec in TABLES:
            self._validate(spec)
        self._check_fx()
        self._check_spend_ceiling()
        self._check_utm_campaign()
        self._collect_warnings()

    def _validate(self, spec: Table) -> None:
        txt = self._temp("txt", spec.name)
        typ = self._temp("typ", spec.name)
        if spec.name not in self.sources:
            # Absent (optional) table: an empty typed table, without planning the checks.
            cols = ", ".join(
                [f"cast(null as varchar) as {c}" for c in spec.column_names]
                + [f"cast(null as {c.sql_type}) as t__{c.name}" for c in spec.columns]
            )
            self._q(
                f"create or replace temp table {typ} as select cast(null as bigint) as "  # noqa: S608
                f"_row_number, {cols}, cast(null as varchar) as _rule, cast(null as varchar) "
                "as _column, cast(null as varchar) as _detail limit 0"
            )
            return
        trimmed = ", ".join(f"{_v(c)} as v__{c}" for c in spec.column_names)
        typed = ", ".join(f"{_typed_expr(spec, c)} as t__{c.name}" for c in spec.columns)
        checks = _row_checks(spec)
        keep = ", ".join(spec.column_names + [f"t__{c}" for c in spec.column_names])
        if checks:
            first = (
                "case "
                + " ".join(f"when {cond} then {i}" for i, (cond, _, _, _) in enumerate(checks, 1))
                + " end"
            )
            rules = "[" + ", ".join(_lit(r) for _, r, _, _ in checks) + "]"
            columns = "[" + ", ".join(_lit(k) for _, _, k, _ in checks) + "]"
            details = (
                "case _check "
                + " ".join(f"when {i} then {d}" for i, (_, _, _, d) in enumerate(checks, 1))
                + " end"
            )
        else:
            first, rules, columns, details = "cast(null as integer)", "[]", "[]", "null"
        self._q(
            f"create or replace temp table {typ} as "  # noqa: S608
            f"with trimmed as (select *, {trimmed} from {txt}), "
            f"typed as (select *, {typed} from trimmed), "
            f"checked as (select *, {first} as _check from typed) "
            f"select _row_number, {keep}, cast({rules}[_check] as varchar) as _rule, "
            f"cast({columns}[_check] as varchar) as _column, "
            f"cast({details} as varchar) as _detail from checked"
        )
        if spec.name == "targets":
            self._check_target_campaigns(typ)
        for ref in spec.references:
            self._check_reference(spec, typ, ref)
        self._check_duplicates(spec, typ)

    def _check_reference(self, spec: Table, typ: str, ref: Reference) -> None:
        if ref.parent not in self.sources:
            # Optional parent absent: either the check is conditional on it, or the child
            # was already rejected in read_all. A required parent's absence is rejected too.
            return
        parent = self._temp("typ", ref.parent)
        join = " and ".join(
            f"p.t__{pc} = t.t__{cc}" for cc, pc in zip(ref.columns, ref.parent_columns, strict=True)
        )
        nonnull = " and ".join(f"t.t__{cc} is not null" for cc in ref.columns)
        shown = " || '/' || ".join(_shown(f"t.{cc}") for cc in ref.columns)
        # a parent row that was itself quarantined takes its children with it: said apart
        # (CASCADED), since they do not count towards the child table's quarantine share
        self._q(
            f"update {typ} t set _rule = 'reference', _column = {_lit(ref.columns[0])}, "  # noqa: S608
            f"_detail = {shown} || ' is a {ref.parent} row {CASCADED}{ref.parent}' "
            f"where t._rule is null and {nonnull} and not exists "
            f"(select 1 from {parent} p where p._rule is null and {join}) and exists "
            f"(select 1 from {parent} p where p._rule is not null and {join})"
        )
        self._q(
            f"update {typ} t set _rule = 'reference', _column = {_lit(ref.columns[0])}, "  # noqa: S608
            f"_detail = {shown} || ' is not a known {ref.parent} row' "
            f"where t._rule is null and {nonnull} and not exists "
            f"(select 1 from {parent} p where p._rule is null and {join})"
        )

    def _check_target_campaigns(self, typ: str) -> None:
        camp = self._temp("typ", "campaigns")
        self._q(
            f"update {typ} t set _rule = 'reference', _column = 'scope_id', "  # noqa: S608
            f"_detail = {_shown('t.scope_id')} || ' is not a known campaigns row' "
            "where t._rule is null and t.t__scope = 'campaign' and not exists "
            f"(select 1 from {camp} p where p._rule is null and p.t__campaign_id = t.t__scope_id)"
        )

    def _check_duplicates(self, spec: Table, typ: str) -> None:
        keys = ", ".join(f"t__{k}" for k in spec.key)
        self._q(
            f"update {typ} t set _rule = 'duplicate_key', _column = {_lit(spec.key[0])}, "  # noqa: S608
            f"_detail = 'duplicate of row ' || d.first_row || ' (key {', '.join(spec.key)})' "
            f"from (select _row_number, min(_row_number) over (partition by {keys}) as first_row "
            f"from {typ} where _rule is null) d "
            "where t._row_number = d._row_number and d.first_row <> d._row_number"
        )

    def _fx_join(self, spec: Table, money: str) -> str:
        """SELECT of surviving rows with a money value: row, currency, date, value, rate."""
        cur_col, date_col = spec.money_dates[money]
        typ = self._temp("typ", spec.name)
        fx = self._temp("typ", "fx_rates")
        cur = f"t.t__{cur_col}" if cur_col else "$currency"
        return (
            f"select t._row_number, {cur} as currency, cast(t.t__{date_col} as date) as d, "  # noqa: S608
            f"t.t__{money} as value, "
            f"case when {cur} = $currency then 1.0 else f.t__rate_to_reporting end as rate "
            f"from {typ} t asof left join (select * from {fx} where _rule is null) f "
            f"on f.t__currency = {cur} and cast(t.t__{date_col} as date) >= f.t__date "
            f"where t._rule is null and t.t__{money} is not null"
        )

    def _check_fx(self) -> None:
        for spec in TABLES:
            for money in spec.money_dates:
                cur_col, date_col = spec.money_dates[money]
                fx = self._temp("typ", "fx_rates")
                missing = self._q(
                    f"select _row_number, currency, d, (select count(*) from {fx} f "  # noqa: S608
                    "where f._rule is not null and f.t__currency = m.currency "
                    f"and f.t__date <= m.d) from ({self._fx_join(spec, money)}) m "
                    "where rate is null order by _row_number"
                )
                for row, cur, day, quarantined in missing:
                    why = (
                        f" ({quarantined} fx_rates row(s) for {cur} on or before {day} were "
                        "quarantined: see quarantine.fx_rates)"
                        if quarantined
                        else ""
                    )
                    self.reject.append(
                        Problem(
                            self._file(spec.name),
                            "fx",
                            f'"{cur}" has no fx_rates row for {cur} on or before {day} '
                            f"(the {date_col} of this row), so {money} cannot be converted "
                            f"to {self.currency}{why}",
                            row=row,
                            column=cur_col or money,
                            value=cur,
                        )
                    )

    def _check_spend_ceiling(self) -> None:
        spec = TABLE_BY_NAME["ad_spend"]
        typ = self._temp("typ", "ad_spend")
        self._q(
            f"update {typ} t set _rule = 'spend_ceiling', _column = 'spend', "  # noqa: S608
            "_detail = '\"' || t.spend || '\" (' || round(x.value * x.rate, 2) || ' ' || $currency "
            "|| ') exceeds the daily spend ceiling of ' || $ceiling || ' ' || $currency "
            f"from ({self._fx_join(spec, 'spend')}) x "
            "where t._row_number = x._row_number and x.rate is not null "
            "and x.value * x.rate > $ceiling",
            {"ceiling": float(self.spend_ceiling)},
        )

    def _check_utm_campaign(self) -> None:
        typ = self._temp("typ", "campaigns")
        rows = self._q(
            f"select lower(trim(t__utm_campaign, {_WS})) as k, "  # noqa: S608
            "list(_row_number order by _row_number), list(t__campaign_id order by _row_number) "
            f"from {typ} where _rule is null and {_v('t__utm_campaign')} is not null "
            "group by k having count(*) > 1 order by min(_row_number)"
        )
        for key, row_numbers, ids in rows:
            self.reject.append(
                Problem(
                    self._file("campaigns"),
                    "ambiguous",
                    f"utm_campaign {quote_value(key)} is used by campaigns "
                    f"{', '.join(map(str, ids))} (rows {', '.join(map(str, row_numbers))}); "
                    "touchpoints could not be mapped to one campaign (matching ignores case "
                    "and surrounding spaces)",
                    row=row_numbers[1],
                    column="utm_campaign",
                    value=key,
                )
            )

    def _collect_warnings(self) -> None:
        for spec in TABLES:
            typ = self._temp("typ", spec.name)
            for c in spec.columns:
                if c.kind != "currency" or spec.name not in self.sources:
                    continue
                codes = [
                    r[0]
                    for r in self._q(
                        f"select distinct t__{c.name} from {typ} where _rule is null "  # noqa: S608
                        "order by 1"
                    )
                ]
                unknown = [x for x in codes if x and x not in ISO_4217]
                if unknown:
                    self.warnings.append(
                        f"{self._file(spec.name)}: currency code(s) {', '.join(unknown)} are not "
                        "ISO 4217 codes; they were accepted because fx_rates has rates for them"
                    )
        if "leads" in self.sources:
            n = self._q(
                f"select count(*) from {self._temp('typ', 'leads')} where _rule is null "  # noqa: S608
                "and country is not null and not regexp_full_match(country, '^[A-Za-z]{2}$')"
            )[0][0]
            if n:
                self.warnings.append(
                    f"{self._file('leads')}: {n} lead(s) have a country that is not an ISO 3166 "
                    "alpha-2 code (kept as written)"
                )
        if "ad_spend" in self.sources:
            silent = self._q(
                "select t__campaign_id, strftime(t__date, '%Y-%m'), sum(t__spend), "  # noqa: S608
                f"sum(t__impressions) from {self._temp('typ', 'ad_spend')} where _rule is null "
                "group by all having sum(t__spend) > 0 and sum(t__impressions) >= "
                f"{SILENT_CLICKS_MIN_IMPRESSIONS} and sum(t__clicks) = 0 order by 2, 1"
            )
            if silent:
                shown = "; ".join(
                    f"{c} in {m} ({spend:,.0f} spend, {imp:,.0f} impressions)"
                    for c, m, spend, imp in silent[:5]
                )
                more = f" and {len(silent) - 5} more" if len(silent) > 5 else ""
                self.warnings.append(
                    f"{self._file('ad_spend')}: {len(silent)} campaign-month(s) report spend and "
                    f"impressions but not one click: {shown}{more} (kept; a broken click column "
                    "in the platform export? CTR, CVR and CPC are then wrong)"
                )
        opp = self._temp("typ", "opportunities")
        n_dated, n_early, n_later, n_undated, n_open = self._q(
            "select count(*) filter (where t__stage in ('closed_won', 'closed_lost') "  # noqa: S608
            "and t__closed_at is null and t__close_date is not null), "
            "count(*) filter (where t__stage in ('closed_won', 'closed_lost') "
            "and t__closed_at is null and t__close_date < t__created_at::date), "
            "count(*) filter (where t__stage in ('closed_won', 'closed_lost') "
            "and t__closed_at is null and t__close_date > $today), "
            "count(*) filter (where t__stage in ('closed_won', 'closed_lost') "
            "and t__closed_at is null and t__close_date is null), "
            "count(*) filter (where t__stage not in ('closed_won', 'closed_lost') "
            f"and t__closed_at is not null) from {opp} where _rule is null"
        )[0]
        if n_dated:
            self.warnings.append(
                f"{self._file('opportunities')}: {n_dated} closed opportunity(ies) have no "
                "closed_at (kept; their close_date is taken as the close time"
                + (
                    f"; {n_early} of them have a close_date before the day they were created "
                    "and close at their creation"
                    if n_early
                    else ""
                )
                + (
                    f"; {n_later} of them have a close_date after the run, perhaps a plan "
                    "rather than the close: they count as closed on that date"
                    if n_later
                    else ""
                )
                + ")"
            )
        if n_undated:
            self.warnings.append(
                f"{self._file('opportunities')}: {n_undated} closed opportunity(ies) have neither "
                "closed_at nor close_date (kept; their close time is unknown)"
            )
        if n_open:
            self.warnings.append(
                f"{self._file('opportunities')}: {n_open} open opportunity(ies) have a "
                "closed_at (kept as written)"
            )
        history, leads = self._temp("typ", "lead_stage_history"), self._temp("typ", "leads")
        (n_before,) = self._q(
            f"select count(*) from {history} as h inner join {leads} as l "  # noqa: S608
            "on l.t__lead_id = h.t__lead_id and l._rule is null "
            "where h._rule is null and h.t__entered_at < l.t__created_at"
        )[0]
        if n_before:
            self.warnings.append(
                f"{self._file('lead_stage_history')}: {n_before} stage row(s) are dated before "
                "their lead was created (kept; the funnel and the MQL/SQL counts take the stage "
                "as reached at the lead's creation)"
            )

    # -- phase 3: gates ------------------------------------------------------------------
    def counts(self) -> dict[str, dict[str, int]]:
        out: dict[str, dict[str, int]] = {}
        for spec in TABLES:
            typ = self._temp("typ", spec.name)
            out[spec.name] = {
                r: int(n)
                for r, n in self._q(
                    f"select _rule, count(*) from {typ} where _rule is not null group by 1"  # noqa: S608
                )
            }
        return out

    def check_share(self, counts: dict[str, dict[str, int]]) -> None:
        """Reject a table whose own bad rows are more than ``max_share`` of its rows and more
        than ``MIN_ROWS_TO_REJECT``: many bad rows mean something structural (a shifted
        column, another date format); one bad row in a 10-row table does not. Rows that
        only follow a quarantined parent row are not the table's own."""
        for spec in TABLES:
            read = self.rows_read.get(spec.name, 0)
            bad = sum(counts[spec.name].values())
            if not read or bad / read <= self.max_share or bad <= MIN_ROWS_TO_REJECT:
                continue
            typ = self._temp("typ", spec.name)
            cascaded = int(
                self._q(
                    f"select count(*) from {typ} where _rule = 'reference' "  # noqa: S608
                    f"and _detail like '%{CASCADED}%'"
                )[0][0]
            )
            own = bad - cascaded
            if own / read <= self.max_share or own <= MIN_ROWS_TO_REJECT:
                continue
            typ = self._temp("typ", spec.name)
            examples = self._q(
                f"select _row_number, _column, _detail, _rule from {typ} "  # noqa: S608
                "where _rule is not null order by _row_number limit 3"
            )
            shown = "; ".join(f"row {r}, column {c}: {d} [{rule}]" for r, c, d, rule in examples)
            by_rule = ", ".join(f"{k} {v}" for k, v in sorted(counts[spec.name].items()))
            self.reject.append(
                Problem(
                    self._file(spec.name),
                    "quarantine_share",
                    f"{own} of {read} rows ({own / read:.1%}) break the contract ({by_rule}), "
                    f"more than the allowed {self.max_share:.1%} (max_quarantine_share); "
                    f"that many usually means something structural (a shifted column, another "
                    f"date format). First: {shown}",
                )
            )

    # -- phase 4: write ------------------------------------------------------------------
    def write(
        self, counts: dict[str, dict[str, int]], rules: pd.DataFrame, fingerprint: str
    ) -> LoadReport:
        loaded_at = self.now
        tables: dict[str, TableLoad] = {}
        manifest = []
        for spec in TABLES:
            src = self.sources.get(spec.name)
            bad = sum(counts[spec.name].values())
            read = self.rows_read.get(spec.name, 0)
            tl = TableLoad(
                table=spec.name,
                present=src is not None,
                source_file=src.name if src else None,
                rows_read=read,
                rows_loaded=read - bad,
                rows_quarantined=bad,
                quarantined_by_rule=dict(sorted(counts[spec.name].items())),
            )
            tables[spec.name] = tl
            manifest.append(
                (
                    spec.name,
                    tl.present,
                    tl.source_file,
                    tl.rows_read,
                    tl.rows_loaded,
                    tl.rows_quarantined,
                    loaded_at,
                    fingerprint,
                )
            )
        con = self.con
        con.execute("begin transaction")
        try:
            con.execute("create schema if not exists raw")
            con.execute("create schema if not exists quarantine")
            for spec in TABLES:
                typ = self._temp("typ", spec.name)
                raw_t = ident(f"raw.{spec.name}")
                q_t = ident(f"quarantine.{spec.name}")
                typed = ", ".join(
                    f"cast(t__{c.name} as {c.sql_type}) as {c.name}" for c in spec.columns
                )
                text = ", ".join(f"cast({c.name} as varchar) as {c.name}" for c in spec.columns)
                con.execute(
                    f"create or replace table {raw_t} as select {typed} from {typ} "  # noqa: S608
                    "where _rule is null order by _row_number"
                )
                con.execute(
                    f"create or replace table {q_t} as select {text}, "  # noqa: S608
                    "cast(_row_number as bigint) as _row_number, cast(_rule as varchar) as _rule, "
                    "cast(_column as varchar) as _column, cast(_detail as varchar) as _detail "
                    f"from {typ} where _rule is not null order by _row_number"
                )
            con.execute(
                "create or replace table raw.load_manifest (table_name varchar, present boolean, "
                "source_file varchar, rows_read bigint, rows_loaded bigint, "
                "rows_quarantined bigint, loaded_at timestamp, fingerprint varchar)"
            )
            con.executemany(
                "insert into raw.load_manifest values (?, ?, ?, ?, ?, ?, ?, ?)", manifest
            )
            con.execute("create or replace table raw.load_warnings (warning varchar)")
            if self.warnings:
                con.executemany(
                    "insert into raw.load_warnings values (?)", [(w,) for w in self.warnings]
                )
            con.execute(
                "create or replace table raw.channel_rules (priority bigint, "
                "source_regex varchar, medium_regex varchar, channel varchar, note varchar)"
            )
            con.executemany(
                "insert into raw.channel_rules values (?, ?, ?, ?, ?)",
                [
                    (int(r.priority), r.source_regex, r.medium_regex, r.channel, r.note)
                    for r in rules.itertuples(index=False)
                ],
            )
            con.execute("commit")
        except BaseException:
            con.execute("rollback")
            raise
        quarantine_counts = {
            (t, rule): n for t, by_rule in counts.items() for rule, n in sorted(by_rule.items())
        }
        return LoadReport(
            tables=tables,
            quarantine_counts=quarantine_counts,
            warnings=list(self.warnings),
            fingerprint=fingerprint,
            loaded_at=loaded_at,
            currency=self.currency,
            raw_dir=str(self.raw_dir),
            channel_rules_source=str(self.rules_path or DEFAULT_RULES_PATH),
            max_quarantine_share=self.max_share,
        )

    def cleanup(self) -> None:
        for name in self.temp_tables:
            try:
                self.con.execute(f"drop table if exists {name}")
            except duckdb.Error:
                pass


def _raise_if(problems: list[Problem], raw_dir: Path) -> None:
    if problems:
        raise RawInputError(problems, str(raw_dir))


def load_raw(
    con: duckdb.DuckDBPyConnection,
    raw_dir: Path,
    *,
    currency: str = "USD",
    spend_ceiling: float = 10_000_000,
    max_quarantine_share: float = 0.05,
    channel_rules_path: Path | None = None,
    now: datetime | None = None,
) -> LoadReport:
    """Validate the exports in ``raw_dir`` and, only if they pass, replace ``raw.*``,
    ``quarantine.*``, ``raw.load_manifest`` and ``raw.channel_rules`` in one transaction.

    Raises ``RawInputError`` (nothing written) when the input is rejected. ``now`` is the
    time of the run (UTC; default: the current time) used to reject future timestamps.
    """
    raw_dir = Path(raw_dir)
    currency = currency.strip().upper()
    if not (len(currency) == 3 and currency.isalpha()):
        raise ValueError(f"reporting currency {currency!r} is not a 3-letter ISO 4217 code")
    if not 0 <= max_quarantine_share <= 1:
        raise ValueError("max_quarantine_share must be between 0 and 1")
    if now is None:
        now = datetime.now(UTC)
    if now.tzinfo is not None:
        now = now.astimezone(UTC).replace(tzinfo=None)
    rules = load_channel_rules(channel_rules_path)
    fingerprint = raw_fingerprint(
        raw_dir,
        currency=currency,
        spend_ceiling=spend_ceiling,
        max_quarantine_share=max_quarantine_share,
        channel_rules_path=channel_rules_path,
    )
    loader = _Loader(
        con,
        raw_dir,
        currency,
        float(spend_ceiling),
        float(max_quarantine_share),
        channel_rules_path,
        now,
    )
    try:
        loader.read_all()
        _raise_if(loader.reject, raw_dir)
        loader.validate_all()
        counts = loader.counts()
        loader.check_share(counts)
        _raise_if(loader.reject, raw_dir)
        return loader.write(counts, rules, fingerprint)
    finally:
        loader.cleanup()


def raw_fingerprint(
    raw_dir: Path,
    *,
    currency: str = "USD",
    spend_ceiling: float = 10_000_000,
    max_quarantine_share: float = 0.05,
    channel_rules_path: Path | None = None,
) -> str:
    """A hash of the contract files' resolved paths, sizes, inodes and modification and
    status-change times plus the load settings and the channel rules' content: equal
    fingerprints mean an equal load. The status-change time (ctime) moves on every write and
    cannot be set back, so a file edited to the same size with its modification time
    restored (``touch -r``, ``cp -p``, ``rsync -a``, an unpacked archive) still counts as
    changed; a metadata-only change (chmod) costs one needless reload, never a stale one.

    The time of the run is not part of it, so rows quarantined only for lying in the
    future are re-checked on the next change of files or settings, not on every run.
    """
    raw_dir = Path(raw_dir)
    files = []
    for p in contract_files(raw_dir, list(TABLE_NAMES)):
        st = p.stat()
        files.append([str(p.resolve()), st.st_size, st.st_mtime_ns, st.st_ctime_ns, st.st_ino])
    rules = Path(channel_rules_path) if channel_rules_path else DEFAULT_RULES_PATH
    try:
        rules_hash = hashlib.sha256(rules.read_bytes()).hexdigest()
    except OSError:
        rules_hash = "unreadable"
    payload = {
        "loader": LOADER_VERSION,
        "files": files,
        "currency": currency.strip().upper(),
        "spend_ceiling": float(spend_ceiling),
        "max_quarantine_share": float(max_quarantine_share),
        "channel_rules": [str(rules), rules_hash],
    }
    return hashlib.sha256(json.dumps(payload, sort_keys=True).encode()).hexdigest()[:32]
