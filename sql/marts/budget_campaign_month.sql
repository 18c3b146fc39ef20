-- Campaign metrics of the month (from marts.campaign_performance) with the campaigns'
-- targets as campaign performance resolves them (a campaign-scope row of targets, else the
-- campaign's own target): what the waste and trigger rules read. last_touch_leads: the
-- campaign's leads under last-touch attribution, to tell "no lead at all" from "no lead
-- credit under the configured model" (a campaign that only catches people already
-- converting). campaign_end_date: a campaign that has ended needs "do not renew", not "pause".
-- *_3m: the campaign's totals over the three months ending with this one (lead-sourced
-- opportunities and revenue, as campaign_performance credits them): whether its leads close.
-- params: $month_start (DATE)
with

performance as (
    select
        month,
        campaign_id,
        campaign_name,
        channel,
        spend,
        clicks,
        leads,
        attributed_revenue,
        cpa,
        roas,
        target_cpa,
        target_roas,
        attribution_model,
        platform_conversions
    from marts.campaign_performance
    where month = $month_start
),

campaign_3m as (
    select
        campaign_id,
        sum(spend) as spend_3m,
        sum(leads) as leads_3m,
        sum(opportunities) as opportunities_3m,
        sum(customers) as customers_3m,
        sum(attributed_revenue) as revenue_3m
    from marts.campaign_performance
    where month >= $month_start::date - interval 2 month
        and month <= $month_start::date
    group by campaign_id
),

last_touch as (
    select campaign_id, sum(attributed_conversions) as last_touch_leads
    from marts.campaign_attribution
    where month = $month_start
        and conversion_type = 'lead'
        and model = 'last_touch'
    group by campaign_id
),

final as (
    select
        p.*,
        coalesce(l.last_touch_leads, 0) as last_touch_leads,
        c.end_date as campaign_end_date,
        t.spend_3m,
        t.leads_3m,
        t.opportunities_3m,
        t.customers_3m,
        t.revenue_3m
    from performance as p
    left join last_touch as l
        on l.campaign_id = p.campaign_id
    left join staging.campaigns as c
        on c.campaign_id = p.campaign_id
    left join campaign_3m as t
        on t.campaign_id = p.campaign_id
)

select * from final
