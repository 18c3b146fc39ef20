-- quarterly calendar input: every campaign with a start date, its type, channel, duration
-- and whether it started in the same quarter one year before the planned quarter (the
-- anchor for seasonal and event campaigns); always-on campaigns still running at the
-- planned quarter's start.
with

campaigns as (
    select
        campaign_id,
        campaign_name,
        channel,
        campaign_type,
        start_date,
        end_date,
        planned_budget,
        datediff('day', start_date, end_date) + 1 as duration_days
    from staging.campaigns
    where start_date is not null and start_date < $next_start
),

final as (
    select
        *,
        start_date >= $anchor_start and start_date < $anchor_end as in_anchor_quarter,
        end_date is null or end_date >= $next_start as running_at_next_start
    from campaigns
)

select * from final
order by start_date, campaign_id
