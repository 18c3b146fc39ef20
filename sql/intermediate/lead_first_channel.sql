-- Touchpoint-derived first channel of each lead created in [$since, $as_of): the channel of
-- the person's earliest touch strictly before the lead's creation, as in attribution (NULL
-- when there is none: a CRM import, a list upload). The acquisition channel of lead
-- scoring's features and of the funnel's channel segment.
with

leads as (
    select lead_id, person_id, created_at
    from staging.leads
    where created_at >= $since and created_at < $as_of
),

touches as (
    select person_id, ts, channel, touchpoint_id
    from staging.touchpoints
    where ts < $as_of
),

final as (
    select l.lead_id, arg_min(t.channel, (t.ts, t.channel, t.touchpoint_id)) as first_channel
    from leads as l
    inner join touches as t
        on t.person_id = l.person_id
        and t.ts < l.created_at
    group by l.lead_id
)

select * from final
