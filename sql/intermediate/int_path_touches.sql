-- Touches of the converting paths in the temp table _attr_paths (int_paths.sql): the
-- person's counted touches in [path_start, path_end), one row each. Touch filters:
-- $touch_types (NULL = every type, impressions included) and $include_unclassified.
-- $window_start is the earliest path_start (lets the scan skip older data).
-- Order inside a path: ts, then channel, then touchpoint_id (ties at one instant are ordered
-- by channel name, as in the null paths); touch_index 1..path_length;
-- previous_channel: the channel of the touch before (NULL for the first).
-- in_conversion_session: the touch belongs to the session that ends in the conversion
-- (the chain of touches with gaps of at most $session_minutes minutes, the last of them at
-- most $session_minutes before the conversion: web analytics' 30-minute session rule).
-- Such a session records how the person came back to convert (a direct visit, a branded
-- search, a click on a nurture email), not what persuaded them; the data-driven models
-- leave it out. Except an ad click ($paid_click_channels, touch type click) of a channel the
-- path had not used before the session: that is the direct response to an ad (click, then the
-- form), not a way back, and it stays in. $session_minutes = 0 disables the rule.
-- in_lead_session: the touch is in a conversion session of one of the person's leads (temp
-- table _attr_lead_sessions, int_lead_sessions.sql; empty except for deal paths).
-- The null paths' touches are in int_path_null_touches.sql; the temp view
-- _attr_path_touches puts both together.
with

touches as (
    select person_id, ts, touchpoint_id, channel, campaign_id, touch_type
    from staging.touchpoints
    where ts >= $window_start::timestamp
        and ts < $month_end::timestamp
        and channel is not null
        and ($touch_types is null or list_contains($touch_types, touch_type))
        and ($include_unclassified or channel <> 'unclassified')
),

joined as (
    select
        p.path_id,
        p.value,
        p.path_end,
        t.ts,
        t.touchpoint_id,
        t.channel,
        t.campaign_id,
        t.touch_type,
        s.person_id is not null as in_lead_session
    from touches as t
    inner join (select * from _attr_paths where converted) as p
        on p.person_id = t.person_id
        and t.ts >= p.path_start
        and t.ts < p.path_end
    left join _attr_lead_sessions as s
        on s.person_id = t.person_id
        and s.ts = t.ts
        and s.channel = t.channel
),

ordered as (
    select
        path_id,
        value,
        path_end,
        ts,
        channel,
        campaign_id,
        touch_type,
        in_lead_session,
        row_number() over w as touch_index,
        count(*) over (w rows between unbounded preceding and unbounded following)
            as path_length,
        lag(channel) over w as previous_channel,
        epoch(lead(ts, 1, path_end) over w - ts) / 60.0 as gap_minutes
    from joined
    window w as (partition by path_id order by ts, channel, touchpoint_id)
),

-- the last touch that a gap of more than $session_minutes follows: the conversion session
-- starts after it
session_breaks as (
    select path_id, max(touch_index) as last_break
    from ordered
    where gap_minutes > $session_minutes
    group by path_id
),

-- channels the path used before its conversion session
channels_before_session as (
    select distinct o.path_id, o.channel
    from ordered as o
    inner join session_breaks as b
        on b.path_id = o.path_id
        and o.touch_index <= b.last_break
),

-- an ad click of a channel the path had not used before the session is the ad the person
-- responded to, not a way back: it stays
arrivals as (
    select
        o.*,
        b.last_break,
        o.touch_type = 'click'
        and list_contains($paid_click_channels, o.channel)
        and c.path_id is null as new_paid_click
    from ordered as o
    left join session_breaks as b
        on b.path_id = o.path_id
    left join channels_before_session as c
        on c.path_id = o.path_id
        and c.channel = o.channel
),

final as (
    select
        path_id,
        true as converted,
        value,
        path_end,
        ts,
        channel,
        campaign_id,
        $session_minutes > 0
        and touch_index > coalesce(last_break, 0)
        and not new_paid_click as in_conversion_session,
        in_lead_session,
        touch_index::integer as touch_index,
        path_length::integer as path_length,
        previous_channel
    from arrivals
)

select * from final
