-- Campaign metrics of the month (from marts.campaign_performance) with the campaigns'
-- targets: what the waste and trigger rules read.
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
        roas
    from marts.campaign_performance
    where month = $month_start
),

campaigns as (
    select campaign_id, target_cpa, target_roas
    from staging.campaigns
),

final as (
    select
        p.*,
        c.target_cpa,
        c.target_roas
    from performance as p
    left join campaigns as c
        on c.campaign_id = p.campaign_id
)

select * from final
