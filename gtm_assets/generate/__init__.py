"""`gtm generate`: a seeded, deterministic sample world in the raw-data contract, plus its truth.

The world's process and every truth file are documented in ``truth/README.md`` (written next
to the data from :data:`gtm_assets.generate.readme.TRUTH_README`).
"""

from __future__ import annotations

import shutil
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from pathlib import Path

import numpy as np
import pandas as pd

from gtm_assets.generate import campaigns as camp_mod
from gtm_assets.generate import crm as crm_mod
from gtm_assets.generate import extras
from gtm_assets.generate import journeys as jr
from gtm_assets.generate import truth as truth_mod
from gtm_assets.generate.params import (
    CH,
    CHANNELS,
    EXPLICIT_CHANNEL_SHARE,
    EXPLICIT_CHANNEL_VARIANTS,
    PAID_CHANNELS,
    PEOPLE_PER_DAY,
    SPECS,
    TOUCH_TYPES,
    UTM_VARIANTS,
)
from gtm_assets.generate.readme import TRUTH_README
from gtm_assets.generate.writer import join_parts, write_table
from gtm_assets.raw.schema import TABLE_BY_NAME, TABLE_NAMES

CONTRACT_TABLES: tuple[str, ...] = TABLE_NAMES
DAY = jr.DAY
CHUNK_TOUCHES = 4_000_000  # simulate people in groups of about this many touchpoints
TOUCHES_PER_EXPOSURE = 1.6  # rough, only used to size the groups
CAMPAIGN_COLUMNS: tuple[str, ...] = tuple(TABLE_BY_NAME["campaigns"].column_names)


@dataclass
class GenerateSummary:
    """What `generate` wrote."""

    out_dir: Path
    months: list[str]
    rows: dict[str, int] = field(default_factory=dict)
    seconds: float = 0.0

    def __str__(self) -> str:
        width = max(len(t) for t in self.rows) if self.rows else 10
        lines = [
            f"Generated {self.months[0]} .. {self.months[-1]} ({len(self.months)} months) "
            f"into {self.out_dir} in {self.seconds:.1f} s",
        ]
        lines += [f"  {t:<{width}} {n:>12,}" for t, n in self.rows.items()]
        lines.append(f"  truth files in {self.out_dir / 'truth'} (see truth/README.md)")
        return "\n".join(lines)


def default_end_month(today: date | None = None) -> str:
    """The last complete calendar month before today (UTC)."""
    today = today or datetime.now(UTC).date()
    y, m = (today.year, today.month - 1) if today.month > 1 else (today.year - 1, 12)
    return f"{y}-{m:02d}"


def month_list(months: int, end_month: str) -> list[str]:
    end = pd.Period(end_month, freq="M")
    return [str(end - (months - 1 - i)) for i in range(months)]


