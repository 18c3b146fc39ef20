-- Campaign metrics of the month (from marts.campaign_performance) with the campaigns'
-- targets: what the waste and trigger rules read. last_touch_leads: the campaign's leads
-- under last-touch attribution, to tell "no lead at all" from "no lead credit under the
-- configured model" (a campaign that only catches people already converting).
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
        attribution_model
    from marts.campaign_performance
    where month = $month_start
),

campaigns as (
    select campaign_id, target_cpa, target_roas
    from staging.campaigns
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
        c.target_cpa,
        c.target_roas,
        coalesce(l.last_touch_leads, 0) as last_touch_leads
    from performance as p
    left join campaigns as c
        on c.campaign_id = p.campaign_id
    left join last_touch as l
        on l.campaign_id = p.campaign_id
)

select * from final
