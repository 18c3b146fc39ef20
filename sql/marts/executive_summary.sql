-- marts.executive_summary: one row per month x headline metric, with target, prior month,
-- change (in percent) and status. Volumes come straight from staging (every lead, deal and
-- won deal, touched or not); ROI and ROAS use all won revenue over all spend. MQLs and SQLs
-- are the leads that first reached the stage in the month, skipped stages included
-- (intermediate.lead_stage_reached: the funnel's definition).
with

months as (
    select $month_start::date as month
    union all
    select $prior_month::date
),

spend as (
    select
        month,
        sum(spend) as spend,
        sum(clicks)::double as clicks,
        sum(impressions)::double as impressions
    from staging.ad_spend
    where date >= $prior_month and date < $month_end
    group by month
),

leads as (
    select month, count(*)::double as leads
    from staging.leads
    where created_at >= $prior_month and created_at < $month_end
    group by month
),

reached as (
    select mql_at, sql_at
    from intermediate.lead_stage_reached
    where created_at < $month_end
),

stages as (
    select
        m.month,
        count(*) filter (
            where r.mql_at >= m.month and r.mql_at < m.month + interval 1 month
        )::double as mqls,
        count(*) filter (
            where r.sql_at >= m.month and r.sql_at < m.month + interval 1 month
        )::double as sqls
    from months as m
    cross join reached as r
    group by m.month
),

conversions as (
    select
        month,
        count(*) filter (where conversion_type = 'opportunity')::double as opportunities,
        sum(value) filter (where conversion_type = 'opportunity') as pipeline,
        count(*) filter (where conversion_type = 'won')::double as customers,
        sum(value) filter (where conversion_type = 'won') as revenue
    from intermediate.conversions
    where converted_at >= $prior_month and converted_at < $month_end
    group by month
),

wide as (
    select
        m.month,
        coalesce(s.spend, 0.0) as spend,
        coalesce(c.revenue, 0.0) as revenue,
        coalesce(c.pipeline, 0.0) as pipeline,
        (coalesce(c.revenue, 0.0) - s.spend) / nullif(s.spend, 0) as roi,
        coalesce(c.revenue, 0.0) / nullif(s.spend, 0) as roas,
        s.spend / nullif(c.customers, 0) as cac,
        s.spend / nullif(l.leads, 0) as cpa,
        s.clicks / nullif(s.impressions, 0) as ctr,
        l.leads / nullif(s.clicks, 0) as cvr,
        coalesce(l.leads, 0.0) as leads,
        coalesce(st.mqls, 0.0) as mqls,
        coalesce(st.sqls, 0.0) as sqls,
        coalesce(c.opportunities, 0.0) as opportunities,
        coalesce(c.customers, 0.0) as customers
    from months as m
    left join spend as s using (month)
    left join leads as l using (month)
    left join stages as st using (month)
    left join conversions as c using (month)
),

long as (
    select *
    from wide
    unpivot include nulls (
        value for metric in (
            spend, revenue, pipeline, roi, roas, cac, cpa, ctr, cvr,
            leads, mqls, sqls, opportunities, customers
        )
    )
),

metric_info as (
    select * from (values
        (1, 'spend', 'money', 'budget'),
        (2, 'revenue', 'money', 'higher'),
        (3, 'pipeline', 'money', 'higher'),
        (4, 'roi', 'ratio', 'higher'),
        (5, 'roas', 'ratio', 'higher'),
        (6, 'cac', 'money', 'lower'),
        (7, 'cpa', 'money', 'lower'),
        (8, 'ctr', 'ratio', 'higher'),
        (9, 'cvr', 'ratio', 'higher'),
        (10, 'leads', 'count', 'higher'),
        (11, 'mqls', 'count', 'higher'),
        (12, 'sqls', 'count', 'higher'),
        (13, 'opportunities', 'count', 'higher'),
        (14, 'customers', 'count', 'higher')
    ) as t(metric_order, metric, unit, better)
),

-- a prior month before the exports begin (no spend, no leads) is unknown, not zero
prior_covered as (
    select
        exists (
            select 1 from staging.ad_spend
            where date >= $prior_month and date < $month_start
        )
        or exists (
            select 1 from staging.leads
            where created_at >= $prior_month and created_at < $month_start
        ) as covered
),

targets as (
    select metric, max(target_value) as target
    from staging.targets
    where month = $month_start and scope = 'total'
    group by metric
),

final as (
    select
        $month_start::date as month,
        i.metric,
        cur.value,
        t.target,
        case when (select covered from prior_covered) then prev.value end as prior_month,
        case
            when (select covered from prior_covered)
                then 100 * (cur.value - prev.value) / nullif(abs(prev.value), 0)
        end as change_pct,
        case
            when t.target is null or cur.value is null then 'no_target'
            when i.better = 'budget' then
                case
                    when abs(cur.value / nullif(t.target, 0) - 1) <= 0.05 then 'on_track'
                    when abs(cur.value / nullif(t.target, 0) - 1) <= 0.15 then 'at_risk'
                    else 'off_track'
                end
            when i.better = 'higher' then
                case
                    when cur.value >= t.target then 'on_track'
                    when cur.value >= 0.9 * t.target then 'at_risk'
                    else 'off_track'
                end
            else
                case
                    when cur.value <= t.target then 'on_track'
                    when cur.value <= 1.1 * t.target then 'at_risk'
                    else 'off_track'
                end
        end as status,
        i.metric_order,
        i.unit,
        i.better as direction
    from metric_info as i
    left join long as cur on cur.metric = i.metric and cur.month = $month_start
    left join long as prev on prev.metric = i.metric and prev.month = $prior_month
    left join targets as t on t.metric = i.metric
)

select * from final
order by metric_order
