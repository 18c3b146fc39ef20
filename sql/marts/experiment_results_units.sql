-- Units of the month's experiments assigned before month_end (data available at month end).
with experiments as (
    select experiment_id
    from staging.experiments
    where (start_date is null or start_date < $month_end)
      and (end_date is null or end_date >= $month_start)
),

units as (
    select * from staging.experiment_units
    where assigned_at < $month_end
),

final as (
    select
        u.experiment_id,
        u.unit_id,
        cast(u.variant as varchar) as variant,
        u.assigned_at,
        cast(u.converted as integer) as converted,
        cast(u.revenue as double) as revenue,
        cast(u.pre_metric as double) as pre_metric
    from units as u
    inner join experiments as e on e.experiment_id = u.experiment_id
)

select * from final
order by experiment_id, variant, unit_id
