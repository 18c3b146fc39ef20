-- launch benchmarks input: every campaign's totals over the whole months before the launch
-- month (never the launch month or later). Spend, impressions and clicks from
-- marts.campaign_performance; leads and won revenue from marts.campaign_attribution_roi
-- under $credit_model (the launch credits its own leads linearly, so its peers are measured
-- with linear credit too: the same rule on both sides of the comparison).
with

performance as (
    select
        campaign_id,
        any_value(channel) as channel,
        any_value(campaign_type) as campaign_type,
        sum(spend) as spend,
        sum(impressions)::bigint as impressions,
        sum(clicks)::bigint as clicks
    from marts.campaign_performance
    where month < $launch_month
    group by campaign_id
),

credit as (
    select
        campaign_id,
        sum(attributed_conversions) filter (where conversion_type = 'lead') as leads,
        sum(attributed_revenue) filter (where conversion_type = 'won') as attributed_revenue
    from marts.campaign_attribution_roi
    where month < $launch_month
        and model = $credit_model
        and campaign_id is not null
    group by campaign_id
),

final as (
    select
        p.*,
        coalesce(c.leads, 0) as leads,
        coalesce(c.attributed_revenue, 0) as attributed_revenue
    from performance as p
    left join credit as c on c.campaign_id = p.campaign_id
)

select * from final
order by campaign_id
