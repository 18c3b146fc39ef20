-- The most frequent utm source/medium pairs that no channel rule classified.
with

unclassified as (
    select
        coalesce(lower(trim(utm_source, e' \t\r\n')), '') as utm_source,
        coalesce(lower(trim(utm_medium, e' \t\r\n')), '') as utm_medium
    from staging.touchpoints
    where channel = 'unclassified'
),

final as (
    select utm_source, utm_medium, count(*) as touchpoints
    from unclassified
    group by all
    order by touchpoints desc, utm_source, utm_medium
    limit 50
)

select * from final
