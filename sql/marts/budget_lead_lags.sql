-- How long each channel's leads take to arrive after its touches: every lead spreads one
-- unit of credit evenly over its touches in the lookback window (as budget_touch_credit.sql
-- does), summed per channel and whole days from touch to lead. Only touches at least
-- $lookback_days old at $month_end count, over the $history_days before that: their whole
-- lookback has been observed, so late leads are not cut short. The waste rules turn this
-- into the share of a day's spend whose leads have arrived by a date.
-- params: $month_end (DATE), $lookback_days (INTEGER), $history_days (INTEGER)
with

leads as (
    select conversion_id, person_id, converted_at
    from intermediate.conversions
    where conversion_type = 'lead'
        and converted_at >= $month_end::timestamp
            - to_days($lookback_days::integer + $history_days::integer)
        and converted_at < $month_end::timestamp
),

touches as (
    select person_id, ts, channel
    from staging.touchpoints
    where channel is not null
        and ts >= $month_end::timestamp
            - to_days(2 * $lookback_days::integer + $history_days::integer)
        and ts < $month_end::timestamp
),

credited as (
    select
        t.channel,
        t.ts,
        epoch(l.converted_at - t.ts) / 86400.0 as lag_days,
        1.0 / count(*) over (partition by l.conversion_id) as weight
    from leads as l
    inner join touches as t
        on t.person_id = l.person_id
        and t.ts < l.converted_at
        and t.ts >= l.converted_at - to_days($lookback_days::integer)
),

final as (
    select
        channel,
        floor(lag_days)::integer as lag_day,
        sum(weight) as credit
    from credited
    where ts >= $month_end::timestamp - to_days($lookback_days::integer + $history_days::integer)
        and ts < $month_end::timestamp - to_days($lookback_days::integer)
    group by all
)

select * from final
order by channel, lag_day