def generate(
    out_dir: Path,
    *,
    months: int = 12,
    end_month: str | None = None,
    scale: float = 1.0,
    seed: int = 42,
    file_format: str = "csv",
    progress: Callable[[str], None] | None = None,
) -> GenerateSummary:
    """Write every raw-contract table for ``months`` whole months ending with ``end_month``.

    Same arguments give byte-identical files. ``scale`` multiplies people, spend and volumes
    (scale 1 is roughly 40k touchpoints a month). The truth lands in ``out_dir/truth``.
    """
    t_start = time.perf_counter()
    say = progress or (lambda _msg: None)
    if months < 1:
        raise ValueError("months must be >= 1")
    if scale <= 0:
        raise ValueError("scale must be > 0")
    if file_format not in ("csv", "parquet"):
        raise ValueError("file_format must be 'csv' or 'parquet'")
    end_month = end_month or default_end_month()
    try:
        pd.Period(end_month, freq="M")
        date.fromisoformat(f"{end_month}-01")
    except ValueError as exc:
        raise ValueError(f"end_month must look like YYYY-MM, got {end_month!r}") from exc
    mlist = month_list(months, end_month)
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    (out_dir / "truth").mkdir(exist_ok=True)
    other = "parquet" if file_format == "csv" else "csv"
    for name in CONTRACT_TABLES:  # a table in both formats would be ambiguous input
        twin = out_dir / f"{name}.{other}"
        if twin.exists():
            say(f"removing {twin.name}: replaced by {name}.{file_format}")
            twin.unlink()
    first = pd.Timestamp(f"{mlist[0]}-01")
    last = pd.Period(mlist[-1], freq="M").end_time.normalize()
    days = pd.date_range(first, last, freq="D")
    T = len(days)
    end_ts = T * DAY
    t0 = np.datetime64(first.to_datetime64(), "s")

    def to_dt(secs: np.ndarray) -> np.ndarray:
        return t0 + np.asarray(secs, dtype=np.int64).astype("timedelta64[s]")

    streams = [np.random.default_rng(s) for s in np.random.SeedSequence(seed).spawn(12)]

    say(f"campaigns and daily spend for {mlist[0]}..{mlist[-1]} (scale {scale:g}, seed {seed})")
    plan = camp_mod.build_campaigns(streams[0], days, scale)
    camps = plan.campaigns
    campaign_ids = camps["campaign_id"].to_numpy()
    J = len(camps)
    content, pub_day = extras.content_table(streams[1], days, campaign_ids)

    mu = jr.exposure_means(plan.channel_spend, days, scale)
    share: dict[int, np.ndarray] = {}
    rows_of: dict[int, np.ndarray] = {}
    for pi, c in enumerate(PAID_CHANNELS):
        rows = np.nonzero(camps["_chi"].to_numpy() == pi)[0]
        sp = plan.spend_usd[rows].T  # (T, Jc)
        tot = sp.sum(axis=1, keepdims=True)
        cum = np.cumsum(sp, axis=1) / np.where(tot > 0, tot, 1.0)
        share[CH[c]] = cum
        rows_of[CH[c]] = rows
    nurture = int(
        np.nonzero(camps["campaign_name"].str.startswith("Lead nurture").to_numpy())[0][0]
    )
    # People are independent given spend: simulate them in G groups (each a 1/G copy of the
    # world with its own people) so memory stays bounded at any scale.
    G = max(1, int(np.ceil(mu.sum() * TOUCHES_PER_EXPOSURE / CHUNK_TOUCHES)))
    n_local = max(int(round(PEOPLE_PER_DAY * scale / G)), 1)
    chunk_seeds = np.random.SeedSequence([seed, 1]).spawn(G)
    tickets = np.zeros((J, T))
    acc = _TruthAccumulator(T)
    crm_parts: list[dict[str, pd.DataFrame]] = []
    tp_parts: list[Path] = []
    n_tp = 0
    n_leads = n_opps = 0
    parts_dir = out_dir / ".parts"
    for g in range(G):
        rs = [np.random.default_rng(x) for x in chunk_seeds[g].spawn(6)]
        tag = f" (people group {g + 1}/{G})" if G > 1 else ""
        say(f"exposure events, conversion tickets and people{tag}")
        ex = jr.simulate_exposures(rs[0], mu / G, share, rows_of, scale / G)
        conv = jr.conversions(ex, end_ts)
        say(f"journeys and touchpoints for {len(conv):,} converting people{tag}")
        firm = crm_mod.firmographics(rs[1], conv["person"].to_numpy(), n_local)
        z = crm_mod.intent(rs[1], firm["fit"].to_numpy())
        t_ex = jr.exposure_touches(rs[2], ex, pub_day)
        t_conv = jr.conversion_touches(rs[3], ex, conv, pub_day, nurture, z)
        touches = jr.concat_touches(t_ex, t_conv)
        del t_ex, t_conv
        person_offset = g * T * n_local
        say(f"CRM: leads, lead quality, stage history, opportunities, sales feedback{tag}")
        crm = crm_mod.build_crm(
            rs[4],
            ex,
            conv,
            firm,
            touches,
            campaign_ids,
            end_ts,
            plan.fx_eur,
            to_dt,
            lead_offset=n_leads,
            opp_offset=n_opps,
            person_offset=person_offset,
        )
        crm["_opp_meta"]["lead_row"] += n_leads
        n_leads += len(crm["leads"])
        n_opps += len(crm["opportunities"])
        sel = ex.fired & (ex.campaign >= 0)
        np.add.at(tickets, (ex.campaign[sel], ex.day[sel]), 1.0)
        say(f"truth: exact Shapley split of {len(conv):,} conversions{tag}")
        acc.add(ex, conv, crm["_lead_truth"]["expected_revenue"].to_numpy())
        crm_parts.append(crm)
        say(f"touchpoints table{tag}")
        tp = _touchpoints_frame(rs[5], touches, camps, end_ts, to_dt, n_tp, person_offset)
        del touches, ex, conv
        n_tp += len(tp)
        if G == 1:
            tp_parts.append(out_dir / f"touchpoints.{file_format}")
        else:
            parts_dir.mkdir(exist_ok=True)
            tp_parts.append(parts_dir / f"touchpoints.{g:04d}.{file_format}")
        say(f"writing touchpoints ({len(tp):,} rows){tag}")
        write_table(tp, tp_parts[-1], file_format, header=(g == 0), table="touchpoints")
        del tp
    if G > 1:
        say(f"joining {G} touchpoint parts")
        join_parts(tp_parts, out_dir / f"touchpoints.{file_format}", file_format)
        shutil.rmtree(parts_dir, ignore_errors=True)
    crm = _concat_crm(crm_parts)
    del crm_parts
    _calibrate_campaign_targets(streams[6], camps, plan, tickets, crm)
    ad_spend = camp_mod.ad_spend_table(streams[7], plan, days, tickets)

    say("truth: channel shares and response curves")
    truth_files = acc.tables(crm, plan, mu, days, scale)

    say("content, SEO, targets, budget plan, experiments, fx rates")
    content_daily = extras.content_daily_table(streams[8], content, pub_day, days, scale)
    seo = extras.seo_table(streams[9], content, days)
    cms = _channel_month_spend(plan, camps, days)
    targets = extras.targets_table(streams[10], _actuals(plan, camps, days, crm, ad_spend, cms))
    budget_plan = extras.budget_plan_table(streams[10], cms)
    experiments, units, exp_truth = extras.experiments_tables(
        streams[11], days, campaign_ids, scale, to_dt
    )
    eur_start = camps.loc[camps["currency"] == "EUR", "start_date"].min()
    fx = extras.fx_table(days, plan.fx_eur, pd.Timestamp(eur_start), streams[11])

    tables: dict[str, pd.DataFrame | None] = {
        "campaigns": camps[list(CAMPAIGN_COLUMNS)],
        "ad_spend": ad_spend,
        "leads": crm["leads"],
        "lead_stage_history": crm["lead_stage_history"],
        "opportunities": crm["opportunities"],
        "sales_feedback": crm["sales_feedback"],
        "content": content,
        "content_daily": content_daily,
        "seo_rankings": seo,
        "targets": targets,
        "budget_plan": budget_plan,
        "experiments": experiments,
        "experiment_units": units,
        "fx_rates": fx,
    }
    counts: dict[str, int] = {}
    for name in CONTRACT_TABLES:
        if name == "touchpoints":
            counts[name] = n_tp
            continue
        say(f"writing {name} ({len(tables[name]):,} rows)")
        counts[name] = write_table(tables[name], out_dir / f"{name}.{file_format}", file_format)
        tables[name] = None  # free memory early

    tdir = out_dir / "truth"
    truth_files["experiments.csv"] = exp_truth
    for fname, df in truth_files.items():
        df.to_csv(tdir / fname, index=False, lineterminator="\n")
    (tdir / "README.md").write_text(TRUTH_README, encoding="utf-8")
    return GenerateSummary(out_dir, mlist, counts, round(time.perf_counter() - t_start, 2))


