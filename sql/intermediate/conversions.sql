-- intermediate.conversions: the three conversion events attribution and ROI are built on.
--   lead        leads.created_at, value 0
--   opportunity opportunities.created_at, value = amount (pipeline)
--   won         closed_won opportunities at closed_at (staging.opportunities: the
--               close_date when the export has no closed_at), value = amount (revenue)
with

leads as (
    select lead_id, person_id, created_at from staging.leads
),

opportunities as (
    select opportunity_id, lead_id, person_id, created_at, closed_at, amount, is_won
    from staging.opportunities
),

lead_conversions as (
    select
        'lead:' || lead_id as conversion_id,
        'lead' as conversion_type,
        person_id,
        lead_id,
        created_at as converted_at,
        0.0 as value
    from leads
),

opportunity_conversions as (
    select
        'opportunity:' || opportunity_id as conversion_id,
        'opportunity' as conversion_type,
        person_id,
        lead_id,
        created_at as converted_at,
        amount as value
    from opportunities
),

won_conversions as (
    select
        'won:' || opportunity_id as conversion_id,
        'won' as conversion_type,
        person_id,
        lead_id,
        closed_at as converted_at,
        amount as value
    from opportunities
    where is_won
),

unioned as (
    select * from lead_conversions
    union all
    select * from opportunity_conversions
    union all
    select * from won_conversions
),

final as (
    select *, date_trunc('month', converted_at)::date as month
    from unioned
)

select * from final
