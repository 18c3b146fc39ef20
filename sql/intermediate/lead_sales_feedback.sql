-- Sales feedback given during the month.
with

feedback as (
    select lead_id, ts, verdict, reason
    from staging.sales_feedback
    where ts >= $month_start and ts < $month_end
),

final as (
    select * from feedback
)

select * from final
