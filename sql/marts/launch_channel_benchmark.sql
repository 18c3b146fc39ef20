-- launch benchmarks input: the channel's lead -> MQL rate within mql_window_days of the
-- lead, over leads created in the benchmark_days before the launch that are at least
-- mql_window_days old at launch. Leads are credited to the channel linearly over their
-- touches in the lookback window, the same rule as the campaign's own leads.
with

leads as (
    select lead_id, person_id, created_at
    from staging.leads
    where created_at >= $launch_ts - to_days($benchmark_days::integer)
        and created_at < $launch_ts - to_days($mql_window_days::integer)
),

lead_touches as (
    select l.lead_id, l.created_at, t.channel
    from leads as l
    inner join staging.touchpoints as t
        on t.person_id = l.person_id
        and t.ts < l.created_at
        and t.ts >= l.created_at - to_days($lookback_days::integer)
),

credit as (
    select
        lead_id,
        min(created_at) as created_at,
        avg(case when channel = $channel then 1.0 else 0.0 end) as credit
    from lead_touches
    group by lead_id
),

mql as (
    select lead_id, mql_at
    from intermediate.lead_stage_reached
    where mql_at < $launch_ts
),

final as (
    select
        sum(c.credit) as credited_leads,
        sum(c.credit) filter (
            where m.mql_at is not null
            and m.mql_at <= c.created_at + to_days($mql_window_days::integer)
        ) / nullif(sum(c.credit), 0) as mql_rate
    from credit as c
    left join mql as m on m.lead_id = c.lead_id
    where c.credit > 0
)

select * from final
