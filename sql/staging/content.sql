with

content as (
    select * from raw.content
),

final as (
    select
        content_id,
        title,
        lower(trim(content_type)) as content_type,
        topic,
        url,
        published_at,
        nullif(trim(campaign_id), '') as campaign_id
    from content
)

select * from final