def _touchpoints_frame(
    rng: np.random.Generator,
    t: jr.Touches,
    camps: pd.DataFrame,
    end_ts: int,
    to_dt,
    id_offset: int = 0,
    person_offset: int = 0,
) -> pd.DataFrame:
    """Filter to the window, sort by time, attach messy utm strings and the optional channel."""
    keep = (t.ts >= 0) & (t.ts < end_ts)
    idx = np.nonzero(keep)[0]
    o = np.lexsort((t.ttype[idx], t.person[idx], t.ts[idx]))
    idx = idx[o]
    n = len(idx)
    pairs, _ = jr.utm_catalogue()
    n_classifiable = sum(len(v) for v in UTM_VARIANTS.values())
    utm = t.utm[idx]
    src_cats = sorted({s for s, _ in pairs if s})
    med_cats = sorted({m for _, m in pairs if m})
    src_code = np.array([src_cats.index(s) if s else -1 for s, _ in pairs])[utm]
    med_code = np.array([med_cats.index(m) if m else -1 for _, m in pairs])[utm]
    garbled = utm >= n_classifiable
    # utm_campaign: campaign's value with case/space variants; none for garbled or unpaid
    ucs = camps["utm_campaign"].tolist()
    variants = []
    for u in ucs:
        variants += [u, u.upper(), u + " ", u.title()]
    camp = t.campaign[idx]
    vcode = rng.choice(4, n, p=[0.85, 0.07, 0.04, 0.04])
    uc_code = np.where((camp >= 0) & ~garbled, camp * 4 + vcode, -1)
    # optional channel column: a few percent of rows carry it, mixed case and spaces
    ch = t.ch[idx]
    chvars = []
    for c in CHANNELS:
        chvars += [v.format(c=c, C=c.upper(), T=c.title()) for v in EXPLICIT_CHANNEL_VARIANTS]
    explicit = rng.random(n) < EXPLICIT_CHANNEL_SHARE
    ch_code = np.where(
        explicit,
        ch.astype(np.int64) * len(EXPLICIT_CHANNEL_VARIANTS)
        + rng.integers(0, len(EXPLICIT_CHANNEL_VARIANTS), n),
        -1,
    )
    content_ids = np.array([f"CT{i + 1:04d}" for i in range(max(int(t.content.max()) + 1, 1))])
    cont = t.content[idx]
    cont_cats = list(content_ids)
    return pd.DataFrame(
        {
            "touchpoint_id": np.arange(id_offset + 1, id_offset + n + 1, dtype=np.int64),
            "person_id": t.person[idx] + person_offset,
            "ts": to_dt(t.ts[idx]),
            "touch_type": pd.Categorical.from_codes(
                t.ttype[idx].astype(np.int64), categories=list(TOUCH_TYPES)
            ),
            "utm_source": pd.Categorical.from_codes(src_code, categories=src_cats),
            "utm_medium": pd.Categorical.from_codes(med_code, categories=med_cats),
            "utm_campaign": pd.Categorical.from_codes(uc_code, categories=variants),
            "channel": pd.Categorical.from_codes(ch_code, categories=chvars),
            "content_id": pd.Categorical.from_codes(
                np.where(cont >= 0, cont, -1), categories=cont_cats
            ),
        }
    )


