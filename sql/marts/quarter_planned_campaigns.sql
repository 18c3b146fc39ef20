-- quarterly calendar input: campaigns already in campaigns.csv that run in the plan
-- quarter [$next_start, $next_end) and are not always-on, with the share of their planned
-- budget that falls in the quarter (pro rata over their days).
with

campaigns as (
    select
        campaign_id,
        campaign_name,
        channel,
        campaign_type,
        start_date,
        coalesce(end_date, start_date) as end_date,
        coalesce(planned_budget, 0) as planned_budget
    from staging.campaigns
    where start_date is not null
        and campaign_type <> 'always_on'
        and start_date < $next_end
        and coalesce(end_date, start_date) >= $next_start
),

final as (
    select
        campaign_id,
        campaign_name,
        channel,
        campaign_type,
        greatest(start_date, $next_start::date) as start_date,
        least(end_date, $next_end::date - 1) as end_date,
        planned_budget
            * (datediff('day', greatest(start_date, $next_start::date),
                least(end_date, $next_end::date - 1)) + 1)
            / (datediff('day', start_date, end_date) + 1) as budget_in_quarter
    from campaigns
)

select * from final
order by start_date, campaign_id
