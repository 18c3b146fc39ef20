-- quarterly review input: per channel, the quarter's and the prior quarter's totals from
-- marts.channel_performance (level channel), the quarter's budget plan and channel targets.
-- Ratios are NULL when the denominator is 0.
with

perf as (
    select
        channel,
        month >= $quarter_start as is_current,
        sum(spend) as spend,
        sum(impressions) as impressions,
        sum(clicks) as clicks,
        sum(leads) as leads,
        sum(opportunities) as opportunities,
        sum(customers) as customers,
        sum(attributed_revenue) as revenue,
        sum(attributed_pipeline) as pipeline,
        count(distinct month) as months
    from marts.channel_performance
    where level = 'channel' and month >= $prior_start and month < $quarter_end
    group by all
),

plan as (
    select channel, sum(planned_spend) as planned_spend
    from staging.budget_plan
    where month >= $quarter_start and month < $quarter_end
    group by channel
),

targets as (
    select
        scope_id as channel,
        sum(target_value) filter (where metric = 'revenue') as target_revenue,
        sum(target_value) filter (where metric = 'leads') as target_leads,
        avg(target_value) filter (where metric = 'roas') as target_roas,
        avg(target_value) filter (where metric = 'cpa') as target_cpa
    from staging.targets
    where scope = 'channel' and month >= $quarter_start and month < $quarter_end
    group by all
),

channels as (
    select channel from perf
    union
    select channel from plan
),

final as (
    select
        ch.channel,
        coalesce(c.spend, 0.0) as spend,
        c.impressions,
        c.clicks,
        c.leads,
        c.opportunities,
        c.customers,
        c.revenue,
        c.pipeline,
        (c.revenue - c.spend) / nullif(c.spend, 0) as roi,
        c.revenue / nullif(c.spend, 0) as roas,
        c.spend / nullif(c.leads, 0) as cpa,
        c.spend / nullif(c.customers, 0) as cac,
        pl.planned_spend,
        c.spend / nullif(pl.planned_spend, 0) as utilization,
        p.spend as prior_spend,
        p.leads as prior_leads,
        p.revenue as prior_revenue,
        p.revenue / nullif(p.spend, 0) as prior_roas,
        p.spend / nullif(p.leads, 0) as prior_cpa,
        t.target_revenue,
        t.target_leads,
        t.target_roas,
        t.target_cpa,
        coalesce(c.months, 0) as months
    from channels as ch
    left join perf as c on c.channel = ch.channel and c.is_current
    left join perf as p on p.channel = ch.channel and not p.is_current
    left join plan as pl on pl.channel = ch.channel
    left join targets as t on t.channel = ch.channel
)

select * from final
order by spend desc, channel
