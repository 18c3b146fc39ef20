-- Acquisition channel of every lead created before $as_of: the channel of the person's
-- earliest touch strictly before the lead's creation (the touches attribution counts for
-- the lead). A lead with no such touch (a CRM import, a list upload) has none: the funnel
-- shows it as channel 'unknown', even if it is emailed later.
with

leads as (
    select lead_id, person_id, created_at
    from staging.leads
    where created_at < $as_of
),

touches as (
    select person_id, ts, channel, touchpoint_id
    from staging.touchpoints
    where ts < $as_of
),

final as (
    select l.lead_id, arg_min(t.channel, (t.ts, t.touchpoint_id)) as channel
    from leads as l
    inner join touches as t
        on t.person_id = l.person_id
        and t.ts < l.created_at
    group by l.lead_id
)

select * from final