def _channel_month_spend(plan, camps: pd.DataFrame, days: pd.DatetimeIndex) -> pd.DataFrame:
    mon = days.strftime("%Y-%m").to_numpy()
    rows = []
    for pi, c in enumerate(PAID_CHANNELS):
        s = pd.Series(plan.channel_spend[pi]).groupby(mon).sum()
        rows += [{"month": m, "channel": c, "spend": float(v)} for m, v in s.items()]
    return pd.DataFrame(rows)


def _actuals(plan, camps, days, crm, ad_spend, cms) -> pd.DataFrame:
    """Monthly actuals the targets are set around (targets are near, not equal)."""
    leads_t = crm["_lead_truth"]
    lm = pd.DatetimeIndex(leads_t["created_at"]).strftime("%Y-%m")
    st = crm["lead_stage_history"]
    sm = pd.DatetimeIndex(st["entered_at"]).strftime("%Y-%m")
    om = crm["_opp_meta"]
    t0 = days[0]
    opp_month = (t0 + pd.to_timedelta(om["created_ts"].to_numpy(), unit="s")).strftime("%Y-%m")
    won_month = (t0 + pd.to_timedelta(om["close_ts"].to_numpy(), unit="s")).strftime("%Y-%m")
    rows = []
    total_spend = cms.groupby("month")["spend"].sum()
    for m, sp in total_spend.items():
        leads = int((lm == m).sum())
        mqls = int(((sm == m) & (st["stage"] == "mql")).sum())
        sqls = int(((sm == m) & (st["stage"] == "sql")).sum())
        won = om["won"].to_numpy() & (won_month == m)
        customers = int(won.sum())
        revenue = float(om["amount_usd"].to_numpy()[won].sum())
        pipeline = float(om["amount_usd"].to_numpy()[opp_month == m].sum())
        vals = {
            "spend": sp,
            "leads": leads,
            "mqls": mqls,
            "sqls": sqls,
            "customers": customers,
            "revenue": revenue,
            "pipeline": pipeline,
        }
        if leads:
            vals["cpa"] = sp / leads
        if customers:
            vals["cac"] = sp / customers
        if sp:
            vals["roas"] = revenue / sp
            vals["roi"] = (revenue - sp) / sp
        rows += [
            {"month": m, "scope": "total", "scope_id": None, "metric": k, "value": v}
            for k, v in vals.items()
        ]
    for r in cms.itertuples():
        rows.append(
            {
                "month": r.month,
                "scope": "channel",
                "scope_id": r.channel,
                "metric": "spend",
                "value": r.spend,
            }
        )
    lc = leads_t.assign(month=lm).groupby(["month", "causing_channel"]).size()
    for (m, c), v in lc.items():
        if c in PAID_CHANNELS:
            rows.append(
                {
                    "month": m,
                    "scope": "channel",
                    "scope_id": c,
                    "metric": "leads",
                    "value": float(v),
                }
            )
    a = ad_spend.assign(month=pd.to_datetime(ad_spend["date"]).dt.strftime("%Y-%m"))
    cm = a.groupby(["month", "campaign_id"]).agg(
        impressions=("impressions", "sum"), clicks=("clicks", "sum")
    )
    cs = (
        pd.DataFrame(
            {
                "campaign_id": np.repeat(camps["campaign_id"].to_numpy(), len(days)),
                "month": np.tile(days.strftime("%Y-%m").to_numpy(), len(camps)),
                "spend": plan.spend_usd.ravel(),
            }
        )
        .groupby(["month", "campaign_id"])["spend"]
        .sum()
    )
    for (m, cid), r in cm.iterrows():
        rows.append(
            {
                "month": m,
                "scope": "campaign",
                "scope_id": cid,
                "metric": "spend",
                "value": float(cs[(m, cid)]),
            }
        )
        if r["impressions"] > 0:
            rows.append(
                {
                    "month": m,
                    "scope": "campaign",
                    "scope_id": cid,
                    "metric": "ctr",
                    "value": r["clicks"] / r["impressions"],
                }
            )
    out = pd.DataFrame(rows)
    return out[out["value"] > 0].reset_index(drop=True)


