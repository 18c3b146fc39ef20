-- Paths of the temp table _attr_model_touches grouped by the set of channels they touch,
-- as a bitmask over $channels (bit i = channel $channels[i + 1]): conversions, null
-- paths and conversion value per channel set. Input of the Shapley model.
with

paths as (
    select
        path_id,
        any_value(converted) as converted,
        any_value(value) as value,
        bit_or((1::ubigint) << (list_position($channels, channel) - 1)::ubigint) as channel_mask
    from _attr_model_touches
    group by path_id
),

final as (
    select
        channel_mask,
        count(*) filter (where converted)::bigint as conversions,
        count(*) filter (where not converted)::bigint as nulls,
        coalesce(sum(value) filter (where converted), 0.0) as revenue
    from paths
    group by channel_mask
)

select * from final
