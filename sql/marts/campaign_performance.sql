-- marts.campaign_performance: one row per month x campaign.
-- Spend, impressions and clicks come from ad_spend; leads, opportunities, customers and
-- revenue are the campaign's credit under the configured attribution model ($model), from
-- marts.campaign_attribution_roi: opportunities and won deals credited on the ROI basis
-- (by default along the path of the lead that sourced them).
-- Ratios are NULL when their denominator is 0. Prior-month and trailing-3-month columns
-- are NULL for months whose attribution has not been materialized.
with

campaigns as (
    select * from staging.campaigns
),

months as (
    select unnest(generate_series($trailing_start::date, $month_start::date, interval 1 month))::date as month
),

spend_by_month as (
    select
        month,
        campaign_id,
        sum(spend) as spend,
        sum(impressions)::bigint as impressions,
        sum(clicks)::bigint as clicks,
        sum(platform_conversions)::bigint as platform_conversions
    from staging.ad_spend
    where date >= $trailing_start and date < $month_end
    group by all
),

attributed_months as (
    select distinct month
    from marts.campaign_attribution_roi
    where month >= $trailing_start and month <= $month_start and model = $model
),

credit_by_month as (
    select
        month,
        campaign_id,
        sum(attributed_conversions) filter (where conversion_type = 'lead') as leads,
        sum(attributed_conversions) filter (where conversion_type = 'opportunity') as opportunities,
        sum(attributed_conversions) filter (where conversion_type = 'won') as customers,
        sum(attributed_revenue) filter (where conversion_type = 'won') as attributed_revenue,
        sum(attributed_revenue) filter (where conversion_type = 'opportunity') as attributed_pipeline
    from marts.campaign_attribution_roi
    where month >= $trailing_start and month <= $month_start
        and model = $model
        and campaign_id is not null
    group by all
),

reported_campaigns as (
    select campaign_id from campaigns
    where start_date < $month_end and (end_date is null or end_date >= $month_start)
    union
    select campaign_id from spend_by_month where month = $month_start
    union
    select campaign_id from credit_by_month where month = $month_start
),

monthly as (
    select
        m.month,
        r.campaign_id,
        coalesce(s.spend, 0.0) as spend,
        coalesce(s.impressions, 0) as impressions,
        coalesce(s.clicks, 0) as clicks,
        s.platform_conversions,
        a.month is not null as has_attribution,
        case when a.month is not null then coalesce(c.leads, 0.0) end as leads,
        case when a.month is not null then coalesce(c.opportunities, 0.0) end as opportunities,
        case when a.month is not null then coalesce(c.customers, 0.0) end as customers,
        case when a.month is not null then coalesce(c.attributed_revenue, 0.0) end as attributed_revenue,
        case when a.month is not null then coalesce(c.attributed_pipeline, 0.0) end as attributed_pipeline
    from months as m
    cross join reported_campaigns as r
    left join spend_by_month as s on s.month = m.month and s.campaign_id = r.campaign_id
    left join credit_by_month as c on c.month = m.month and c.campaign_id = r.campaign_id
    left join attributed_months as a on a.month = m.month
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
    from monthly
),

current_month as (
    select * from with_ratios where month = $month_start
),

prior_month as (
    select * from with_ratios where month = $prior_month
),

trailing_window as (
    select
        campaign_id,
        count(*) filter (where has_attribution) as trailing_months_with_attribution,
        sum(spend) / 3 as trailing_3m_avg_spend,
        sum(leads) / nullif(count(*) filter (where has_attribution), 0) as trailing_3m_avg_leads,
        sum(attributed_revenue) / nullif(sum(spend) filter (where has_attribution), 0) as trailing_3m_roas,
        sum(spend) filter (where has_attribution) / nullif(sum(leads), 0) as trailing_3m_cpa
    from with_ratios
    where month >= $trailing_start and month < $month_start
    group by campaign_id
),

target_table as (
    select
        scope_id as campaign_id,
        max(target_value) filter (where metric = 'cpa') as cpa,
        max(target_value) filter (where metric = 'roas') as roas,
        max(target_value) filter (where metric = 'ctr') as ctr,
        max(target_value) filter (where metric = 'cvr') as cvr,
        max(target_value) filter (where metric = 'spend') as spend,
        max(target_value) filter (where metric = 'leads') as leads,
        max(target_value) filter (where metric = 'revenue') as revenue,
        max(target_value) filter (where metric = 'customers') as customers
    from staging.targets
    where month = $month_start and scope = 'campaign'
    group by scope_id
),

