-- staging.leads: one row per lead with a company-size band for segmenting.
with

leads as (
    select * from raw.leads
),

final as (
    select
        lead_id,
        person_id,
        created_at,
        date_trunc('month', created_at)::date as month,
        lead_source,
        nullif(trim(campaign_id), '') as campaign_id,
        company,
        industry,
        company_size,
        case
            when company_size is null then 'unknown'
            when company_size < 50 then '1-49'
            when company_size < 200 then '50-199'
            when company_size < 1000 then '200-999'
            when company_size < 5000 then '1000-4999'
            else '5000+'
        end as company_size_band,
        upper(trim(country)) as country,
        lower(trim(seniority)) as seniority
    from leads
)

select * from final
