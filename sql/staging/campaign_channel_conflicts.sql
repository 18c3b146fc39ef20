-- Touchpoints that name a campaign (campaign_id from their utm_campaign) but whose own
-- channel (explicit, or from the utm rules) is not the campaign's, per campaign and channel,
-- in [$start, $end) (NULL bounds: all time). Campaign ROI counts such a touch for its
-- campaign; channel ROAS counts it for its own channel while the campaign's spend stays with
-- the campaign's channel, so the two channels' ROAS split one campaign. Often a utm tag
-- reused on organic posts, or a campaign filed under the wrong channel.
with

touches as (
    select t.campaign_id, t.channel as touch_channel, c.channel as campaign_channel
    from staging.touchpoints as t
    inner join staging.campaigns as c on c.campaign_id = t.campaign_id
    where ($start is null or t.ts >= $start)
        and ($end is null or t.ts < $end)
),

final as (
    select campaign_id, campaign_channel, touch_channel, count(*) as touchpoints
    from touches
    where touch_channel <> campaign_channel
    group by all
    order by touchpoints desc, campaign_id, touch_channel
)

select * from final
