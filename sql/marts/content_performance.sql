-- One row per piece of content published before $month_end, plus any content_id with
-- traffic or assisted conversions this month that is unpublished by then or missing from
-- staging.content (flags published_by_month_end, in_content_catalog say which).
-- Engagement from staging.content_daily in [$month_start, $month_end) and the prior month;
-- assisted conversions from the month's marts.content_attribution slice.
--   unique_visitors      sum of the daily unique visitors (a person counted once per day)
--   avg_engaged_seconds  pageview-weighted mean of the daily averages
--   engaged_hours        sum(pageviews * avg_engaged_seconds) / 3600: total attention, the
--                        engagement ranking measure
--   form_fill_rate       form_fills / unique_visitors
-- Viewer comparison (touchpoints with content_id in the month; people who were leads before
-- their first view are left out): viewers = people whose first view of the item was this
-- month; viewer_lead_rate = the share of them who became a lead within $viewer_window_days
-- of that view; other_visitor_lead_rate = the same over the month's other content visitors
-- (from their first content view) who did not view the item; lead_rate_lift = the ratio;
-- incremental_leads = viewers x
-- the difference, with a 95% interval (normal approximation). Presence on converting paths
-- (the credit columns) rewards popular pages; this compares like with like, though viewers
-- still choose what they view, so it is evidence, not an experiment.
with

views as (
    select person_id, content_id, min(ts) as first_view
    from staging.touchpoints
    where content_id is not null
        and ts >= $month_start::timestamp
        and ts < $month_end::timestamp
    group by all
),

first_leads as (
    select person_id, min(converted_at) as lead_at
    from intermediate.conversions
    where conversion_type = 'lead'
    group by person_id
),

visitors as (
    select
        v.person_id,
        min(v.first_view) as first_any
    from views as v
    group by v.person_id
),

visitor_outcomes as (
    select
        v.person_id,
        coalesce(l.lead_at <= v.first_any + to_days($viewer_window_days::integer), false)
            as converted
    from visitors as v
    left join first_leads as l on l.person_id = v.person_id
    where l.lead_at is null or l.lead_at > v.first_any
),

all_visitors as (
    select count(*) as people, count(*) filter (where converted) as leads
    from visitor_outcomes
),

item_viewers as (
    select
        v.content_id,
        count(*) filter (where l.lead_at is null or l.lead_at > v.first_view) as viewers,
        count(*) filter (
            where l.lead_at > v.first_view
                and l.lead_at <= v.first_view + to_days($viewer_window_days::integer)
        ) as viewer_leads,
        count(o.person_id) as viewers_counted,
        count(*) filter (where o.converted) as viewers_counted_leads
    from views as v
    left join first_leads as l on l.person_id = v.person_id
    left join visitor_outcomes as o on o.person_id = v.person_id
    group by v.content_id
),

lift as (
    select
        i.content_id,
        i.viewers,
        i.viewer_leads / nullif(i.viewers, 0) as viewer_lead_rate,
        (a.leads - i.viewers_counted_leads) / nullif(a.people - i.viewers_counted, 0)
            as other_visitor_lead_rate
    from item_viewers as i
    cross join all_visitors as a
),

lift_stats as (
    select
        *,
        viewer_lead_rate / nullif(other_visitor_lead_rate, 0) as lead_rate_lift,
        viewers * (viewer_lead_rate - other_visitor_lead_rate) as incremental_leads,
        viewers * 1.959963984540054 * sqrt(
            viewer_lead_rate * (1 - viewer_lead_rate) / nullif(viewers, 0)
            + other_visitor_lead_rate * (1 - other_visitor_lead_rate)
            / nullif((select people from all_visitors) - viewers, 0)
        ) as incremental_leads_margin
    from lift
),

catalog as (
    select content_id, title, content_type, topic, url, published_at, campaign_id
    from staging.content
),

content as (
    select * from catalog
    where published_at is null or published_at < $month_end::timestamp
),

daily as (
    select * from staging.content_daily
    where date >= $prior_month and date < $month_end
),

traffic as (
    select
        content_id,
        sum(pageviews) filter (where date >= $month_start) as pageviews,
        sum(unique_visitors) filter (where date >= $month_start) as unique_visitors,
        sum(pageviews * avg_engaged_seconds) filter (where date >= $month_start)
            as engaged_seconds,
        sum(organic_sessions) filter (where date >= $month_start) as organic_sessions,
        sum(form_fills) filter (where date >= $month_start) as form_fills,
        sum(pageviews) filter (where date < $month_start) as prior_pageviews,
        sum(organic_sessions) filter (where date < $month_start) as prior_organic_sessions,
        sum(form_fills) filter (where date < $month_start) as prior_form_fills
    from daily
    group by content_id
),

