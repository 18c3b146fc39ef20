-- marts.channel_performance: the month's performance per channel (level 'channel') and for
-- the whole month (level 'total', channel 'total'). Credit includes touches outside any
-- campaign (organic, direct, ...), so unpaid channels show conversions with zero spend.
-- Credit comes from marts.campaign_attribution_roi (the ROI basis, as campaign_performance).
-- Conversions without any touch in the lookback window (CRM imports, offline deals) have
-- no channel: level 'untracked' (channel 'untracked') holds them, so the total counts every
-- conversion and matches the headline.
with

spend as (
    select
        month,
        channel,
        sum(spend) as spend,
        sum(impressions)::bigint as impressions,
        sum(clicks)::bigint as clicks
    from staging.ad_spend
    where date >= $prior_month and date < $month_end
    group by all
),

credit as (
    select
        month,
        channel,
        sum(attributed_conversions) filter (where conversion_type = 'lead') as leads,
        sum(attributed_conversions) filter (where conversion_type = 'opportunity') as opportunities,
        sum(attributed_conversions) filter (where conversion_type = 'won') as customers,
        sum(attributed_revenue) filter (where conversion_type = 'won') as attributed_revenue,
        sum(attributed_revenue) filter (where conversion_type = 'opportunity') as attributed_pipeline
    from marts.campaign_attribution_roi
    where month >= $prior_month and month <= $month_start and model = $model
    group by all
),

attributed_months as (
    select distinct month from credit
),

conversions as (
    select
        cast(date_trunc('month', converted_at) as date) as month,
        count(*) filter (where conversion_type = 'lead') as leads,
        count(*) filter (where conversion_type = 'opportunity') as opportunities,
        count(*) filter (where conversion_type = 'won') as customers,
        coalesce(sum(value) filter (where conversion_type = 'won'), 0) as revenue,
        coalesce(sum(value) filter (where conversion_type = 'opportunity'), 0) as pipeline
    from intermediate.conversions
    where converted_at >= $prior_month and converted_at < $month_end
    group by all
),

credited as (
    select
        month,
        coalesce(sum(leads), 0) as leads,
        coalesce(sum(opportunities), 0) as opportunities,
        coalesce(sum(customers), 0) as customers,
        coalesce(sum(attributed_revenue), 0) as revenue,
        coalesce(sum(attributed_pipeline), 0) as pipeline
    from credit
    group by month
),

-- what attribution could not credit: every conversion minus the credited ones (equal to
-- the conversions with a touch, an asset check of attribution); rounding noise is cut off
untracked as (
    select
        a.month,
        'untracked' as channel,
        0.0 as spend,
        0::bigint as impressions,
        0::bigint as clicks,
        greatest(round(coalesce(v.leads, 0) - c.leads, 6), 0) as leads,
        greatest(round(coalesce(v.opportunities, 0) - c.opportunities, 6), 0) as opportunities,
        greatest(round(coalesce(v.customers, 0) - c.customers, 6), 0) as customers,
        greatest(round(coalesce(v.revenue, 0) - c.revenue, 6), 0) as attributed_revenue,
        greatest(round(coalesce(v.pipeline, 0) - c.pipeline, 6), 0) as attributed_pipeline
    from attributed_months as a
    inner join credited as c on c.month = a.month
    left join conversions as v on v.month = a.month
),

by_channel as (
    select
        coalesce(s.month, c.month) as month,
        coalesce(s.channel, c.channel) as channel,
        coalesce(s.spend, 0.0) as spend,
        coalesce(s.impressions, 0) as impressions,
        coalesce(s.clicks, 0) as clicks,
        c.leads,
        c.opportunities,
        c.customers,
        c.attributed_revenue,
        c.attributed_pipeline
    from spend as s
    full outer join credit as c on c.month = s.month and c.channel = s.channel
),

