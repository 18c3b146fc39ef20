-- The month's experiments: active at any time in [month_start, month_end) and with at least
-- one unit assigned before month_end. Running experiments are evaluated on results to date.
with experiments as (
    select * from staging.experiments
),

units as (
    select experiment_id, count(*) as units_to_date
    from staging.experiment_units
    where assigned_at < $month_end
    group by experiment_id
),

final as (
    select
        e.experiment_id,
        e.name,
        e.hypothesis,
        lower(trim(e.primary_metric)) as primary_metric,
        e.start_date,
        e.end_date,
        e.campaign_id,
        e.planned_split,
        u.units_to_date
    from experiments as e
    inner join units as u on u.experiment_id = e.experiment_id
    where (e.start_date is null or e.start_date < $month_end)
      and (e.end_date is null or e.end_date >= $month_start)
)

select * from final
order by experiment_id
