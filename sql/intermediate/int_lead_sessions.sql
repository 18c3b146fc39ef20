-- The conversion sessions of leads, as person time ranges [session_start, session_end]
-- (both ends included, no two of a person overlapping): the web session the lead was created in, i.e. the person's touches
-- chained to the lead's creation instant by gaps of at most $session_minutes minutes, before
-- it (the return visit, the form fill recorded at the instant) and after it (the thank-you
-- page, the download). Opportunity and won paths contain this session of the lead that
-- sourced the deal, and only leads have one, so a data-driven model would read the lead's
-- form fill as what produced the deal; they leave these touches out of deal paths,
-- converting and null alike. Empty unless $deal_paths (a deal type, not lead-anchored)
-- and $session_minutes > 0.
-- Only touches in [$window_start, $month_end) are read (no path built here holds others;
-- a session reaching beyond is cut there, which leaves the same touches of the window in
-- it). Same touch filters as int_path_touches.sql.
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
    select l.lead_id, l.person_id, t.ts, false as is_lead
    from staging.touchpoints as t
    inner join leads as l on l.person_id = t.person_id
    where t.ts >= $window_start::timestamp
        and t.ts < $month_end::timestamp
        and t.channel is not null
        and ($touch_types is null or list_contains($touch_types, t.touch_type))
        and ($include_unclassified or t.channel <> 'unclassified')
    union all
    select lead_id, person_id, lead_at, true
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
        max(case when is_lead then session_no end) over (partition by lead_id)
            as lead_session_no
    from numbered
),

sessions as (
    select person_id, min(ts) as session_start, max(ts) as session_end
    from located
    where session_no = lead_session_no
    group by lead_id, person_id
    having count(*) filter (where not is_lead) > 0
),

-- two leads created in one visit share their session: overlapping ranges of a person are
-- merged, so a touch falls in at most one range (the paths join on them)
reach as (
    select
        *,
        max(session_end) over (
            partition by person_id order by session_start, session_end
            rows between unbounded preceding and 1 preceding
        ) as reach_before
    from sessions
),

islands as (
    select
        *,
        sum(case when reach_before is null or session_start > reach_before then 1 else 0 end)
            over (
                partition by person_id order by session_start, session_end
                rows between unbounded preceding and current row
            ) as island
    from reach
),

final as (
    select person_id, min(session_start) as session_start, max(session_end) as session_end
    from islands
    group by person_id, island
)

select * from final