def _calibrate_campaign_targets(rng, camps: pd.DataFrame, plan, tickets: np.ndarray, crm) -> None:
    """Set campaign targets as a planner would: near each campaign's true economics (its
    spend per truly caused lead, and the revenue those leads are expected to bring), missed
    or beaten by up to about 25%, and left empty where the plan left them empty."""
    caused = tickets.sum(axis=1)
    spend_usd = plan.spend_usd.sum(axis=1)
    spend_local = plan.spend_local.sum(axis=1)
    lead_truth = crm["_lead_truth"]
    value_per_lead = float(np.mean(lead_truth["expected_revenue"])) if len(lead_truth) else 0.0
    factor_cpa = rng.uniform(0.8, 1.25, len(camps))
    factor_roas = rng.uniform(0.8, 1.25, len(camps))
    with np.errstate(divide="ignore", invalid="ignore"):
        true_cpa_local = np.where(caused > 0, spend_local / caused, np.nan)
        true_roas = np.where(spend_usd > 0, caused * value_per_lead / spend_usd, np.nan)
    cpa = camps["target_cpa"].to_numpy(dtype=float)
    roas = camps["target_roas"].to_numpy(dtype=float)
    camps["target_cpa"] = np.where(np.isnan(cpa), np.nan, np.round(true_cpa_local * factor_cpa, 2))
    camps["target_roas"] = np.where(np.isnan(roas), np.nan, np.round(true_roas * factor_roas, 2))


