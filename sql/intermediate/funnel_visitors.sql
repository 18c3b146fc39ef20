-- Visitors as of $as_of: one row per person with at least one site touch ($visit_types),
-- the time of their first site touch, and the channel of their first touch of any type.
with

touches as (
    select person_id, ts, touch_type, channel, touchpoint_id
    from staging.touchpoints
    where ts < $as_of
),

first_visit as (
    select person_id, min(ts) as first_visit_at
    from touches
    where list_contains($visit_types, touch_type)
    group by person_id
),

first_touch as (
    select person_id, arg_min(channel, (ts, channel, touchpoint_id)) as channel
    from touches
    group by person_id
),

final as (
    select v.person_id, v.first_visit_at, f.channel
    from first_visit as v
    left join first_touch as f using (person_id)
)

select * from final
