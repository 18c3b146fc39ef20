-- launch monitoring input: one row per day of the campaign's window [window_start, as_of]
-- with its spend, impressions, clicks and the touchpoints that carry its utm_campaign
-- (staging.touchpoints.campaign_id is matched on utm_campaign).
with

spend as (
    select
        date,
        sum(spend) as spend,
        sum(impressions)::bigint as impressions,
        sum(clicks)::bigint as clicks
    from staging.ad_spend
    where campaign_id = $campaign_id and date >= $window_start and date <= $as_of
    group by date
),

touches as (
    select
        ts::date as date,
        count(*)::bigint as touches
    from staging.touchpoints
    where campaign_id = $campaign_id and ts >= $window_start and ts < $as_of_end
    group by all
),

final as (
    select
        coalesce(s.date, t.date) as date,
        coalesce(s.spend, 0.0) as spend,
        coalesce(s.impressions, 0)::bigint as impressions,
        coalesce(s.clicks, 0)::bigint as clicks,
        coalesce(t.touches, 0)::bigint as touches
    from spend as s
    full outer join touches as t on t.date = s.date
)

select * from final
order by date
