-- SEO gains and losses month over month, by keyword (keyword x ranking page) and by page.
-- Month figures from staging.seo_rankings in [$month_start, $month_end), compared with the
-- prior month [$prior_month, $month_start):
--   position       impressions-weighted mean position (plain mean when no impressions)
--   search_volume  mean of the rows' search_volume (the tool's monthly volume estimate)
--   position_change = prior_position - position (positive = moved up)
--   movement       new (no prior rows), lost (no rows this month), gain / loss when the
--                  position moved by at least $min_position_change, else flat
-- Page level aggregates every keyword of the page and adds organic sessions from
-- staging.content_daily; keyword is NULL there.
with

rankings as (
    select * from staging.seo_rankings
    where date >= $prior_month and date < $month_end
),

content as (
    select content_id, title, content_type, topic from staging.content
),

daily as (
    select content_id, date, organic_sessions from staging.content_daily
    where date >= $prior_month and date < $month_end
),

keyword_months as (
    select
        keyword,
        content_id,
        date >= $month_start as is_current,
        coalesce(
            sum(position * impressions) / nullif(sum(impressions), 0), avg(position)
        ) as position,
        avg(search_volume) as search_volume,
        sum(impressions) as impressions,
        sum(clicks) as clicks
    from rankings
    group by keyword, content_id, date >= $month_start
),

page_months as (
    select
        content_id,
        date >= $month_start as is_current,
        coalesce(
            sum(position * impressions) / nullif(sum(impressions), 0), avg(position)
        ) as position,
        null::double as search_volume,
        sum(impressions) as impressions,
        sum(clicks) as clicks,
        count(distinct keyword) as keywords
    from rankings
    where content_id is not null
    group by content_id, date >= $month_start
),

page_volume as (
    -- a page's search demand: the volume of each keyword it ranks for, counted once
    select content_id, is_current, sum(search_volume) as search_volume
    from keyword_months
    where content_id is not null
    group by content_id, is_current
),

page_sessions as (
    select
        content_id,
        sum(organic_sessions) filter (where date >= $month_start) as organic_sessions,
        sum(organic_sessions) filter (where date < $month_start) as prior_organic_sessions
    from daily
    group by content_id
),

keyword_level as (
    select
        'keyword' as level,
        coalesce(cur.keyword, pri.keyword) as keyword,
        coalesce(cur.content_id, pri.content_id) as content_id,
        cur.position,
        pri.position as prior_position,
        cur.search_volume,
        pri.search_volume as prior_search_volume,
        cur.impressions,
        pri.impressions as prior_impressions,
        cur.clicks,
        pri.clicks as prior_clicks,
        null::bigint as keywords,
        null::double as organic_sessions,
        null::double as prior_organic_sessions
    from (select * from keyword_months where is_current) as cur
    full outer join (select * from keyword_months where not is_current) as pri
        on pri.keyword = cur.keyword
        and pri.content_id is not distinct from cur.content_id
),

page_level as (
    select
        'page' as level,
        null::varchar as keyword,
        coalesce(cur.content_id, pri.content_id) as content_id,
        cur.position,
        pri.position as prior_position,
        vc.search_volume,
        vp.search_volume as prior_search_volume,
        cur.impressions,
        pri.impressions as prior_impressions,
        cur.clicks,
        pri.clicks as prior_clicks,
        cur.keywords,
        s.organic_sessions,
        s.prior_organic_sessions
    from (select * from page_months where is_current) as cur
    full outer join (select * from page_months where not is_current) as pri
        on pri.content_id = cur.content_id
    left join page_volume as vc
        on vc.content_id = coalesce(cur.content_id, pri.content_id) and vc.is_current
    left join page_volume as vp
        on vp.content_id = coalesce(cur.content_id, pri.content_id) and not vp.is_current
    left join page_sessions as s on s.content_id = coalesce(cur.content_id, pri.content_id)
),

unioned as (
    select * from keyword_level
    union all
    select * from page_level
),

final as (
    select
        $month_start::date as month,
        u.level,
        u.keyword,
        u.content_id,
        c.title,
        c.content_type,
        c.topic,
        u.position,
        u.prior_position,
        u.prior_position - u.position as position_change,
        u.search_volume,
        u.prior_search_volume,
        coalesce(u.impressions, 0) as impressions,
        coalesce(u.prior_impressions, 0) as prior_impressions,
        coalesce(u.clicks, 0) as clicks,
        coalesce(u.prior_clicks, 0) as prior_clicks,
        coalesce(u.clicks, 0) - coalesce(u.prior_clicks, 0) as clicks_change,
        100 * (coalesce(u.clicks, 0) - u.prior_clicks) / nullif(u.prior_clicks, 0)
            as clicks_change_pct,
        u.keywords,
        u.organic_sessions,
        u.prior_organic_sessions,
        case
            when u.prior_position is null then 'new'
            when u.position is null then 'lost'
            when u.prior_position - u.position >= $min_position_change then 'gain'
            when u.position - u.prior_position >= $min_position_change then 'loss'
            else 'flat'
        end as movement
    from unioned as u
    left join content as c on c.content_id = u.content_id
)

select * from final
order by level desc, clicks_change, keyword, content_id
