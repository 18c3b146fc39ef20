-- Conversions assisted by each piece of content in [$month_start, $month_end), credited
-- with the rule-based models on the whole touch path, then kept for the content touches.
--
-- Path of a conversion (same definition as channel attribution's defaults): the person's
-- touches strictly before converted_at and no older than $lookback_days days, every touch
-- type, ordered by ts then touchpoint_id. Per touch:
--   linear          1 / path length
--   position_based  $first_weight first, $last_weight last, the rest split evenly over the
--                   middle touches; 2 touches: first/last in proportion; 1 touch: 1
-- A piece of content is credited with the weights of its touches (touchpoints.content_id);
-- assisted_conversions counts the conversions whose path contains it at least once.
with

conversions as (
    select
        conversion_id,
        conversion_type,
        person_id,
        converted_at,
        coalesce(value, 0)::double as value
    from intermediate.conversions
    where converted_at >= $month_start::timestamp
        and converted_at < $month_end::timestamp
),

touches as (
    select touchpoint_id, person_id, ts, content_id
    from staging.touchpoints
    where ts >= $month_start::timestamp - to_days($lookback_days::integer)
        and ts < $month_end::timestamp
),

path_touches as (
    select
        c.conversion_id,
        c.conversion_type,
        c.value,
        t.touchpoint_id,
        t.content_id,
        row_number() over (
            partition by c.conversion_id order by t.ts, t.touchpoint_id
        ) as touch_index,
        count(*) over (partition by c.conversion_id) as path_length
    from conversions as c
    inner join touches as t
        on t.person_id = c.person_id
        and t.ts < c.converted_at
        and t.ts >= c.converted_at - to_days($lookback_days::integer)
),

weights as (
    select
        conversion_id,
        conversion_type,
        value,
        content_id,
        1.0 / path_length as linear,
        case
            when path_length = 1 then 1.0
            when path_length = 2 and touch_index = 1
                then $first_weight / ($first_weight + $last_weight)
            when path_length = 2 then $last_weight / ($first_weight + $last_weight)
            when touch_index = 1 then $first_weight
            when touch_index = path_length then $last_weight
            else (1.0 - $first_weight - $last_weight) / (path_length - 2)
        end as position_based
    from path_touches
    where content_id is not null
),

final as (
    select
        $month_start::date as month,
        content_id,
        conversion_type,
        count(*) as touches,
        count(distinct conversion_id) as assisted_conversions,
        sum(linear) as linear_conversions,
        sum(linear * value) as linear_value,
        sum(position_based) as position_based_conversions,
        sum(position_based * value) as position_based_value
    from weights
    group by content_id, conversion_type
)

select * from final
order by content_id, conversion_type
