"""utm -> channel rules: the packaged defaults on messy real-world values, Python and
DuckDB agreeing, user overrides, and bad rules files rejected with file/row/column."""

from __future__ import annotations

import pandas as pd
import pytest
from raw_helpers import load, raw_tables, write_raw

from gtm_assets.raw import (
    CHANNEL_GROUPS,
    RawInputError,
    classify_channel,
    load_channel_rules,
)

# (utm_source, utm_medium, expected channel group or None = unclassified)
MESSY = [
    ("google", "cpc", "paid_search"),
    ("Google", "CPC", "paid_search"),
    (" google ", " cpc ", "paid_search"),
    ("google.com", "ppc", "paid_search"),
    ("bing", "paid_search", "paid_search"),
    ("adwords", "cpc", "paid_search"),
    ("DuckDuckGo", "paid", "paid_search"),
    ("yahoo", "sem", "paid_search"),
    ("baidu", "cpc", "paid_search"),
    ("google", "cpm", "display"),
    ("google", "organic", "organic_search"),
    ("google", "", "organic_search"),
    (None, "organic", "organic_search"),
    ("www.bing.com", "referral", "organic_search"),
    ("ecosia.org", "organic", "organic_search"),
    ("yandex", None, "organic_search"),
    ("facebook", "cpc", "paid_social"),
    ("Facebook", "Paid_Social", "paid_social"),
    ("fb", "paid", "paid_social"),
    ("ig", "cpm", "paid_social"),
    ("instagram", "paid-social", "paid_social"),
    ("LinkedIn", "sponsored", "paid_social"),
    ("linkedin", "cpc", "paid_social"),
    ("twitter", "promoted_tweet", "paid_social"),
    ("x", "paid", "paid_social"),
    ("tiktok", "ads", "paid_social"),
    ("reddit", "cpm", "paid_social"),
    ("li", "paid_social", "paid_social"),  # the medium says paid, not the social rule 105
    ("weird_partner_x", "(not set)", None),  # short names only as the whole source
    ("support_threads", "", None),
    ("my-li-page", "referral", "referral"),
    ("x.com", "referral", "organic_social"),
    ("l.facebook.com", "referral", "organic_social"),
    ("ig", "paid", "paid_social"),
    ("li", "social", "organic_social"),
    ("agency-x", "Paid Social", "paid_social"),
    ("agency-x", "paid_search", "paid_search"),
    ("some-dsp", "social-ads", "paid_social"),
    ("facebook", "social", "organic_social"),
    ("facebook", "", "organic_social"),
    ("m.facebook.com", "referral", "organic_social"),
    ("lnkd.in", "referral", "organic_social"),
    ("t.co", "referral", "organic_social"),
    ("linkedin", "organic", "organic_social"),
    ("pinterest", "social", "organic_social"),
    ("youtube", "cpv", "video"),
    ("youtube", "paid", "video"),
    ("vimeo", "video", "video"),
    ("", "video", "video"),
    ("youtube", "organic", "organic_social"),
    ("dv360", "display", "display"),
    ("criteo", "banner", "display"),
    ("publisher.example", "cpm", "display"),
    ("taboola", "native", "display"),
    ("googel", "cpc", None),  # typos are not guessed (staging may use the campaign)
    ("newsletter", "email", "email"),
    ("hubspot", "email", "email"),
    ("", "E-Mail", "email"),
    ("mailchimp", "", "email"),
    ("weekly_newsletter", "newsletter", "email"),
    ("awin", "affiliate", "affiliate"),
    ("partner-site.com", "partner", "affiliate"),
    ("", "webinar", "events"),
    ("saastr", "conference", "events"),
    ("webinar", "", "events"),
    ("partnerblog.com", "referral", "referral"),
    ("news.ycombinator.com", "referral", "referral"),
    ("", "", "direct"),
    (None, None, "direct"),
    ("(direct)", "(none)", "direct"),
    ("direct", "", "direct"),
    ("", "cpc", None),
    ("partnerblog.com", "", None),
    ("qr_code", "print", None),
    ("tv", "offline", None),
]


@pytest.fixture(scope="module")
def rules() -> pd.DataFrame:
    return load_channel_rules()


