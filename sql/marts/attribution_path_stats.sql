-- Path length (touches) and time to conversion (days from the path's first touch to the
-- conversion) of the converting paths in the temp table _attr_path_touches: count, mean,
-- median, p75 and p90 (continuous quantiles).
with

paths as (
    select
        path_id,
        count(*)::double as path_length,
        epoch(any_value(path_end) - min(ts)) / 86400.0 as days_to_conversion
    from _attr_path_touches
    where converted
    group by path_id
),

long_paths as (
    unpivot paths
    on path_length, days_to_conversion
    into name metric value value
),

final as (
    select
        metric,
        count(*) as paths,
        avg(value) as mean,
        quantile_cont(value, 0.5) as median,
        quantile_cont(value, 0.75) as p75,
        quantile_cont(value, 0.9) as p90
    from long_paths
    group by metric
)

select * from final
order by metric
