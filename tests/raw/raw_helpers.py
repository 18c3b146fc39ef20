"""Hand-made raw folders for the raw-layer tests (helpers; fixtures are in conftest.py).

``raw_tables()`` returns a small, fully valid set of every contract table (as header +
rows of text) that tests mutate and write with ``write_raw``. The time of the run in all
tests is ``NOW`` so "future" checks are deterministic.
"""

from __future__ import annotations

import copy
import csv
import hashlib
from datetime import datetime
from pathlib import Path

from gtm_assets.raw import load_raw

NOW = datetime(2024, 6, 1, 12, 0, 0)

_BASE: dict[str, tuple[list[str], list[list[str]]]] = {
    "fx_rates": (
        ["date", "currency", "rate_to_reporting"],
        [["2023-12-31", "EUR", "1.1"], ["2024-01-03", "EUR", "1.2"]],
    ),
    "campaigns": (
        [
            "campaign_id",
            "campaign_name",
            "channel",
            "campaign_type",
            "start_date",
            "end_date",
            "planned_budget",
            "currency",
            "utm_campaign",
            "target_cpa",
            "target_roas",
            "target_ctr",
            "target_cvr",
        ],
        [
            [
                "C1",
                "Spring Launch",
                "paid_search",
                "launch",
                "2024-01-01",
                "2024-03-31",
                "10000",
                "USD",
                "spring_launch",
                "50",
                "3",
                "",
                "",
            ],
            [
                "C2",
                "Always-on social",
                "paid_social",
                "always_on",
                "2024-01-01",
                "",
                "5000",
                "",
                "always_social",
                "",
                "",
                "0.01",
                "",
            ],
            [
                "C3",
                "Newsletter EU",
                "email",
                "seasonal",
                "2024-01-01",
                "2024-02-28",
                "2000",
                "EUR",
                "eu_newsletter",
                "",
                "",
                "",
                "",
            ],
        ],
    ),
    "ad_spend": (
        [
            "date",
            "campaign_id",
            "impressions",
            "clicks",
            "spend",
            "currency",
            "platform_conversions",
        ],
        [
            [f"2024-01-0{d}", c, str(1000 * d), str(10 * d), f"{100 * d}.5", cur, str(d)]
            for d in range(1, 6)
            for c, cur in (("C1", "USD"), ("C2", ""), ("C3", "EUR"))
        ],
    ),
    "touchpoints": (
        [
            "touchpoint_id",
            "person_id",
            "ts",
            "touch_type",
            "utm_source",
            "utm_medium",
            "utm_campaign",
            "channel",
            "content_id",
        ],
        [
            [
                "T1",
                "P1",
                "2024-01-02T10:00:00Z",
                "click",
                "google",
                "cpc",
                "spring_launch",
                "",
                "K1",
            ],
            ["T2", "P1", "2024-01-03T11:00:00", "visit", "", "", "", "", ""],
            [
                "T3",
                "P2",
                "2024-01-02 09:30:00",
                "impression",
                "facebook",
                "paid_social",
                "always_social",
                "paid_social",
                "",
            ],
            [
                "T4",
                "P2",
                "2024-01-04T08:00:00+02:00",
                "form_fill",
                "newsletter",
                "email",
                "eu_newsletter",
                "",
                "",
            ],
            ["T5", "P3", "2024-01-04T12:00:00", "content_view", "bing", "organic", "", "", "K1"],
            [
                "T6",
                "P3",
                "2024-01-05T12:00:00",
                "email_click",
                "Newsletter",
                "Email",
                "EU_Newsletter ",
                " Email ",
                "",
            ],
        ],
    ),
    "leads": (
        [
            "lead_id",
            "person_id",
            "created_at",
            "lead_source",
            "campaign_id",
            "company",
            "industry",
            "company_size",
            "country",
            "seniority",
        ],
        [
            [
                "L1",
                "P1",
                "2024-01-03T12:00:00",
                "Google Ads",
                "C1",
                "Acme",
                "Software",
                "120",
                "US",
                "manager",
            ],
            [
                "L2",
                "P2",
                "2024-01-04T09:00:00",
                "Facebook",
                "",
                "Globex",
                "Retail",
                "5000",
                "DE",
                "VP",
            ],
            ["L3", "P3", "2024-01-05T13:00:00", "", "C3", "", "", "", "", ""],
        ],
    ),
    "lead_stage_history": (
        ["lead_id", "stage", "entered_at"],
        [
            ["L1", "lead", "2024-01-03T12:00:00"],
            ["L1", "mql", "2024-01-04T12:00:00"],
            ["L1", "sql", "2024-01-06T12:00:00"],
            ["L2", "lead", "2024-01-04T09:00:00"],
            ["L3", "lead", "2024-01-05T13:00:00"],
        ],
    ),
    "opportunities": (
        [
            "opportunity_id",
            "lead_id",
            "created_at",
            "amount",
            "currency",
            "stage",
            "close_date",
            "closed_at",
        ],
        [
            [
                "O1",
                "L1",
                "2024-01-07T10:00:00",
                "25000",
                "USD",
                "closed_won",
                "2024-02-01",
                "2024-02-01T15:00:00",
            ],
            ["O2", "L2", "2024-01-08T10:00:00", "12000.50", "EUR", "proposal", "2024-07-01", ""],
        ],
    ),
    "sales_feedback": (
        ["lead_id", "ts", "verdict", "reason"],
        [
            ["L1", "2024-01-05T10:00:00", "accepted", "good fit"],
            ["L2", "2024-01-06T10:00:00", "rejected", "student, no budget"],
        ],
    ),
    "content": (
        ["content_id", "title", "content_type", "topic", "url", "published_at", "campaign_id"],
        [
            [
                "K1",
                "How to measure ROI",
                "blog",
                "roi",
                "https://example.com/roi",
                "2023-12-01T09:00:00",
                "C1",
            ],
            ["K2", "Buyer guide", "ebook", "buying", "https://example.com/guide", "", ""],
        ],
    ),
    "content_daily": (
        [
            "date",
            "content_id",
            "pageviews",
            "unique_visitors",
            "avg_engaged_seconds",
            "organic_sessions",
            "form_fills",
        ],
        [
            ["2024-01-01", "K1", "100", "80", "42.5", "60", "2"],
            ["2024-01-01", "K2", "50", "45", "30", "10", "1"],
        ],
    ),
    "seo_rankings": (
        ["date", "keyword", "content_id", "position", "search_volume", "impressions", "clicks"],
        [
            ["2024-01-01", "marketing roi", "K1", "3.4", "1000", "500", "40"],
            ["2024-01-01", "roi calculator", "", "12", "300", "100", "2"],
        ],
    ),
    "targets": (
        ["month", "scope", "scope_id", "metric", "target_value"],
        [
            ["2024-01", "total", "", "revenue", "100000"],
            ["2024-01", "channel", "Paid_Search", "cpa", "80"],
            ["2024-01", "campaign", "C1", "leads", "20"],
        ],
    ),
    "budget_plan": (
        ["month", "channel", "planned_spend"],
        [["2024-01", "paid_search", "30000"], ["2024-01", "email", "5000"]],
    ),
    "experiments": (
        [
            "experiment_id",
            "name",
            "hypothesis",
            "primary_metric",
            "start_date",
            "end_date",
            "campaign_id",
            "planned_split",
        ],
        [
            [
                "E1",
                "Subject line",
                "Shorter wins",
                "conversion",
                "2024-01-01",
                "2024-01-31",
                "C3",
                "50/50",
            ]
        ],
    ),
    "experiment_units": (
        [
            "experiment_id",
            "unit_id",
            "variant",
            "assigned_at",
            "converted",
            "revenue",
            "pre_metric",
        ],
        [
            ["E1", "U1", "control", "2024-01-02T10:00:00", "0", "", "0.1"],
            ["E1", "U2", "treatment", "2024-01-02T11:00:00", "1", "120", ""],
            ["E1", "U3", "treatment", "2024-01-03T11:00:00", "true", "80", ""],
        ],
    ),
}

