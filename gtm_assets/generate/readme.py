"""Text of ``truth/README.md``: the generator's process and the exact meaning of every truth file."""

TRUTH_README = r"""# Ground truth of this generated world

Written by `gtm generate` beside the raw tables. Not a contract table: the loader ignores
this folder. Analyses are judged against these files. Money is USD (the reporting
currency); timestamps are UTC; `month` is `YYYY-MM`. "Window" = the generated months.

## The process (what is true in this world)

1. **Spend.** Campaigns (launch, seasonal, always_on, flash, event, brand) spend daily on
   the paid channels paid_search, paid_social, display, video, affiliate, events, email,
   with weekday patterns, flights, piecewise-constant budget changes mid-month and
   +-12% daily noise. `s_c(t)` = channel c's spend on day t (USD, all its campaigns).
2. **Exposure events.** Each day, channel c produces `Poisson(mu_c(t))` exposure events:
   paid: `mu_c(t) = exposures_top_c * s^n / (s^n + K^n)` with `s = s_c(t)` (Hill reach);
   unpaid (organic_search, organic_social, referral, direct): a base rate x weekday x a
   gentle yearly seasonality, independent of spend. An exposure event is attributed to
   one of the channel's campaigns in proportion to that day's campaign spend.
3. **Who is reached.** In-market people arrive every day (220 x scale). An exposure on
   day t reaches a person who arrived `Geometric(mean 14)` days earlier; within the
   arrival day, activity is skewed (channels with a larger targeting exponent reach the
   most active people, who also work at larger companies). Email exposures reach people
   who had a non-email exposure in the previous 30 days (email goes to engaged people).
   Large worlds are simulated in G independent groups of people (each with 1/G of the
   exposure rates and of the people; G grows with scale x months so memory stays
   bounded); the only difference is that email picks its engaged people within a group.
4. **Conversion tickets.** Every exposure event e independently fires a *conversion
   ticket* with probability `q_e` (by channel; click-throughs 3-4x a pure view where a
   channel has both; `q` in `response_curves.csv` is the channel mean). Direct visits
   have `q = 0`: they never cause anything. A fired ticket converts the person
   `k ~ Geometric` days later (`P(k) = (1-d) d^k`, d = `adstock_decay`) plus 0.5-6 h:
   always a later session than the causing touch. The person becomes a **lead** at the
   earliest conversion time of their fired tickets (once per person; later tickets are
   moot). Conversions after the window end do not happen in the data.
5. **Touchpoints.** Every exposure leaves touches: impression (view-through, no click),
   click + visit (landing page), email_open (+ email_click + visit), event_attend,
   organic/referral visits (often on a content page) and content_view in the session.
   Converters get a converting session minutes before the lead: 45% a direct visit,
   20% a branded organic search visit, up to 20% a click on the causing paid channel,
   the rest an email click if they were emailed (these sessions cause nothing), then a
   `form_fill` at exactly `leads.created_at`. After the lead: nurture emails, visits,
   content views, webinars (more with higher latent intent) for 14 days, and nurture
   emails until day 90; exposures from running campaigns keep reaching them too. These
   post-conversion touches must be excluded by attribution (path = touches strictly
   before the conversion).
6. **Messy collection.** utm_source/utm_medium use many variants per channel (case,
   spaces, synonyms such as ppc/paidsocial/e-mail/newsletter, a few typos); 1.2% of
   non-direct exposure events carry garbage utm values and no utm_campaign (no rule can
   classify them); ~8% of touches carry the optional `channel` column (true channel,
   mixed case / surrounding spaces). utm_campaign equals the campaign's utm_campaign
   (85%) or an upper-case / trailing-space / title-case variant.
7. **CRM.** Firmographics per lead; true SQL probability (below); the CRM's MQL rule is
   a points score (15 director+, 10 for >= 200 employees, 5 per pre-lead visit up to 4,
   10 for a pre-lead event, 6 per email click in 14 days up to 2; MQL at >= 25), which
   is deliberately imperfect. SQLs that the rule missed become MQL manually just before
   SQL. Lags are lognormal: MQL ~1.5 d, SQL 3 d + ~7 d, opportunity ~6 d after SQL (72%
   of SQLs), close 20-200 d (median 55 d); disqualified (65% of non-SQL MQLs, 12% of
   other non-SQL leads) ~12 d, 25% of those recycled ~40 d later. Win probability
   `sigmoid(-1.0 + 0.45 size_term + 0.3 [director+])`; amount lognormal, median
   9000 x (employees/100)^0.38, sigma 0.55; 70% of deals from DE/FR/NL/ES in EUR.
   Events after the window end are not in the data (right censoring); open
   opportunities have no closed_at and their expected `close_date` may lie after the end.

## Files

### channel_shares.csv — the true causal contribution of each channel
One row per month x conversion_type (lead, opportunity, won) x channel (all 11).
For each **lead** (conversion), with the person's exposure events strictly before
`created_at` and `L_c = sum over those events in channel c of log(1 - q_e)`, the value
function is `v(S) = 1 - exp(sum_{c in S} L_c)` = P(convert | only the person's exposures
in channels S), v(empty) = 0. The exact Shapley value of each channel (all 2^10
coalitions of the 10 channels with q > 0; direct is a null player) divided by v(N) is
that conversion's true split (sums to 1). `true_conversions` = sum of splits over the
month's conversions; `true_share` = true_conversions / conversions (sums to 1 per month
and type); `conversions` = number of conversions that month. **opportunity** and **won**
reuse the split of the lead that sourced the deal (month of opportunity created_at,
resp. closed_at of closed_won deals). `true_value`: lead = sum of split x the lead's
expected eventual revenue; opportunity/won = split x deal amount (USD).
Every converter has at least one exposure with q > 0 before the conversion, so every
conversion has at least one touch before it (unless that touch's utm is garbage).

### conversion_shares.csv
The per-lead split behind channel_shares (lead_id, month, share_<channel>).

### response_curves.csv — true response of each paid channel to its daily spend
Rows: channel x metric (conversions, revenue); `grain` = day; spend = USD per day.
`E[outcome per day | steady daily spend s] = top * s^n / (s^n + K^n)`; with a varying
series the outcome is carried over geometrically: `E[y_t] = sum_k (1-d) d^k f(s_{t-k})`
with d = `adstock_decay` (saturation first, then the conversion delay). For a month of
D days with total spend S spread evenly: `D * f(S / D)`.
- `top_structural_tickets` = exposures_top x q: expected conversion tickets per day at
  saturation (exact: the Monte-Carlo of the process recovers it).
- `realisation` = (sum over all leads of the channel's Shapley split) / (expected tickets
  of the channel's exposures that could convert inside the window). Not exactly 1: a
  person converts once, so tickets reaching people who already converted are moot
  (email, which targets engaged people, is far below 1), and the Shapley split credits
  every pre-conversion exposure by its marginal effect, not only the ticket that fired
  (channels that reach very active people get a little more than their own tickets).
  Estimated from this world; depends mildly on the spend level.
- `top` (metric conversions) = top_structural_tickets x realisation: causal lead
  conversions per day at saturation, consistent with channel_shares.
- `value_per_conversion` = Shapley-weighted mean expected eventual revenue of the
  channel's leads; `top` (metric revenue) = conversions top x value_per_conversion.
- `K` (USD/day, half-saturation spend), `n` (Hill exponent), `q`, `exposures_top`.
- `spend_min/p05/mean/p95/max`: the observed range of the channel's daily spend (do not
  extrapolate far beyond it).
Python: `gtm_assets.generate.truth.true_response(channel, spend, metric, curves_df)`,
`true_period_response(channel, period_spend, days, metric, curves_df)`,
`adstocked_response(channel, daily_spend_series, metric, curves_df)`.

### spend_daily.csv
date, channel, spend (USD), expected_exposures (`mu_c(t)`), expected_tickets
(`mu_c(t) x q`), realised_tickets (fired tickets of that day's exposures).

### lead_quality.csv — true lead quality
One row per lead. `true_sql_probability = sigmoid(true_logit)` with
```
true_logit = -2.35 + fit
           + 0.75 log1p(post_visits) + 0.9 [post_events > 0] + 0.45 log1p(post_email_clicks)
           + 0.3 log1p(pre_visits) + 0.35 [pre_events > 0]
           + 0.6 size_term [post_content_views >= 2]          (interaction)
           - 0.8 [seniority in (vp, cxo) and company_size < 50] (interaction)
fit        = 1.1 size_term + seniority effect + industry effect + country effect
size_term  = tanh((log10(company_size) - 2) / 0.9)
seniority: ic -0.7, manager 0, director 0.55, vp 0.75, cxo 0.35
industry : software 0.45, financial_services 0.35, healthcare 0.1, manufacturing 0,
           retail -0.15, education -0.45, public_sector -0.6, media -0.2
country  : US 0.1, GB 0.05, DE 0.05, FR -0.05, CA 0.05, NL 0, AU 0, ES -0.15, SE 0, IN -0.35
```
Counts are the person's touchpoints by touch_type: `pre_*` in [created_at - 90 d,
created_at), `post_*` in (created_at, created_at + 14 d]; visits = visit + content_view,
content_views = content_view, email_clicks = email_click, events = event_attend. They
are counted on all generated touches, so for leads created in the last 14 days of the
window some post-window touches lie after the end and are not in touchpoints.csv.
`reached_sql` is the sampled eventual outcome (Bernoulli(true_sql_probability));
`sql_observed_by_end` says whether the SQL stage is in lead_stage_history (resolved).
`crm_rule_mql` = the CRM points rule fired. `fit_logit` = fit. `p_won_given_opportunity`,
`expected_revenue` = p_sql x 0.72 x p_won x E[amount] (USD), `causing_channel` = channel
of the ticket that converted the person.

### experiments.csv
experiment_id, variant, kind (winner: +50% relative lift; srm: planned 50/50 but 15% of
treatment units lost; no_effect; three_arm: three variants, no effect), true_conversion_rate,
true_revenue_per_unit, planned_share, srm_injected. Unit conversion probabilities vary
around the variant rate with a latent that also drives `pre_metric` (for CUPED).
Assignment is random with the planned shares, redrawn when the split alone would fail a
chi-square SRM test at p < 0.01, so the `srm` experiment is the only sample-ratio
mismatch (its split fails any reasonable SRM test).
"""
