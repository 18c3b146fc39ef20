with

feedback as (
    select * from raw.sales_feedback
),

final as (
    select lead_id, ts, lower(trim(verdict)) as verdict, reason from feedback
)

select * from final
