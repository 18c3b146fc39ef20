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
        coalesce(lower(trim(utm_source, e' \t\r\n')), '') as source_key,
        coalesce(lower(trim(utm_medium, e' \t\r\n')), '') as medium_key,
        nullif(lower(trim(channel, e' \t\r\n')), '') as explicit_channel,
        nullif(lower(trim(utm_campaign, e' \t\r\n')), '') as utm_campaign_key
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

matched as (
    select
        t.*,
        cp.channel as rule_channel,
        c.channel as campaign_channel,
        c.campaign_id,
        c.channel is not null and coalesce(cp.channel, 'direct') = 'direct' as campaign_wins
    from touchpoints as t
    left join classified_pairs as cp
        on cp.source_key = t.source_key
        and cp.medium_key = t.medium_key
    left join campaigns as c
        on c.utm_campaign_key = t.utm_campaign_key
),

final as (
    select
        touchpoint_id,
        person_id,
        ts,
        date_trunc('month', ts)::date as month,
        lower(trim(touch_type)) as touch_type,
        utm_source,
        utm_medium,
        utm_campaign,
        case
            when explicit_channel is not null then explicit_channel
            when campaign_wins then campaign_channel
            else coalesce(rule_channel, 'unclassified')
        end as channel,
        case
            when explicit_channel is not null then 'explicit'
            when campaign_wins then 'campaign'
            when rule_channel is not null then 'rule'
            else 'unclassified'
        end as channel_source,
        campaign_id,
        nullif(trim(content_id), '') as content_id
    from matched
)

select * from final
