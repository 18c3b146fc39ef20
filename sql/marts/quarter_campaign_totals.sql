-- quarterly review input: per campaign, the quarter's totals from marts.campaign_performance
-- with its (average monthly) targets.
with

perf as (
    select
        campaign_id,
        any_value(campaign_name) as campaign_name,
        any_value(channel) as channel,
        any_value(campaign_type) as campaign_type,
        sum(spend) as spend,
        sum(clicks) as clicks,
        sum(coalesce(leads, 0)) as leads,
        sum(coalesce(customers, 0)) as customers,
        sum(coalesce(attributed_revenue, 0)) as revenue,
        avg(target_cpa) as target_cpa,
        avg(target_roas) as target_roas,
        count(distinct month) as months
    from marts.campaign_performance
    where month >= $quarter_start and month < $quarter_end
    group by campaign_id
),

final as (
    select
        *,
        revenue / nullif(spend, 0) as roas,
        spend / nullif(leads, 0) as cpa
    from perf
)

select * from final
order by spend desc, campaign_id
