-- Keyword rows of the months before the analysed one, [$history_start, $month_start), as
-- content_seo_changes.sql computes them for a month (impressions-weighted mean position,
-- mean search_volume, summed clicks): the site's top-10 capture rate falls back to these
-- when no keyword ranks in the top positions in the analysed month. Read from
-- staging.seo_rankings, so the result does not depend on which months were run before.
with

keyword_months as (
    select
        keyword,
        content_id,
        date_trunc('month', date) as month,
        coalesce(
            sum(position * impressions) / nullif(sum(impressions), 0), avg(position)
        ) as position,
        avg(search_volume) as search_volume,
        sum(clicks) as clicks
    from staging.seo_rankings
    where date >= $history_start and date < $month_start
    group by keyword, content_id, date_trunc('month', date)
),

final as (
    select 'keyword' as level, keyword, content_id, month, position, search_volume, clicks
    from keyword_months
)

select * from final
