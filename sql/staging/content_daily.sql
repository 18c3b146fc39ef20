with

daily as (
    select * from raw.content_daily
),

final as (
    select
        date,
        date_trunc('month', date)::date as month,
        content_id,
        pageviews,
        unique_visitors,
        avg_engaged_seconds,
        organic_sessions,
        form_fills
    from daily
)

select * from final
