-- Engagement of leads created in [$since, $as_of): touches per type in the $pre_days before
-- creation (phase 'pre') and in the $post_days from creation on (phase 'post'), counting only
-- touches before $as_of, so a month's features never see later activity. after_sql marks a
-- touch at or after the moment the lead reached SQL (the label): lead scoring leaves those
-- out when the data show sales working the lead (analytics.lead_scoring.post_sql_touch_test).
-- The caller registers lead_sql_reached (lead_id, sql_at): the funnel's stage definition as
-- of $as_of (analytics.lead_scoring.scoring_frame); a lead missing from it never reached SQL.
with

leads as (
    select l.lead_id, l.person_id, l.created_at, r.sql_at
    from staging.leads as l
    left join lead_sql_reached as r on r.lead_id = l.lead_id
    where l.created_at >= $since and l.created_at < $as_of
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
        t.touch_type,
        coalesce(t.ts >= l.sql_at, false) as after_sql
    from leads as l
    inner join touches as t
        on t.person_id = l.person_id
        and t.ts >= l.created_at - to_days($pre_days)
        and t.ts < l.created_at + to_days($post_days)
),

final as (
    select lead_id, phase, touch_type, after_sql, count(*) as n
    from phased
    group by lead_id, phase, touch_type, after_sql
)

select * from final