joined as (
    select
        cur.month,
        cur.campaign_id,
        c.campaign_name,
        c.channel,
        c.campaign_type,
        cur.spend,
        cur.impressions,
        cur.clicks,
        cur.leads,
        cur.opportunities,
        cur.customers,
        cur.attributed_revenue,
        cur.attributed_pipeline,
        cur.roi,
        cur.roas,
        cur.cac,
        cur.cpa,
        cur.ctr,
        cur.cvr,
        cur.platform_conversions,
        $model as attribution_model,
        coalesce(t.cpa, c.target_cpa) as target_cpa,
        coalesce(t.roas, c.target_roas) as target_roas,
        coalesce(t.ctr, c.target_ctr) as target_ctr,
        coalesce(t.cvr, c.target_cvr) as target_cvr,
        t.spend as target_spend,
        t.leads as target_leads,
        t.revenue as target_revenue,
        t.customers as target_customers,
        p.spend as prior_spend,
        p.leads as prior_leads,
        p.attributed_revenue as prior_attributed_revenue,
        p.roas as prior_roas,
        p.cpa as prior_cpa,
        tr.trailing_3m_avg_spend,
        tr.trailing_3m_avg_leads,
        tr.trailing_3m_roas,
        tr.trailing_3m_cpa
    from current_month as cur
    left join campaigns as c using (campaign_id)
    left join prior_month as p using (campaign_id)
    left join trailing_window as tr using (campaign_id)
    left join target_table as t using (campaign_id)
),

with_changes as (
    select
        *,
        cpa / nullif(target_cpa, 0) - 1 as cpa_vs_target,
        roas / nullif(target_roas, 0) - 1 as roas_vs_target,
        ctr / nullif(target_ctr, 0) - 1 as ctr_vs_target,
        cvr / nullif(target_cvr, 0) - 1 as cvr_vs_target,
        -- changes from a base under a cent, a hundredth of a lead or a ROAS of 0.001 (credit
        -- split leftovers) are NULL, like changes from zero
        case when abs(prior_spend) >= 0.01 then 100 * (spend - prior_spend) / prior_spend end
            as spend_change_pct,
        case when abs(prior_leads) >= 0.01 then 100 * (leads - prior_leads) / prior_leads end
            as leads_change_pct,
        case
            when abs(prior_attributed_revenue) >= 0.01
                then 100 * (attributed_revenue - prior_attributed_revenue)
                    / prior_attributed_revenue
        end as revenue_change_pct,
        case when abs(prior_roas) >= 0.001 then 100 * (roas - prior_roas) / prior_roas end
            as roas_change_pct,
        case
            when abs(trailing_3m_roas) >= 0.001
                then 100 * (roas - trailing_3m_roas) / trailing_3m_roas
        end as roas_vs_trailing_3m_pct,
        clicks >= $min_clicks and spend >= $min_spend and roas is not null as rankable
    from joined
),

ranked as (
    select
        *,
        case when rankable then
            row_number() over (partition by rankable order by roas desc, campaign_id)
        end as performance_rank,
        count(*) filter (where rankable) over () as rankable_campaigns
    from with_changes
),

-- Tiers: up to 3 campaigns (at most half of the rankable ones) at each end. The bottom
-- tier is every campaign at or below the ROAS of the k-th worst, ties included; a top
-- campaign must beat that ROAS and return something, so a month where most campaigns
-- return nothing has no "top" ROAS-0 campaign picked by its id.
cut as (
    select
        least(3, rankable_campaigns // 2) as tier_size,
        max(case when performance_rank = rankable_campaigns - least(3, rankable_campaigns // 2) + 1
            then roas end) as bottom_roas
    from ranked
    where rankable
    group by rankable_campaigns
),

final as (
    select
        r.* exclude (rankable_campaigns),
        case
            when not r.rankable then 'insufficient_volume'
            when r.performance_rank <= c.tier_size and r.roas > 0 and r.roas > c.bottom_roas
                then 'top'
            when c.tier_size > 0 and r.roas <= c.bottom_roas then 'bottom'
            else 'middle'
        end as performance_tier
    from ranked as r
    left join cut as c on true
)

select * from final
order by campaign_id
