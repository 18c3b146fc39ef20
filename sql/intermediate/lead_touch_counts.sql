-- Engagement of leads created in [$since, $as_of): touches per type in the $pre_days before
-- creation (phase 'pre') and in the $post_days from creation on (phase 'post'), counting only
-- touches before $as_of, so a month's features never see later activity.
with

leads as (
    select lead_id, person_id, created_at
    from staging.leads
    where created_at >= $since and created_at < $as_of
),

touches as (
    select person_id, ts, touch_type
    from staging.touchpoints
    where ts < $as_of
),

phased as (
    select
        l.lead_id,
        case when t.ts < l.created_at then 'pre' else 'post' end as phase,
        t.touch_type
    from leads as l
    inner join touches as t
        on t.person_id = l.person_id
        and t.ts >= l.created_at - to_days($pre_days)
        and t.ts < l.created_at + to_days($post_days)
),

final as (
    select lead_id, phase, touch_type, count(*) as n
    from phased
    group by lead_id, phase, touch_type
)

select * from final
