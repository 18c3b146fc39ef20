"""The sample world's fixed parameters (scale 1). Everything the truth files report comes from here.

Spend is in USD (the reporting currency) per day. A channel's *exposure events* per day are
``scale * R * hill(spend / scale; K, n)`` for paid channels and ``scale * rate`` (with weekly
and slow seasonal variation) for unpaid ones. Each exposure event independently fires a
*conversion ticket* with probability ``q`` (clicks ``click_q_mult`` times as likely as pure
views, the average over exposures being ``q``); a fired ticket converts the person after a
geometric delay of ``k`` days, ``P(k) = (1 - delay_decay) * delay_decay**k``.
"""

from __future__ import annotations

from dataclasses import dataclass

from gtm_assets.raw.schema import SENIORITIES, TOUCH_TYPES  # noqa: F401 (re-exported)

CHANNELS: tuple[str, ...] = (
    "paid_search",
    "paid_social",
    "display",
    "video",
    "affiliate",
    "events",
    "email",
    "organic_search",
    "organic_social",
    "referral",
    "direct",
)
PAID_CHANNELS: tuple[str, ...] = CHANNELS[:7]
CH = {c: i for i, c in enumerate(CHANNELS)}

TT = {t: i for i, t in enumerate(TOUCH_TYPES)}


@dataclass(frozen=True)
class ChannelSpec:
    """How one channel turns spend (or nothing) into exposure events and conversion tickets."""

    name: str
    q: float  # mean per-exposure conversion-ticket probability
    click_prob: float  # share of exposure events that are click-throughs
    click_q_mult: float  # a click-through's ticket probability relative to a pure view
    delay_decay: float  # geometric carry-over of the ticket -> conversion delay (days)
    gamma: float  # person targeting: >1 favours active, large-company people
    # paid channels: Hill response of exposure events per day to daily spend (scale 1)
    R: float = 0.0
    K: float = 0.0
    n: float = 1.0
    typical_spend: float = 0.0  # rough mean daily channel spend the campaigns are built around
    cpm: float = 0.0  # cost per 1000 impressions reported by the platform
    ctr: float = 0.0  # platform click-through rate
    platform_inflation: float = 1.0  # platform-reported conversions / true tickets
    # unpaid channels: mean exposure events per day (scale 1)
    rate: float = 0.0


SPECS: dict[str, ChannelSpec] = {
    s.name: s
    for s in (
        ChannelSpec(
            "paid_search",
            q=0.030,
            click_prob=1.0,
            click_q_mult=1.0,
            delay_decay=0.30,
            gamma=1.5,
            R=209.0,
            K=3000.0,
            n=1.3,
            typical_spend=3000.0,
            cpm=60.0,
            ctr=0.045,
            platform_inflation=1.6,
        ),
        ChannelSpec(
            "paid_social",
            q=0.006,
            click_prob=0.25,
            click_q_mult=3.0,
            delay_decay=0.55,
            gamma=1.2,
            R=880.0,
            K=7000.0,
            n=1.1,
            typical_spend=2000.0,
            cpm=9.0,
            ctr=0.009,
            platform_inflation=2.6,
        ),
        ChannelSpec(
            "display",
            q=0.002,
            click_prob=0.08,
            click_q_mult=4.0,
            delay_decay=0.60,
            gamma=1.0,
            R=319.0,
            K=500.0,
            n=1.0,
            typical_spend=1500.0,
            cpm=3.5,
            ctr=0.002,
            platform_inflation=3.5,
        ),
        ChannelSpec(
            "video",
            q=0.004,
            click_prob=0.10,
            click_q_mult=3.0,
            delay_decay=0.70,
            gamma=1.2,
            R=495.0,
            K=2800.0,
            n=1.5,
            typical_spend=1200.0,
            cpm=14.0,
            ctr=0.004,
            platform_inflation=2.2,
        ),
        ChannelSpec(
            "affiliate",
            q=0.020,
            click_prob=1.0,
            click_q_mult=1.0,
            delay_decay=0.40,
            gamma=1.1,
            R=50.0,
            K=450.0,
            n=1.8,
            typical_spend=600.0,
            cpm=25.0,
            ctr=0.02,
            platform_inflation=1.3,
        ),
        ChannelSpec(
            "events",
            q=0.080,
            click_prob=1.0,
            click_q_mult=1.0,
            delay_decay=0.50,
            gamma=2.5,
            R=176.0,
            K=16000.0,
            n=1.2,
            typical_spend=2500.0,
            cpm=400.0,
            ctr=0.25,
            platform_inflation=1.0,
        ),
        ChannelSpec(
            "email",
            q=0.004,
            click_prob=0.25,
            click_q_mult=3.0,
            delay_decay=0.25,
            gamma=1.0,
            R=198.0,
            K=100.0,
            n=1.0,
            typical_spend=150.0,
            cpm=1.2,
            ctr=0.03,
            platform_inflation=1.0,
        ),
        ChannelSpec(
            "organic_search",
            q=0.020,
            click_prob=1.0,
            click_q_mult=1.0,
            delay_decay=0.35,
            gamma=1.2,
            rate=110.0,
        ),
        ChannelSpec(
            "organic_social",
            q=0.010,
            click_prob=1.0,
            click_q_mult=1.0,
            delay_decay=0.45,
            gamma=1.1,
            rate=33.0,
        ),
        ChannelSpec(
            "referral",
            q=0.025,
            click_prob=1.0,
            click_q_mult=1.0,
            delay_decay=0.40,
            gamma=1.3,
            rate=28.0,
        ),
        ChannelSpec(
            "direct", q=0.0, click_prob=1.0, click_q_mult=1.0, delay_decay=0.0, gamma=1.0, rate=66.0
        ),
    )
}