def test_default_rules_file_is_valid(rules):
    assert rules.priority.is_monotonic_increasing
    assert set(rules.channel) == set(CHANNEL_GROUPS)


@pytest.mark.parametrize(("source", "medium", "expected"), MESSY)
def test_default_rules_on_messy_values(rules, source, medium, expected):
    assert classify_channel(source, medium, rules) == expected


def test_duckdb_applies_the_rules_like_python(con, valid_dir, rules):
    """The staging SQL's way (lower(trim()), regexp_full_match, first priority) agrees."""
    load(con, valid_dir)
    pairs = pd.DataFrame(MESSY, columns=["utm_source", "utm_medium", "expected"])
    con.register("pairs", pairs)
    got = con.execute(
        "with p as (select utm_source, utm_medium, "
        "coalesce(lower(trim(utm_source)), '') as s, coalesce(lower(trim(utm_medium)), '') as m "
        "from pairs) "
        "select p.utm_source, p.utm_medium, ("
        "  select r.channel from raw.channel_rules r "
        "  where regexp_full_match(p.s, r.source_regex) and regexp_full_match(p.m, r.medium_regex)"
        "  order by r.priority limit 1) as channel "
        "from p"
    ).fetchall()
    python = [classify_channel(s, m, rules) for s, m, _ in MESSY]
    assert [g[2] for g in got] == python


def test_override_rules_file(con, tmp_path):
    custom = tmp_path / "my_rules.csv"
    custom.write_text(
        "priority,source_regex,medium_regex,channel,note\n"
        "5,partnerblog\\.com,.*,affiliate,our partner\n"
        '1,"(google|bing)",cpc,paid_search,"search, paid"\n'
        "9,.*,.*,referral,everything else\n"
    )
    rules = load_channel_rules(custom)
    assert list(rules.priority) == [1, 5, 9]
    assert classify_channel("PartnerBlog.com", "", rules) == "affiliate"
    assert classify_channel("google", "cpc", rules) == "paid_search"
    assert classify_channel("google", "organic", rules) == "referral"
    folder = write_raw(tmp_path / "raw", raw_tables(optional=False))
    report = load(con, folder, channel_rules_path=custom)
    assert report.channel_rules_source == str(custom)
    assert con.execute("select priority, channel, note from raw.channel_rules").fetchall() == [
        (1, "paid_search", "search, paid"),
        (5, "affiliate", "our partner"),
        (9, "referral", "everything else"),
    ]


@pytest.mark.parametrize(
    ("line", "column", "fragment"),
    [
        ("x,.*,.*,direct,", "priority", '"x" is not an integer priority'),
        ("10,.*,.*,direct,", "priority", "priority 10 is already used by row 1"),
        ("11,(google,.*,direct,", "source_regex", "is not a valid regular expression"),
        ("12,.*,(?!cpc).*,direct,", "medium_regex", "look-around"),
        ("13,,.*,direct,", "source_regex", "empty regex; write .* to match any value"),
        ("14,.*,.*,tv,", "channel", '"tv" is not a channel group'),
    ],
)
def test_bad_rules_file_is_rejected(con, tmp_path, line, column, fragment):
    bad = tmp_path / "rules.csv"
    bad.write_text("priority,source_regex,medium_regex,channel,note\n10,.*,.*,direct,\n" + line)
    with pytest.raises(RawInputError) as info:
        load_channel_rules(bad)
    (problem,) = info.value.problems
    assert (problem.file, problem.row, problem.column) == (str(bad), 2, column)
    assert fragment in problem.message
    # load_raw refuses to start, leaving the warehouse untouched.
    with pytest.raises(RawInputError):
        load(con, tmp_path, channel_rules_path=bad)
    assert con.execute(
        "select count(*) from information_schema.tables where table_schema = 'raw'"
    ).fetchall() == [(0,)]


def test_rules_file_missing_column_or_file(tmp_path):
    bad = tmp_path / "rules.csv"
    bad.write_text("priority,source,medium_regex,channel\n1,.*,.*,direct\n")
    with pytest.raises(RawInputError, match="required column source_regex is missing"):
        load_channel_rules(bad)
    with pytest.raises(RawInputError, match="not found"):
        load_channel_rules(tmp_path / "nope.csv")
