-- launch monitoring input: leads created in [window_start, as_of] credited to one campaign.
-- Credit: linear over the person's touchpoints in the lookback_days before the lead (the
-- share of those touches carrying the campaign's utm_campaign); only leads with credit > 0.
-- mql_at / sql_at: when the lead first reached the stage (a later stage or its first deal
-- counts; intermediate.lead_stage_reached), if by the as-of day;
-- mql_in_window: the credit when the lead qualified within mql_window_days of creation
-- (the same window as the channel's MQL-rate benchmark).
-- revenue: won amounts closed by the as-of day, times the credit.
with

leads as (
    select lead_id, person_id, created_at
    from staging.leads
    where created_at >= $window_start and created_at < $as_of_end
),

lead_touches as (
    select
        l.lead_id,
        l.created_at,
        t.campaign_id
    from leads as l
    inner join staging.touchpoints as t
        on t.person_id = l.person_id
        and t.ts < l.created_at
        and t.ts >= l.created_at - to_days($lookback_days::integer)
),

credit as (
    select
        lead_id,
        min(created_at) as created_at,
        avg(case when campaign_id = $campaign_id then 1.0 else 0.0 end) as credit
    from lead_touches
    group by lead_id
),

stages as (
    select
        lead_id,
        case when mql_at < $as_of_end then mql_at end as mql_at,
        case when sql_at < $as_of_end then sql_at end as sql_at
    from intermediate.lead_stage_reached
),

won as (
    select lead_id, sum(amount) as revenue
    from staging.opportunities
    where is_won and closed_at < $as_of_end
    group by lead_id
),

final as (
    select
        c.lead_id,
        c.created_at,
        c.credit,
        s.mql_at,
        s.sql_at,
        case when s.mql_at is not null then c.credit else 0.0 end as mql,
        case when s.sql_at is not null then c.credit else 0.0 end as sql,
        case
            when s.mql_at is not null
                and s.mql_at <= c.created_at + to_days($mql_window_days::integer)
                then c.credit
            else 0.0
        end as mql_in_window,
        coalesce(w.revenue, 0.0) * c.credit as revenue
    from credit as c
    left join stages as s on s.lead_id = c.lead_id
    left join won as w on w.lead_id = c.lead_id
    where c.credit > 0
)

select * from final
order by created_at, lead_id
