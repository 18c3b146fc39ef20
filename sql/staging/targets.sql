-- staging.targets: the month as a DATE (first day); scope_id NULL for the total.
with

targets as (
    select * from raw.targets
),

final as (
    select
        date_trunc('month', month)::date as month,
        lower(trim(scope)) as scope,
        case
            when lower(trim(scope)) = 'channel' then lower(trim(scope_id))
            else nullif(trim(scope_id), '')
        end as scope_id,
        lower(trim(metric)) as metric,
        target_value
    from targets
)

select * from final
