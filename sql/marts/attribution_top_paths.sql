-- The most frequent converting channel paths (consecutive repeats of a channel collapsed,
-- "paid_search > email"), with their null paths, conversion rate and revenue, from the
-- temp table _attr_path_touches. Ties are broken by the path text (deterministic).
with

touches as (
    select
        path_id,
        converted,
        value,
        channel,
        touch_index,
        lag(channel) over (partition by path_id order by touch_index) as previous_channel
    from _attr_path_touches
),

paths as (
    select
        path_id,
        any_value(converted) as converted,
        any_value(value) as value,
        string_agg(channel, ' > ' order by touch_index) as path,
        count(*) as steps
    from touches
    where previous_channel is null or previous_channel <> channel
    group by path_id
),

grouped as (
    select
        path,
        any_value(steps) as steps,
        count(*) filter (where converted) as conversions,
        count(*) filter (where not converted) as null_paths,
        coalesce(sum(value) filter (where converted), 0) as revenue
    from paths
    group by path
),

final as (
    select
        row_number() over (order by conversions desc, path) as rank,
        path,
        steps,
        conversions,
        null_paths,
        conversions / nullif(conversions + null_paths, 0) as conversion_rate,
        revenue,
        conversions / nullif(sum(conversions) over (), 0) as share_of_conversions
    from grouped
    where conversions > 0
)

select * from final
where rank <= $top_n
order by rank
