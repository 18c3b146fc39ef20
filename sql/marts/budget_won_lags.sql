-- Won deals with the days from their lead to the close and the lead's age at the month's
-- end: the lead-to-revenue delay that tells how much of a young lead's revenue is still
-- to come.
-- params: $month_end (DATE)
with

leads as (
    select lead_id, converted_at as lead_at
    from intermediate.conversions
    where conversion_type = 'lead'
      and converted_at < cast($month_end as timestamp)
),

won as (
    select lead_id, converted_at as won_at, coalesce(value, 0) as value
    from intermediate.conversions
    where conversion_type = 'won'
      and converted_at < cast($month_end as timestamp)
),

final as (
    select
        date_diff('day', l.lead_at, w.won_at) as lag_days,
        date_diff('day', l.lead_at, cast($month_end as timestamp)) as lead_age_days,
        w.value
    from won as w
    inner join leads as l
        on l.lead_id = w.lead_id
)

select * from final
