"""The generator writes every contract table, valid, deterministic, inside the window."""

from __future__ import annotations

import hashlib
from datetime import UTC, date, datetime
from pathlib import Path

import duckdb
import pandas as pd
import pytest

from gtm_assets.generate import CONTRACT_TABLES, default_end_month, generate, month_list
from gtm_assets.generate.params import CHANNELS, UNCLASSIFIABLE_UTM

END = "2025-06"
END_TS = "2025-07-01 00:00:00"
COLUMNS = {
    "campaigns": [
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
    "ad_spend": [
        "date",
        "campaign_id",
        "impressions",
        "clicks",
        "spend",
        "currency",
        "platform_conversions",
    ],
    "touchpoints": [
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
    "leads": [
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
    "lead_stage_history": ["lead_id", "stage", "entered_at"],
    "opportunities": [
        "opportunity_id",
        "lead_id",
        "created_at",
        "amount",
        "currency",
        "stage",
        "close_date",
        "closed_at",
    ],
    "sales_feedback": ["lead_id", "ts", "verdict", "reason"],
    "content": [
        "content_id",
        "title",
        "content_type",
        "topic",
        "url",
        "published_at",
        "campaign_id",
    ],
    "content_daily": [
        "date",
        "content_id",
        "pageviews",
        "unique_visitors",
        "avg_engaged_seconds",
        "organic_sessions",
        "form_fills",
    ],
    "seo_rankings": [
        "date",
        "keyword",
        "content_id",
        "position",
        "search_volume",
        "impressions",
        "clicks",
    ],
    "targets": ["month", "scope", "scope_id", "metric", "target_value"],
    "budget_plan": ["month", "channel", "planned_spend"],
    "experiments": [
        "experiment_id",
        "name",
        "hypothesis",
        "primary_metric",
        "start_date",
        "end_date",
        "campaign_id",
        "planned_split",
    ],
    "experiment_units": [
        "experiment_id",
        "unit_id",
        "variant",
        "assigned_at",
        "converted",
        "revenue",
        "pre_metric",
    ],
    "fx_rates": ["date", "currency", "rate_to_reporting"],
}
TYPES = {  # column -> DuckDB type every value must cast to
    "campaigns": {
        "start_date": "date",
        "end_date": "date",
        "planned_budget": "double",
        "target_cpa": "double",
        "target_roas": "double",
        "target_ctr": "double",
        "target_cvr": "double",
    },
    "ad_spend": {
        "date": "date",
        "impressions": "bigint",
        "clicks": "bigint",
        "spend": "double",
        "platform_conversions": "bigint",
    },
    "touchpoints": {"ts": "timestamp"},
    "leads": {"created_at": "timestamptz", "company_size": "bigint"},
    "lead_stage_history": {"entered_at": "timestamp"},
    "opportunities": {
        "created_at": "timestamp",
        "amount": "double",
        "close_date": "date",
        "closed_at": "timestamp",
    },
    "sales_feedback": {"ts": "timestamptz"},
    "content": {"published_at": "timestamp"},
    "content_daily": {
        "date": "date",
        "pageviews": "bigint",
        "unique_visitors": "bigint",
        "avg_engaged_seconds": "double",
        "organic_sessions": "bigint",
        "form_fills": "bigint",
    },
    "seo_rankings": {
        "date": "date",
        "position": "bigint",
        "search_volume": "bigint",
        "impressions": "bigint",
        "clicks": "bigint",
    },
    "targets": {"target_value": "double"},
    "budget_plan": {"planned_spend": "double"},
    "experiments": {"start_date": "date", "end_date": "date"},
    "experiment_units": {
        "assigned_at": "timestamp",
        "converted": "bigint",
        "revenue": "double",
        "pre_metric": "double",
    },
    "fx_rates": {"date": "date", "rate_to_reporting": "double"},
}


def _digest(folder: Path) -> dict[str, str]:
    return {
        p.relative_to(folder).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(folder.rglob("*"))
        if p.is_file()
    }


@pytest.fixture(scope="module")
def world(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("gen") / "raw"
    generate(out, months=2, end_month=END, scale=0.2, seed=7)
    return out


@pytest.fixture(scope="module")
def con(world: Path):
    c = duckdb.connect()
    for t in CONTRACT_TABLES:
        path = str(world / f"{t}.csv")
        c.execute(
            f"create table {t} as select * from read_csv($p, all_varchar = true, header = true)",  # noqa: S608
            {"p": path},
        )
    yield c
    c.close()


def q(con, sql: str, params: dict | None = None):
    return con.execute(sql, params or {}).fetchall()


def test_same_seed_same_bytes_other_seed_differs(world: Path, tmp_path: Path) -> None:
    again = tmp_path / "again"
    generate(again, months=2, end_month=END, scale=0.2, seed=7)
    assert _digest(again) == _digest(world)
    other = tmp_path / "other"
    generate(other, months=2, end_month=END, scale=0.2, seed=8)
    a, b = _digest(other), _digest(world)
    assert a["touchpoints.csv"] != b["touchpoints.csv"]
    assert a["leads.csv"] != b["leads.csv"]


def test_every_contract_table_and_column(world: Path, con) -> None:
    for t in CONTRACT_TABLES:
        assert (world / f"{t}.csv").exists(), t
        cols = [r[0] for r in q(con, f"describe {t}")]
        assert cols == COLUMNS[t], t
        assert q(con, f"select count(*) from {t}")[0][0] > 0, t  # noqa: S608
    for f in (
        "README.md",
        "channel_shares.csv",
        "response_curves.csv",
        "lead_quality.csv",
        "experiments.csv",
        "spend_daily.csv",
        "conversion_shares.csv",
    ):
        assert (world / "truth" / f).exists(), f


def test_types_cast_cleanly(con) -> None:
    for t, cols in TYPES.items():
        for c, typ in cols.items():
            bad = q(
                con,
                f'select count(*) from {t} where "{c}" is not null and try_cast("{c}" as {typ}) is null',
            )  # noqa: S608
            assert bad[0][0] == 0, (t, c)


def test_primary_keys_unique(con) -> None:
    for t, key in (
        ("campaigns", "campaign_id"),
        ("touchpoints", "touchpoint_id"),
        ("leads", "lead_id"),
        ("opportunities", "opportunity_id"),
        ("content", "content_id"),
        ("experiments", "experiment_id"),
        ("experiment_units", "experiment_id, unit_id"),
        ("ad_spend", "date, campaign_id"),
        ("fx_rates", "date, currency"),
        ("budget_plan", "month, channel"),
        ("content_daily", "date, content_id"),
        ("seo_rankings", "date, keyword"),
        ("targets", "month, scope, coalesce(scope_id, ''), metric"),
    ):
        dup = q(
            con, f"select count(*) from (select {key} from {t} group by all having count(*) > 1)"
        )  # noqa: S608
        assert dup[0][0] == 0, t
        assert q(con, f"select count(*) from {t} where {key.split(',')[0]} is null")[0][0] == 0  # noqa: S608


def test_references_resolve(con) -> None:
    refs = [
        ("ad_spend", "campaign_id", "campaigns", "campaign_id"),
        ("leads", "campaign_id", "campaigns", "campaign_id"),
        ("leads", "person_id", "touchpoints", "person_id"),
        ("lead_stage_history", "lead_id", "leads", "lead_id"),
        ("opportunities", "lead_id", "leads", "lead_id"),
        ("sales_feedback", "lead_id", "leads", "lead_id"),
        ("touchpoints", "content_id", "content", "content_id"),
        ("content", "campaign_id", "campaigns", "campaign_id"),
        ("content_daily", "content_id", "content", "content_id"),
        ("seo_rankings", "content_id", "content", "content_id"),
        ("experiments", "campaign_id", "campaigns", "campaign_id"),
        ("experiment_units", "experiment_id", "experiments", "experiment_id"),
    ]
    for t, c, rt, rc in refs:
        miss = q(
            con,
            f"select count(*) from {t} where {c} is not null and {c} not in (select {rc} from {rt})",
        )  # noqa: S608
        assert miss[0][0] == 0, (t, c)
    miss = q(
        con,
        "select count(*) from targets where scope = 'campaign' and scope_id not in (select campaign_id from campaigns)",
    )
    assert miss[0][0] == 0
    chans = set(CHANNELS)
    assert {
        r[0] for r in q(con, "select distinct scope_id from targets where scope = 'channel'")
    } <= chans
    assert {r[0] for r in q(con, "select distinct channel from budget_plan")} <= chans
    assert {r[0] for r in q(con, "select distinct channel from campaigns")} <= chans


def test_ranges_and_vocabularies(con) -> None:
    assert (
        q(
            con,
            "select count(*) from ad_spend where impressions::bigint < 0 or clicks::bigint < 0 "
            "or clicks::bigint > impressions::bigint or spend::double < 0",
        )[0][0]
        == 0
    )
    assert (
        q(
            con,
            "select count(*) from seo_rankings where clicks::int > impressions::int or position::int < 1",
        )[0][0]
        == 0
    )
    assert (
        q(con, "select count(*) from content_daily where unique_visitors::int > pageviews::int")[0][
            0
        ]
        == 0
    )
    vocab = {
        ("campaigns", "campaign_type"): {
            "launch",
            "seasonal",
            "always_on",
            "flash",
            "event",
            "brand",
        },
        ("touchpoints", "touch_type"): {
            "impression",
            "click",
            "visit",
            "email_open",
            "email_click",
            "form_fill",
            "event_attend",
            "content_view",
        },
        ("leads", "seniority"): {"ic", "manager", "director", "vp", "cxo"},
        ("lead_stage_history", "stage"): {
            "lead",
            "mql",
            "sql",
            "opportunity",
            "customer",
            "disqualified",
            "recycled",
        },
        ("opportunities", "stage"): {
            "discovery",
            "demo",
            "proposal",
            "negotiation",
            "closed_won",
            "closed_lost",
        },
        ("sales_feedback", "verdict"): {"accepted", "rejected"},
        ("content", "content_type"): {
            "blog",
            "ebook",
            "webinar",
            "case_study",
            "landing_page",
            "video",
            "email",
        },
        ("experiments", "primary_metric"): {"conversion", "revenue"},
        ("targets", "scope"): {"total", "channel", "campaign"},
        ("experiment_units", "converted"): {"0", "1"},
    }
    for (t, c), allowed in vocab.items():
        got = {r[0] for r in q(con, f"select distinct {c} from {t}")}  # noqa: S608
        assert got <= allowed, (t, c, got - allowed)
    assert {r[0] for r in q(con, "select distinct content_type from content")} == vocab[
        ("content", "content_type")
    ]
    # all six campaign types, all eight touch types used by journeys
    assert {r[0] for r in q(con, "select distinct campaign_type from campaigns")} == vocab[
        ("campaigns", "campaign_type")
    ]
    assert {r[0] for r in q(con, "select distinct touch_type from touchpoints")} == vocab[
        ("touchpoints", "touch_type")
    ]
    assert (
        q(
            con,
            "select count(*) from leads where length(country) != 2 or upper(country) != country",
        )[0][0]
        == 0
    )
    # closed_at empty exactly for open deals
    assert (
        q(
            con,
            "select count(*) from opportunities where (closed_at is null) != (stage not in ('closed_won', 'closed_lost'))",
        )[0][0]
        == 0
    )
    assert (
        q(con, "select count(*) from opportunities where closed_at is null")[0][0] > 0
    )  # open pipeline at the end
    assert q(con, "select count(*) from experiment_units where revenue::double < 0")[0][0] == 0


def test_nothing_after_the_end_month(con) -> None:
    events = [
        ("touchpoints", "ts::timestamp"),
        ("leads", "created_at::timestamptz at time zone 'UTC'"),
        ("lead_stage_history", "entered_at::timestamp"),
        ("opportunities", "created_at::timestamp"),
        ("opportunities", "closed_at::timestamp"),
        ("sales_feedback", "ts::timestamptz at time zone 'UTC'"),
        ("content", "published_at::timestamp"),
        ("experiment_units", "assigned_at::timestamp"),
        ("ad_spend", "date::date"),
        ("content_daily", "date::date"),
        ("seo_rankings", "date::date"),
        ("fx_rates", "date::date"),
        ("experiments", "end_date::date"),
    ]
    for t, expr in events:
        late = q(con, f"select count(*) from {t} where {expr} >= $end::timestamp", {"end": END_TS})  # noqa: S608
        assert late[0][0] == 0, t
    first = month_list(2, END)[0]
    early = q(
        con,
        "select count(*) from touchpoints where ts::timestamp < $s::timestamp",
        {"s": f"{first}-01"},
    )
    assert early[0][0] == 0
    assert {r[0] for r in q(con, "select distinct month from targets")} == set(month_list(2, END))


def test_money_in_eur_is_covered_by_fx(con) -> None:
    assert q(con, "select count(*) from campaigns where currency = 'EUR'")[0][0] >= 1
    assert q(con, "select count(*) from ad_spend where currency = 'EUR'")[0][0] > 0
    for t, d in (
        ("ad_spend", "date::date"),
        ("opportunities", "created_at::timestamp::date"),
        ("campaigns", "start_date::date"),
    ):
        miss = q(
            con,
            f"select count(*) from {t} where currency = 'EUR' and {d} not in "  # noqa: S608
            "(select date::date from fx_rates where currency = 'EUR')",
        )
        assert miss[0][0] == 0, t


def test_hostile_names_survive_the_round_trip(con) -> None:
    names = " | ".join(r[0] for r in q(con, "select campaign_name from campaigns"))
    for needle in ("=SUM(A1)", "'); drop table campaigns; --", '"Mega"', "Ünïcödé", "multi\nline"):
        assert needle in names, needle


def test_messy_utm_and_unclassifiable_share(con) -> None:
    total = q(con, "select count(*) from touchpoints")[0][0]
    garbage = [f"{s}|{m}" for s, m in UNCLASSIFIABLE_UTM]
    n_bad = q(
        con,
        "select count(*) from touchpoints where channel is null and "
        "coalesce(utm_source, '') || '|' || coalesce(utm_medium, '') in (select unnest($g))",
        {"g": garbage},
    )[0][0]
    assert 0.005 <= n_bad / total <= 0.02
    sources = {r[0] for r in q(con, "select distinct utm_source from touchpoints")}
    assert {"Google", " google", "Facebook"} <= sources
    mediums = {r[0] for r in q(con, "select distinct utm_medium from touchpoints")}
    assert {"ppc", "paidsocial", "e-mail", "newsletter", "CPC"} <= mediums
    explicit = q(con, "select count(*) from touchpoints where channel is not null")[0][0] / total
    assert 0.04 < explicit < 0.12
    assert (
        q(
            con,
            "select count(*) from touchpoints where channel is not null and channel != trim(channel)",
        )[0][0]
        > 0
    )
    # utm_campaign matches a campaign (case/space-insensitively) whenever it is filled
    miss = q(
        con,
        "select count(*) from touchpoints where utm_campaign is not null and lower(trim(utm_campaign)) "
        "not in (select utm_campaign from campaigns)",
    )[0][0]
    assert miss == 0
    variants = q(
        con,
        "select count(*) from touchpoints where utm_campaign is not null and utm_campaign != lower(trim(utm_campaign))",
    )[0][0]
    assert variants > 0


def test_parquet_matches_csv(world: Path, tmp_path: Path, con) -> None:
    out = tmp_path / "pq"
    s = generate(out, months=2, end_month=END, scale=0.2, seed=7, file_format="parquet")
    c = duckdb.connect()
    for t in ("touchpoints", "opportunities", "campaigns"):
        pq = c.execute(f"select count(*) from read_parquet('{out / (t + '.parquet')}')").fetchall()[
            0
        ][0]  # noqa: S608
        assert pq == s.rows[t] == q(con, f"select count(*) from {t}")[0][0]  # noqa: S608
    names = c.execute(
        f"select campaign_name from read_parquet('{out / 'campaigns.parquet'}') order by 1"
    ).fetchall()  # noqa: S608
    assert names == q(con, "select campaign_name from campaigns order by 1")


def test_scale_multiplies_volumes(tmp_path: Path) -> None:
    a = generate(tmp_path / "a", months=1, end_month=END, scale=0.2, seed=3)
    b = generate(tmp_path / "b", months=1, end_month=END, scale=0.6, seed=3)
    for t, lo, hi in (
        ("touchpoints", 2.6, 3.4),
        ("leads", 1.9, 4.4),
    ):
        ratio = b.rows[t] / a.rows[t]  # leads: ~60 vs ~180, so Poisson noise is wide
        assert lo < ratio < hi, (t, ratio)
    spend = [
        pd.read_csv(p / "ad_spend.csv")["spend"].sum() for p in (tmp_path / "a", tmp_path / "b")
    ]
    assert 2.6 < spend[1] / spend[0] < 3.4
    assert "touchpoints" in str(a) and a.months == ["2025-06"]


def test_default_end_month_is_last_complete_month() -> None:
    assert default_end_month(date(2026, 1, 15)) == "2025-12"
    assert default_end_month(date(2026, 3, 1)) == "2026-02"
    today = datetime.now(UTC).date()
    assert pd.Period(default_end_month(), freq="M") == pd.Period(today, freq="M") - 1
    assert month_list(3, "2025-02") == ["2024-12", "2025-01", "2025-02"]


def test_bad_arguments_are_refused(tmp_path: Path) -> None:
    with pytest.raises(ValueError):
        generate(tmp_path, months=0)
    with pytest.raises(ValueError):
        generate(tmp_path, end_month="2025-13")
    with pytest.raises(ValueError):
        generate(tmp_path, file_format="xlsx")


def test_the_raw_loader_accepts_everything(world: Path) -> None:
    """Messy but valid: the project's own loader loads every row, quarantines none."""
    from gtm_assets.raw.loader import load_raw

    c = duckdb.connect()
    report = load_raw(c, world, now=datetime(2025, 7, 2, tzinfo=UTC))
    for t in CONTRACT_TABLES:
        assert report.tables[t].present, t
        assert report.tables[t].rows_quarantined == 0, t
        assert report.tables[t].rows_loaded == report.tables[t].rows_read, t


@pytest.mark.parametrize("fmt", ["csv", "parquet"])
def test_people_groups_keep_ids_unique_and_files_whole(
    tmp_path: Path, monkeypatch, fmt: str
) -> None:
    """Large worlds are simulated in groups of people; force several groups on a small one."""
    import gtm_assets.generate as gen

    monkeypatch.setattr(gen, "CHUNK_TOUCHES", 4000)
    messages: list[str] = []
    s = generate(
        tmp_path / "g",
        months=1,
        end_month=END,
        scale=0.3,
        seed=5,
        file_format=fmt,
        progress=messages.append,
    )
    assert any("people group 3/" in m for m in messages)
    assert not (tmp_path / "g" / ".parts").exists()
    c = duckdb.connect()
    reader = "read_csv" if fmt == "csv" else "read_parquet"

    def rel(t: str) -> str:
        return f"{reader}('{tmp_path / 'g' / (t + '.' + fmt)}')"

    n, ids, first, last = c.execute(
        f"select count(*), count(distinct touchpoint_id), min(touchpoint_id), max(touchpoint_id) from {rel('touchpoints')}"  # noqa: S608
    ).fetchall()[0]
    assert n == ids == s.rows["touchpoints"] and first == "T0000000001" and last == f"T{n:010d}"
    assert (
        c.execute(
            f"select count(*) from {rel('touchpoints')} where touchpoint_id = 'touchpoint_id'"
        ).fetchall()[0][0]
        == 0
    )  # noqa: S608
    leads = c.execute(
        f"select count(*), count(distinct lead_id), count(distinct person_id) from {rel('leads')}"
    ).fetchall()[0]  # noqa: S608
    assert leads[0] == leads[1] == leads[2] == s.rows["leads"]
    orphan = c.execute(
        f"select count(*) from {rel('leads')} where person_id not in (select person_id from {rel('touchpoints')})"  # noqa: S608
    ).fetchall()[0][0]
    assert orphan == 0
    opp = c.execute(
        f"select count(distinct opportunity_id) = count(*) from {rel('opportunities')}"
    ).fetchall()[0][0]  # noqa: S608
    assert opp
    cs = pd.read_csv(tmp_path / "g" / "truth" / "channel_shares.csv")
    assert cs[cs.conversion_type == "lead"]["conversions"].iloc[0] == s.rows["leads"]
    again = generate(tmp_path / "h", months=1, end_month=END, scale=0.3, seed=5, file_format=fmt)
    assert _digest(tmp_path / "h") == _digest(tmp_path / "g") and again.rows == s.rows


def test_regenerating_in_another_format_leaves_no_twin(tmp_path: Path) -> None:
    generate(tmp_path, months=1, end_month=END, scale=0.1, seed=1)
    assert (tmp_path / "touchpoints.csv").exists()
    generate(tmp_path, months=1, end_month=END, scale=0.1, seed=1, file_format="parquet")
    for t in CONTRACT_TABLES:
        assert (tmp_path / f"{t}.parquet").exists() and not (tmp_path / f"{t}.csv").exists(), t
