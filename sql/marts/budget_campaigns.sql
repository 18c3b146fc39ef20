-- Campaign plans: what pacing compares spend with.
with

campaigns as (
    select campaign_id, campaign_name, channel, start_date, end_date, planned_budget
    from staging.campaigns
),

final as (
    select * from campaigns
)

select * from final
