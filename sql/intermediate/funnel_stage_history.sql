-- Stage entries before $as_of.
with

history as (
    select lead_id, stage, entered_at from staging.lead_stage_history where entered_at < $as_of
),

final as (
    select * from history
)

select * from final
