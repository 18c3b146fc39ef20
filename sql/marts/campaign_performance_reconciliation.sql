-- Totals of the month in marts.campaign_performance against staging and raw ad_spend.
-- spend, clicks and impressions must match exactly (no join fan-out, no lost rows).
with

mart as (
    select
        sum(spend) as spend,
        sum(clicks)::bigint as clicks,
        sum(impressions)::bigint as impressions,
        count(*) as rows,
        count(distinct campaign_id) as campaigns
    from marts.campaign_performance
    where month = $month_start
),

staged as (
    select
        sum(spend) as spend,
        sum(spend_original) as spend_original,
        sum(clicks)::bigint as clicks,
        sum(impressions)::bigint as impressions
    from staging.ad_spend
    where date >= $month_start and date < $month_end
),

raw_spend as (
    select
        sum(spend) as spend_original,
        sum(clicks)::bigint as clicks,
        sum(impressions)::bigint as impressions
    from raw.ad_spend
    where date >= $month_start and date < $month_end
),

final as (
    select
        coalesce(m.spend, 0) as mart_spend,
        coalesce(s.spend, 0) as staging_spend,
        coalesce(r.spend_original, 0) as raw_spend_original_currency,
        coalesce(s.spend_original, 0) as staging_spend_original_currency,
        coalesce(m.clicks, 0) as mart_clicks,
        coalesce(r.clicks, 0) as raw_clicks,
        coalesce(m.impressions, 0) as mart_impressions,
        coalesce(r.impressions, 0) as raw_impressions,
        coalesce(m.rows, 0) as mart_rows,
        coalesce(m.campaigns, 0) as mart_campaigns
    from mart as m, staged as s, raw_spend as r
)

select * from final
