"""The raw data contract as data: tables, columns, types, keys, references and ranges.

Everything the loader enforces is declared here, so the rules are in one place and the
user-facing description (``docs/raw-data.md``) can be checked against it.
"""

from __future__ import annotations

from dataclasses import dataclass, field

CHANNEL_GROUPS: tuple[str, ...] = (
    "paid_search",
    "paid_social",
    "display",
    "video",
    "email",
    "organic_search",
    "organic_social",
    "referral",
    "affiliate",
    "events",
    "direct",
)

# Column kinds and the DuckDB type each is stored as in ``raw.<table>``.
SQL_TYPES: dict[str, str] = {
    "text": "VARCHAR",
    "enum": "VARCHAR",
    "currency": "VARCHAR",
    "date": "DATE",
    "month": "DATE",
    "timestamp": "TIMESTAMP",
    "integer": "BIGINT",
    "number": "DOUBLE",
    "money": "DOUBLE",
    "flag": "BIGINT",
}


@dataclass(frozen=True)
class Column:
    """One contract column.

    ``optional``: the column may be missing from the file (it is then all NULL, or the
    reporting currency for ``currency``). ``nullable``: an empty value is allowed.
    ``enum``: allowed values after lower-casing and trimming. ``min_value`` /
    ``min_exclusive``: lower bound for numbers. ``no_future``: a value after the time of
    the run is quarantined (event times only; planned dates may lie in the future).
    """

    name: str
    kind: str
    optional: bool = False
    nullable: bool = True
    enum: tuple[str, ...] | None = None
    min_value: float | None = None
    min_exclusive: bool = False
    no_future: bool = False

    @property
    def sql_type(self) -> str:
        return SQL_TYPES[self.kind]


@dataclass(frozen=True)
class Reference:
    """``columns`` of this table must exist as ``parent_columns`` of surviving ``parent`` rows.

    ``when_parent_present``: skip the check when the (optional) parent table was not
    supplied. Otherwise a child table supplied without its parent rejects the load.
    """

    columns: tuple[str, ...]
    parent: str
    parent_columns: tuple[str, ...]
    when_parent_present: bool = False


@dataclass(frozen=True)
class Table:
    name: str
    required: bool
    columns: tuple[Column, ...]
    key: tuple[str, ...]
    references: tuple[Reference, ...] = field(default_factory=tuple)
    #: money column -> (currency column or None, column giving the conversion date)
    money_dates: dict[str, tuple[str | None, str]] = field(default_factory=dict)

    def column(self, name: str) -> Column:
        for c in self.columns:
            if c.name == name:
                return c
        raise KeyError(name)

    @property
    def column_names(self) -> list[str]:
        return [c.name for c in self.columns]


def _c(name: str, kind: str, **kw) -> Column:
    return Column(name, kind, **kw)


CAMPAIGN_TYPES = ("launch", "seasonal", "always_on", "flash", "event", "brand")
TOUCH_TYPES = (
    "impression",
    "click",
    "visit",
    "email_open",
    "email_click",
    "form_fill",
    "event_attend",
    "content_view",
)
SENIORITIES = ("ic", "manager", "director", "vp", "cxo")
LEAD_STAGES = ("lead", "mql", "sql", "opportunity", "customer", "disqualified", "recycled")
OPPORTUNITY_STAGES = ("discovery", "demo", "proposal", "negotiation", "closed_won", "closed_lost")
VERDICTS = ("accepted", "rejected")
CONTENT_TYPES = ("blog", "ebook", "webinar", "case_study", "landing_page", "video", "email")
PRIMARY_METRICS = ("conversion", "revenue")
TARGET_SCOPES = ("total", "channel", "campaign")
TARGET_METRICS = (
    "spend",
    "revenue",
    "roi",
    "roas",
    "cac",
    "cpa",
    "ctr",
    "cvr",
    "leads",
    "mqls",
    "sqls",
    "pipeline",
    "customers",
)

NONNEG = {"min_value": 0.0}

