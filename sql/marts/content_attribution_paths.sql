-- Conversions in [$month_start, $month_end) per type, and how many have at least one touch
-- in their lookback path (the same path definition as content_attribution.sql): the total
-- credit any touch-level model hands out, used to bound the content credit.
with

conversions as (
    select conversion_id, conversion_type, person_id, converted_at
    from intermediate.conversions
    where converted_at >= $month_start::timestamp
        and converted_at < $month_end::timestamp
),

touches as (
    select person_id, ts
    from staging.touchpoints
    where ts >= $month_start::timestamp - to_days($lookback_days::integer)
        and ts < $month_end::timestamp
),

with_path as (
    select distinct c.conversion_id
    from conversions as c
    inner join touches as t
        on t.person_id = c.person_id
        and t.ts < c.converted_at
        and t.ts >= c.converted_at - to_days($lookback_days::integer)
),

final as (
    select
        c.conversion_type,
        count(*) as conversions,
        count(p.conversion_id) as conversions_with_path
    from conversions as c
    left join with_path as p on p.conversion_id = c.conversion_id
    group by c.conversion_type
)

select * from final
order by conversion_type