REQUIRED = ("campaigns", "ad_spend", "touchpoints", "leads", "lead_stage_history", "opportunities")


def raw_tables(optional: bool = True) -> dict[str, tuple[list[str], list[list[str]]]]:
    """A deep copy of the valid base tables; ``optional=False`` keeps only the required
    tables plus fx_rates (the base data has EUR rows, which need it)."""
    data = copy.deepcopy(_BASE)
    if not optional:
        data = {k: v for k, v in data.items() if k in (*REQUIRED, "fx_rates")}
    return data


def write_csv(
    path: Path,
    header: list[str],
    rows: list[list[str]],
    *,
    newline: str = "\n",
    bom: bool = False,
    encoding: str = "utf-8",
) -> Path:
    """Write one CSV with RFC 4180 quoting (fields quoted only where needed)."""
    with path.open("w", encoding=encoding, newline="") as fh:
        if bom:
            fh.write("\ufeff")
        writer = csv.writer(fh, lineterminator=newline)
        writer.writerow(header)
        writer.writerows(rows)
    return path


def write_raw(folder: Path, data: dict[str, tuple[list[str], list[list[str]]]]) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    for table, (header, rows) in data.items():
        write_csv(folder / f"{table}.csv", header, rows)
    return folder


def set_cell(data: dict, table: str, row: int, column: str, value: str) -> None:
    """Set ``column`` of 1-based data ``row`` of ``table``."""
    header, rows = data[table]
    rows[row - 1][header.index(column)] = value


def folder_hashes(folder: Path) -> dict[str, str]:
    return {
        p.name: hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(folder.iterdir())
        if p.is_file()
    }


def load(con, folder: Path, **kw):
    kw.setdefault("now", NOW)
    return load_raw(con, folder, **kw)
