with

units as (
    select * from raw.experiment_units
),

final as (
    select experiment_id, unit_id, variant, assigned_at, converted, revenue, pre_metric
    from units
)

select * from final