TABLES: tuple[Table, ...] = (
    Table(
        "fx_rates",
        required=False,
        columns=(
            _c("date", "date", nullable=False, no_future=True),
            _c("currency", "currency", nullable=False),
            _c("rate_to_reporting", "number", nullable=False, min_value=0.0, min_exclusive=True),
        ),
        key=("date", "currency"),
    ),
    Table(
        "campaigns",
        required=True,
        columns=(
            _c("campaign_id", "text", nullable=False),
            _c("campaign_name", "text"),
            _c("channel", "enum", nullable=False, enum=CHANNEL_GROUPS),
            _c("campaign_type", "enum", nullable=False, enum=CAMPAIGN_TYPES),
            _c("start_date", "date", nullable=False),
            _c("end_date", "date"),
            _c("planned_budget", "money", **NONNEG),
            _c("currency", "currency", optional=True),
            _c("utm_campaign", "text"),
            _c("target_cpa", "number", optional=True, **NONNEG),
            _c("target_roas", "number", optional=True, **NONNEG),
            _c("target_ctr", "number", optional=True, **NONNEG),
            _c("target_cvr", "number", optional=True, **NONNEG),
        ),
        key=("campaign_id",),
        money_dates={"planned_budget": ("currency", "start_date")},
    ),
    Table(
        "content",
        required=False,
        columns=(
            _c("content_id", "text", nullable=False),
            _c("title", "text"),
            _c("content_type", "enum", nullable=False, enum=CONTENT_TYPES),
            _c("topic", "text"),
            _c("url", "text"),
            _c("published_at", "timestamp", no_future=True),
            _c("campaign_id", "text", optional=True),
        ),
        key=("content_id",),
        references=(Reference(("campaign_id",), "campaigns", ("campaign_id",)),),
    ),
    Table(
        "experiments",
        required=False,
        columns=(
            _c("experiment_id", "text", nullable=False),
            _c("name", "text"),
            _c("hypothesis", "text"),
            _c("primary_metric", "enum", nullable=False, enum=PRIMARY_METRICS),
            _c("start_date", "date", nullable=False),
            _c("end_date", "date"),
            _c("campaign_id", "text", optional=True),
            _c("planned_split", "text"),
        ),
        key=("experiment_id",),
        references=(Reference(("campaign_id",), "campaigns", ("campaign_id",)),),
    ),
    Table(
        "leads",
        required=True,
        columns=(
            _c("lead_id", "text", nullable=False),
            _c("person_id", "text", nullable=False),
            _c("created_at", "timestamp", nullable=False, no_future=True),
            _c("lead_source", "text"),
            _c("campaign_id", "text", optional=True),
            _c("company", "text"),
            _c("industry", "text"),
            _c("company_size", "integer", **NONNEG),
            _c("country", "text"),
            _c("seniority", "enum", enum=SENIORITIES),
        ),
        key=("lead_id",),
        references=(Reference(("campaign_id",), "campaigns", ("campaign_id",)),),
    ),
    Table(
        "ad_spend",
        required=True,
        columns=(
            _c("date", "date", nullable=False, no_future=True),
            _c("campaign_id", "text", nullable=False),
            _c("impressions", "integer", nullable=False, **NONNEG),
            _c("clicks", "integer", nullable=False, **NONNEG),
            _c("spend", "money", nullable=False, **NONNEG),
            _c("currency", "currency", optional=True),
            _c("platform_conversions", "integer", optional=True, **NONNEG),
        ),
        key=("date", "campaign_id"),
        references=(Reference(("campaign_id",), "campaigns", ("campaign_id",)),),
        money_dates={"spend": ("currency", "date")},
    ),
    Table(
        "touchpoints",
        required=True,
        columns=(
            _c("touchpoint_id", "text", nullable=False),
            _c("person_id", "text", nullable=False),
            _c("ts", "timestamp", nullable=False, no_future=True),
            _c("touch_type", "enum", nullable=False, enum=TOUCH_TYPES),
            _c("utm_source", "text"),
            _c("utm_medium", "text"),
            _c("utm_campaign", "text"),
            _c("channel", "enum", optional=True, enum=CHANNEL_GROUPS),
            _c("content_id", "text", optional=True),
        ),
        key=("touchpoint_id",),
        references=(
            Reference(("content_id",), "content", ("content_id",), when_parent_present=True),
        ),
    ),
    Table(
        "lead_stage_history",
        required=True,
        columns=(
            _c("lead_id", "text", nullable=False),
            _c("stage", "enum", nullable=False, enum=LEAD_STAGES),
            _c("entered_at", "timestamp", nullable=False, no_future=True),
        ),
        key=("lead_id", "stage", "entered_at"),
        references=(Reference(("lead_id",), "leads", ("lead_id",)),),
    ),
    Table(
        "opportunities",
        required=True,
        columns=(
            _c("opportunity_id", "text", nullable=False),
            _c("lead_id", "text", nullable=False),
            _c("created_at", "timestamp", nullable=False, no_future=True),
            _c("amount", "money", nullable=False, **NONNEG),
            _c("currency", "currency", optional=True),
            _c("stage", "enum", nullable=False, enum=OPPORTUNITY_STAGES),
            _c("close_date", "date"),
            _c("closed_at", "timestamp", no_future=True),
        ),
        key=("opportunity_id",),
        references=(Reference(("lead_id",), "leads", ("lead_id",)),),
        money_dates={"amount": ("currency", "created_at")},
    ),
    Table(
        "sales_feedback",
        required=False,
        columns=(
            _c("lead_id", "text", nullable=False),
            _c("ts", "timestamp", nullable=False, no_future=True),
            _c("verdict", "enum", nullable=False, enum=VERDICTS),
            _c("reason", "text"),
        ),
        key=("lead_id", "ts"),
        references=(Reference(("lead_id",), "leads", ("lead_id",)),),
    ),
    Table(
        "content_daily",
        required=False,
        columns=(
            _c("date", "date", nullable=False, no_future=True),
            _c("content_id", "text", nullable=False),
            _c("pageviews", "integer", **NONNEG),
            _c("unique_visitors", "integer", **NONNEG),
            _c("avg_engaged_seconds", "number", **NONNEG),
            _c("organic_sessions", "integer", **NONNEG),
            _c("form_fills", "integer", **NONNEG),
        ),
        key=("date", "content_id"),
        references=(
            Reference(("content_id",), "content", ("content_id",), when_parent_present=True),
        ),
    ),
    Table(
        "seo_rankings",
        required=False,
        columns=(
            _c("date", "date", nullable=False, no_future=True),
            _c("keyword", "text", nullable=False),
            _c("content_id", "text"),
            _c("position", "number", nullable=False, min_value=1.0),
            _c("search_volume", "integer", **NONNEG),
            _c("impressions", "integer", **NONNEG),
            _c("clicks", "integer", **NONNEG),
        ),
        key=("date", "keyword", "content_id"),
        references=(
            Reference(("content_id",), "content", ("content_id",), when_parent_present=True),
        ),
    ),
    Table(
        "targets",
        required=False,
        columns=(
            _c("month", "month", nullable=False),
            _c("scope", "enum", nullable=False, enum=TARGET_SCOPES),
            _c("scope_id", "text"),
            _c("metric", "enum", nullable=False, enum=TARGET_METRICS),
            _c("target_value", "number", nullable=False),
        ),
        key=("month", "scope", "scope_id", "metric"),
    ),
    Table(
        "budget_plan",
        required=False,
        columns=(
            _c("month", "month", nullable=False),
            _c("channel", "enum", nullable=False, enum=CHANNEL_GROUPS),
            _c("planned_spend", "money", nullable=False, **NONNEG),
        ),
        key=("month", "channel"),
    ),
    Table(
        "experiment_units",
        required=False,
        columns=(
            _c("experiment_id", "text", nullable=False),
            _c("unit_id", "text", nullable=False),
            _c("variant", "text", nullable=False),
            _c("assigned_at", "timestamp", nullable=False, no_future=True),
            _c("converted", "flag", nullable=False),
            _c("revenue", "money", **NONNEG),
            _c("pre_metric", "number", optional=True),
        ),
        key=("experiment_id", "unit_id"),
        references=(Reference(("experiment_id",), "experiments", ("experiment_id",)),),
    ),
)

