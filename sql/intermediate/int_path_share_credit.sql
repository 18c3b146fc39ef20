-- Spread per-path channel shares down to campaigns. The temp table _attr_mask_shares
-- (model, channel_mask, channel, share) says which share of a conversion each channel
-- earns in a path touching exactly the channels of channel_mask (bitmask over
-- $channels); within the path a channel's share is split evenly over its touches, so
-- each touch's campaign gets share / (touches of that channel in the path).
with

touches as (
    select path_id, value, channel, campaign_id
    from _attr_model_touches
    where converted
),

path_masks as (
    select
        path_id,
        bit_or((1::ubigint) << (list_position($channels, channel) - 1)::ubigint) as channel_mask
    from touches
    group by path_id
),

channel_touches as (
    select path_id, channel, count(*) as touches_of_channel
    from touches
    group by all
),

final as (
    select
        s.model,
        t.channel,
        t.campaign_id,
        sum(s.share / c.touches_of_channel) as attributed_conversions,
        sum(s.share / c.touches_of_channel * t.value) as attributed_revenue
    from touches as t
    inner join path_masks as m on m.path_id = t.path_id
    inner join channel_touches as c on c.path_id = t.path_id and c.channel = t.channel
    inner join _attr_mask_shares as s
        on s.channel_mask = m.channel_mask and s.channel = t.channel
    group by all
)

select * from final
