-- quarterly planning input: the targets the user supplied for the plan quarter's months
-- (staging.targets, scope total or channel), summed over the months they cover.
-- params: $next_start, $next_end (DATE)
with

targets as (
    select
        scope,
        coalesce(scope_id, 'total') as scope_id,
        metric,
        month,
        target_value
    from staging.targets
    where month >= $next_start and month < $next_end
        and scope in ('total', 'channel')
),

final as (
    select
        scope,
        scope_id,
        metric,
        sum(target_value) as supplied_target,
        count(distinct month) as supplied_months
    from targets
    group by all
)

select * from final
