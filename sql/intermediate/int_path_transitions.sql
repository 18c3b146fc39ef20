-- Transition counts of the order-$markov_order Markov chain over every path (converting
-- and non-converting) in the temp table _attr_model_touches, as ChannelAttribution builds
-- them: a state is the window of the last k channels (a path shorter than k is one state
-- holding the whole path), consecutive repeats of the same state are collapsed, each path
-- starts in '(start)' and ends in '(conversion)' or '(null)'. Every path counts once.
-- conversion_value is the summed value of the conversions leaving each last state.
with

touches as (
    select path_id, converted, value, channel, touch_index, path_length
    from _attr_model_touches
),

windows as (
    select
        path_id,
        converted,
        value,
        touch_index,
        path_length,
        list(channel) over (
            partition by path_id
            order by touch_index
            rows between $markov_order - 1 preceding and current row
        ) as state_channels
    from touches
),

states as (
    select
        path_id,
        converted,
        value,
        touch_index,
        array_to_string(state_channels, '>') as state
    from windows
    where touch_index >= least($markov_order, path_length)
),

collapsed as (
    select *
    from (
        select
            *,
            lag(state) over (partition by path_id order by touch_index) as previous_state
        from states
    )
    where previous_state is null or previous_state <> state
),

steps as (
    select
        path_id,
        converted,
        value,
        touch_index,
        state,
        coalesce(
            lag(state) over (partition by path_id order by touch_index), '(start)'
        ) as from_state,
        lead(state) over (partition by path_id order by touch_index) as next_state
    from collapsed
),

transitions as (
    select from_state, state as to_state, 0.0 as conversion_value from steps
    union all
    select
        state as from_state,
        case when converted then '(conversion)' else '(null)' end as to_state,
        case when converted then value else 0.0 end as conversion_value
    from steps
    where next_state is null
),

final as (
    select
        from_state,
        to_state,
        count(*)::bigint as transitions,
        sum(conversion_value) as conversion_value
    from transitions
    group by all
)

select * from final
