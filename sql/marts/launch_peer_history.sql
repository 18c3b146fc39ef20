-- launch benchmarks input: every campaign's totals over the whole months before the launch
-- month (never the launch month or later), from marts.campaign_performance.
with

history as (
    select
        campaign_id,
        any_value(channel) as channel,
        any_value(campaign_type) as campaign_type,
        sum(spend) as spend,
        sum(impressions)::bigint as impressions,
        sum(clicks)::bigint as clicks,
        sum(coalesce(leads, 0)) as leads,
        sum(coalesce(attributed_revenue, 0)) as attributed_revenue
    from marts.campaign_performance
    where month < $launch_month
    group by campaign_id
),

final as (
    select * from history
)

select * from final
order by campaign_id
