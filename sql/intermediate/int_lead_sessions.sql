-- The touches of leads' conversion sessions, one row per (person_id, ts, channel): the web
-- session each lead was created in, i.e. the person's touches chained to the lead's creation
-- instant by gaps of at most $session_minutes minutes, before it (the return visit), at it
-- (a form fill recorded as a touch) and after it (the thank-you page, the download).
-- Opportunity and won paths contain this session of the lead that sourced the deal, and only
-- leads have one, so a data-driven model would read the lead's form fill as what produced
-- the deal; they leave these touches out of deal paths, converting and null alike. As in a
-- path's own conversion session (int_path_touches.sql), an ad click ($paid_click_channels,
-- touch type click) of a channel the person had not used before the session stays: it is
-- the ad that sourced the lead. Empty unless $deal_paths (a deal type, not lead-anchored)
-- and $session_minutes > 0.
-- Only touches in [$window_start, $month_end) are read (no path built here holds others;
-- a session reaching beyond is cut there). Same touch filters as int_path_touches.sql.
with

leads as (
    select lead_id, person_id, converted_at as lead_at
    from intermediate.conversions
    where $deal_paths
        and $session_minutes > 0
        and conversion_type = 'lead'
        and converted_at >= $window_start::timestamp - to_minutes($session_minutes::integer)
        and converted_at < $month_end::timestamp + to_minutes($session_minutes::integer)
),

events as (
    select l.lead_id, l.person_id, t.ts, t.channel, t.touch_type, false as is_lead
    from staging.touchpoints as t
    inner join leads as l on l.person_id = t.person_id
    where t.ts >= $window_start::timestamp
        and t.ts < $month_end::timestamp
        and t.channel is not null
        and ($touch_types is null or list_contains($touch_types, t.touch_type))
        and ($include_unclassified or t.channel <> 'unclassified')
    union all
    select lead_id, person_id, lead_at, null, null, true
    from leads
),

breaks as (
    select
        *,
        coalesce(
            epoch(ts - lag(ts) over (partition by lead_id order by ts)) / 60.0
                > $session_minutes,
            false
        ) as starts_session
    from events
),

numbered as (
    select
        *,
        sum(starts_session::integer) over (
            partition by lead_id order by ts, starts_session desc
            rows between unbounded preceding and current row
        ) as session_no
    from breaks
),

located as (
    select
        *,
        session_no = max(case when is_lead then session_no end) over (partition by lead_id)
            as in_session
    from numbered
),

flagged as (
    select
        *,
        min(ts) filter (where in_session) over (partition by lead_id) as session_start,
        min(ts) over (partition by lead_id, channel) as channel_first_ts
    from located
),

final as (
    select distinct person_id, ts, channel
    from flagged
    where in_session
        and not is_lead
        and not (
            touch_type = 'click'
            and list_contains($paid_click_channels, channel)
            and channel_first_ts >= session_start
        )
)

select * from final
