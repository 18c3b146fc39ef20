-- staging.campaigns: one row per campaign, planned budget in the reporting currency
-- (converted at the latest rate on or before the start date).
with

campaigns as (
    select
        *,
        coalesce(nullif(upper(trim(currency)), ''), $currency) as currency_code
    from raw.campaigns
),

fx as (
    select date, upper(trim(currency)) as currency, rate_to_reporting from raw.fx_rates
),

converted as (
    select
        c.*,
        case
            when c.currency_code = $currency then 1.0
            else fx.rate_to_reporting
        end as rate
    from campaigns as c
    asof left join fx
        on fx.currency = c.currency_code
        and fx.date <= c.start_date
),

final as (
    select
        campaign_id,
        campaign_name,
        lower(trim(channel)) as channel,
        lower(trim(campaign_type)) as campaign_type,
        start_date,
        end_date,
        planned_budget * rate as planned_budget,
        planned_budget as planned_budget_original,
        currency_code as currency,
        utm_campaign,
        lower(trim(utm_campaign, e' \t\r\n')) as utm_campaign_key,
        target_cpa * rate as target_cpa,
        target_roas,
        target_ctr,
        target_cvr
    from converted
)

select * from final
