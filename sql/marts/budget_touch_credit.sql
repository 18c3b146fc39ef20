-- Credit of each paid-channel touch week, per conversion month, before reconciliation.
-- Each conversion (lead or won) in the trailing window spreads one unit of credit (and
-- its value) evenly over its touches in the lookback window; the result is summed per
-- conversion type, conversion month, channel, touch period and lag in whole weeks.
-- Python rescales each (conversion month, channel) to the configured attribution model's
-- total from marts.campaign_attribution, so only the *timing* comes from here.
-- params: $window_start (DATE), $month_end (DATE), $lookback_days (INTEGER),
-- $grain ('day' or 'week': the touch period, weeks start on Monday)
with

conversions as (
    select
        conversion_id,
        conversion_type,
        person_id,
        converted_at,
        month as conversion_month,
        coalesce(value, 0) as value
    from intermediate.conversions
    where conversion_type in ('lead', 'won')
      and converted_at >= cast($window_start as timestamp)
      and converted_at < cast($month_end as timestamp)
),

touches as (
    select person_id, ts, channel
    from staging.touchpoints
    where ts >= cast($window_start as timestamp) - to_days(cast($lookback_days as integer))
      and ts < cast($month_end as timestamp)
),

credited as (
    select
        c.conversion_id,
        c.conversion_type,
        c.conversion_month,
        c.value,
        t.channel,
        t.ts,
        date_diff('day', t.ts, c.converted_at) as lag_days,
        1.0 / count(*) over (partition by c.conversion_id) as weight
    from conversions as c
    inner join touches as t
        on t.person_id = c.person_id
       and t.ts < c.converted_at
       and t.ts >= c.converted_at - to_days(cast($lookback_days as integer))
),

final as (
    select
        conversion_type,
        conversion_month,
        channel,
        cast(date_trunc($grain, ts) as date) as period_start,
        cast(floor(lag_days / 7) as integer) as lag_week,
        sum(weight) as conversion_credit,
        sum(weight * value) as value_credit
    from credited
    group by all
)

select * from final
