-- Daily spend per campaign and channel up to the month's end (paid channels only have spend).
-- params: $window_start (DATE), $month_end (DATE)
with

spend as (
    select date, campaign_id, channel, spend, clicks, impressions
    from staging.ad_spend
    where date >= $window_start
      and date < $month_end
),

final as (
    select
        date,
        campaign_id,
        channel,
        sum(spend) as spend,
        sum(clicks) as clicks,
        sum(impressions) as impressions
    from spend
    group by all
)

select * from final
