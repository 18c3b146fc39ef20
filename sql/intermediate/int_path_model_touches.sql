-- The touches the data-driven models (markov, shapley) see: every path of the temp table
-- _attr_path_touches without its conversion-session touches (see int_path_touches.sql),
-- unless the conversion session is all the path has (then it stays, so that every
-- conversion with a touch keeps its credit). touch_index and path_length are recomputed.
with

flagged as (
    select
        *,
        count(*) filter (where not in_conversion_session)
            over (partition by path_id) as touches_outside_session
    from _attr_path_touches
),

kept as (
    select * exclude (touch_index, path_length, touches_outside_session)
    from flagged
    where not in_conversion_session or touches_outside_session = 0
),

final as (
    select
        *,
        row_number() over (partition by path_id order by ts, touchpoint_id) as touch_index,
        count(*) over (partition by path_id) as path_length
    from kept
)

select * from final
