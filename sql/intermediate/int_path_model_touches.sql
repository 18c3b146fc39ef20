-- The converting paths as the data-driven models (markov, shapley) see them: without their
-- conversion-session touches (see int_path_touches.sql), unless the conversion session is
-- all the path has (then it stays, so that every conversion with a touch keeps its
-- credit). touch_index, path_length and previous_channel are recomputed. Null paths have
-- no conversion session; the view _attr_model_touches adds them unchanged.
with

flagged as (
    select
        *,
        count(*) filter (where not in_conversion_session)
            over (partition by path_id) as touches_outside_session
    from _attr_path_touches
    where converted
),

kept as (
    select
        * exclude (touch_index, path_length, previous_channel, touches_outside_session),
        touch_index as full_path_index
    from flagged
    where not in_conversion_session or touches_outside_session = 0
),

final as (
    select
        * exclude (full_path_index),
        row_number() over w as touch_index,
        count(*) over (w rows between unbounded preceding and unbounded following)
            as path_length,
        lag(channel) over w as previous_channel
    from kept
    window w as (partition by path_id order by full_path_index)
)

select * from final
