-- Where the data a month can use ends: the day after the last day any event table (spend,
-- touches, leads, stages, deals created or closed) has a row, when that is at least two days
-- before $month_end (an export taken inside the month: a partial month), else $month_end (one
-- quiet last day, a weekend without a row in a small export, is not a partial month).
-- Used by the executive summary (same-days comparison, prorated targets), the funnel
-- (cohort maturity) and lead scoring (label maturity). params: $month_end (DATE)
with

last_day as (
    select
        greatest(
            (select max(date) from staging.ad_spend),
            (select max(ts)::date from staging.touchpoints),
            (select max(created_at)::date from staging.leads),
            (select max(entered_at)::date from staging.lead_stage_history),
            (select max(created_at)::date from staging.opportunities),
            -- a recorded close only: a close_date standing in for it may be a plan
            (select max(closed_at)::date from staging.opportunities
                where close_time_source = 'closed_at')
        ) as day
),

final as (
    select
        case
            when (select day from last_day) + 1 <= $month_end::date - 2
                then (select day from last_day) + 1
            else $month_end::date
        end as covered_end
)

select * from final
