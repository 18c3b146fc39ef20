-- Planned spend per channel for a range of months (the optional budget plan).
-- params: $from_month (DATE), $to_month (DATE, exclusive)
with

plan as (
    select month, channel, planned_spend
    from staging.budget_plan
    where month >= $from_month
      and month < $to_month
),

final as (
    select month, channel, sum(planned_spend) as planned_spend
    from plan
    group by all
)

select * from final