with_untracked as (
    select 'channel' as level, * from by_channel
    union all
    select 'untracked' as level, * from untracked
    where leads > 0 or opportunities > 0 or customers > 0 or attributed_revenue > 0
        or attributed_pipeline > 0
),

with_total as (
    select * from with_untracked
    union all
    select
        'total' as level,
        month,
        'total' as channel,
        sum(spend),
        sum(impressions)::bigint,
        sum(clicks)::bigint,
        sum(leads),
        sum(opportunities),
        sum(customers),
        sum(attributed_revenue),
        sum(attributed_pipeline)
    from with_untracked
    group by month
),

filled as (
    select
        w.level,
        w.month,
        w.channel,
        w.spend,
        w.impressions,
        w.clicks,
        case when a.month is not null then coalesce(w.leads, 0.0) end as leads,
        case when a.month is not null then coalesce(w.opportunities, 0.0) end as opportunities,
        case when a.month is not null then coalesce(w.customers, 0.0) end as customers,
        case when a.month is not null then coalesce(w.attributed_revenue, 0.0) end as attributed_revenue,
        case when a.month is not null then coalesce(w.attributed_pipeline, 0.0) end as attributed_pipeline
    from with_total as w
    left join attributed_months as a on a.month = w.month
),

with_ratios as (
    select
        *,
        (attributed_revenue - spend) / nullif(spend, 0) as roi,
        attributed_revenue / nullif(spend, 0) as roas,
        -- no spend, no cost per unit: NULL (an unpaid channel's 0 would read as free leads)
        case when spend > 0 then spend / nullif(customers, 0) end as cac,
        case when spend > 0 then spend / nullif(leads, 0) end as cpa,
        clicks / nullif(impressions, 0) as ctr,
        leads / nullif(clicks, 0) as cvr
    from filled
),

targets as (
    select
        case when scope = 'total' then 'total' else scope_id end as channel,
        max(target_value) filter (where metric = 'spend') as target_spend,
        max(target_value) filter (where metric = 'revenue') as target_revenue,
        max(target_value) filter (where metric = 'leads') as target_leads,
        max(target_value) filter (where metric = 'customers') as target_customers,
        max(target_value) filter (where metric = 'roas') as target_roas,
        max(target_value) filter (where metric = 'cpa') as target_cpa,
        max(target_value) filter (where metric = 'cac') as target_cac
    from staging.targets
    where month = $month_start and scope in ('total', 'channel')
    group by all
),

final as (
    select
        cur.*,
        $model as attribution_model,
        t.target_spend,
        t.target_revenue,
        t.target_leads,
        t.target_customers,
        t.target_roas,
        t.target_cpa,
        t.target_cac,
        p.spend as prior_spend,
        p.leads as prior_leads,
        p.attributed_revenue as prior_attributed_revenue,
        p.roas as prior_roas,
        -- a change from less than a cent or a hundredth of a lead (credit split leftovers) is
        -- not a percentage anyone can read: NULL, like a change from zero
        case when abs(p.spend) >= 0.01 then 100 * (cur.spend - p.spend) / p.spend end
            as spend_change_pct,
        case when abs(p.leads) >= 0.01 then 100 * (cur.leads - p.leads) / p.leads end
            as leads_change_pct,
        case
            when abs(p.attributed_revenue) >= 0.01
                then 100 * (cur.attributed_revenue - p.attributed_revenue) / p.attributed_revenue
        end as revenue_change_pct,
        cur.spend / nullif(sum(cur.spend) filter (where cur.level = 'channel') over (), 0) as spend_share,
        cur.attributed_revenue / nullif(sum(cur.attributed_revenue) filter (where cur.level = 'channel') over (), 0) as revenue_share
    from with_ratios as cur
    left join with_ratios as p
        on p.month = $prior_month and p.level = cur.level and p.channel = cur.channel
    left join targets as t on t.channel = cur.channel
    where cur.month = $month_start
)

select * from final
order by level, channel
