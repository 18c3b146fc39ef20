-- quarterly risks input: data-quality signals of the quarter. One row per signal:
-- quarantined raw rows per table, the share of touchpoints no channel rule could place,
-- and paid campaigns with spend but no touchpoint carrying their utm_campaign.
with

quarantined as (
    select
        'quarantined_rows' as signal,
        table_name as scope_id,
        rows_quarantined::double as value,
        rows_quarantined::double / nullif(rows_read, 0) as share
    from raw.load_manifest
    where rows_quarantined > 0
),

unclassified as (
    select
        'unclassified_touchpoints' as signal,
        'touchpoints' as scope_id,
        count(*) filter (where channel = 'unclassified')::double as value,
        count(*) filter (where channel = 'unclassified')::double / nullif(count(*), 0) as share
    from staging.touchpoints
    where ts >= $quarter_start and ts < $quarter_end
),

spend as (
    select campaign_id, sum(spend) as spend
    from staging.ad_spend
    where date >= $quarter_start and date < $quarter_end
    group by campaign_id
    having sum(spend) > 0
),

tracked as (
    select distinct campaign_id
    from staging.touchpoints
    where ts >= $quarter_start and ts < $quarter_end and campaign_id is not null
),

untracked as (
    select
        'spend_without_touchpoints' as signal,
        s.campaign_id as scope_id,
        s.spend as value,
        s.spend / nullif(sum(s.spend) over (), 0) as share
    from spend as s
    left join tracked as t on t.campaign_id = s.campaign_id
    qualify t.campaign_id is null
),

final as (
    select * from quarantined
    union all
    select * from unclassified
    union all
    select * from untracked
)

select * from final
order by signal, scope_id
