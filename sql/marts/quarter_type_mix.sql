-- quarterly calendar input: per channel and campaign type, the quarter's spend and number of
-- campaigns (marts.campaign_performance), the mix the next quarter's calendar follows.
with

perf as (
    select
        p.channel,
        coalesce(p.campaign_type, c.campaign_type) as campaign_type,
        p.campaign_id,
        sum(p.spend) as spend
    from marts.campaign_performance as p
    left join staging.campaigns as c on c.campaign_id = p.campaign_id
    where p.month >= $quarter_start and p.month < $quarter_end
    group by all
),

final as (
    select
        channel,
        campaign_type,
        sum(spend) as spend,
        count(distinct campaign_id) filter (where spend > 0) as campaigns
    from perf
    group by all
    having sum(spend) > 0
)

select * from final
order by channel, campaign_type
