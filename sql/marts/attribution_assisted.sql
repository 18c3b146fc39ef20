-- Assisted vs last-touch conversions per channel, from the converting paths in the temp
-- table _attr_path_touches. A channel "assists" a conversion when it is in the path but
-- is not the last touch; first_touch_conversions counts paths it opened.
with

touches as (
    select path_id, value, channel, touch_index, path_length
    from _attr_path_touches
    where converted
),

per_path as (
    select
        path_id,
        channel,
        any_value(value) as value,
        bool_or(touch_index = path_length) as is_last,
        bool_or(touch_index = 1) as is_first,
        count(*) as touches
    from touches
    group by path_id, channel
),

totals as (
    select count(distinct path_id) as paths from touches
),

final as (
    select
        p.channel,
        count(*) as conversions_touched,
        count(*) filter (where p.is_last) as last_touch_conversions,
        count(*) filter (where not p.is_last) as assisted_conversions,
        count(*) filter (where p.is_first) as first_touch_conversions,
        sum(p.touches) as touches,
        coalesce(sum(p.value) filter (where p.is_last), 0) as last_touch_revenue,
        coalesce(sum(p.value) filter (where not p.is_last), 0) as assisted_revenue,
        count(*) filter (where not p.is_last)
            / nullif(count(*) filter (where p.is_last), 0) as assist_ratio,
        count(*) / nullif(any_value(t.paths), 0) as share_of_conversions_touched
    from per_path as p
    cross join totals as t
    group by p.channel
)

select * from final
order by conversions_touched desc, channel
