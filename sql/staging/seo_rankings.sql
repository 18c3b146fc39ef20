with

rankings as (
    select * from raw.seo_rankings
),

final as (
    select
        date,
        date_trunc('month', date)::date as month,
        keyword,
        nullif(trim(content_id), '') as content_id,
        position,
        search_volume,
        impressions,
        clicks
    from rankings
)

select * from final
