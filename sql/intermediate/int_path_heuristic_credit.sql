-- Credit of the five rule-based models, per channel and campaign, from the converting
-- paths in the temp table _attr_path_touches (built from int_path_touches.sql).
-- Each conversion hands out exactly 1 conversion and its value; per touch:
--   first_touch     1 for the first touch
--   last_touch      1 for the last touch
--   linear          1 / path length
--   time_decay      2^(-(last touch ts - ts) / half-life), normalised within the path
--                   (same as measuring from the conversion time; anchored on the last
--                   touch so that weights never underflow to zero)
--   position_based  $first_weight first, $last_weight last, the rest split evenly over
--                   the middle touches; 2 touches: first/last in proportion; 1 touch: 1
with

touches as (
    select
        path_id,
        value,
        channel,
        campaign_id,
        ts,
        touch_index,
        path_length
    from _attr_path_touches
    where converted
),

raw_weights as (
    select
        *,
        pow(
            0.5,
            epoch(max(ts) over (partition by path_id) - ts) / 86400.0 / $half_life_days
        ) as decay_raw
    from touches
),

weights as (
    select
        path_id,
        value,
        channel,
        campaign_id,
        case when touch_index = 1 then 1.0 else 0.0 end as first_touch,
        case when touch_index = path_length then 1.0 else 0.0 end as last_touch,
        1.0 / path_length as linear,
        decay_raw / sum(decay_raw) over (partition by path_id) as time_decay,
        case
            when path_length = 1 then 1.0
            when path_length = 2 and touch_index = 1
                then $first_weight / ($first_weight + $last_weight)
            when path_length = 2 then $last_weight / ($first_weight + $last_weight)
            when touch_index = 1 then $first_weight
            when touch_index = path_length then $last_weight
            else (1.0 - $first_weight - $last_weight) / (path_length - 2)
        end as position_based
    from raw_weights
),

long_weights as (
    unpivot weights
    on first_touch, last_touch, linear, time_decay, position_based
    into name model value weight
),

final as (
    select
        model,
        channel,
        campaign_id,
        sum(weight) as attributed_conversions,
        sum(weight * value) as attributed_revenue
    from long_weights
    group by all
)

select * from final
