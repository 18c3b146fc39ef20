"""utm_source / utm_medium -> channel group rules: loading, validation, classification.

The rules live in a CSV (``priority,source_regex,medium_regex,channel,note``). Both
regexes must match the *whole* lower-cased, trimmed utm value (an empty or missing value
is the empty string ``''``); the matching rule with the lowest priority number wins.
Touchpoints no rule matches stay unclassified and are counted, never guessed.

The regexes must mean the same in Python (``re``) and in DuckDB (RE2,
``regexp_full_match``), so rules are checked against both engines, and only the common
subset (no look-around, no back-references) is accepted.
"""

from __future__ import annotations

import csv
import io
import re
from pathlib import Path

import duckdb
import pandas as pd

from gtm_assets.raw.errors import Problem, RawInputError, quote_value
from gtm_assets.raw.schema import CHANNEL_GROUPS

DEFAULT_RULES_PATH = Path(__file__).with_name("channel_rules.csv")
RULE_COLUMNS = ("priority", "source_regex", "medium_regex", "channel", "note")
#: Characters stripped around utm values before matching: spaces, exactly like DuckDB's
#: ``lower(trim(x))`` that the staging SQL applies, so Python and SQL classify alike.
TRIM_CHARS = " "


def normalize_utm(value: object) -> str:
    """Lower-case and trim a utm value; missing values become ``''``."""
    if value is None:
        return ""
    try:
        if pd.isna(value):
            return ""
    except (TypeError, ValueError):
        pass
    return str(value).strip(TRIM_CHARS).lower()


def load_channel_rules(path: Path | None = None) -> pd.DataFrame:
    """Read and validate a rules file (default: the packaged ``channel_rules.csv``).

    Returns a DataFrame sorted by priority with columns ``priority`` (int),
    ``source_regex``, ``medium_regex``, ``channel``, ``note``. A bad file raises
    ``RawInputError`` naming the file, row and column.
    """
    path = Path(path) if path is not None else DEFAULT_RULES_PATH
    name = str(path)
    try:
        text = path.read_bytes().decode("utf-8-sig")
    except FileNotFoundError as exc:
        raise RawInputError([Problem(name, "unreadable", "channel rules file not found")]) from exc
    except UnicodeDecodeError as exc:
        raise RawInputError([Problem(name, "encoding", f"is not UTF-8 ({exc.reason})")]) from exc
    reader = csv.reader(io.StringIO(text, newline=""))
    try:
        header = next(reader)
    except StopIteration as exc:
        raise RawInputError([Problem(name, "empty", "channel rules file is empty")]) from exc
    cols = [h.strip().lower() for h in header]
    missing = [c for c in RULE_COLUMNS if c != "note" and c not in cols]
    if missing:
        raise RawInputError(
            [
                Problem(name, "missing_column", f"required column {c} is missing", column=c)
                for c in missing
            ]
        )
    idx = {c: cols.index(c) for c in RULE_COLUMNS if c in cols}
    problems: list[Problem] = []
    rows: list[dict] = []
    seen_priority: dict[int, int] = {}
    checker = duckdb.connect()
    try:
        for rownum, record in enumerate(reader, start=1):
            if not any(cell.strip() for cell in record):
                continue

            def cell(col: str, record: list[str] = record) -> str:
                i = idx.get(col)
                return record[i].strip() if i is not None and i < len(record) else ""

            prio_text = cell("priority")
            if not re.fullmatch(r"[+-]?\d+", prio_text):
                problems.append(
                    Problem(
                        name,
                        "type",
                        f"{quote_value(prio_text)} is not an integer priority",
                        rownum,
                        "priority",
                        prio_text,
                    )
                )
                priority = None
            else:
                priority = int(prio_text)
                if priority in seen_priority:
                    problems.append(
                        Problem(
                            name,
                            "duplicate_key",
                            f"priority {priority} is already used by row "
                            f"{seen_priority[priority]}; priorities must be unique",
                            rownum,
                            "priority",
                            prio_text,
                        )
                    )
                seen_priority.setdefault(priority, rownum)
            for col in ("source_regex", "medium_regex"):
                pattern = cell(col)
                err = _regex_problem(pattern, checker)
                if err:
                    problems.append(Problem(name, "regex", err, rownum, col, pattern))
            channel = cell("channel").lower()
            if channel not in CHANNEL_GROUPS:
                problems.append(
                    Problem(
                        name,
                        "enum",
                        f"{quote_value(cell('channel'))} is not a channel group "
                        f"({', '.join(CHANNEL_GROUPS)})",
                        rownum,
                        "channel",
                        cell("channel"),
                    )
                )
            rows.append(
                {
                    "priority": priority,
                    "source_regex": cell("source_regex"),
                    "medium_regex": cell("medium_regex"),
                    "channel": channel,
                    "note": cell("note") or None,
                }
            )
    finally:
        checker.close()
    if not rows and not problems:
        problems.append(Problem(name, "empty", "channel rules file has no rules"))
    if problems:
        raise RawInputError(problems)
    df = pd.DataFrame(rows, columns=list(RULE_COLUMNS))
    df["priority"] = df["priority"].astype("int64")
    return df.sort_values("priority", kind="stable").reset_index(drop=True)


def _regex_problem(pattern: str, checker: duckdb.DuckDBPyConnection) -> str | None:
    if pattern == "":
        return "empty regex; write .* to match any value or ^$ to match an empty value"
    if re.search(r"\(\?[=!<]|\\[1-9]", pattern):
        return f"{quote_value(pattern)} uses look-around or back-references, which DuckDB lacks"
    try:
        re.compile(pattern)
    except re.error as exc:
        return f"{quote_value(pattern)} is not a valid regular expression ({exc})"
    try:
        checker.execute("select regexp_full_match('', $p)", {"p": pattern}).fetchall()
    except duckdb.Error as exc:
        return f"{quote_value(pattern)} is not a valid DuckDB (RE2) regular expression ({exc})"
    return None


def classify_channel(source: object, medium: object, rules_df: pd.DataFrame) -> str | None:
    """Channel group of one (utm_source, utm_medium) pair, or None when no rule matches.

    Values are lower-cased and trimmed; missing values match as ``''``. Rules are tried in
    priority order and both regexes must match the whole value.
    """
    src = normalize_utm(source)
    med = normalize_utm(medium)
    for rule in rules_df.sort_values("priority", kind="stable").itertuples(index=False):
        if re.fullmatch(rule.source_regex, src) and re.fullmatch(rule.medium_regex, med):
            return str(rule.channel)
    return None