PEOPLE_PER_DAY = 220  # new in-market people arriving per day at scale 1
ARRIVAL_LAG_MEAN_DAYS = 14.0  # exposures reach people who arrived ~this many days earlier
EMAIL_LOOKBACK_DAYS = 30  # email goes to people with a non-email exposure in this window

# Sources/mediums as collected, per channel: (utm_source, utm_medium, weight).
UTM_VARIANTS: dict[str, list[tuple[str, str, float]]] = {
    "paid_search": [
        ("google", "cpc", 50),
        ("Google", "CPC", 8),
        (" google", "cpc", 4),
        ("bing", "cpc", 12),
        ("google", "ppc", 8),
        ("google", "paid", 5),
        ("googel", "cpc", 2),
        ("adwords", "cpc", 6),
        ("Bing ", "PPC", 5),
    ],
    "paid_social": [
        ("facebook", "paid_social", 30),
        ("Facebook", "paidsocial", 10),
        ("linkedin", "cpc", 20),
        ("LinkedIn", "Paid Social", 8),
        ("instagram", "paid-social", 8),
        ("fb", "paid", 8),
        ("linkdin", "cpc", 2),
        ("twitter", "paid_social", 6),
        ("facebook ", "cpm", 8),
    ],
    "display": [
        ("google", "display", 40),
        ("dv360", "cpm", 20),
        ("criteo", "display", 15),
        ("Criteo", "Banner", 10),
        ("taboola", "native", 10),
        ("google", "Display ", 5),
    ],
    "video": [
        ("youtube", "video", 50),
        ("YouTube", "cpv", 20),
        ("vimeo", "video", 10),
        ("youtube", "Video ", 10),
        ("ctv", "video", 10),
    ],
    "affiliate": [
        ("partnerstack", "affiliate", 50),
        ("impact", "Affiliate", 25),
        ("awin", "affiliate ", 15),
        ("partnerstack", "affiliates", 10),
    ],
    "events": [
        ("conference", "event", 40),
        ("tradeshow", "events", 25),
        ("webinar", "event", 20),
        ("Meetup", "Event", 15),
    ],
    "email": [
        ("hubspot", "email", 40),
        ("newsletter", "email", 20),
        ("Newsletter", "e-mail", 10),
        ("mailchimp", "Email", 15),
        ("hs_email", "newsletter", 10),
        ("hubspot", "E-Mail ", 5),
    ],
    "organic_search": [
        ("google", "organic", 70),
        ("bing", "organic", 12),
        ("duckduckgo", "organic", 8),
        ("Google", "Organic", 6),
        ("ecosia", "organic", 4),
    ],
    "organic_social": [
        ("linkedin", "social", 45),
        ("twitter", "social", 20),
        ("reddit", "social", 15),
        ("LinkedIn", "Social ", 10),
        ("facebook", "social", 10),
    ],
    "referral": [
        ("g2.com", "referral", 40),
        ("capterra.com", "referral", 25),
        ("partner-blog.com", "referral", 20),
        ("news.ycombinator.com", "referral", 15),
    ],
    "direct": [("", "", 90), ("(direct)", "(none)", 10)],
}
# Values that no reasonable rule can place (a true channel still lies behind them).
UNCLASSIFIABLE_UTM: list[tuple[str, str]] = [
    ("src_8842", ""),
    ("", "zz_medium"),
    ("qr7", "x1"),
    ("test", "test"),
    ("abc", "tbd"),
    ("sfmc_7731", ""),
]
UNCLASSIFIABLE_SHARE = 0.012  # of non-direct exposure events

EXPLICIT_CHANNEL_SHARE = 0.08  # touches that carry the channel column themselves
EXPLICIT_CHANNEL_VARIANTS = ("{c}", "{C}", " {c}", "{T} ", "{c} ")

# Firmographics
INDUSTRIES: tuple[str, ...] = (
    "software",
    "financial_services",
    "healthcare",
    "manufacturing",
    "retail",
    "education",
    "public_sector",
    "media",
)
INDUSTRY_WEIGHTS = (0.24, 0.14, 0.12, 0.14, 0.11, 0.09, 0.06, 0.10)
INDUSTRY_EFFECT = (0.45, 0.35, 0.1, 0.0, -0.15, -0.45, -0.6, -0.2)
COUNTRIES: tuple[str, ...] = ("US", "GB", "DE", "FR", "CA", "NL", "AU", "ES", "SE", "IN")
COUNTRY_WEIGHTS = (0.40, 0.12, 0.10, 0.07, 0.07, 0.05, 0.05, 0.05, 0.04, 0.05)
COUNTRY_EFFECT = (0.1, 0.05, 0.05, -0.05, 0.05, 0.0, 0.0, -0.15, 0.0, -0.35)
EUR_COUNTRIES = ("DE", "FR", "NL", "ES")
SENIORITY_WEIGHTS = (0.38, 0.30, 0.17, 0.09, 0.06)
SENIORITY_EFFECT = (-0.7, 0.0, 0.55, 0.75, 0.35)

# Lead quality: logit P(SQL) = SQL_INTERCEPT + fit + engagement + interaction (see truth README)
SQL_INTERCEPT = -2.35
SIZE_EFFECT_SCALE = 1.1  # * tanh((log10(size) - 2.0) / 0.9)
POST_WINDOW_DAYS = 14
PRE_WINDOW_DAYS = 90

P_OPP_GIVEN_SQL = 0.72
AMOUNT_MEDIAN_AT_100 = 9000.0  # USD median deal for a 100-employee company
AMOUNT_SIZE_ELASTICITY = 0.38
AMOUNT_SIGMA = 0.55
WIN_INTERCEPT = -1.0
