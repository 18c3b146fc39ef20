-- staging.lead_stage_history: one row each time a lead enters a stage.
with

history as (
    select * from raw.lead_stage_history
),

final as (
    select
        lead_id,
        lower(trim(stage)) as stage,
        entered_at,
        date_trunc('month', entered_at)::date as month
    from history
)

select * from final
