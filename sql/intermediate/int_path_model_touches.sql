-- The paths as the data-driven models (markov, shapley) see them: without the touches of
-- their conversion session (int_path_touches.sql) and, in deal paths, of the sourcing
-- leads' conversion sessions (int_lead_sessions.sql), unless those are all the path has
-- (then it stays whole, so that every conversion with a touch keeps its credit, and a null
-- path made of a lead's form fill stays as a null path). touch_index, path_length and
-- previous_channel are recomputed. $converted picks the converting or the null paths; null
-- paths have no conversion session, so without lead sessions they are unchanged and the
-- view _attr_model_touches adds them as they are.
with

flagged as (
    select
        *,
        count(*) filter (where not (in_conversion_session or in_lead_session))
            over (partition by path_id) as touches_kept
    from _attr_path_touches
    where converted = $converted
),

kept as (
    select
        * exclude (touch_index, path_length, previous_channel, touches_kept),
        touch_index as full_path_index
    from flagged
    where not (in_conversion_session or in_lead_session) or touches_kept = 0
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
