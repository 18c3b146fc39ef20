-- staging.touchpoints: every touch with its channel group.
-- Channel: the touch's own channel column when filled; else the first matching utm rule
-- (raw.channel_rules, matched on distinct source/medium pairs); else the channel of the
-- campaign its utm_campaign names; else 'unclassified' (counted and reported, not guessed).
-- A touch the rules call direct but whose utm_campaign names a known campaign takes the
-- campaign's channel: a typed-in visit carries no campaign tag (QR codes, offline lists and
-- event check-ins often fill utm_campaign alone).
with

touchpoints as (
    select
        *,
        coalesce(lower(trim(utm_source)), '') as source_key,
        coalesce(lower(trim(utm_medium)), '') as medium_key,
        nullif(lower(trim(channel)), '') as explicit_channel,
        nullif(lower(trim(utm_campaign)), '') as utm_campaign_key
    from raw.touchpoints
),

rules as (
    select priority, source_regex, medium_regex, channel from raw.channel_rules
),

source_medium_pairs as (
    select distinct source_key, medium_key
    from touchpoints
    where explicit_channel is null
),

classified_pairs as (
    select p.source_key, p.medium_key, r.channel
    from source_medium_pairs as p
    inner join rules as r
        on regexp_full_match(p.source_key, r.source_regex)
        and regexp_full_match(p.medium_key, r.medium_regex)
    qualify row_number() over (partition by p.source_key, p.medium_key order by r.priority) = 1
),

campaigns as (
    select campaign_id, utm_campaign_key, channel from staging.campaigns
),

final as (
    select
        t.touchpoint_id,
        t.person_id,
        t.ts,
        date_trunc('month', t.ts)::date as month,
        lower(trim(t.touch_type)) as touch_type,
        t.utm_source,
        t.utm_medium,
        t.utm_campaign,
        coalesce(t.explicit_channel, rule_or_campaign.channel, 'unclassified') as channel,
        case
            when t.explicit_channel is not null then 'explicit'
            else coalesce(rule_or_campaign.source, 'unclassified')
        end as channel_source,
        c.campaign_id,
        nullif(trim(t.content_id), '') as content_id
    from touchpoints as t
    left join classified_pairs as cp
        on cp.source_key = t.source_key
        and cp.medium_key = t.medium_key
    left join campaigns as c
        on c.utm_campaign_key = t.utm_campaign_key
    cross join lateral (
        select
            case
                when c.channel is not null and (cp.channel is null or cp.channel = 'direct')
                    then c.channel
                else cp.channel
            end as channel,
            case
                when c.channel is not null and (cp.channel is null or cp.channel = 'direct')
                    then 'campaign'
                when cp.channel is not null then 'rule'
            end as source
    ) as rule_or_campaign
)

select * from final
