-- launch monitoring input: lead quality as the credit-weighted mean predicted SQL
-- probability (lead scoring) of (a) the campaign's leads created in [window_start, as_of]
-- and (b) the channel's leads created in the benchmark_days before the launch. Each lead's
-- score is its latest one scored by the as-of day (marts.lead_score_history).
with

scores as (
    select lead_id, predicted_sql_probability
    from marts.lead_score_history
    where scored_at < $as_of_end
    qualify row_number() over (partition by lead_id order by scored_at desc) = 1
),

leads as (
    select
        lead_id,
        person_id,
        created_at,
        created_at >= $window_start as in_campaign_window
    from staging.leads
    where (created_at >= $window_start and created_at < $as_of_end)
        or (created_at >= $launch_ts - to_days($benchmark_days::integer) and created_at < $launch_ts)
),

lead_touches as (
    select l.lead_id, l.in_campaign_window, t.campaign_id, t.channel
    from leads as l
    inner join staging.touchpoints as t
        on t.person_id = l.person_id
        and t.ts < l.created_at
        and t.ts >= l.created_at - to_days($lookback_days::integer)
),

credit as (
    select
        lead_id,
        bool_or(in_campaign_window) as in_campaign_window,
        avg(case when campaign_id = $campaign_id then 1.0 else 0.0 end) as campaign_credit,
        avg(case when channel = $channel then 1.0 else 0.0 end) as channel_credit
    from lead_touches
    group by lead_id
),

final as (
    select
        sum(c.campaign_credit * s.predicted_sql_probability) filter (where c.in_campaign_window)
            / nullif(sum(c.campaign_credit) filter (where c.in_campaign_window), 0)
            as campaign_quality,
        count(*) filter (where c.in_campaign_window and c.campaign_credit > 0)::bigint
            as campaign_scored_leads,
        sum(c.channel_credit * s.predicted_sql_probability) filter (where not c.in_campaign_window)
            / nullif(sum(c.channel_credit) filter (where not c.in_campaign_window), 0)
            as channel_quality,
        count(*) filter (where not c.in_campaign_window and c.channel_credit > 0)::bigint
            as channel_scored_leads
    from credit as c
    inner join scores as s on s.lead_id = c.lead_id
)

select * from final
