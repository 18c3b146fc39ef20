-- Touchpoint-derived first channel of every person, from touches before $as_of.
with

touches as (
    select person_id, ts, channel, touchpoint_id
    from staging.touchpoints
    where ts < $as_of
),

final as (
    select person_id, arg_min(channel, (ts, touchpoint_id)) as channel
    from touches
    group by person_id
)

select * from final
