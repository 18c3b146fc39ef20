-- quarterly trends input: content and SEO totals per month of the quarter.
with

content as (
    select
        month,
        sum(pageviews)::double as pageviews,
        sum(organic_sessions)::double as organic_sessions,
        sum(form_fills)::double as form_fills,
        sum(leads_linear) as content_assisted_leads
    from marts.content_performance
    where month >= $quarter_start and month < $quarter_end
    group by month
),

seo as (
    select
        month,
        sum(clicks)::double as seo_clicks,
        avg(position) as seo_avg_position
    from marts.content_seo_changes
    where level = 'keyword' and month >= $quarter_start and month < $quarter_end
    group by month
),

final as (
    select
        coalesce(c.month, s.month) as month,
        c.pageviews,
        c.organic_sessions,
        c.form_fills,
        c.content_assisted_leads,
        s.seo_clicks,
        s.seo_avg_position
    from content as c
    full outer join seo as s on s.month = c.month
)

select * from final
order by month
