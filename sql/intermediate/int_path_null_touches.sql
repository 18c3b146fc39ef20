-- Touches of the null (non-converting) paths in the temp table _attr_paths: every null
-- path has the same window [$month_end - $lookback_days, $month_end). Same touch filters
-- as int_path_touches.sql. Kept narrow (no timestamps: nothing downstream needs them for
-- null paths), because null paths hold most of the touches.
-- Order inside a path: ts, then channel (cheaper to sort than the touchpoint id and just
-- as deterministic for everything null paths feed: touches tied on both differ at most in
-- campaign, which null paths are never ordered by).
-- in_lead_session: the touch is in a conversion session of one of the person's leads (temp
-- table _attr_lead_sessions; empty except for deal paths).
with

touches as (
    select person_id, ts, channel, campaign_id
    from staging.touchpoints
    where ts >= $month_end::timestamp - to_days($lookback_days::integer)
        and ts < $month_end::timestamp
        and channel is not null
        and ($touch_types is null or list_contains($touch_types, touch_type))
        and ($include_unclassified or channel <> 'unclassified')
),

joined as (
    select
        p.path_id,
        t.ts,
        t.channel,
        t.campaign_id,
        s.person_id is not null as in_lead_session
    from touches as t
    inner join (select path_id, person_id from _attr_paths where not converted) as p
        on p.person_id = t.person_id
    left join _attr_lead_sessions as s
        on s.person_id = t.person_id
        and s.ts = t.ts
        and s.channel = t.channel
),

final as (
    select
        path_id,
        channel,
        campaign_id,
        in_lead_session,
        (row_number() over w)::integer as touch_index,
        (count(*) over (w rows between unbounded preceding and unbounded following))::integer
            as path_length,
        lag(channel) over w as previous_channel
    from joined
    window w as (partition by path_id order by ts, channel)
)

select * from final
