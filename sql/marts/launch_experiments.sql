-- launch readout input: the campaign's experiments (staging.experiments.campaign_id) with
-- their latest readout up to the as-of month (marts.experiment_results), one row per variant.
with

experiments as (
    select experiment_id, name, hypothesis, primary_metric, start_date, end_date
    from staging.experiments
    where campaign_id = $campaign_id and start_date <= $as_of
),

latest as (
    select r.*
    from marts.experiment_results as r
    inner join experiments as e on e.experiment_id = r.experiment_id
    where r.month <= $as_of
    qualify dense_rank() over (partition by r.experiment_id order by r.month desc) = 1
),

final as (
    select
        e.experiment_id,
        e.name,
        e.hypothesis,
        e.primary_metric,
        e.start_date,
        e.end_date,
        l.month as readout_month,
        l.variant,
        l.is_control,
        l.units,
        l.conversion_rate,
        l.lift_rel,
        l.p_value_adjusted,
        l.verdict,
        l.verdict_reason
    from experiments as e
    left join latest as l on l.experiment_id = e.experiment_id
)

select * from final
order by experiment_id, is_control desc, variant