credit as (
    select
        content_id,
        sum(assisted_conversions) filter (where conversion_type = 'lead') as assisted_leads,
        sum(linear_conversions) filter (where conversion_type = 'lead') as leads_linear,
        sum(position_based_conversions) filter (where conversion_type = 'lead')
            as leads_position_based,
        sum(assisted_conversions) filter (where conversion_type = 'opportunity')
            as assisted_opportunities,
        sum(linear_conversions) filter (where conversion_type = 'opportunity')
            as opportunities_linear,
        sum(linear_value) filter (where conversion_type = 'opportunity') as pipeline_linear,
        sum(assisted_conversions) filter (where conversion_type = 'won') as assisted_customers,
        sum(linear_conversions) filter (where conversion_type = 'won') as customers_linear,
        sum(linear_value) filter (where conversion_type = 'won') as revenue_linear,
        sum(position_based_value) filter (where conversion_type = 'won')
            as revenue_position_based
    from marts.content_attribution
    where month = $month_start
    group by content_id
),

ids as (
    select content_id from content
    union
    select content_id from traffic
    where pageviews > 0 or form_fills > 0 or organic_sessions > 0
    union
    select content_id from credit
    union
    select content_id from lift_stats
),

joined as (
    select
        i.content_id,
        c.title,
        coalesce(c.content_type, 'unknown') as content_type,
        coalesce(c.topic, 'unknown') as topic,
        c.url,
        c.published_at,
        c.campaign_id,
        c.content_id is not null as in_content_catalog,
        c.content_id is not null
            and (c.published_at is null or c.published_at < $month_end::timestamp)
            as published_by_month_end,
        coalesce(t.pageviews, 0) as pageviews,
        coalesce(t.unique_visitors, 0) as unique_visitors,
        coalesce(t.engaged_seconds, 0) / 3600.0 as engaged_hours,
        t.engaged_seconds / nullif(t.pageviews, 0) as avg_engaged_seconds,
        coalesce(t.organic_sessions, 0) as organic_sessions,
        coalesce(t.form_fills, 0) as form_fills,
        t.form_fills / nullif(t.unique_visitors, 0) as form_fill_rate,
        coalesce(t.prior_pageviews, 0) as prior_pageviews,
        coalesce(t.prior_organic_sessions, 0) as prior_organic_sessions,
        coalesce(t.prior_form_fills, 0) as prior_form_fills,
        coalesce(r.assisted_leads, 0) as assisted_leads,
        coalesce(r.leads_linear, 0) as leads_linear,
        coalesce(r.leads_position_based, 0) as leads_position_based,
        coalesce(r.assisted_opportunities, 0) as assisted_opportunities,
        coalesce(r.opportunities_linear, 0) as opportunities_linear,
        coalesce(r.pipeline_linear, 0) as pipeline_linear,
        coalesce(r.assisted_customers, 0) as assisted_customers,
        coalesce(r.customers_linear, 0) as customers_linear,
        coalesce(r.revenue_linear, 0) as revenue_linear,
        coalesce(r.revenue_position_based, 0) as revenue_position_based,
        coalesce(x.viewers, 0) as viewers,
        x.viewer_lead_rate,
        x.other_visitor_lead_rate,
        x.lead_rate_lift,
        x.incremental_leads,
        x.incremental_leads - x.incremental_leads_margin as incremental_leads_low,
        x.incremental_leads + x.incremental_leads_margin as incremental_leads_high
    from ids as i
    left join catalog as c on c.content_id = i.content_id
    left join traffic as t on t.content_id = i.content_id
    left join credit as r on r.content_id = i.content_id
    left join lift_stats as x on x.content_id = i.content_id
),

final as (
    select
        $month_start::date as month,
        *,
        -- percent, as every *_change_pct in marts
        100 * (pageviews - prior_pageviews) / nullif(prior_pageviews, 0) as pageviews_change_pct,
        100 * (organic_sessions - prior_organic_sessions) / nullif(prior_organic_sessions, 0)
            as organic_sessions_change_pct,
        -- ranks on rounded values: float sums differ in the last bits from run to run
        rank() over (order by round(engaged_hours, 9) desc) as engagement_rank,
        rank() over (order by round(leads_linear, 9) desc, assisted_leads desc) as assisted_leads_rank,
        rank() over (order by round(revenue_linear, 6) desc) as assisted_revenue_rank
    from joined
)

select * from final
order by engagement_rank, content_id
