-- Order-1 transition counts over every path of _attr_model_touches, identical to
-- int_path_transitions.sql with $markov_order = 1 but without a window pass: with
-- consecutive repeats collapsed, the transitions of a path are exactly its consecutive
-- touch pairs whose channels differ (previous_channel is null for the first touch, i.e. a
-- move from '(start)'), plus the move from the last touch to '(conversion)' / '(null)'.
with

moves as (
    select
        coalesce(previous_channel, '(start)') as from_state,
        channel as to_state,
        0.0 as conversion_value
    from _attr_model_touches
    where previous_channel is distinct from channel
    union all
    select
        channel as from_state,
        case when converted then '(conversion)' else '(null)' end as to_state,
        case when converted then value else 0.0 end as conversion_value
    from _attr_model_touches
    where touch_index = path_length
),

final as (
    select
        from_state,
        to_state,
        count(*)::bigint as transitions,
        sum(conversion_value) as conversion_value
    from moves
    group by all
)

select * from final
