-- Campaign metrics of the month (from marts.campaign_performance) with the campaigns'
-- targets as campaign performance resolves them (a campaign-scope row of targets, else the
-- campaign's own target): what the waste and trigger rules read. last_touch_leads: the
-- campaign's leads under last-touch attribution, to tell "no lead at all" from "no lead
-- credit under the configured model" (a campaign that only catches people already
-- converting). campaign_end_date: a campaign that has ended needs "do not renew", not "pause".
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
        platform_conversions,
        trailing_3m_roas
    from marts.campaign_performance
    where month = $month_start
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
        c.end_date as campaign_end_date
    from performance as p
    left join last_touch as l
        on l.campaign_id = p.campaign_id
    left join staging.campaigns as c
        on c.campaign_id = p.campaign_id
)

select * from final