#: Tables in validation order (parents before children).
TABLE_BY_NAME: dict[str, Table] = {t.name: t for t in TABLES}
TABLE_NAMES: tuple[str, ...] = tuple(t.name for t in TABLES)
REQUIRED_TABLES: tuple[str, ...] = tuple(t.name for t in TABLES if t.required)

# ISO 4217 active codes (2024). An unknown 3-letter code is accepted with a warning.
ISO_4217 = frozenset(
    """AED AFN ALL AMD ANG AOA ARS AUD AWG AZN BAM BBD BDT BGN BHD BIF BMD BND BOB BRL BSD BTN
    BWP BYN BZD CAD CDF CHF CLP CNY COP CRC CUP CVE CZK DJF DKK DOP DZD EGP ERN ETB EUR FJD
    FKP GBP GEL GHS GIP GMD GNF GTQ GYD HKD HNL HTG HUF IDR ILS INR IQD IRR ISK JMD JOD JPY
    KES KGS KHR KMF KPW KRW KWD KYD KZT LAK LBP LKR LRD LSL LYD MAD MDL MGA MKD MMK MNT MOP
    MRU MUR MVR MWK MXN MYR MZN NAD NGN NIO NOK NPR NZD OMR PAB PEN PGK PHP PKR PLN PYG QAR
    RON RSD RUB RWF SAR SBD SCR SDG SEK SGD SHP SLE SLL SOS SRD SSP STN SVC SYP SZL THB TJS
    TMT TND TOP TRY TTD TWD TZS UAH UGX USD UYU UZS VES VND VUV WST XAF XCD XOF XPF YER ZAR
    ZMW ZWL""".split()
)
