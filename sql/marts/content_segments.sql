-- Content performance by content type and by topic, from the month's
-- marts.content_performance slice. Shares are of the month's all-content totals.
-- assisted_leads sums the items' counts: a lead whose path holds two items of a segment
-- counts twice (the credit columns add up exactly; docs/content.md).
with

performance as (
    select * from marts.content_performance where month = $month_start
),

by_segment as (
    select 'content_type' as segment_type, content_type as segment, * exclude (month)
    from performance
    union all
    select 'topic' as segment_type, topic as segment, * exclude (month)
    from performance
),

totals as (
    select
        sum(pageviews) as pageviews,
        sum(engaged_hours) as engaged_hours,
        sum(form_fills) as form_fills,
        sum(leads_linear) as leads_linear,
        sum(revenue_linear) as revenue_linear,
        count(*) as content_items
    from performance
),

aggregated as (
    select
        segment_type,
        segment,
        count(*) as content_items,
        count(*) filter (where pageviews > 0) as active_items,
        sum(pageviews) as pageviews,
        sum(unique_visitors) as unique_visitors,
        sum(engaged_hours) as engaged_hours,
        sum(organic_sessions) as organic_sessions,
        sum(form_fills) as form_fills,
        sum(assisted_leads) as assisted_leads,
        sum(leads_linear) as leads_linear,
        sum(leads_position_based) as leads_position_based,
        sum(customers_linear) as customers_linear,
        sum(revenue_linear) as revenue_linear
    from by_segment
    group by segment_type, segment
),

final as (
    select
        $month_start::date as month,
        a.*,
        a.form_fills / nullif(a.unique_visitors, 0) as form_fill_rate,
        a.engaged_hours * 3600.0 / nullif(a.pageviews, 0) as avg_engaged_seconds,
        a.leads_linear / nullif(a.content_items, 0) as leads_linear_per_item,
        a.pageviews / nullif(a.content_items, 0) as pageviews_per_item,
        a.content_items / nullif(t.content_items, 0) as content_share,
        a.pageviews / nullif(t.pageviews, 0) as pageviews_share,
        a.engaged_hours / nullif(t.engaged_hours, 0) as engagement_share,
        a.leads_linear / nullif(t.leads_linear, 0) as leads_share,
        a.revenue_linear / nullif(t.revenue_linear, 0) as revenue_share
    from aggregated as a
    cross join totals as t
)

select * from final
order by segment_type, leads_linear desc, segment
