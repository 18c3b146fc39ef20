-- staging.ad_spend: one row per campaign per day, spend in the reporting currency
-- (converted at the latest rate on or before the day).
with

spend as (
    select
        *,
        coalesce(nullif(upper(trim(currency)), ''), $currency) as currency_code
    from raw.ad_spend
),

campaigns as (
    select campaign_id, lower(trim(channel)) as channel from raw.campaigns
),

fx as (
    select date, upper(trim(currency)) as currency, rate_to_reporting from raw.fx_rates
),

converted as (
    select
        s.*,
        case when s.currency_code = $currency then 1.0 else fx.rate_to_reporting end as rate
    from spend as s
    asof left join fx
        on fx.currency = s.currency_code
        and fx.date <= s.date
),

final as (
    select
        s.date,
        date_trunc('month', s.date)::date as month,
        s.campaign_id,
        c.channel,
        s.impressions,
        s.clicks,
        s.spend * s.rate as spend,
        s.spend as spend_original,
        s.currency_code as currency,
        s.platform_conversions
    from converted as s
    left join campaigns as c using (campaign_id)
)

select * from final
