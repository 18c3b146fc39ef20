-- Leads created before $as_of with the segment columns the funnel breaks down by.
with

leads as (
    select * from staging.leads where created_at < $as_of
),

final as (
    select
        lead_id,
        person_id,
        created_at,
        lead_source,
        campaign_id,
        industry,
        company_size,
        company_size_band,
        country,
        seniority
    from leads
)

select * from final
