-- One row per touch of every attribution path of one conversion type in one month.
--
-- Converting paths: for each conversion of $conversion_type with converted_at in
-- [$month_start, $month_end), the person's touches strictly before converted_at and no
-- older than $lookback_days days (ts >= converted_at - lookback). Touches after the
-- conversion never count.
-- Non-converting paths: people with at least one touch in [$month_start, $month_end)
-- who have no conversion of this type at any time before $month_end (still at risk at
-- the month end); their path is their touches in [$month_end - lookback, $month_end).
-- Touch filters: $touch_types (NULL = every type) and $include_unclassified.
-- $anchor_on_lead (opportunity and won only): "lead-sourced" paths. The path of a deal is
-- the path of the lead that sourced it (touches before the lead's creation, same lookback)
-- and the non-converting paths are those of the lead risk set; what happens between lead
-- and deal (nurture, sales) is left to sales. Off by default: paths end at the conversion.
-- Order inside a path: ts, then touchpoint_id (deterministic).
-- in_conversion_session: the touch belongs to the session that ends in the conversion
-- (the chain of touches with gaps of at most $session_minutes minutes, the last of them at
-- most $session_minutes before the conversion, web analytics' 30-minute session rule).
-- Such a session records how the person came back to convert (a direct visit, a branded
-- search, a click on a nurture email), not what persuaded them; the data-driven models
-- leave it out. Null paths have no conversion session. $session_minutes = 0 disables it.
with

anchored as (
    select $anchor_on_lead and $conversion_type <> 'lead' as on_lead
),

lead_created as (
    select lead_id, min(converted_at) as lead_at
    from intermediate.conversions
    where conversion_type = 'lead'
    group by lead_id
),

conversions as (
    select
        c.conversion_id,
        c.person_id,
        case
            when (select on_lead from anchored) then coalesce(l.lead_at, c.converted_at)
            else c.converted_at
        end as converted_at,
        coalesce(c.value, 0)::double as value
    from intermediate.conversions as c
    left join lead_created as l on l.lead_id = c.lead_id
    where c.conversion_type = $conversion_type
        and c.converted_at >= $month_start::timestamp
        and c.converted_at < $month_end::timestamp
),

risk_type as (
    select case when (select on_lead from anchored) then 'lead' else $conversion_type end
        as conversion_type
),

touches as (
    select
        touchpoint_id,
        person_id,
        ts,
        channel,
        campaign_id,
        touch_type
    from staging.touchpoints
    where ts >= least(
            $month_start::timestamp, (select min(converted_at) from conversions)
        ) - to_days($lookback_days::integer)
        and ts < $month_end::timestamp
        and channel is not null
        and ($touch_types is null or list_contains($touch_types, touch_type))
        and ($include_unclassified or channel <> 'unclassified')
),

converting_touches as (
    select
        'c:' || c.conversion_id as path_id,
        true as converted,
        c.value,
        c.converted_at as path_end,
        t.touchpoint_id,
        t.ts,
        t.channel,
        t.campaign_id,
        t.touch_type
    from conversions as c
    inner join touches as t
        on t.person_id = c.person_id
        and t.ts < c.converted_at
        and t.ts >= c.converted_at - to_days($lookback_days::integer)
),

ever_converted as (
    select distinct person_id
    from intermediate.conversions
    where conversion_type = (select conversion_type from risk_type)
        and converted_at < $month_end::timestamp
),

at_risk as (
    select distinct t.person_id
    from touches as t
    anti join ever_converted as e on e.person_id = t.person_id
    where t.ts >= $month_start::timestamp
),

null_touches as (
    select
        'n:' || t.person_id as path_id,
        false as converted,
        0.0::double as value,
        $month_end::timestamp as path_end,
        t.touchpoint_id,
        t.ts,
        t.channel,
        t.campaign_id,
        t.touch_type
    from touches as t
    semi join at_risk as r on r.person_id = t.person_id
    where t.ts >= $month_end::timestamp - to_days($lookback_days::integer)
),

all_touches as (
    select * from converting_touches
    union all
    select * from null_touches
),

sessions as (
    select
        *,
        sum(case when gap_minutes is null or gap_minutes > $session_minutes then 1 else 0 end)
            over (partition by path_id order by ts desc, touchpoint_id desc
                  rows between unbounded preceding and current row) as session_from_end
    from (
        select
            *,
            epoch(lead(ts, 1, path_end) over (partition by path_id order by ts, touchpoint_id) - ts)
                / 60.0 as gap_minutes
        from all_touches
    )
),

final as (
    select
        path_id,
        converted,
        value,
        path_end,
        touchpoint_id,
        ts,
        channel,
        campaign_id,
        touch_type,
        converted and session_from_end = 0 and $session_minutes > 0 as in_conversion_session,
        row_number() over (partition by path_id order by ts, touchpoint_id) as touch_index,
        count(*) over (partition by path_id) as path_length
    from sessions
)

select * from final