def _concat_crm(parts: list[dict[str, pd.DataFrame]]) -> dict[str, pd.DataFrame]:
    """Join the CRM tables of all people groups (stage history re-sorted by time)."""
    if len(parts) == 1:
        return parts[0]
    out = {k: pd.concat([p[k] for p in parts], ignore_index=True) for k in parts[0]}
    out["lead_stage_history"] = out["lead_stage_history"].sort_values(
        ["entered_at", "lead_id", "stage"], kind="stable", ignore_index=True
    )
    return out


SHAP_CHANNELS = [c for c in CHANNELS if SPECS[c].q > 0]


class _TruthAccumulator:
    """Collects, group by group, what the truth files need: each conversion's exact Shapley
    split, each paid channel's expected in-window tickets, realised tickets per day."""

    def __init__(self, T: int) -> None:
        self.T = T
        self.phi: list[np.ndarray] = []
        self.expected_in_window = np.zeros(len(PAID_CHANNELS))
        self.fired_cd = np.zeros((len(CHANNELS), T))

    def add(self, ex: jr.Exposures, conv: pd.DataFrame, ev: np.ndarray) -> None:
        K = len(SHAP_CHANNELS)
        col_of = np.full(len(CHANNELS), -1)
        for k, c in enumerate(SHAP_CHANNELS):
            col_of[CH[c]] = k
        persons = conv["person"].to_numpy()
        cts = conv["conv_ts"].to_numpy()
        L = np.zeros((len(persons), K))
        if len(persons):
            order = np.argsort(persons)
            ps = persons[order]
            pos = np.minimum(np.searchsorted(ps, ex.person), len(ps) - 1)
            e_idx = np.nonzero(ps[pos] == ex.person)[0]
            row = order[pos[e_idx]]
            before = (ex.ts[e_idx] < cts[row]) & (col_of[ex.ch[e_idx]] >= 0)
            e_idx, row = e_idx[before], row[before]
            np.add.at(L, (row, col_of[ex.ch[e_idx]]), np.log1p(-ex.q[e_idx]))
        phi = truth_mod.shapley_normalised(L)
        phi_all = np.zeros((len(persons), len(CHANNELS)))
        for k, c in enumerate(SHAP_CHANNELS):
            phi_all[:, CH[c]] = phi[:, k]
        self.phi.append(phi_all)
        np.add.at(self.fired_cd, (ex.ch[ex.fired], ex.day[ex.fired]), 1.0)
        for pi, c in enumerate(PAID_CHANNELS):
            m = ex.ch == CH[c]
            rem = (self.T - 1 - ex.day[m]).astype(float)
            self.expected_in_window[pi] += float(
                (ex.q[m] * (1 - SPECS[c].delay_decay ** (rem + 1))).sum()
            )

    def tables(self, crm, plan, mu, days, scale) -> dict[str, pd.DataFrame]:
        return _truth_tables(self, crm, plan, mu, days, scale)


