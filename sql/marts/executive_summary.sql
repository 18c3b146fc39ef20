-- marts.executive_summary: one row per month x headline metric, with target, prior month,
-- change (in percent) and status. Volumes come straight from staging (every lead, deal and
-- won deal, touched or not); ROI and ROAS use all won revenue over all spend. MQLs and SQLs
-- are the leads that first reached the stage in the month, skipped stages included
-- (intermediate.lead_stage_reached: the funnel's definition).
-- A month the exports end inside ($covered_end before $month_end: data through day d, at
-- least two days before its end; intermediate/data_end.sql) is partial: its values cover days 1..d, the prior month is compared over its own days 1..d,
-- and the targets of additive metrics are prorated to d days for the status
-- (target_to_date).
with

coverage as (
    -- $covered_end: intermediate/data_end.sql (assets.common.covered_end)
    select
        least($covered_end::date, $month_end::date) as covered_end,
        date_diff('day', $month_start::date, $month_end::date) as month_days
),

periods as (
    select
        $month_start::date as month,
        $month_start::date as period_start,
        greatest(c.covered_end, $month_start::date) as period_end
    from coverage as c
    union all
    select
        $prior_month::date,
        $prior_month::date,
        case
            when c.covered_end < $month_end::date
                then least(
                    $prior_month::date
                    + to_days(date_diff('day', $month_start::date, c.covered_end)),
                    $month_start::date
                )
            else $month_start::date
        end
    from coverage as c
),

spend as (
    select
        p.month,
        sum(a.spend) as spend,
        sum(a.clicks)::double as clicks,
        sum(a.impressions)::double as impressions
    from periods as p
    inner join staging.ad_spend as a
        on a.date >= p.period_start and a.date < p.period_end
    group by p.month
),

leads as (
    select p.month, count(*)::double as leads
    from periods as p
    inner join staging.leads as l
        on l.created_at >= p.period_start and l.created_at < p.period_end
    group by p.month
),

reached as (
    select created_at, mql_at, sql_at
    from intermediate.lead_stage_reached
    where created_at < $month_end
),

stages as (
    select
        p.month,
        -- leads created by the period's end, as that month's own run counted them (a stage
        -- row back-dated before its lead's creation stays with the lead's month)
        count(*) filter (
            where r.mql_at >= p.period_start and r.mql_at < p.period_end
                and r.created_at < p.period_end
        )::double as mqls,
        count(*) filter (
            where r.sql_at >= p.period_start and r.sql_at < p.period_end
                and r.created_at < p.period_end
        )::double as sqls
    from periods as p
    cross join reached as r
    group by p.month
),

conversions as (
    select
        p.month,
        count(*) filter (where c.conversion_type = 'opportunity')::double as opportunities,
        sum(c.value) filter (where c.conversion_type = 'opportunity') as pipeline,
        count(*) filter (where c.conversion_type = 'won')::double as customers,
        sum(c.value) filter (where c.conversion_type = 'won') as revenue
    from periods as p
    inner join intermediate.conversions as c
        on c.converted_at >= p.period_start and c.converted_at < p.period_end
    group by p.month
),

months as (
    select month from periods
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
    -- additive: a sum over the days of the month (prorated for a partial month), not a ratio
    select * from (values
        (1, 'spend', 'money', 'budget', true),
        (2, 'revenue', 'money', 'higher', true),
        (3, 'pipeline', 'money', 'higher', true),
        (4, 'roi', 'ratio', 'higher', false),
        (5, 'roas', 'ratio', 'higher', false),
        (6, 'cac', 'money', 'lower', false),
        (7, 'cpa', 'money', 'lower', false),
        (8, 'ctr', 'ratio', 'higher', false),
        (9, 'cvr', 'ratio', 'higher', false),
        (10, 'leads', 'count', 'higher', true),
        (11, 'mqls', 'count', 'higher', true),
        (12, 'sqls', 'count', 'higher', true),
        (13, 'opportunities', 'count', 'higher', true),
        (14, 'customers', 'count', 'higher', true)
    ) as t(metric_order, metric, unit, better, additive)
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

targets_to_date as (
    select
        t.metric,
        t.target,
        case
            when i.additive and c.covered_end < $month_end::date
                then t.target
                    * date_diff('day', $month_start::date, c.covered_end) / c.month_days
            else t.target
        end as target_to_date
    from targets as t
    inner join metric_info as i on i.metric = t.metric
    cross join coverage as c
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
            when t.target_to_date is null or cur.value is null then 'no_target'
            when i.better = 'budget' then
                case
                    when abs(cur.value / nullif(t.target_to_date, 0) - 1) <= 0.05 then 'on_track'
                    when abs(cur.value / nullif(t.target_to_date, 0) - 1) <= 0.15 then 'at_risk'
                    else 'off_track'
                end
            when i.better = 'higher' then
                case
                    when cur.value >= t.target_to_date then 'on_track'
                    when cur.value >= 0.9 * t.target_to_date then 'at_risk'
                    else 'off_track'
                end
            else
                case
                    when cur.value <= t.target_to_date then 'on_track'
                    when cur.value <= 1.1 * t.target_to_date then 'at_risk'
                    else 'off_track'
                end
        end as status,
        i.metric_order,
        i.unit,
        i.better as direction,
        t.target_to_date,
        (select covered_end < $month_end::date from coverage) as partial_month,
        date_diff('day', $month_start::date, (select covered_end from coverage))::integer
            as days_covered,
        (select month_days from coverage)::integer as days_in_month,
        -- the prior month's value as its own run stored it (filled by the asset): differs
        -- from prior_month when later exports restated that month (deals recorded late)
        null::double as prior_month_as_reported
    from metric_info as i
    left join long as cur on cur.metric = i.metric and cur.month = $month_start
    left join long as prev on prev.metric = i.metric and prev.month = $prior_month
    left join targets_to_date as t on t.metric = i.metric
)

select * from final
order by metric_order
