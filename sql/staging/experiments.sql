with

experiments as (
    select * from raw.experiments
),

final as (
    select
        experiment_id,
        name,
        hypothesis,
        lower(trim(primary_metric)) as primary_metric,
        start_date,
        end_date,
        nullif(trim(campaign_id), '') as campaign_id,
        planned_split
    from experiments
)

select * from final