def _truth_tables(acc: _TruthAccumulator, crm, plan, mu, days, scale) -> dict[str, pd.DataFrame]:
    """Channel shares, response curves, lead quality, per-conversion splits, daily spend."""
    phi_all = np.vstack(acc.phi) if acc.phi else np.zeros((0, len(CHANNELS)))
    fired_cd = acc.fired_cd
    lt = crm["_lead_truth"]
    lead_month = pd.DatetimeIndex(lt["created_at"]).strftime("%Y-%m").to_numpy()
    t0 = days[0]

    def month_of(secs):
        return (t0 + pd.to_timedelta(np.asarray(secs), unit="s")).strftime("%Y-%m").to_numpy()

    ev = lt["expected_revenue"].to_numpy()
    om = crm["_opp_meta"]
    lead_rows = om["lead_row"].to_numpy()
    won = om["won"].to_numpy()
    shares = [
        truth_mod.channel_shares_table(lead_month, "lead", phi_all, list(CHANNELS), ev),
        truth_mod.channel_shares_table(
            month_of(om["created_ts"].to_numpy()),
            "opportunity",
            phi_all[lead_rows],
            list(CHANNELS),
            om["amount_usd"].to_numpy(),
        ),
        truth_mod.channel_shares_table(
            month_of(om["close_ts"].to_numpy()[won]),
            "won",
            phi_all[lead_rows[won]],
            list(CHANNELS),
            om["amount_usd"].to_numpy()[won],
        ),
    ]
    channel_shares = pd.concat(shares, ignore_index=True)
    channel_shares = channel_shares.rename(columns={"true_revenue": "true_value"})

    # response curves
    curves = []
    daily = []
    for pi, c in enumerate(PAID_CHANNELS):
        sp = SPECS[c]
        ci = CH[c]
        expected_in_window = float(acc.expected_in_window[pi])
        credit = float(phi_all[:, ci].sum())
        rho = credit / expected_in_window if expected_in_window > 0 else 0.0
        value = float((phi_all[:, ci] * ev).sum() / credit) if credit > 0 else 0.0
        top_struct = scale * sp.R * sp.q
        s = plan.channel_spend[pi]
        pos_s = s[s > 0]
        common = {
            "channel": c,
            "grain": "day",
            "K": round(scale * sp.K, 4),
            "n": sp.n,
            "adstock_decay": sp.delay_decay,
            "top_structural_tickets": round(top_struct, 6),
            "realisation": round(rho, 6),
            "value_per_conversion": round(value, 2),
            "spend_min": round(float(pos_s.min()), 2) if len(pos_s) else 0.0,
            "spend_p05": round(float(np.quantile(pos_s, 0.05)), 2) if len(pos_s) else 0.0,
            "spend_mean": round(float(s.mean()), 2),
            "spend_p95": round(float(np.quantile(pos_s, 0.95)), 2) if len(pos_s) else 0.0,
            "spend_max": round(float(pos_s.max()), 2) if len(pos_s) else 0.0,
            "exposures_top": round(scale * sp.R, 4),
            "q": sp.q,
        }
        curves.append({**common, "metric": "conversions", "top": round(top_struct * rho, 6)})
        curves.append({**common, "metric": "revenue", "top": round(top_struct * rho * value, 4)})
        daily.append(
            pd.DataFrame(
                {
                    "date": days.date,
                    "channel": c,
                    "spend": np.round(s, 2),
                    "expected_exposures": np.round(mu[ci], 4),
                    "expected_tickets": np.round(mu[ci] * sp.q, 6),
                    "realised_tickets": fired_cd[ci].astype(np.int64),
                }
            )
        )
    cols = [
        "channel",
        "metric",
        "grain",
        "top",
        "K",
        "n",
        "adstock_decay",
        "top_structural_tickets",
        "realisation",
        "value_per_conversion",
        "exposures_top",
        "q",
        "spend_min",
        "spend_p05",
        "spend_mean",
        "spend_p95",
        "spend_max",
    ]
    response_curves = pd.DataFrame(curves)[cols]

    lq = lt.copy()
    lq["created_at"] = pd.DatetimeIndex(lq["created_at"]).strftime("%Y-%m-%dT%H:%M:%S")
    lq_cols = [
        "lead_id",
        "person_id",
        "created_at",
        "true_sql_probability",
        "reached_sql",
        "sql_observed_by_end",
        "crm_rule_mql",
        "true_logit",
        "fit_logit",
        "p_won_given_opportunity",
        "expected_revenue",
        "causing_channel",
        "pre_visits",
        "pre_events",
        "pre_email_clicks",
        "post_visits",
        "post_content_views",
        "post_email_clicks",
        "post_events",
    ]
    per_conv = pd.DataFrame(np.round(phi_all, 9), columns=[f"share_{c}" for c in CHANNELS])
    per_conv.insert(0, "lead_id", lt["lead_id"].to_numpy())
    per_conv.insert(1, "month", lead_month)
    return {
        "channel_shares.csv": channel_shares[
            [
                "month",
                "conversion_type",
                "channel",
                "true_conversions",
                "true_share",
                "true_value",
                "conversions",
            ]
        ],
        "response_curves.csv": response_curves,
        "lead_quality.csv": lq[lq_cols],
        "conversion_shares.csv": per_conv,
        "spend_daily.csv": pd.concat(daily, ignore_index=True),
    }


__all__ = ["GenerateSummary", "generate", "default_end_month", "CONTRACT_TABLES", "TOUCH_TYPES"]
