-- Each lead of the trailing window with its even split over the channels of its touches in
-- the lookback window, the won revenue it has sourced so far (deals closed before the
-- month's end) and its open pipeline (amounts of its opportunities created but not closed
-- by the month's end), for the channels' revenue per lead.
-- params: $window_start (DATE), $month_end (DATE), $lookback_days (INTEGER)
with

leads as (
    select lead_id, person_id, converted_at
    from intermediate.conversions
    where conversion_type = 'lead'
      and converted_at >= cast($window_start as timestamp)
      and converted_at < cast($month_end as timestamp)
),

won as (
    select lead_id, sum(coalesce(value, 0)) as won_value
    from intermediate.conversions
    where conversion_type = 'won'
      and converted_at < cast($month_end as timestamp)
    group by lead_id
),

open_pipeline as (
    select lead_id, sum(coalesce(amount, 0)) as open_pipeline
    from staging.opportunities
    where created_at < cast($month_end as timestamp)
      and not coalesce(
          is_closed and closed_at < cast($month_end as timestamp),
          false
      )
    group by lead_id
),

touches as (
    select person_id, ts, channel
    from staging.touchpoints
    where ts >= cast($window_start as timestamp) - to_days(cast($lookback_days as integer))
      and ts < cast($month_end as timestamp)
),

split as (
    select
        l.lead_id,
        t.channel,
        count(*) * 1.0 / sum(count(*)) over (partition by l.lead_id) as credit
    from leads as l
    inner join touches as t
        on t.person_id = l.person_id
       and t.ts < l.converted_at
       and t.ts >= l.converted_at - to_days(cast($lookback_days as integer))
    group by l.lead_id, t.channel
),

final as (
    select
        s.lead_id,
        s.channel,
        s.credit,
        date_diff('day', l.converted_at, cast($month_end as timestamp)) as age_days,
        coalesce(w.won_value, 0) as won_value,
        coalesce(p.open_pipeline, 0) as open_pipeline
    from split as s
    inner join leads as l
        on l.lead_id = s.lead_id
    left join won as w
        on w.lead_id = s.lead_id
    left join open_pipeline as p
        on p.lead_id = s.lead_id
)

select * from final
