-- Opportunities created by the month's end with the days from their lead, the lead's age
-- at the month's end, their amount (reporting currency) and whether they were closed, and
-- won, by then. Read by budget.deal_completeness (the share of a lead's opportunity value
-- created by its age) and budget.win_rate (over those closed in the trailing window), so
-- that open pipeline counts at the account's recent win rate.
-- params: $window_start (DATE), $month_end (DATE)
with

leads as (
    select lead_id, created_at as lead_at
    from staging.leads
    where created_at < cast($month_end as timestamp)
),

opportunities as (
    select
        lead_id,
        created_at,
        coalesce(amount, 0) as amount,
        case when is_closed then closed_at end as closed_at,
        is_won
    from staging.opportunities
    where created_at < cast($month_end as timestamp)
),

final as (
    select
        date_diff('day', l.lead_at, o.created_at) as lag_days,
        date_diff('day', l.lead_at, cast($month_end as timestamp)) as lead_age_days,
        o.amount as value,
        coalesce(
            o.closed_at < cast($month_end as timestamp)
            and o.closed_at >= cast($window_start as timestamp),
            false
        ) as closed,
        o.is_won
    from opportunities as o
    inner join leads as l
        on l.lead_id = o.lead_id
)

select
    lag_days,
    lead_age_days,
    value,
    closed,
    closed and coalesce(is_won, false) as won
from final
